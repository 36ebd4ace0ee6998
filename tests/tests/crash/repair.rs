//! The leak repair interrupted by a crash (issue 17): `admin::repair_leaks` promises that
//! a crash during the repair leaves a pool that opens and checks without corrupt
//! findings, and that the next repair frees the leaks not yet freed.
//!
//! A pool is made (without the simulator) with live data reachable from the root (three
//! `Pbox`es of 64 B, 512 B and 8 KiB, a list of three `Prc` nodes, a weak pointer that
//! keeps a dead node's block, and a stack of `Pbox` nodes) and with leaks nothing
//! reaches: forgotten `Pbox`es of 64 B, 512 B and two of 4 KiB (buddies), a forgotten
//! box that owns another, a cycle of two `Prc` nodes, and over a thousand boxes of 64 B
//! (more than one batch of the repair's frees) with the stack's nodes among them.
//! Allocations alternate, so leaks lie between live blocks, and when freed they merge
//! with each other and with free buddies into blocks that span map lines. The closed
//! pool is repaired under the simulator, and every crash image of every fence of that
//! repair ([`explore_with`]) is checked ([`check_repair_image`]):
//! 1. `check_report` of the image as the crash left it has no corrupt finding;
//! 2. it opens (recovery runs), the live data reads back exactly, `P::check()` finds
//!    nothing, the reachability scan reaches exactly the live blocks, finds no damaged
//!    pointer and calls every other used block a leak;
//! 3. the used blocks of the map are every live block plus some of the original leaks
//!    (nothing reachable freed, nothing else used), and the used bytes add up;
//! 4. after that open, `check_report` finds only those leaks;
//! 5. a second `repair_leaks` frees exactly them and leaves a pool that checks clean,
//!    holds the live data, and uses exactly the live blocks.

use std::collections::BTreeSet;
use std::path::Path;

use crndm::admin::{self, Severity};
use crndm::internals::sim::{Mutation, Sim};
use crndm::prc::PWeak;
use crndm::{MemPool, O_CF, PRefCell, Pbox, Prc, Root};
use crndm_tests::hdr;

use crate::alloc_free::Blob;
use crate::harness::{
    Budget, Outcome, Report, block, explore_with, options, root_block, scratch, write_file,
};
use crate::stack::{Link, node_block, push, values as stack_values};

type Boxed<const N: usize, P> = PRefCell<Option<Pbox<Blob<N>, P>>, P>;

/// A `Prc` list node (also the cycle's nodes).
#[derive(crndm::RootLayout)]
pub(crate) struct RepairNode<P: MemPool> {
    value: u64,
    next: PRefCell<Option<Prc<RepairNode<P>, P>>, P>,
}

/// A box that owns another: leaked, it leaks both.
#[derive(crndm::RootLayout)]
pub(crate) struct Owner<P: MemPool> {
    tag: u64,
    inner: Boxed<4, P>,
}

#[derive(Root)]
pub(crate) struct RepairRoot<P: MemPool> {
    small: Boxed<4, P>,
    mid: Boxed<40, P>,
    big: Boxed<600, P>,
    list: PRefCell<Option<Prc<RepairNode<P>, P>>, P>,
    weak: PRefCell<Option<PWeak<RepairNode<P>, P>>, P>,
    stack: Link<P>,
}

/// The list's values, head first.
const LIST: [u64; 3] = [10, 20, 30];

/// Transactions that each push a node on the live stack and leak [`SMALL_LEAKS`] boxes
/// of 64 B: more leaks than the repair frees in one batch (1024, `stm/leaks.rs`), so a
/// crash can come between two batches.
const ROUNDS: u64 = 24;
const SMALL_LEAKS: usize = 48;

/// Leaked blocks the setup makes: 64 B, 512 B, two of 4 KiB, the owner and its box, the
/// two nodes of the cycle, and the rounds' small boxes.
const LEAKED_BLOCKS: usize = 8 + ROUNDS as usize * SMALL_LEAKS;

fn node_bytes<P: MemPool>() -> u64 {
    block(16 + size_of::<RepairNode<P>>(), 8)
}

fn blob_bytes<const N: usize>() -> u64 {
    block(size_of::<Blob<N>>(), align_of::<Blob<N>>())
}

/// Heap bytes of the live data: the root, three boxes, the list, the dead node the weak
/// pointer keeps, and the stack.
fn live_bytes<P: MemPool>() -> u64 {
    root_block::<RepairRoot<P>>()
        + blob_bytes::<4>()
        + blob_bytes::<40>()
        + blob_bytes::<600>()
        + (LIST.len() as u64 + 1) * node_bytes::<P>()
        + ROUNDS * node_block::<P>()
}

