//! The buddy allocator over a pool's heap region.
//!
//! # Mechanism
//! The persistent state is the order map ([`super::map`]): one byte per 64-byte unit.
//! DRAM keeps, per order, the set of free blocks, rebuilt from the map at every open
//! (never a second source of truth, DESIGN §6). Every operation runs under one mutex.
//!
//! # Persistence order
//! *Allocate* a block of order k out of a free block of order j ≥ k at unit u:
//! 1. take the block out of the DRAM free set; the caller's `log` hook writes (and
//!    flushes) its journal record naming the block;
//! 2. write the heads of the split-off buddies (`FREE|i` at `u + 2^i`, k ≤ i < j): they
//!    sit inside the still-free block, so any crash here leaves a valid map (M3 residue);
//! 3. fence — the journal record and the buddy heads are durable before step 4 (A1);
//! 4. store `USED|k` at `u` and flush it: the single byte that commits the allocation.
//!    It is durable at the caller's next fence (the transaction's commit fence).
//!
//! *Free* a batch of blocks:
//! 1. for each, merge with free buddies in DRAM and store the merged head `FREE|k'`;
//!    one byte store commits each free;
//! 2. fence — the frees are durable (F1);
//! 3. zero the heads that became interior (crash residue otherwise, cleaned at open);
//! 4. the caller's `before_publish` hook runs (the journal forgets the frees, durably);
//! 5. only now do the blocks enter the DRAM free sets, so a block is never handed out
//!    again while a journal could still replay its free (F2).
//!
//! # Invariants
//! - **A1** a used head byte is durable only after the record that lets recovery undo it.
//! - **A2** a block of order k starts at a heap offset divisible by min(64·2^k, 4096) of
//!   the mapping (the heap is page-aligned), and is at least 64·2^k bytes long.
//! - **A3** the DRAM free sets hold exactly the map's free heads, outside an operation.
//! - **F1/F2** as above.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::map::{self, FREE, USED};
use super::stats::{AllocStats, ClassStats};
use crate::error::{Error, Result};
use crate::persist::{CACHE_LINE, Persister};
use crate::util::to_usize;

/// log2 of the unit size.
pub(crate) const UNIT_LOG: u32 = 6;
/// The smallest block: one 64-byte unit (one cache line).
pub(crate) const UNIT: u64 = 1 << UNIT_LOG;
/// The largest alignment a block can promise (the heap region is page-aligned).
pub(crate) const MAX_ALIGN: u64 = 4096;

/// The order of the smallest block that holds `size` bytes aligned to `align`.
pub(crate) fn order_for(size: u64, align: u64) -> Result<u8> {
    if !align.is_power_of_two() || align > MAX_ALIGN {
        return Err(Error::UnsupportedAlignment {
            align,
            max: MAX_ALIGN,
        });
    }
    let need = size.max(align).max(1);
    let units = need.div_ceil(UNIT);
    let units = units.checked_next_power_of_two().ok_or(Error::OutOfSpace {
        requested: size,
        largest_free: 0,
    })?;
    Ok(units.trailing_zeros() as u8)
}

/// Size in bytes of a block of `order`.
pub(crate) fn block_size(order: u8) -> u64 {
    UNIT << order
}

struct State {
    /// Free heads per order, by unit (A3).
    free: Vec<BTreeSet<u64>>,
    /// Used blocks per order.
    used: Vec<u64>,
}

/// The allocator of one open pool.
pub(crate) struct Heap {
    state: Mutex<State>,
    /// First byte of the order map inside the pool mapping.
    map: *mut u8,
    /// Pool offset of unit 0.
    heap_off: u64,
    units: u64,
    persister: Persister,
}

// SAFETY: `map` points into the pool mapping, which outlives the `Heap` (the `RawPool`
// drops its heap before its mapping); all reads and writes through it happen while
// `state` is locked, so threads never race on the map.
unsafe impl Send for Heap {}
// SAFETY: as for `Send`: every access to `*map` is serialised by the `state` mutex.
unsafe impl Sync for Heap {}

impl std::fmt::Debug for Heap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heap")
            .field("heap_off", &self.heap_off)
            .field("units", &self.units)
            .finish_non_exhaustive()
    }
}

