//! Map damage (issue 17): every single-bit flip of the allocator map's used region of a
//! populated pool is reported as corrupt by `crndm::admin::check_report`, or is harmless.
//!
//! A pool holds a vector, a hash map, a B-tree map, a linked list of `Pbox` nodes and a
//! `Prc` shared by two fields, all with known values. Each of the 8 bits of each map byte
//! of the used region is flipped on its own in a copy of the closed pool file: every byte
//! from the head of the first used block to the end of the last (the allocator hands out
//! blocks from the top of the heap, so that is where they all are), and the head byte of
//! every other block. The bytes left out are the interior bytes of the big free blocks
//! below the used ones; a flip there makes a stale head inside a free block, like a flip
//! of the interior bytes of the free blocks that are included. The copy is checked, then
//! opened, and ten transactions allocate 200 new objects and grow every original
//! collection (which frees and reuses their old buffers). Then every value, old and new,
//! is read back and the allocator checked.
//!
//! The test asserts that no flip leads to a value being overwritten unless
//! `check_report` flagged it as corrupt. Flips the check reports only as a leak or as
//! repairable (stale heads, unmerged buddies), and flips it does not report at all, must
//! leave every value intact. A refused open, or a transaction or read that fails or
//! panics, counts as noticed as long as no wrong value was read. Flips reported as
//! corrupt are exercised too: some of them must damage the pool, which shows that the
//! workload and the read-back can tell. The counts per check and outcome are printed and
//! asserted to add up to the number of flips.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

use crndm::admin::{CheckReport, FindingKind, Severity};
use crndm::{MemPool, O_CF, PoolOptions, Region};
use crndm_tests::{retry_locked, shm_dir};

crndm::pool!(flip_pool);
use flip_pool::{BuddyAlloc as P, PBTreeMap, PHashMap, PRefCell, PVec, Pbox, Prc};

/// A node of the linked list.
#[derive(crndm::RootLayout)]
struct Node {
    value: u64,
    next: Option<Pbox<Node>>,
}

/// What the two `Prc` fields share.
#[derive(crndm::RootLayout)]
struct Shared {
    value: u64,
    items: PVec<u64>,
}

#[derive(crndm::Root)]
struct FlipRoot {
    vec: PRefCell<PVec<u64>>,
    hash: PRefCell<PHashMap<u64, u64>>,
    tree: PRefCell<PBTreeMap<u64, u64>>,
    list: PRefCell<Option<Pbox<Node>>>,
    shared_a: PRefCell<Option<Prc<Shared>>>,
    shared_b: PRefCell<Option<Prc<Shared>>>,
    /// Empty in the pristine pool; the workload fills it.
    extra: PRefCell<PVec<Pbox<u64>>>,
}

/// Entries per original collection (and nodes of the list, items of the shared value).
const N: u64 = 48;
/// Transactions of the workload.
const BATCHES: u64 = 10;
/// New `Pbox`es per transaction of the workload.
const PER_BATCH: u64 = 20;
/// New entries per transaction in each original collection.
const GROW: u64 = 4;

// Every value stored is below 4096, so no stored integer can look like a pointer into
// the heap to the reachability scan (the heap starts after the 4096-byte header).
fn list_value(i: u64) -> u64 {
    1000 + i
}
fn vec_value(i: u64) -> u64 {
    1200 + i
}
fn hash_key(i: u64) -> u64 {
    i * 7
}
fn hash_value(i: u64) -> u64 {
    1400 + i
}
fn tree_key(i: u64) -> u64 {
    i * 5
}
fn tree_value(i: u64) -> u64 {
    1600 + i
}
fn item_value(i: u64) -> u64 {
    1800 + i
}
const SHARED_VALUE: u64 = 2000;
fn extra_value(i: u64) -> u64 {
    2100 + i
}