/// Heap bytes of the leaks.
fn leaked_bytes<P: MemPool>() -> u64 {
    2 * blob_bytes::<4>()
        + blob_bytes::<40>()
        + 2 * blob_bytes::<500>()
        + block(size_of::<Owner<P>>(), align_of::<Owner<P>>())
        + 2 * node_bytes::<P>()
        + (ROUNDS * SMALL_LEAKS as u64) * blob_bytes::<4>()
}

/// Makes the pool at `path`: live data and leaks, allocated alternately, then closed.
#[expect(clippy::mem_forget, reason = "the leaks the repair frees")]
fn make_pool<P: MemPool>(path: &Path) {
    let root = options()
        .open::<P, RepairRoot<P>>(path, O_CF)
        .expect("create the pool");
    P::transaction(|j| {
        *root.small.borrow_mut(j) = Some(Pbox::new(Blob::new(1), j));
        std::mem::forget(Pbox::new(Blob::<4>::new(101), j));
        *root.mid.borrow_mut(j) = Some(Pbox::new(Blob::new(2), j));
        std::mem::forget(Pbox::new(Blob::<40>::new(102), j));
    })
    .expect("commits");
    P::transaction(|j| {
        // The dead node: its value is dropped, the weak pointer keeps its block.
        let dead = Prc::new(
            RepairNode {
                value: 99,
                next: PRefCell::new(None),
            },
            j,
        );
        *root.weak.borrow_mut(j) = Some(Prc::downgrade(&dead, j));
        drop(dead);
        // Two buddies of 4 KiB, cut from one 8 KiB block: freed together, they merge
        // into one block whose head and old inner head lie in different map lines.
        std::mem::forget(Pbox::new(Blob::<500>::new(103), j));
        std::mem::forget(Pbox::new(Blob::<500>::new(113), j));
        *root.big.borrow_mut(j) = Some(Pbox::new(Blob::new(3), j));
    })
    .expect("commits");
    P::transaction(|j| {
        for &v in LIST.iter().rev() {
            let next = root.list.take(j);
            let node = Prc::new(
                RepairNode {
                    value: v,
                    next: PRefCell::new(next),
                },
                j,
            );
            *root.list.borrow_mut(j) = Some(node);
            if v == LIST[1] {
                std::mem::forget(Pbox::new(
                    Owner {
                        tag: 104,
                        inner: PRefCell::new(Some(Pbox::new(Blob::new(105), j))),
                    },
                    j,
                ));
            }
        }
        // A cycle of two nodes: each holds the other's only strong pointer.
        let a = Prc::new(
            RepairNode {
                value: 106,
                next: PRefCell::new(None),
            },
            j,
        );
        let b = Prc::new(
            RepairNode {
                value: 107,
                next: PRefCell::new(Some(a.pclone(j))),
            },
            j,
        );
        *a.next.borrow_mut(j) = Some(b.pclone(j));
        drop((a, b));
    })
    .expect("commits");
    for round in 0..ROUNDS {
        P::transaction(|j| {
            for k in 0..SMALL_LEAKS {
                std::mem::forget(Pbox::new(Blob::<4>::new(1000 + k as u64), j));
                if k == SMALL_LEAKS / 2 {
                    push(&root.stack, round, j);
                }
            }
        })
        .expect("commits");
    }
    drop(root);
}

/// Reads the live data back, exactly.
fn observe<P: MemPool>(root: &RepairRoot<P>) -> Result<(), String> {
    fn tag<const N: usize, P: MemPool>(b: &Boxed<N, P>) -> Result<u64, String> {
        let g = b
            .try_borrow()
            .ok_or("a box slot is borrowed after recovery")?;
        g.as_ref().ok_or("a live box is gone")?.tag()
    }
    let tags = [tag(&root.small)?, tag(&root.mid)?, tag(&root.big)?];
    if tags != [1, 2, 3] {
        return Err(format!("the live boxes hold {tags:?}, not [1, 2, 3]"));
    }
    let mut values = Vec::new();
    walk(&root.list, &mut values)?;
    if values != LIST {
        return Err(format!("the list holds {values:?}, not {LIST:?}"));
    }
    let stack = stack_values(&root.stack, ROUNDS as usize + 1)?;
    if !stack.iter().rev().copied().eq(0..ROUNDS) {
        return Err(format!(
            "the stack holds {stack:?}, not {ROUNDS} values down from {}",
            ROUNDS - 1
        ));
    }
    let weak = root.weak.try_borrow().ok_or("the weak slot is borrowed")?;
    match weak.as_ref().map(PWeak::strong_count) {
        Some(0) => Ok(()),
        other => Err(format!("the weak pointer: {other:?}, not a dead node")),
    }
}

