//! Heap reachability (issue 17): leaks no compile-time rule can stop — a forgotten
//! `Pbox`, a `ManuallyDrop`, a `Prc` cycle, a `Parc` cycle — are found with their exact
//! block sizes, in process (`P::leaks()`) and offline (`admin::check_report`), and freed
//! by `admin::repair_leaks` with the workload's data intact and the pool clean after.

use std::mem::ManuallyDrop;
use std::path::Path;

use crndm::admin::{FindingKind, Severity};
use crndm::{
    MemPool, O_CF, PBTreeMap, PCell, PHashMap, PMutex, PRefCell, PString, PVec, Parc, Pbox,
    PoolOptions, Prc, Reachability, Root,
};
use crndm_tests::{retry_locked, shm_dir};

/// A node that can point at another: the material of cycles.
#[derive(crndm::RootLayout)]
struct Node<P: MemPool> {
    val: u64,
    next: PRefCell<Option<Prc<Node<P>, P>>, P>,
}

/// A node of a `Parc` cycle.
#[derive(crndm::RootLayout)]
struct SyncNode<P: MemPool> {
    val: u64,
    next: PMutex<Option<Parc<SyncNode<P>, P>>, P>,
}

#[derive(Root)]
struct Data<P: MemPool> {
    value: PCell<u64, P>,
    boxed: PRefCell<Option<Pbox<[u64; 16], P>>, P>,
    kept: PRefCell<Option<Prc<Node<P>, P>>, P>,
    number: PCell<u64, P>,
}

fn open<P: MemPool>(path: &Path, flags: crndm::Flags) -> crndm::RootCell<Data<P>, P> {
    retry_locked(|| {
        PoolOptions::new()
            .size(4 << 20)
            .journals(4, 8192)
            .open::<P, Data<P>>(path, flags)
    })
    .unwrap()
}

/// Writes the values every test checks after its repair.
fn fill<P: MemPool>(root: &Data<P>) {
    P::transaction(|j| {
        root.value.set(41, j);
        *root.boxed.borrow_mut(j) = Some(Pbox::new([3; 16], j));
        *root.kept.borrow_mut(j) = Some(Prc::new(
            Node {
                val: 9,
                next: PRefCell::new(None),
            },
            j,
        ));
    })
    .unwrap();
}

/// The values [`fill`] wrote, read back in a fresh open.
fn assert_data<P: MemPool>(path: &Path) {
    let root = open::<P>(path, 0);
    assert_eq!(root.value.get(), 41);
    assert_eq!(root.boxed.borrow().as_ref().map(|b| b[15]), Some(3));
    assert_eq!(root.kept.borrow().as_ref().map(|n| n.val), Some(9));
    assert!(P::leaks().unwrap().is_clean(), "{:?}", P::leaks());
    assert!(P::check().unwrap().is_empty());
}

/// Runs `leak` in a pool of type `P`, then checks what both scans report (`blocks`
/// leaked blocks, `bytes` in them, which is also what the heap's used bytes grew by),
/// repairs and checks the pool again.
fn leak_is_found_and_freed<P: MemPool>(
    name: &str,
    blocks: u64,
    bytes: u64,
    leak: impl Fn(&Data<P>),
) {
    let dir = shm_dir();
    let path = dir.path().join(format!("{name}.pool"));
    {
        let root = open::<P>(&path, O_CF);
        fill(&root);
        assert_eq!(
            P::leaks().unwrap(),
            clean(&P::leaks().unwrap()),
            "no leak yet"
        );
        let before = P::stats().unwrap().used;
        leak(&root);
        let grown = P::stats().unwrap().used - before;
        assert_eq!(grown, bytes, "{name}: the heap grew by the leaked blocks");
        let r = P::leaks().unwrap();
        assert_eq!(
            (r.leaked_blocks, r.leaked_bytes),
            (blocks, bytes),
            "{name}: {r:?}"
        );
        assert_eq!(r.damaged_pointers, 0);
    }
    let report = retry_locked(|| crndm::admin::check_report(&path)).unwrap();
    let offline = report.reachability.clone().expect("the walk ran");
    assert_eq!(
        (offline.leaked_blocks, offline.leaked_bytes),
        (blocks, bytes)
    );
    let leak = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Leak)
        .expect("a leak finding");
    assert_eq!(leak.severity, Severity::Leak);
    assert!(
        leak.message
            .starts_with(&format!("{blocks} used blocks ({bytes} bytes)")),
        "{leak}"
    );
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert!(report.is_repairable());

    let fixed = retry_locked(|| crndm::admin::repair_leaks(&path)).unwrap();
    assert_eq!((fixed.freed_blocks, fixed.freed_bytes), (blocks, bytes));
    let after = retry_locked(|| crndm::admin::check_report(&path)).unwrap();
    assert!(after.is_clean(), "{:?}", after.findings);
    assert_data::<P>(&path);
}

