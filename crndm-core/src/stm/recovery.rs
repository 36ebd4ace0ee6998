//! Recovery: bringing every journal of a pool to a clean state at open, before anything
//! else runs. Needs no user types.
//!
//! First, before the allocator reads the map ([`reinstate_uncommitted_frees`]): in every
//! lane whose log has no COMMIT record, a block named by a FREE record whose head reads
//! `FREE|k` was freed in place by a commit that did not reach its commit point; its head
//! goes back to `USED|k`. In a log ending with a redo COMMIT, a block named by an ALLOC
//! record whose head reads `FREE|k` is a committed allocation whose head was not durable
//! yet; it becomes `USED|k` too. (Done later, the allocator's repair at open could
//! already have merged such a block with a free buddy.)
//!
//! Then, for each lane holding a log (a valid first record, L2):
//! - **committed** (a COMMIT record is in the log): write its REDO records again (a redo
//!   commit), finish its deferred frees, leniently (a free already done is skipped),
//!   then truncate;
//! - **not committed**: restore every UNDO record, newest first, persist the restored
//!   bytes, then free the blocks the transaction allocated, leniently, then truncate.
//!
//! Every step can be repeated: restoring old bytes twice gives the same bytes, lenient
//! frees skip what is already free, and truncation comes last, so a crash during
//! recovery is followed by the same recovery (idempotence).

use std::path::Path;

use crate::alloc::buddy::UNIT;
use crate::alloc::map::{FREE, ORDER_MASK, USED};
use crate::convert::to_usize;
use crate::error::{Error, Result};
use crate::offset::PoolOff;
use crate::persist::Persister;
use crate::pool::header::Geometry;
use crate::pool::raw::{JournalSteps, OpenCheck, RawPool};
use crate::pool::{Flags, PoolOptions};
use crate::stm::lane::{COMMIT_REDO, Kind, RawLane, Record, lane_at};

/// Extension blocks are at least this order (4 KiB), so they hold a lane header and
/// records.
pub(crate) const MIN_EXTENSION_ORDER: u32 = 6;

/// Turns an EXTEND record's `(off, order)` into the extension area it names, if that is
/// a plausible heap block of the pool mapped at `base` (the bytes are untrusted).
pub(crate) fn extension_resolver(
    base: *mut u8,
    geo: &Geometry,
) -> impl Fn(u64, u32) -> Option<RawLane> {
    // Record words are untrusted `u64`s: compared as such.
    let heap_off = geo.heap_off.get();
    let heap_end = geo.heap_off.add(geo.heap_units * UNIT).get();
    move |off, order| {
        if !(MIN_EXTENSION_ORDER..40).contains(&order) {
            return None;
        }
        let len = UNIT << order;
        let ok = off >= heap_off
            && (off - heap_off).is_multiple_of(UNIT)
            && off.checked_add(len).is_some_and(|e| e <= heap_end);
        if !ok {
            return None;
        }
        // SAFETY: `[off, off + len)` is inside the heap region of the mapping at `base`
        // (checked just above).
        let area = unsafe { base.add(to_usize(off)) };
        // SAFETY: (1) as above, 64-aligned, at least 4 KiB; extension blocks are read by
        // one log user at a time (its transaction, or recovery).
        Some(unsafe { RawLane::new(area, to_usize(len)) })
    }
}

/// The journal steps of every open of a pool file ([`RawPool::open_with`]).
pub(crate) const JOURNAL_STEPS: JournalSteps = JournalSteps {
    check: check_journals,
    reinstate: reinstate_uncommitted_frees,
};

impl RawPool {
    /// Opens, creates or formats the pool file at `path` as `flags` and `opts` say,
    /// checking and reinstating what its journals need before the heap opens.
    ///
    /// # Errors
    /// [`Error::InvalidFlags`], the file's I/O errors, [`Error::Locked`], every
    /// validation error of the header and the allocator map, and
    /// [`Error::CorruptJournal`].
    pub(crate) fn open(path: &Path, flags: Flags, opts: &PoolOptions) -> Result<RawPool> {
        Self::open_checked(path, flags, opts, None)
    }

    /// [`RawPool::open`], running `check` on the mapped, validated file before anything
    /// is written to it.
    ///
    /// # Errors
    /// Those of [`RawPool::open`] and of `check`.
    pub(crate) fn open_checked(
        path: &Path,
        flags: Flags,
        opts: &PoolOptions,
        check: Option<OpenCheck>,
    ) -> Result<RawPool> {
        RawPool::open_with(path, flags, opts, check, JOURNAL_STEPS)
    }
}