/// Fills the fresh pool's root with the original values.
fn populate(r: &FlipRoot) {
    P::transaction(|j| {
        let mut v = r.vec.borrow_mut(j);
        let mut h = r.hash.borrow_mut(j);
        let mut t = r.tree.borrow_mut(j);
        for i in 0..N {
            v.push(vec_value(i), j);
            h.insert(hash_key(i), hash_value(i), j);
            t.insert(tree_key(i), tree_value(i), j);
        }
        let mut head = None;
        for i in (0..N).rev() {
            head = Some(Pbox::new(
                Node {
                    value: list_value(i),
                    next: head,
                },
                j,
            ));
        }
        *r.list.borrow_mut(j) = head;
        let items = PVec::from_slice(&(0..N).map(item_value).collect::<Vec<_>>(), j);
        let shared = Prc::new(
            Shared {
                value: SHARED_VALUE,
                items,
            },
            j,
        );
        *r.shared_b.borrow_mut(j) = Some(shared.pclone(j));
        *r.shared_a.borrow_mut(j) = Some(shared);
    })
    .unwrap();
}

/// Allocates `BATCHES * PER_BATCH` new boxes and grows every original collection by
/// `BATCHES * GROW` entries, one transaction per batch.
fn run_batches(r: &FlipRoot) -> crndm::Result<()> {
    for b in 0..BATCHES {
        P::transaction(|j| {
            let mut e = r.extra.borrow_mut(j);
            for i in 0..PER_BATCH {
                e.push(Pbox::new(extra_value(b * PER_BATCH + i), j), j);
            }
            let mut v = r.vec.borrow_mut(j);
            let mut h = r.hash.borrow_mut(j);
            let mut t = r.tree.borrow_mut(j);
            for i in N + b * GROW..N + (b + 1) * GROW {
                v.push(vec_value(i), j);
                h.insert(hash_key(i), hash_value(i), j);
                t.insert(tree_key(i), tree_value(i), j);
            }
        })?;
    }
    Ok(())
}

/// Compares everything the pool holds with what it should hold: the original values,
/// and the workload's when `grown` (it ran to the end). `Err` names the first wrong
/// value.
fn verify(r: &FlipRoot, grown: bool) -> Result<(), String> {
    let n = if grown { N + BATCHES * GROW } else { N };
    let mut seen = Vec::new();
    {
        let head = r.list.borrow();
        let mut at = head.as_ref();
        while let Some(node) = at {
            seen.push(node.value);
            if seen.len() > usize::try_from(N).unwrap() {
                break;
            }
            at = node.next.as_ref();
        }
    }
    let want: Vec<u64> = (0..N).map(list_value).collect();
    if seen != want {
        return Err(format!("list: {seen:?}"));
    }
    let v = r.vec.borrow();
    if grown && v.len() != usize::try_from(n).unwrap() {
        return Err(format!("vec: length {}", v.len()));
    }
    for i in 0..n {
        let got = v.get(usize::try_from(i).unwrap()).copied();
        if got != Some(vec_value(i)) {
            return Err(format!("vec[{i}]: {got:?}"));
        }
    }
    let h = r.hash.borrow();
    if grown && h.len() != usize::try_from(n).unwrap() {
        return Err(format!("hash: length {}", h.len()));
    }
    for i in 0..n {
        let got = h.get(&hash_key(i)).copied();
        if got != Some(hash_value(i)) {
            return Err(format!("hash[{}]: {got:?}", hash_key(i)));
        }
    }
    let t = r.tree.borrow();
    if grown && t.len() != usize::try_from(n).unwrap() {
        return Err(format!("tree: length {}", t.len()));
    }
    for i in 0..n {
        let got = t.get(&tree_key(i)).copied();
        if got != Some(tree_value(i)) {
            return Err(format!("tree[{}]: {got:?}", tree_key(i)));
        }
    }
    let (a, b) = (r.shared_a.borrow(), r.shared_b.borrow());
    let (Some(a), Some(b)) = (a.as_ref(), b.as_ref()) else {
        return Err("a shared field is empty".into());
    };
    if !Prc::ptr_eq(a, b) || Prc::strong_count(a) != 2 {
        return Err(format!(
            "Prc: shared {}, count {}",
            Prc::ptr_eq(a, b),
            Prc::strong_count(a)
        ));
    }
    if a.value != SHARED_VALUE {
        return Err(format!("Prc value: {}", a.value));
    }
    let items: Vec<u64> = a.items.iter().copied().collect();
    if items != (0..N).map(item_value).collect::<Vec<_>>() {
        return Err(format!("Prc items: {items:?}"));
    }
    let e = r.extra.borrow();
    let extra = if grown { BATCHES * PER_BATCH } else { 0 };
    if grown && e.len() != usize::try_from(extra).unwrap() {
        return Err(format!("extra: length {}", e.len()));
    }
    for i in 0..extra {
        let got = e.get(usize::try_from(i).unwrap()).map(|b| **b);
        if got != Some(extra_value(i)) {
            return Err(format!("extra[{i}]: {got:?}"));
        }
    }
    Ok(())
}