/// Appends the values of the list at `link`, checking that every node has one owner.
fn walk<P: MemPool>(
    link: &PRefCell<Option<Prc<RepairNode<P>, P>>, P>,
    values: &mut Vec<u64>,
) -> Result<(), String> {
    let g = link
        .try_borrow()
        .ok_or("a link is borrowed after recovery")?;
    let Some(node) = g.as_ref() else {
        return Ok(());
    };
    if values.len() >= LIST.len() {
        return Err("the list is longer than it was made".into());
    }
    if Prc::strong_count(node) != 1 {
        return Err(format!(
            "list node {} has strong count {}",
            node.value,
            Prc::strong_count(node)
        ));
    }
    values.push(node.value);
    walk(&node.next, values)
}

/// Blocks of the heap as `(heap unit, order)`.
type Blocks = BTreeSet<(u64, u8)>;

/// The used blocks of a pool file's map, found by walking its heads (M1; the map format
/// of `alloc/map.rs`: `0x40 | order` used, `0x80 | order` free, 0 inside a block).
fn used_blocks(file: &[u8]) -> Result<Blocks, String> {
    let word = |off: u64| {
        usize::try_from(off)
            .ok()
            .and_then(|o| file.get(o..o.checked_add(8)?))
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .ok_or("the file is shorter than its header")
    };
    let map = usize::try_from(word(hdr::region_off(2))?).map_err(|e| e.to_string())?;
    let units = word(hdr::HEAP_UNITS)?;
    let mut used = Blocks::new();
    let mut u = 0u64;
    while u < units {
        let b = *file
            .get(map + usize::try_from(u).map_err(|e| e.to_string())?)
            .ok_or("the map is cut short")?;
        let order = b & 0x3f;
        match b & 0xc0 {
            0x40 => {
                used.insert((u, order));
            }
            0x80 => {}
            _ => return Err(format!("heap unit {u}: map byte {b:#x} is no head")),
        }
        u = u.saturating_add(1u64 << order);
    }
    Ok(used)
}

fn bytes_of(blocks: &Blocks) -> u64 {
    blocks.iter().map(|&(_, k)| 64u64 << k).sum()
}

/// Fails if `check_report` of `path` has a corrupt finding (or cannot trust the file);
/// returns the findings.
fn no_corrupt_finding(path: &Path, what: &str) -> Result<Vec<admin::Finding>, String> {
    let findings = match admin::check_report(path) {
        Ok(r) => r.findings,
        Err(e) => {
            vec![admin::Finding::from_error(&e).ok_or_else(|| format!("check of {what}: {e}"))?]
        }
    };
    match findings.iter().find(|f| f.severity == Severity::Corrupt) {
        Some(f) => Err(format!("check of {what}: {f}")),
        None => Ok(findings),
    }
}

/// What the pool was before the repair: its live blocks and its leaks.
struct Before {
    live: Blocks,
    leaks: Blocks,
}