/// The first step of recovery (see the module doc): heads of blocks freed in place by
/// a commit that did not reach its commit point go back to `USED|k`, and so do heads of
/// blocks a redo commit allocated whose used head was not durable yet; durably. Returns
/// how many. Records naming anything but a block head of the heap are ignored here (the
/// second step reports corrupt records).
///
/// # Safety
/// 1. `base` is a live, writable mapping of a pool with the validated geometry `geo`,
///    used by nobody else meanwhile (the allocator is not open yet);
/// 2. `persister` belongs to that mapping.
pub(crate) unsafe fn reinstate_uncommitted_frees(
    base: *mut u8,
    geo: &Geometry,
    persister: &Persister,
) -> usize {
    #[cfg(feature = "crash-sim")] // CRASH-SIM mutation hook (persist/sim.rs): planted bug
    if persister.mutated(crate::persist::sim::Mutation::KeepUncommittedFrees) {
        return 0;
    }
    let resolve = extension_resolver(base, geo);
    let mut reinstated = 0;
    for i in 0..geo.lanes {
        // SAFETY: the journals region is inside the mapping (validated geometry, (1)).
        let journals = unsafe { base.add(geo.journals_off.to_usize()) };
        // SAFETY: (1) lane `i` < `lanes` is inside the region; nobody else uses it.
        let lane = unsafe { lane_at(journals, i, geo.lane_size) };
        let Some((_, recs)) = lane.scan_with(&resolve) else {
            continue;
        };
        // Without COMMIT record: frees written in place go back. With a redo COMMIT:
        // allocations whose used heads were not durable yet are marked again.
        let kind = match recs.iter().find(|r| r.kind == Kind::Commit) {
            None => Kind::Free,
            Some(c) if c.aux == COMMIT_REDO && !ignore_redo(persister) => Kind::Alloc,
            Some(_) => continue,
        };
        for r in recs.iter().filter(|r| r.kind == kind) {
            let Some(rel) = r.off.checked_sub(geo.heap_off.get()) else {
                continue;
            };
            let unit = rel / UNIT;
            let Ok(k) = u8::try_from(r.aux) else {
                continue;
            };
            if !rel.is_multiple_of(UNIT) || unit >= geo.heap_units || k > ORDER_MASK {
                continue;
            }
            // SAFETY: unit < heap_units: a byte of the map region of the mapping (1).
            let head = unsafe { base.add(geo.map_off.add(unit).to_usize()) };
            // SAFETY: as above; no other access to the map exists yet (1).
            if unsafe { head.read() } == FREE | k {
                // SAFETY: as above.
                unsafe { head.write(USED | k) };
                // SAFETY: the byte is in the mapping; the persister is its own (2).
                unsafe { persister.flush(head, 1) };
                reinstated += 1;
            }
        }
    }
    if reinstated > 0 {
        // PERSIST: the reinstated heads are durable before the allocator's repair can
        // merge anything, and before the logs naming them are truncated.
        persister.fence();
    }
    reinstated
}

/// Whether the crash simulator planted [`IgnoreRedo`](crate::persist::sim::Mutation)
/// (always false without the `crash-sim` feature).
fn ignore_redo(persister: &Persister) -> bool {
    #[cfg(feature = "crash-sim")] // CRASH-SIM mutation hook (persist/sim.rs): planted bug
    if persister.mutated(crate::persist::sim::Mutation::IgnoreRedo) {
        return true;
    }
    let _ = persister;
    false
}

/// Whether the crash simulator planted
/// [`UndoOldestFirst`](crate::persist::sim::Mutation) (always false without the
/// `crash-sim` feature).
fn undo_oldest_first(persister: &Persister) -> bool {
    #[cfg(feature = "crash-sim")] // CRASH-SIM mutation hook (persist/sim.rs): planted bug
    if persister.mutated(crate::persist::sim::Mutation::UndoOldestFirst) {
        return true;
    }
    let _ = persister;
    false
}

/// What recovery found and did in one lane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LaneOutcome {
    /// The lane held a log.
    pub(crate) had_log: bool,
    /// The log had a COMMIT record.
    pub(crate) committed: bool,
    /// UNDO records restored.
    pub(crate) restored: usize,
    /// Blocks freed (allocations undone, or deferred frees finished).
    pub(crate) freed: usize,
}

/// Refuses a record of lane `idx` whose bytes recovery may not write: anything but the
/// heap and the root slot of the header.
///
/// # Errors
/// [`Error::CorruptJournal`] naming the lane and the record.
fn check_target(geo: &Geometry, idx: u32, r: &Record) -> Result<()> {
    let (size, heap_off) = (geo.pool_size, geo.heap_off.get());
    let len = u64::from(r.aux);
    let in_heap = r.off >= heap_off && r.off.checked_add(len).is_some_and(|e| e <= size);
    let in_root_slot = r.off >= 192 && r.off.checked_add(len).is_some_and(|e| e <= 256);
    if in_heap || in_root_slot {
        return Ok(());
    }
    Err(Error::CorruptJournal {
        lane: idx,
        reason: format!(
            "{} record for {len} bytes at {:#x} is outside the heap",
            if r.kind == Kind::Undo { "undo" } else { "redo" },
            r.off
        ),
    })
}