impl Heap {
    /// Opens the allocator over an existing map: scans it, repairs crash residue (M3, M4)
    /// durably, and builds the DRAM free sets.
    ///
    /// # Safety
    /// 1. `[map, map + units)` is writable memory of the pool mapping that stays mapped
    ///    for the life of the returned `Heap`, and nothing else accesses it meanwhile.
    /// 2. `persister` belongs to that mapping.
    pub(crate) unsafe fn open(
        map: *mut u8,
        units: u64,
        heap_off: u64,
        persister: Persister,
    ) -> Result<Heap> {
        let len = to_usize(units);
        // SAFETY: (1) the range is mapped, writable and not otherwise accessed.
        let bytes = unsafe { std::slice::from_raw_parts_mut(map, len) };
        let mut scan = map::scan(bytes, units).map_err(corrupt)?;
        while !scan.is_canonical() {
            for &u in &scan.stale {
                bytes[to_usize(u)] = 0;
            }
            for &(u, k) in &scan.unmerged {
                bytes[to_usize(u)] = FREE | (k + 1);
                bytes[to_usize(u + (1 << k))] = 0;
            }
            // PERSIST: the repaired map is durable before any allocation relies on it.
            // SAFETY: (1) the whole map is in the mapping; (2) the persister is its own.
            unsafe { persister.persist(map, len) };
            scan = map::scan(bytes, units).map_err(corrupt)?;
        }
        let free = scan.free.into_iter().map(BTreeSet::from_iter).collect();
        Ok(Heap {
            state: Mutex::new(State {
                free,
                used: scan.used,
            }),
            map,
            heap_off,
            units,
            persister,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock can only come from a broken internal
        // invariant; the map itself is always valid, so keep going with the state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self, u: u64) -> u8 {
        debug_assert!(u < self.units);
        // SAFETY: `u < units`, so the byte is inside the map (Heap::open (1)); callers
        // hold the state lock, so no store races with this load.
        unsafe { self.map.add(to_usize(u)).read() }
    }

    /// Stores a map byte and flushes its line unless `last_line` says it was just flushed.
    fn write(&self, u: u64, b: u8, last_line: &mut usize) {
        debug_assert!(u < self.units);
        // SAFETY: `u < units`, inside the map; callers hold the state lock.
        let p = unsafe { self.map.add(to_usize(u)) };
        // SAFETY: `p` is in the writable map and the lock excludes other accesses.
        unsafe { p.write(b) };
        let line = p as usize / CACHE_LINE;
        if line != *last_line {
            *last_line = line;
            // SAFETY: one byte of the live mapping (Heap::open (1), (2)).
            unsafe { self.persister.flush(p, 1) };
        }
    }

    fn unit_of(&self, off: u64) -> Option<u64> {
        let rel = off.checked_sub(self.heap_off)?;
        (rel % UNIT == 0 && rel / UNIT < self.units).then_some(rel / UNIT)
    }

    /// The pool offset of unit `u`.
    fn off_of(&self, u: u64) -> u64 {
        self.heap_off + u * UNIT
    }

    /// Allocates a block for `size` bytes aligned to `align`; returns its pool offset.
    ///
    /// `log(off, order)` runs once the block is chosen and before anything is written;
    /// it must flush (not fence) whatever record lets recovery free the block. If it
    /// fails, nothing changes and its error is returned. The allocation is durable at the
    /// caller's next fence.
    pub(crate) fn alloc(
        &self,
        size: u64,
        align: u64,
        log: impl FnOnce(u64, u8) -> Result<()>,
    ) -> Result<u64> {
        let k = order_for(size, align)?;
        let mut st = self.lock();
        let Some(j) = (usize::from(k)..st.free.len()).find(|&j| !st.free[j].is_empty()) else {
            return Err(self.out_of_space(&st, size));
        };
        let Some(u) = st.free[j].pop_first() else {
            return Err(self.out_of_space(&st, size));
        };
        let off = self.off_of(u);
        if let Err(e) = log(off, k) {
            st.free[j].insert(u);
            return Err(e);
        }
        let mut line = usize::MAX;
        for i in (usize::from(k)..j).rev() {
            let buddy = u + (1u64 << i);
            st.free[i].insert(buddy);
            self.write(buddy, FREE | i as u8, &mut line);
        }
        // PERSIST: the journal record and the split-off heads are durable before the
        // head byte below can reach the media (A1).
        self.persister.fence();
        let mut line = usize::MAX;
        self.write(u, USED | k, &mut line);
        st.used[usize::from(k)] += 1;
        Ok(off)
    }

    #[cold]
    fn out_of_space(&self, st: &State, size: u64) -> Error {
        Error::OutOfSpace {
            requested: size,
            largest_free: largest_free(st),
        }
    }

    /// Frees a batch of blocks `(off, order)` and calls `before_publish` once they are
    /// durable and before any of them can be allocated again (F1, F2).
    ///
    /// With `strict`, every block must be a used block of that order, and nothing is
    /// changed if one is not ([`Error::InvalidFree`]). Without it (recovery), blocks that
    /// are not used blocks of that order are skipped, which makes a replay idempotent.
    pub(crate) fn free_batch(
        &self,
        blocks: &[(u64, u8)],
        strict: bool,
        before_publish: impl FnOnce(),
    ) -> Result<()> {
        let mut st = self.lock();
        let mut todo = Vec::with_capacity(blocks.len());
        for &(off, k) in blocks {
            let valid = self.unit_of(off).filter(|&u| self.read(u) == USED | k);
            match valid {
                Some(u) if !todo.contains(&(u, k)) => todo.push((u, k)),
                Some(_) if strict => {
                    return Err(Error::InvalidFree {
                        off,
                        reason: "freed twice in one batch",
                    });
                }
                None if strict => {
                    return Err(Error::InvalidFree {
                        off,
                        reason: "not the start of a used block of that size",
                    });
                }
                _ => {}
            }
        }
        let mut line = usize::MAX;
        let mut publish: Vec<(u64, u8)> = Vec::with_capacity(todo.len());
        let mut interior = Vec::new();
        for (u, k0) in todo {
            st.used[usize::from(k0)] -= 1;
            let (mut cur, mut k) = (u, k0);
            while usize::from(k) + 1 < st.free.len() {
                let buddy = cur ^ (1u64 << k);
                if buddy + (1u64 << k) > self.units || self.read(buddy) != FREE | k {
                    break;
                }
                if !st.free[usize::from(k)].remove(&buddy) {
                    publish.retain(|&b| b != (buddy, k));
                }
                interior.push(cur.max(buddy));
                cur = cur.min(buddy);
                k += 1;
            }
            self.write(cur, FREE | k, &mut line);
            publish.push((cur, k));
        }
        // PERSIST: the frees are durable (F1) before the hook lets the journal forget
        // them and before the stale heads are cleared.
        self.persister.fence();
        let mut line = usize::MAX;
        for u in interior {
            if publish.iter().all(|&(p, _)| p != u) {
                self.write(u, 0, &mut line);
            }
        }
        before_publish();
        for (u, k) in publish {
            st.free[usize::from(k)].insert(u);
        }
        Ok(())
    }

    /// Usage statistics.
    pub(crate) fn stats(&self) -> AllocStats {
        let st = self.lock();
        let mut s = AllocStats {
            total: self.units * UNIT,
            largest_free: largest_free(&st),
            ..AllocStats::default()
        };
        for (k, (free, &used)) in st.free.iter().zip(&st.used).enumerate() {
            let size = block_size(k as u8);
            s.used += used * size;
            s.free += free.len() as u64 * size;
            s.classes.push(ClassStats {
                block_size: size,
                used_blocks: used,
                free_blocks: free.len() as u64,
            });
        }
        s
    }

    /// Verifies every allocator invariant against the map as it is in PM; returns one
    /// line per problem (empty: healthy).
    pub(crate) fn check(&self) -> Vec<String> {
        let st = self.lock();
        // SAFETY: the map is inside the mapping (Heap::open (1)) and the lock is held, so
        // no store happens while this shared view is alive.
        let bytes = unsafe { std::slice::from_raw_parts(self.map, to_usize(self.units)) };
        let scan = match map::scan(bytes, self.units) {
            Ok(s) => s,
            Err((u, why)) => return vec![format!("heap unit {u}: {why}")],
        };
        let mut problems = scan_problems(&scan);
        for (k, (dram, pm)) in st.free.iter().zip(&scan.free).enumerate() {
            if dram.len() != pm.len() || !pm.iter().all(|u| dram.contains(u)) {
                problems.push(format!(
                    "order {k}: {} free blocks in DRAM lists, {} in the map",
                    dram.len(),
                    pm.len()
                ));
            }
        }
        if st.used != scan.used {
            problems.push(format!(
                "used-block counters {:?} disagree with the map {:?}",
                st.used, scan.used
            ));
        }
        problems
    }
}

/// The invariant violations a successful scan can still show (M3, M4).
pub(crate) fn scan_problems(scan: &map::Scan) -> Vec<String> {
    let mut problems = Vec::new();
    for u in &scan.stale {
        problems.push(format!("heap unit {u}: stale block head inside a block"));
    }
    for (u, k) in &scan.unmerged {
        problems.push(format!(
            "heap unit {u}: free buddies of order {k} not merged"
        ));
    }
    problems
}

fn largest_free(st: &State) -> u64 {
    st.free
        .iter()
        .rposition(|s| !s.is_empty())
        .map_or(0, |k| block_size(k as u8))
}

fn corrupt((unit, reason): (u64, String)) -> Error {
    Error::CorruptAllocator { unit, reason }
}
