//! The reachability scan of an open pool ([`MemPool::leaks`](crate::MemPool::leaks)):
//! taken while no transaction runs, reading the heap with `pread`.
//!
//! # Why `pread`
//! Transactions are kept out by holding every lane ([`OpenPool::quiesce`]), but a
//! thread may still write a [`VCell`](crate::VCell) in the pool outside a transaction
//! (volatile values are never logged). Reading those bytes through the mapping at the
//! same time would be a data race; `pread` has the kernel copy them from the page cache
//! the shared mapping writes into, which races with nothing of this process. A
//! `VCell`'s value is whatever the copy saw, which is fine: it holds no persistent
//! pointers.

use crate::alloc::Reachability;
use crate::alloc::buddy::UNIT;
use crate::alloc::map;
use crate::alloc::reach::{self, BlockSource};
use crate::convert::to_usize;
use crate::error::{Error, Result};
use crate::offset::PoolOff;
use crate::pool::header::Header;
use crate::pool::raw::RawPool;
use crate::stm::open::OpenPool;

/// Bytes read at once: small blocks that lie side by side are read together.
const WINDOW: u64 = 64 << 10;

/// Used blocks read from the pool file, a window at a time.
struct FileBlocks<'a> {
    raw: &'a RawPool,
    heap_off: PoolOff,
    units: u64,
    /// Heap unit of `buf[0]`.
    start: u64,
    buf: Vec<u8>,
}

impl BlockSource for FileBlocks<'_> {
    fn block(&mut self, unit: u64, order: u8) -> Option<&[u8]> {
        let len = UNIT.checked_shl(u32::from(order))?;
        let begin = unit.checked_mul(UNIT)?;
        let have = self.start * UNIT..self.start * UNIT + self.buf.len() as u64;
        if begin < have.start || begin + len > have.end {
            // Windows start at a multiple of their size, so a walk that steps back and
            // forth over neighbouring blocks rereads nothing (a block larger than a
            // window is read whole; blocks are aligned to their size, A2).
            let size = len.max(WINDOW);
            let from = begin - begin % size;
            let want = size.min(self.units * UNIT - from);
            self.buf.resize(to_usize(want), 0);
            self.start = from / UNIT;
            if self
                .raw
                .read_at(self.heap_off.add(from), &mut self.buf)
                .is_err()
            {
                self.buf.clear();
                return None;
            }
        }
        let at = to_usize(begin - self.start * UNIT);
        self.buf.get(at..at + to_usize(len))
    }
}

/// Scans `pool`'s heap from its root while no transaction runs.
///
/// # Errors
/// I/O errors of the reads; [`Error::CorruptAllocator`] if the map breaks M1/M2 (it
/// was checked at open, so only damage since then can).
pub(crate) fn reachability(pool: &OpenPool) -> Result<Reachability> {
    let _quiet = pool.quiesce();
    let (r, _) = scan_quiet(pool)?;
    Ok(Reachability::from_reach(
        &r,
        pool.raw.geometry().heap_off.get(),
    ))
}

/// Blocks freed per batch by [`free_leaks`]: each batch is one crash-consistent free
/// (F1) with its own fence.
const FREE_BATCH: usize = 1024;

/// Frees every used block of `pool` that nothing reaches from the root; returns the
/// number of blocks and bytes freed. Runs while no transaction runs, so no block a
/// transaction is about to link can be taken for a leak.
///
/// # Crash consistency
/// Each batch is [`Heap::free_batch`](crate::alloc::Heap::free_batch): one byte store
/// per freed (merged) head, then a fence (F1). A crash leaves some leaks freed and the
/// others used, a map that opens (stale heads are M3 residue), and leaks that a second
/// repair frees.
///
/// # Errors
/// As [`reachability`]; a scan that found damaged pointers frees nothing
/// ([`Error::CorruptAllocator`]): the map cannot be trusted to say what is used.
pub(crate) fn free_leaks(pool: &OpenPool) -> Result<(u64, u64)> {
    let _quiet = pool.quiesce();
    let (r, map) = scan_quiet(pool)?;
    if r.damaged > 0 {
        let (at, w) = r.first_damage.first().copied().unwrap_or_default();
        return Err(Error::CorruptAllocator {
            unit: w.saturating_sub(pool.raw.geometry().heap_off.get()) / UNIT,
            reason: format!(
                "{} pointers (the first at pool offset {at:#x}) name memory the map calls \
                 free; leaks are not freed from a damaged map",
                r.damaged
            ),
        });
    }
    let heap = pool.raw.heap();
    let heap_off = pool.raw.geometry().heap_off;
    let mut batch = Vec::with_capacity(FREE_BATCH);
    let mut result = Ok(());
    let mut flush = |batch: &mut Vec<(PoolOff, u8)>| {
        if result.is_ok() && !batch.is_empty() {
            result = heap.free_batch(batch, true, || {});
        }
        batch.clear();
    };
    r.for_each_leak(&map, |u, k| {
        batch.push((heap_off.add(u * UNIT), k));
        if batch.len() == FREE_BATCH {
            flush(&mut batch);
        }
    });
    flush(&mut batch);
    result?;
    Ok((r.leaked_blocks, r.leaked_bytes()))
}

/// The scan behind [`reachability`] and [`free_leaks`], with the canonical map it ran
/// on; the caller holds [`OpenPool::quiesce`].
///
/// # Errors
/// As [`reachability`].
fn scan_quiet(pool: &OpenPool) -> Result<(reach::Reach, Vec<u8>)> {
    let raw = &pool.raw;
    let geo = raw.geometry();
    let mut map_bytes = raw.heap().map_copy();
    let mut scan = map::scan(&map_bytes, geo.heap_units)
        .map_err(|(unit, reason)| Error::CorruptAllocator { unit, reason })?;
    for &u in &scan.stale {
        map_bytes[to_usize(u)] = 0;
    }
    let mut slot = [0u8; 8];
    raw.read_at(
        PoolOff::new(std::mem::offset_of!(Header, root_off) as u64),
        &mut slot,
    )?;
    let root = u64::from_le_bytes(slot);
    let roots: &[u64] = if root == 0 { &[] } else { &[root] };
    let mut blocks = FileBlocks {
        raw,
        heap_off: geo.heap_off,
        units: geo.heap_units,
        start: 0,
        buf: Vec::new(),
    };
    let stale = std::mem::take(&mut scan.stale);
    let r = reach::scan(
        &map_bytes,
        &stale,
        &mut blocks,
        geo.heap_off.get(),
        roots,
        |_, _| {},
    );
    Ok((r, map_bytes))
}