/// The records recovery writes back for a log, in order: the UNDO records newest first
/// when it did not commit (roll back), the REDO records in order after a redo commit
/// (roll forward), none after a classic commit.
fn to_write_back<'a>(recs: &'a [Record], persister: &Persister) -> Vec<&'a Record> {
    let committed = recs.iter().any(|r| r.kind == Kind::Commit);
    let redo = recs
        .iter()
        .any(|r| r.kind == Kind::Commit && r.aux == COMMIT_REDO)
        && !ignore_redo(persister);
    if !committed {
        let mut undo: Vec<&Record> = recs.iter().rev().filter(|r| r.kind == Kind::Undo).collect();
        if undo_oldest_first(persister) {
            undo.reverse();
        }
        undo
    } else if redo {
        recs.iter().filter(|r| r.kind == Kind::Redo).collect()
    } else {
        Vec::new()
    }
}

/// Checks, reading only, that recovery can finish every lane of the pool mapped at
/// `base`: every record it would write back names bytes it may write. It runs before
/// anything of the pool is written, so that an open refused for a corrupt journal leaves
/// the file as it was (neither an earlier lane rolled back nor the generation bumped).
///
/// # Safety
/// 1. `base` is a live mapping of a pool with the validated geometry `geo`, whose
///    journals nobody writes meanwhile.
///
/// # Errors
/// [`Error::CorruptJournal`] for the first lane with a record [`recover_lane`] would
/// refuse.
pub(crate) unsafe fn check_journals(
    base: *mut u8,
    geo: &Geometry,
    persister: &Persister,
) -> Result<()> {
    let resolve = extension_resolver(base, geo);
    for i in 0..geo.lanes {
        // SAFETY: the journals region is inside the mapping (validated geometry, (1)).
        let journals = unsafe { base.add(geo.journals_off.to_usize()) };
        // SAFETY: (1) lane `i` < `lanes` is inside the region; it is only read here.
        let lane = unsafe { lane_at(journals, i, geo.lane_size) };
        let Some((_, recs)) = lane.scan_with(&resolve) else {
            continue;
        };
        for r in to_write_back(&recs, persister) {
            check_target(geo, i, r)?;
        }
    }
    Ok(())
}

/// Writes the payload of the UNDO or REDO record `r` back to the bytes it names, and
/// flushes them.
///
/// # Errors
/// [`Error::CorruptJournal`] if the record names bytes outside the heap and the header's
/// mutable line (the root slot): the bytes are untrusted.
fn write_back(raw: &RawPool, idx: u32, lane: &RawLane, r: &Record) -> Result<()> {
    check_target(raw.geometry(), idx, r)?;
    let payload = lane.payload(r);
    // SAFETY: `[off, off + len)` is inside the mapping (checked above) and no other code
    // runs on the pool during recovery.
    let dst = unsafe { raw.base().add(to_usize(r.off)) };
    // The payload is in the lane or in an extension block; a corrupt log could name the
    // extension block's own bytes, so the copy allows overlap.
    // SAFETY: both ranges are `len` valid bytes of the mapping.
    unsafe { std::ptr::copy(payload.as_ptr(), dst, payload.len()) };
    // SAFETY: the restored range is in the mapping.
    unsafe { raw.persister().flush(dst, payload.len()) };
    Ok(())
}

