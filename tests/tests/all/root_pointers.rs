//! The root's persistent pointers are checked at open (`RootLayout::visit_pointers`):
//! a pool file whose root object holds a `Pbox`, an `Option<Prc>` in a `PRefCell`, or a
//! `PVec` buffer that names no block of the right size (outside the file, inside a
//! block, a free block), or a collection header no collection has, is refused with
//! `Error::CorruptRoot` naming the root type, the field and the offset, and the file is
//! left unchanged; the unpatched pool opens and reads back fine.

use std::mem::offset_of;
use std::path::{Path, PathBuf};

use crndm::{
    Error, MemPool, O_CF, PBTreeMap, PCell, PHashMap, PRefCell, PString, PVec, Parc, Pbox, Prc,
    Root, RootCell, RootLayout, RootObj,
};
use crndm_tests::{contents, file_len, hdr, patch_u64, read_bytes, read_region, read_u64};
use crndm_tests::{retry_locked, shm_dir};

/// Open an existing pool (no create, no format).
const OPEN: crndm::Flags = 0;

/// A part of the root reached through a derived enum, to check the derive's recursion.
#[derive(RootLayout)]
enum Slot<P: MemPool> {
    Empty,
    Full { name: PString<P>, count: u64 },
}

#[expect(
    clippy::derivable_impls,
    reason = "a derived impl would require `P: Default`, which pool types are not"
)]
impl<P: MemPool> Default for Slot<P> {
    fn default() -> Self {
        Slot::Empty
    }
}

/// Two shared links, in a tuple with a number.
type Links<P> = (u64, [PRefCell<Option<Parc<u32, P>>, P>; 2]);

#[derive(Root)]
struct Roots<P: MemPool> {
    count: PCell<u64, P>,
    boxed: Pbox<u64, P>,
    shared: PRefCell<Option<Prc<u64, P>>, P>,
    items: PRefCell<PVec<u64, P>, P>,
    more: Links<P>,
    slot: PRefCell<Slot<P>, P>,
    map: PRefCell<PHashMap<u64, u64, P>, P>,
    tree: PRefCell<PBTreeMap<u64, u64, P>, P>,
}

fn open<P: MemPool, R: RootObj<P> + crndm::PSafe + RootLayout>(
    path: &Path,
) -> crndm::Result<RootCell<R, P>> {
    retry_locked(|| P::open::<R>(path, OPEN))
}

/// A pool whose root has every field filled in, closed.
fn make<P: MemPool>(path: &Path) {
    let root = retry_locked(|| P::open::<Roots<P>>(path, O_CF)).unwrap();
    P::transaction(|j| {
        root.count.set(5, j);
        *root.shared.borrow_mut(j) = Some(Prc::new(42, j));
        *root.more.1[1].borrow_mut(j) = Some(Parc::new(7, j));
        let mut name = PString::new();
        name.push_str("seven", j);
        *root.slot.borrow_mut(j) = Slot::Full { name, count: 7 };
        let mut items = root.items.borrow_mut(j);
        let mut map = root.map.borrow_mut(j);
        let mut tree = root.tree.borrow_mut(j);
        for i in 0..10u64 {
            items.push(i, j);
            map.insert(i, i * i, j);
            tree.insert(i, i + 1, j);
        }
    })
    .unwrap();
    drop(root);
}

/// Where things are in a pool file.
struct Layout {
    root: u64,
    heap: (u64, u64),
    map: u64,
}

fn layout(path: &Path) -> Layout {
    let (heap_off, heap_len) = read_region(path, 3);
    Layout {
        root: read_u64(path, hdr::ROOT_OFF),
        heap: (heap_off, heap_off + heap_len),
        map: read_region(path, 2).0,
    }
}

/// The file offset of the one word inside `[off, off + len)` of the file that holds a
/// heap offset (the stored pointer of a field).
fn pointer_word(path: &Path, l: &Layout, off: u64, len: usize) -> u64 {
    let bytes = read_bytes(path, off, len);
    let words: Vec<u64> = (0..len / 8)
        .filter(|i| {
            let w = u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
            (l.heap.0..l.heap.1).contains(&w)
        })
        .map(|i| off + 8 * i as u64)
        .collect();
    assert_eq!(words.len(), 1, "one pointer word in {off:#x}+{len}");
    words[0]
}