/// Checks one crash image of the repair (see the module docs).
///
/// # Errors
/// What the check saw, in words.
fn check_repair_image<P: MemPool>(
    path: &Path,
    image: &[u8],
    before: &Before,
) -> Result<Outcome, String> {
    write_file(path, image)?;
    no_corrupt_finding(path, "the crash image")?;
    let live_bytes = bytes_of(&before.live);
    let left = {
        let root = options()
            .open::<P, RepairRoot<P>>(path, 0)
            .map_err(|e| format!("the crash image does not open: {e}"))?;
        observe(&root)?;
        let problems = P::check().map_err(|e| e.to_string())?;
        if !problems.is_empty() {
            return Err(format!("allocator check: {problems:?}"));
        }
        let used = P::stats().map_err(|e| e.to_string())?.used;
        let reach = P::leaks().map_err(|e| e.to_string())?;
        if reach.damaged_pointers > 0
            || reach.reachable_bytes != live_bytes
            || reach.reachable_bytes + reach.leaked_bytes != used
        {
            return Err(format!(
                "the reachability scan: {} reachable bytes (live data: {live_bytes}), {} \
                 leaked, {} damaged pointers, {used} used",
                reach.reachable_bytes, reach.leaked_bytes, reach.damaged_pointers
            ));
        }
        drop(root);
        let blocks = used_blocks(&std::fs::read(path).map_err(|e| e.to_string())?)?;
        if let Some(b) = before.live.difference(&blocks).next() {
            return Err(format!("the live block {b:?} (unit, order) is not used"));
        }
        let left: Blocks = blocks.difference(&before.live).copied().collect();
        if let Some(b) = left.difference(&before.leaks).next() {
            return Err(format!(
                "the block {b:?} (unit, order) is used, but was neither live nor a leak"
            ));
        }
        if used != live_bytes + bytes_of(&left) {
            return Err(format!(
                "{used} bytes used, the live data and the leaks left hold {}",
                live_bytes + bytes_of(&left)
            ));
        }
        left
    };
    let findings = no_corrupt_finding(path, "the recovered image")?;
    if let Some(f) = findings.iter().find(|f| f.severity != Severity::Leak) {
        return Err(format!("check after recovery: {f}"));
    }
    if findings.is_empty() != left.is_empty() {
        return Err(format!(
            "check after recovery: {} findings, {} leaks left",
            findings.len(),
            left.len()
        ));
    }
    let fixed = admin::repair_leaks(path).map_err(|e| format!("the second repair: {e}"))?;
    if (fixed.freed_blocks, fixed.freed_bytes) != (left.len() as u64, bytes_of(&left)) {
        return Err(format!(
            "the second repair freed {fixed:?}, {} leaks of {} bytes were left",
            left.len(),
            bytes_of(&left)
        ));
    }
    let report = admin::check_report(path).map_err(|e| format!("check after repair: {e}"))?;
    if !report.is_clean() {
        return Err(format!(
            "check after the second repair: {:?}",
            report.findings
        ));
    }
    {
        let root = options()
            .open::<P, RepairRoot<P>>(path, 0)
            .map_err(|e| format!("the repaired image does not open: {e}"))?;
        observe(&root).map_err(|e| format!("after the second repair: {e}"))?;
        let used = P::stats().map_err(|e| e.to_string())?.used;
        if used != live_bytes {
            return Err(format!(
                "after the second repair {used} bytes are used, the live data holds {live_bytes}"
            ));
        }
    }
    let blocks = used_blocks(&std::fs::read(path).map_err(|e| e.to_string())?)?;
    if blocks != before.live {
        return Err(format!(
            "after the second repair the used blocks are {blocks:?}, the live ones {:?}",
            before.live
        ));
    }
    Ok(Outcome::Pool(0))
}

/// The suite's budget for the repair: [`Budget::FULL`] with more samples at crash
/// points with many dirty lines (the repair has few crash points, and the two fences
/// that free the leaks have over a dozen dirty map lines each).
pub(crate) const BUDGET: Budget = Budget {
    sampled: 64,
    ..Budget::FULL
};

/// Makes the pool, repairs it under the simulator (with `mutation` planted in the
/// repair) and checks every crash image of that repair with `budget`.
///
/// # Panics
/// If the pool is not what the setup meant to make, or the recorded repair fails.
pub(crate) fn interrupted_repair<P: MemPool>(
    budget: &Budget,
    mutation: Option<Mutation>,
) -> Report {
    let dir = scratch();
    let path = dir.path().join("run.pool");
    make_pool::<P>(&path);
    let all = used_blocks(&std::fs::read(&path).expect("read the pool")).expect("a clean map");
    // The reference: a copy repaired without the simulator names the live blocks and the
    // leaks; their bytes and number must be what the types say, so a repair that frees
    // a live block (or leaves a leak) fails here too.
    let reference = dir.path().join("reference.pool");
    std::fs::copy(&path, &reference).expect("copy the pool");
    let fixed = admin::repair_leaks(&reference).expect("repair the reference copy");
    let live = used_blocks(&std::fs::read(&reference).expect("read")).expect("a clean map");
    let leaks: Blocks = all.difference(&live).copied().collect();
    assert_eq!(
        (bytes_of(&live), leaks.len(), bytes_of(&leaks)),
        (live_bytes::<P>(), LEAKED_BLOCKS, leaked_bytes::<P>()),
        "the setup's live data and leaks"
    );
    assert_eq!(
        (fixed.freed_blocks, fixed.freed_bytes),
        (LEAKED_BLOCKS as u64, leaked_bytes::<P>())
    );
    assert!(
        leaks
            .iter()
            .any(|&(u, k)| k == 6 && leaks.contains(&(u ^ 64, 6))),
        "the two 4 KiB leaks are buddies: {leaks:?}"
    );
    let before = Before { live, leaks };
    let sim = Sim::new();
    sim.set_mutation(mutation);
    let fixed =
        admin::repair_leaks_with(&path, &options().simulate(&sim)).expect("the recorded repair");
    assert_eq!(fixed.freed_blocks, LEAKED_BLOCKS as u64);
    let rec = sim.take_recording();
    explore_with(
        "leak repair (issue 17)",
        &rec,
        dir.path(),
        budget,
        &|_| vec![0],
        &|path, image, _| check_repair_image::<P>(path, image, &before),
    )
}