/// Recovers one lane.
///
/// # Errors
/// [`Error::CorruptJournal`] if a record names bytes outside the pool.
pub(crate) fn recover_lane(raw: &RawPool, idx: u32, lane: &RawLane) -> Result<LaneOutcome> {
    let Some((_, recs)) = lane.scan_with(extension_resolver(raw.base(), raw.geometry())) else {
        return Ok(LaneOutcome::default());
    };
    let persister = raw.persister();
    let committed = recs.iter().any(|r| r.kind == Kind::Commit);
    let mut out = LaneOutcome {
        had_log: true,
        committed,
        ..LaneOutcome::default()
    };
    // Extension blocks go in either case, with the frees or the undone allocations.
    let frees: Vec<(PoolOff, u8)> = recs
        .iter()
        .filter(|r| {
            r.kind == Kind::Extend || r.kind == if committed { Kind::Free } else { Kind::Alloc }
        })
        .filter_map(|r| u8::try_from(r.aux).ok().map(|k| (PoolOff::new(r.off), k)))
        .collect();
    let redo = recs
        .iter()
        .any(|r| r.kind == Kind::Commit && r.aux == COMMIT_REDO)
        && !ignore_redo(persister);
    if !committed || redo {
        // Roll back (UNDO records, newest first) or forward (REDO records, in order).
        for r in to_write_back(&recs, persister) {
            write_back(raw, idx, lane, r)?;
            out.restored += 1;
        }
        // PERSIST: the restored bytes are durable before the log that could restore them
        // again is truncated.
        persister.fence();
        crate::crash_point::crash_point("recovery-before-frees");
    }
    out.freed = frees
        .iter()
        .filter(|&&(o, k)| raw.heap().is_used(o, k))
        .count();
    raw.heap().free_batch(&frees, false, || {
        lane.truncate(persister);
        // PERSIST: the truncation is durable before the freed blocks can be reused (F2).
        persister.fence();
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::options::{O_CF, PoolOptions};
    use crate::stm::lane::{LANE_HEADER, NewRecord};
    use crate::stm::open::OpenPool;

    fn options() -> PoolOptions {
        PoolOptions::new().size(1 << 20).journals(2, 4096)
    }

    /// Lane `i` of `pool`.
    fn lane(pool: &RawPool, i: u32) -> RawLane {
        let geo = pool.geometry();
        // SAFETY: the journals region is inside the live mapping.
        let journals = unsafe { pool.base().add(geo.journals_off.to_usize()) };
        // SAFETY: lane `i` exists; this test is the pool's only user.
        unsafe { lane_at(journals, i, geo.lane_size) }
    }

    /// Leaves `rec` as the whole log of an uncommitted transaction in lane `i`.
    fn plant(pool: &RawPool, i: u32, rec: NewRecord) {
        let lane = lane(pool, i);
        let epoch = lane.reserve_epochs(pool.persister());
        // SAFETY: the payload (if any) is `aux` bytes outside the lane, owned by the caller.
        let end = unsafe { lane.append(LANE_HEADER, epoch, rec, pool.persister()) };
        assert!(end.is_some(), "the record fits an empty lane");
        pool.persister().fence();
    }

    #[test]
    fn an_open_refused_for_a_corrupt_journal_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.pool");
        let payload = *b"saved bytes!";
        let aux = u32::try_from(payload.len()).expect("a short payload");
        {
            let pool = RawPool::open(&path, O_CF, &options()).expect("create");
            let (heap_off, size) = (pool.geometry().heap_off.get(), pool.geometry().pool_size);
            // Lane 0 would be rolled back (bytes written), lane 1 names bytes past the end.
            for (i, off) in [(0, heap_off), (1, size - 4)] {
                let rec = NewRecord {
                    kind: Kind::Undo,
                    aux,
                    off,
                    payload: payload.as_ptr(),
                };
                plant(&pool, i, rec);
            }
        }
        let before = std::fs::read(&path).expect("read");
        let r = OpenPool::open(&path, 0, &options()).map(|_| ());
        assert!(
            matches!(r, Err(Error::CorruptJournal { lane: 1, .. })),
            "{r:?}"
        );
        assert!(
            std::fs::read(&path).expect("read") == before,
            "the refused open wrote the file"
        );
    }

    #[test]
    fn an_open_refused_for_a_corrupt_map_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("map.pool");
        {
            let pool = RawPool::open(&path, O_CF, &options()).expect("create");
            let off = pool.heap().alloc(64, 64, |_, _| Ok(())).expect("alloc");
            let geo = pool.geometry();
            let unit = off.checked_since(geo.heap_off).expect("in the heap") / UNIT;
            // SAFETY: the map region is inside the live mapping.
            let map = unsafe { pool.base().add(geo.map_off.to_usize()) };
            // An uncommitted free in place (recovery's first step would mark the block
            // used again) and an invalid byte where the buddy's head is.
            for (u, byte) in [(unit, FREE), (unit ^ 1, FREE | USED)] {
                // SAFETY: `u` < heap units: a map byte of the live mapping.
                let at = unsafe { map.add(to_usize(u)) };
                // SAFETY: as above; this test is the pool's only user.
                unsafe { at.write(byte) };
            }
            plant(&pool, 0, NewRecord::plain(Kind::Free, 0, off.get()));
        }
        let before = std::fs::read(&path).expect("read");
        let r = OpenPool::open(&path, 0, &options()).map(|_| ());
        assert!(matches!(r, Err(Error::CorruptAllocator { .. })), "{r:?}");
        assert!(
            std::fs::read(&path).expect("read") == before,
            "the refused open wrote the file"
        );
    }
}