/// `r` with its leaks removed (for "equal to a clean report").
fn clean(r: &Reachability) -> Reachability {
    Reachability {
        leaked_blocks: 0,
        leaked_bytes: 0,
        leak_sizes: Vec::new(),
        first_leaks: Vec::new(),
        ..r.clone()
    }
}

crndm::pool!(forgot_pool);
#[test]
#[expect(clippy::mem_forget, reason = "the leak under test")]
fn a_forgotten_pbox_is_found_and_freed() {
    leak_is_found_and_freed::<forgot_pool::BuddyAlloc>("forgot", 3, 3 * 128, |_| {
        forgot_pool::BuddyAlloc::transaction(|j| {
            for i in 0..3u8 {
                std::mem::forget(Pbox::new([i; 100], j));
            }
        })
        .unwrap();
    });
}

crndm::pool!(manual_pool);
#[test]
fn a_manually_dropped_pbox_overwritten_in_a_loop_is_found_and_freed() {
    type P = manual_pool::BuddyAlloc;
    leak_is_found_and_freed::<P>("manual", 11, 11 * 128, |root| {
        for i in 0..10u64 {
            P::transaction(|j| {
                let new = Some(Pbox::new([i; 16], j));
                let old = std::mem::replace(&mut *root.boxed.borrow_mut(j), new);
                let _ = ManuallyDrop::new(old);
            })
            .unwrap();
        }
        // Put the value `fill` wrote back (a new block): the eleven overwritten ones leak.
        P::transaction(|j| {
            let old = root.boxed.borrow_mut(j).replace(Pbox::new([3; 16], j));
            let _ = ManuallyDrop::new(old);
        })
        .unwrap();
    });
}

crndm::pool!(prc_cycle_pool);
#[test]
fn a_prc_cycle_is_found_and_freed() {
    type P = prc_cycle_pool::BuddyAlloc;
    // Two nodes pointing at each other; the block of an RcBox<Node> is 64 bytes.
    leak_is_found_and_freed::<P>("prc", 2, 2 * 64, |_| {
        P::transaction(|j| {
            let a = Prc::new(
                Node {
                    val: 1,
                    next: PRefCell::new(None),
                },
                j,
            );
            let b = Prc::new(
                Node {
                    val: 2,
                    next: PRefCell::new(Some(a.pclone(j))),
                },
                j,
            );
            *a.next.borrow_mut(j) = Some(b.pclone(j));
        })
        .unwrap();
    });
}

crndm::pool!(parc_cycle_pool);
#[test]
fn a_parc_cycle_is_found_and_freed() {
    type P = parc_cycle_pool::BuddyAlloc;
    leak_is_found_and_freed::<P>("parc", 3, 3 * 64, |_| {
        P::transaction(|j| {
            let a = Parc::new(
                SyncNode {
                    val: 1,
                    next: PMutex::new(None),
                },
                j,
            );
            let b = Parc::new(
                SyncNode {
                    val: 2,
                    next: PMutex::new(Some(a.pclone(j))),
                },
                j,
            );
            let c = Parc::new(
                SyncNode {
                    val: 3,
                    next: PMutex::new(Some(b.pclone(j))),
                },
                j,
            );
            *a.next.lock(j) = Some(c.pclone(j));
        })
        .unwrap();
    });
}