/// What opening a flipped pool, running the workload and reading everything back gave.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// Every value intact and the allocator consistent.
    Intact,
    /// The open refused the pool.
    Refused(String),
    /// The workload or a read failed or panicked, and no value read was wrong.
    Noticed(String),
    /// A value read back was wrong, or the allocator is inconsistent afterwards.
    Damaged(String),
}

/// Opens the pool at `path`, runs the workload and verifies everything.
fn exercise(path: &Path) -> Outcome {
    let root = match catch_unwind(|| retry_locked(|| P::open::<FlipRoot>(path, 0))) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Outcome::Refused(e.to_string()),
        Err(_) => return Outcome::Noticed("open panicked".into()),
    };
    let work = match catch_unwind(AssertUnwindSafe(|| run_batches(&root))) {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("workload: {e}")),
        Err(_) => Some("workload panicked".into()),
    };
    let read = catch_unwind(AssertUnwindSafe(|| verify(&root, work.is_none())));
    let alloc = P::check();
    drop(root);
    match (read, alloc) {
        (Ok(Err(wrong)), _) => Outcome::Damaged(wrong),
        (Ok(Ok(())), Ok(problems)) if !problems.is_empty() => {
            Outcome::Damaged(format!("allocator after the workload: {problems:?}"))
        }
        (Ok(Ok(())), Ok(_)) => work.map_or(Outcome::Intact, Outcome::Noticed),
        (Ok(Ok(())), Err(e)) => Outcome::Noticed(format!("check: {e}")),
        (Err(_), _) => Outcome::Noticed(format!(
            "{}reading back panicked",
            work.map(|w| w + "; ").unwrap_or_default()
        )),
    }
}

/// Which check reported a flip: the kind of its first most severe finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Caught {
    /// `check_report` returned an error (an untrusted header).
    Error,
    /// A finding of this kind and severity.
    Kind(&'static str, Severity),
    /// No finding.
    Unreported,
}

fn caught(report: &crndm::Result<CheckReport>) -> Caught {
    let Ok(report) = report else {
        return Caught::Error;
    };
    let mut worst: Option<(FindingKind, Severity)> = None;
    for f in &report.findings {
        if worst.is_none_or(|(_, s)| f.severity > s) {
            worst = Some((f.kind, f.severity));
        }
    }
    worst.map_or(Caught::Unreported, |(k, s)| Caught::Kind(k.name(), s))
}

/// The map bytes to flip: every byte from the first used block's head to the end of
/// the last used block (the allocator hands out blocks from the top of the heap, so they
/// sit together there), and the head of every block of the map outside that range.
/// Returns them with the range's length.
fn flip_units(map: &[u8]) -> (Vec<usize>, usize) {
    let mut heads = Vec::new();
    let mut used: Option<(usize, usize)> = None;
    let mut u = 0usize;
    while u < map.len() {
        let b = map[u];
        assert!(
            b & 0xc0 == 0x40 || b & 0xc0 == 0x80,
            "unit {u}: head {b:#x}"
        );
        let size = 1usize << (b & 0x3f);
        if b & 0xc0 == 0x40 {
            used = Some((used.map_or(u, |(lo, _)| lo), u + size));
        }
        heads.push(u);
        u += size;
    }
    assert_eq!(u, map.len(), "the blocks tile the heap");
    let (lo, hi) = used.expect("used blocks");
    let mut units: Vec<usize> = heads.into_iter().filter(|&h| h < lo || h >= hi).collect();
    units.extend(lo..hi);
    units.sort_unstable();
    (units, hi - lo)
}

