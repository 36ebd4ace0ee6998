//! The reachability part of `check`: leaks and map damage in a closed pool file, and
//! the repair that frees the leaks ([`repair_leaks`]).

use std::path::Path;

use super::{Finding, FindingKind, Severity};
use crate::alloc::Reachability;
use crate::alloc::buddy::UNIT;
use crate::alloc::reach::{self, LISTED};
use crate::error::Result;
use crate::pool::PoolOptions;
use crate::pool::inspect::{Inspection, check_work};
use crate::stm::open::OpenPool;

/// Scans the inspected file's heap from its root.
///
/// # Errors
/// Why the scan cannot be trusted, in words: a map that breaks M1/M2, or journals that
/// hold logs (recovery would still change what is reachable and what is used).
pub(super) fn scan(
    i: &Inspection,
    logs: usize,
    progress: &mut dyn FnMut(u64, u64),
) -> std::result::Result<Reachability, String> {
    let Ok(scan) = &i.scan else {
        return Err("the allocator map is corrupt".into());
    };
    if logs > 0 {
        return Err(format!(
            "{logs} journal(s) hold an unfinished transaction; recover first \
             (`crndm-pool check --repair`)"
        ));
    }
    let map = reach::canonical(i.map_bytes(), &scan.stale);
    let heap_off = i.geo.heap_off;
    let mut heap = i.bytes().get(heap_off.to_usize()..).unwrap_or_default();
    let root = i.header.root_off;
    let roots: &[u64] = if root.is_null() { &[] } else { &[root.get()] };
    // The walk follows the map and journal phases on the check's one progress bar.
    let total = check_work(&i.geo);
    let before = total - i.geo.heap_units * UNIT;
    let r = reach::scan(
        &map,
        &scan.stale,
        &mut heap,
        heap_off.get(),
        roots,
        |done, _| progress(before + done * UNIT, total),
    );
    progress(total, total);
    Ok(Reachability::from_reach(&r, heap_off.get()))
}

/// The findings of a scan: one for the leaks (if any), one per damaged pointer listed.
pub(super) fn findings(r: &Reachability, out: &mut Vec<Finding>) {
    if r.leaked_blocks > 0 {
        let sizes: Vec<String> = r
            .leak_sizes
            .iter()
            .map(|&(size, n)| format!("{n} of {size} B"))
            .collect();
        let first: Vec<String> = r
            .first_leaks
            .iter()
            .map(|&(off, _)| format!("{off:#x}"))
            .collect();
        out.push(Finding::new(
            FindingKind::Leak,
            Severity::Leak,
            format!(
                "{} used blocks ({} bytes) that nothing reaches from the root: {}; first at {}{}",
                r.leaked_blocks,
                r.leaked_bytes,
                sizes.join(", "),
                first.join(", "),
                if r.leaked_blocks > r.first_leaks.len() as u64 {
                    ", ..."
                } else {
                    ""
                }
            ),
        ));
    }
    for &(at, w) in &r.first_damage {
        out.push(Finding::new(
            FindingKind::MapDamage,
            Severity::Corrupt,
            format!(
                "the word at {at:#x} of a reachable block points to {w:#x}, which the \
                 allocator map does not call used"
            ),
        ));
    }
    if r.damaged_pointers > LISTED as u64 {
        out.push(Finding::new(
            FindingKind::MapDamage,
            Severity::Corrupt,
            format!(
                "{} more pointers into memory the map calls free",
                r.damaged_pointers - LISTED as u64
            ),
        ));
    }
}

/// What [`repair_leaks`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeakRepair {
    /// Leaked blocks freed.
    pub freed_blocks: u64,
    /// Bytes in them.
    pub freed_bytes: u64,
}

/// Opens the pool file for writing (recovery runs first, as at every open), walks its
/// heap from the root, and frees every used block nothing reaches (see
/// [`Reachability`] for why that never frees a live object). The pool must not be open
/// elsewhere (the file lock refuses it).
///
/// Crash consistent: a crash during the repair leaves a pool that opens and checks
/// without corrupt findings; the leaks not yet freed are found and freed by the next
/// repair.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("r.pool");
/// use crndm::default::*;
/// {
///     let _root = BuddyAlloc::open::<PCell<u64>>(&path, O_CF)?;
///     BuddyAlloc::transaction(|j| std::mem::forget(Pbox::new([0u8; 100], j)))?;
/// }
/// let fixed = crndm::admin::repair_leaks(&path)?;
/// assert_eq!((fixed.freed_blocks, fixed.freed_bytes), (1, 128));
/// assert!(crndm::admin::check_report(&path)?.is_clean());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Every error of opening the pool; [`Error::CorruptAllocator`](crate::Error::CorruptAllocator) when a reachable pointer
/// names memory the map calls free (nothing is freed from a damaged map).
pub fn repair_leaks(path: impl AsRef<Path>) -> Result<LeakRepair> {
    repair_leaks_with(path.as_ref(), &PoolOptions::new())
}

/// [`repair_leaks`] with options for the open (the crash simulator's tests pass a
/// simulated persister).
///
/// # Errors
/// As [`repair_leaks`].
#[doc(hidden)]
pub fn repair_leaks_with(path: &Path, opts: &PoolOptions) -> Result<LeakRepair> {
    let pool = OpenPool::open(path, 0, opts)?;
    let (freed_blocks, freed_bytes) = crate::stm::leaks::free_leaks(&pool)?;
    Ok(LeakRepair {
        freed_blocks,
        freed_bytes,
    })
}