crndm::pool!(number_pool);
/// Conservative: a number equal to a leaked block's offset keeps it (the leak is missed),
/// and never the other way round.
#[test]
fn a_number_that_looks_like_a_pointer_keeps_its_block() {
    type P = number_pool::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("number.pool");
    let root = open::<P>(&path, O_CF);
    let off = crndm::internals::alloc::<P>(64).unwrap();
    assert_eq!(
        P::leaks().unwrap().leaked_blocks,
        1,
        "a raw block nothing names"
    );
    P::transaction(|j| root.number.set(off, j)).unwrap();
    assert_eq!(P::leaks().unwrap().leaked_blocks, 0, "kept by a number");
    P::transaction(|j| root.number.set(off + 24, j)).unwrap();
    assert_eq!(
        P::leaks().unwrap().leaked_blocks,
        0,
        "an interior offset keeps it too"
    );
    P::transaction(|j| root.number.set(0, j)).unwrap();
    assert_eq!(P::leaks().unwrap().leaked_blocks, 1);
}

/// A new persistent string holding `s`.
fn text<P: MemPool>(s: &str, j: &crndm::Journal<P>) -> PString<P> {
    let mut t = PString::new();
    t.push_str(s, j);
    t
}

/// Shared nodes by key.
type NodeTree<P> = PBTreeMap<u64, Prc<Node<P>, P>, P>;

crndm::pool!(rich_pool);
#[derive(Root)]
struct Rich<P: MemPool> {
    vec: PRefCell<PVec<Pbox<u64, P>, P>, P>,
    hash: PRefCell<PHashMap<u64, PString<P>, P>, P>,
    tree: PRefCell<NodeTree<P>, P>,
    weak: PRefCell<Option<crndm::prc::PWeak<Node<P>, P>>, P>,
}

/// No false leak: every block of a pool full of collections, shared `Prc`s and weak
/// pointers is reachable, after inserts and removals, in process and offline.
#[test]
fn a_pool_of_collections_has_no_false_leak() {
    type P = rich_pool::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("rich.pool");
    {
        let root = retry_locked(|| {
            PoolOptions::new()
                .size(8 << 20)
                .open::<P, Rich<P>>(&path, O_CF)
        })
        .unwrap();
        P::transaction(|j| {
            let shared = Prc::new(
                Node {
                    val: 5,
                    next: PRefCell::new(None),
                },
                j,
            );
            *root.weak.borrow_mut(j) = Some(Prc::downgrade(&shared, j));
            for i in 0..500u64 {
                root.vec.borrow_mut(j).push(Pbox::new(i, j), j);
                root.hash
                    .borrow_mut(j)
                    .insert(i, text(&format!("value {i}"), j), j);
                root.tree.borrow_mut(j).insert(i, shared.pclone(j), j);
            }
        })
        .unwrap();
        P::transaction(|j| {
            for i in (0..500u64).step_by(3) {
                root.hash.borrow_mut(j).remove(&i, j);
                root.tree.borrow_mut(j).remove(&i, j);
            }
            root.vec.borrow_mut(j).truncate(100, j);
        })
        .unwrap();
        let r = P::leaks().unwrap();
        assert!(r.is_clean(), "{r:?}");
        assert_eq!(
            r.reachable_bytes,
            P::stats().unwrap().used,
            "every used byte is reachable"
        );
        // Inside a transaction the scan would wait for itself: refused.
        let inside = P::transaction(|_| P::leaks().map(|_| ()).map_err(|e| e.to_string())).unwrap();
        assert!(inside.unwrap_err().contains("inside a transaction"));
    }
    let report = retry_locked(|| crndm::admin::check_report(&path)).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    let walked = report.reachability.expect("walked");
    assert!(walked.reachable_blocks > 400, "{walked:?}");
    // The truncated vector's unused slots still hold the offsets of the freed boxes:
    // counted as dangling words, never reported as damage.
    assert!(walked.dangling_words > 0, "{walked:?}");
    assert_eq!(walked.damaged_pointers, 0);
}