/// The offset of a free block of the heap.
fn a_free_block(path: &Path, l: &Layout) -> u64 {
    let units = ((l.heap.1 - l.heap.0) / 64) as usize;
    let map = read_bytes(path, l.map, units);
    let u = map
        .iter()
        .position(|&b| b & 0xc0 == 0x80)
        .expect("a free block");
    l.heap.0 + 64 * u as u64
}

/// A copy of `src` named `name`, its word at `at` set to `val`.
fn patched(src: &Path, name: &str, at: u64, val: u64) -> PathBuf {
    let path = src.with_file_name(name);
    std::fs::copy(src, &path).unwrap();
    patch_u64(&path, at, val);
    path
}

/// Asserts that opening `path` as `Roots` is refused with `CorruptRoot` at `field`
/// holding `off`, with `why` in the reason, and that the file is unchanged.
fn assert_refused<P: MemPool>(path: &Path, field: &str, off: u64, why: &str) {
    let before = contents(path);
    match open::<P, Roots<P>>(path) {
        Err(e @ Error::CorruptRoot { .. }) => {
            let Error::CorruptRoot {
                root,
                path: at,
                off: o,
                why: w,
            } = &e
            else {
                unreachable!()
            };
            assert!(root.contains("Roots"), "root {root}");
            assert_eq!(at, field, "{e}");
            assert_eq!(*o, off, "{e}");
            assert!(w.contains(why), "expected {why:?} in {e}");
            let msg = e.to_string();
            assert!(
                msg.contains("Roots") && msg.contains(&format!("{off:#x}")),
                "{msg}"
            );
        }
        Err(e) => panic!(
            "{}: expected CorruptRoot at {field}, got {e}",
            path.display()
        ),
        Ok(_) => panic!(
            "{}: expected CorruptRoot at {field}, it opened",
            path.display()
        ),
    }
    assert!(!P::is_open());
    assert!(contents(path) == before, "{} changed", path.display());
}

#[test]
fn root_pointers_outside_the_heap_inside_a_block_or_free_are_refused() {
    crndm::pool!(rp);
    type P = rp::BuddyAlloc;
    let dir = shm_dir();
    let src = dir.path().join("src.pool");
    make::<P>(&src);
    let l = layout(&src);
    let end = file_len(&src).unwrap();
    let free = a_free_block(&src, &l);
    type R = Roots<P>;
    type Link<T> = PRefCell<Option<T>, P>;
    let fields: [(&str, usize, usize); 7] = [
        ("root.boxed", offset_of!(R, boxed), 8),
        (
            "root.shared",
            offset_of!(R, shared),
            size_of::<Link<Prc<u64, P>>>(),
        ),
        (
            "root.items",
            offset_of!(R, items),
            size_of::<PRefCell<PVec<u64, P>, P>>(),
        ),
        (
            "root.more.1[1]",
            offset_of!(R, more.1) + size_of::<Link<Parc<u32, P>>>(),
            size_of::<Link<Parc<u32, P>>>(),
        ),
        (
            "root.slot.Full.name",
            offset_of!(R, slot),
            size_of::<PRefCell<Slot<P>, P>>(),
        ),
        (
            "root.map",
            offset_of!(R, map),
            size_of::<PRefCell<PHashMap<u64, u64, P>, P>>(),
        ),
        (
            "root.tree",
            offset_of!(R, tree),
            size_of::<PRefCell<PBTreeMap<u64, u64, P>, P>>(),
        ),
    ];
    for (i, (field, at, len)) in fields.into_iter().enumerate() {
        let word = pointer_word(&src, &l, l.root + at as u64, len);
        let stored = read_u64(&src, word);
        let cases = [
            (end + 4096, "outside the heap"),
            (u64::MAX - 7, "outside the heap"),
            (stored + 8, "not the start of a block"),
            (free, "a free block"),
        ];
        for (k, (val, why)) in cases.into_iter().enumerate() {
            let path = patched(&src, &format!("p{i}-{k}.pool"), word, val);
            assert_refused::<P>(&path, field, val, why);
        }
    }
    // Unpatched, the pool opens and reads back.
    let root = open::<P, R>(&src).unwrap();
    assert_eq!(root.count.get(), 5);
    assert_eq!(*root.boxed, 0);
    assert_eq!(root.shared.borrow().as_deref(), Some(&42));
    assert_eq!(root.more.1[1].borrow().as_deref(), Some(&7));
    assert_eq!(root.map.borrow().get(&3), Some(&9));
    assert_eq!(root.tree.borrow().get(&3), Some(&4));
    assert_eq!(root.items.borrow().get(9), Some(&9));
    match &*root.slot.borrow() {
        Slot::Full { name, count } => assert_eq!((name.as_str(), *count), ("seven", 7)),
        Slot::Empty => panic!("the slot was filled"),
    }
}