/// Every single-bit flip of the allocator map's used region (see [`flip_units`]) in a
/// populated pool is either reported as corrupt by `check_report` or leaves every value
/// intact through an open and ten transactions that allocate 200 objects and grow every
/// collection. Flips reported only as repairable or as a leak, or not at all, must not
/// damage anything; a refused open, or a failing or panicking transaction or read, is
/// acceptable only if no wrong value is read back.
#[test]
fn every_damaging_map_flip_is_reported_as_corrupt() {
    let start = Instant::now();
    let dir = shm_dir();
    let path = dir.path().join("flip.pool");
    {
        let root = retry_locked(|| {
            PoolOptions::new()
                .size(256 << 10)
                .journals(4, 4096)
                .open::<P, FlipRoot>(&path, O_CF)
        })
        .unwrap();
        populate(&root);
        verify(&root, false).unwrap();
        assert_eq!(P::check().unwrap(), Vec::<String>::new());
        let leaks = P::leaks().unwrap();
        assert!(leaks.is_clean(), "{leaks:?}");
    }
    let pristine = std::fs::read(&path).unwrap();
    let report = retry_locked(|| crndm::admin::check_report(&path)).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    let reach = report.reachability.expect("the scan ran");
    assert!(reach.is_clean() && reach.reachable_blocks > N, "{reach:?}");
    // The workload itself leaves a consistent pool with every value in place.
    assert_eq!(exercise(&path), Outcome::Intact);

    let info = retry_locked(|| crndm::admin::info(&path)).unwrap();
    let region = |r: Region| *info.regions.iter().find(|i| i.region == r).unwrap();
    let (map, heap) = (region(Region::AllocMap), region(Region::Heap));
    assert!(
        heap.off > 4096,
        "values below 4096 never look like heap pointers"
    );
    let map_off = usize::try_from(map.off).unwrap();
    let heap_units = usize::try_from(heap.len / 64).unwrap();
    let (units, span) = flip_units(&pristine[map_off..map_off + heap_units]);

    let mut by_check: BTreeMap<Caught, usize> = BTreeMap::new();
    let mut outcomes: BTreeMap<(Caught, &'static str), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut image = pristine.clone();
    let mut flips = 0usize;
    for &unit in &units {
        for bit in 0..8 {
            flips += 1;
            let at = map_off + unit;
            image.copy_from_slice(&pristine);
            image[at] ^= 1 << bit;
            std::fs::write(&path, &image).unwrap();
            let c = caught(&retry_locked(|| crndm::admin::check_report(&path)));
            *by_check.entry(c).or_default() += 1;
            // Flips reported as corrupt are exercised too, for the record: that some
            // of them damage the pool shows the workload can tell.
            let o = exercise(&path);
            let name = match &o {
                Outcome::Intact => "intact",
                Outcome::Refused(_) => "refused at open",
                Outcome::Noticed(_) => "noticed",
                Outcome::Damaged(_) => "damaged",
            };
            *outcomes.entry((c, name)).or_default() += 1;
            let corrupt = matches!(c, Caught::Error | Caught::Kind(_, Severity::Corrupt));
            if let Outcome::Damaged(what) = o
                && !corrupt
            {
                failures.push(format!(
                    "map byte {unit} ({:#04x}) bit {bit}: check {c:?}, then {what}",
                    pristine[at]
                ));
            }
        }
    }
    eprintln!(
        "map_damage: {flips} flips of {} map bytes ({span} from the first to the end of \
         the last used block, and the other block heads), {heap_units} heap units, {:?}",
        units.len(),
        start.elapsed()
    );
    let names = ["intact", "refused at open", "noticed", "damaged"];
    eprintln!(
        "{:<30} {:>6} {:>7} {:>16} {:>8} {:>8}",
        "reported by (worst finding)", "flips", names[0], names[1], names[2], names[3]
    );
    let count = |c: Caught, o: &str| outcomes.get(&(c, o)).copied().unwrap_or(0);
    for (&c, &n) in &by_check {
        eprintln!(
            "{:<30} {n:>6} {:>7} {:>16} {:>8} {:>8}",
            format!("{c:?}"),
            count(c, names[0]),
            count(c, names[1]),
            count(c, names[2]),
            count(c, names[3])
        );
        let split: usize = names.iter().map(|o| count(c, o)).sum();
        assert_eq!(split, n, "{c:?}");
    }
    assert_eq!(flips, units.len() * 8);
    assert_eq!(by_check.values().sum::<usize>(), flips);
    assert_eq!(outcomes.values().sum::<usize>(), flips);
    assert!(
        failures.is_empty(),
        "{} flips not reported as corrupt damaged the pool:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        outcomes
            .keys()
            .any(|(c, o)| *o == "damaged"
                && matches!(c, Caught::Kind("map-damage", Severity::Corrupt))),
        "some flip the reachability scan reports damages the pool under the workload"
    );
}