/// A collection header no collection has (a length above the capacity: reading it would
/// run past the buffer) is refused too, and so is a buffer of the wrong size.
#[test]
fn a_collection_header_longer_than_its_buffer_is_refused() {
    crndm::pool!(rh);
    type P = rh::BuddyAlloc;
    type R = Roots<P>;
    let dir = shm_dir();
    let src = dir.path().join("src.pool");
    make::<P>(&src);
    let l = layout(&src);
    let at = l.root + offset_of!(R, items) as u64;
    // The vector's header: buffer, capacity, length (`#[repr(C)]`).
    let buf = pointer_word(&src, &l, at, size_of::<PRefCell<PVec<u64, P>, P>>());
    let stored = read_u64(&src, buf);
    let cap = read_u64(&src, buf + 8);
    assert_eq!(read_u64(&src, buf + 16), 10);
    let path = patched(&src, "long.pool", buf + 16, cap + 1);
    assert_refused::<P>(&path, "root.items", stored, "holding");
    // A capacity whose buffer needs a block of another size than the stored one.
    let path = patched(&src, "cap.pool", buf + 8, cap * 4);
    assert_refused::<P>(&path, "root.items", stored, "a used block of");
    // The same words unpatched open fine.
    let root = open::<P, R>(&src).unwrap();
    assert_eq!(root.items.borrow().len(), 10);
}

crndm::pool!(after_recovery);

/// The pool file the child aborts in.
const ENV_POOL: &str = "CRNDM_ROOT_POINTERS_POOL";

#[test]
#[ignore = "child process of a_pool_needing_recovery_is_checked_after_it"]
fn abort_in_a_transaction_child() {
    type P = after_recovery::BuddyAlloc;
    let Some(path) = crndm_tests::child_env(ENV_POOL) else {
        return;
    };
    let root = open::<P, Roots<P>>(Path::new(&path)).unwrap();
    let _ = P::transaction(|j| -> () {
        root.count.set(99, j);
        // Dies with the transaction's log in the pool: the next open recovers it.
        std::process::abort();
    });
}

/// A pool that needs recovery is checked after it (recovery may change the root and
/// the allocator map): refused the same way, though recovery has then run.
#[test]
fn a_pool_needing_recovery_is_checked_after_it() {
    type P = after_recovery::BuddyAlloc;
    type R = Roots<P>;
    let dir = shm_dir();
    let src = dir.path().join("src.pool");
    make::<P>(&src);
    let l = layout(&src);
    let word = pointer_word(&src, &l, l.root + offset_of!(R, boxed) as u64, 8);
    for patch in [None, Some(u64::MAX - 7), Some(a_free_block(&src, &l))] {
        let path = dir.path().join(format!("{patch:?}.pool"));
        std::fs::copy(&src, &path).unwrap();
        let child = "root_pointers::abort_in_a_transaction_child";
        let out = crndm_tests::run_child(child, &[(ENV_POOL, path.to_str().unwrap())]);
        assert!(!out.status.success(), "{}", crndm_tests::describe(&out));
        if let Some(v) = patch {
            patch_u64(&path, word, v);
        }
        match (patch, open::<P, R>(&path)) {
            (None, Ok(root)) => assert_eq!(root.count.get(), 5, "undone by recovery"),
            (Some(v), Err(Error::CorruptRoot { path, off, .. })) => {
                assert_eq!((path.as_str(), off), ("root.boxed", v));
            }
            (p, r) => panic!("patch {p:?}: {:?}", r.map(|_| ())),
        }
    }
}
