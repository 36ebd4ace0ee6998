//! The buddy allocator over a pool's heap region.
//!
//! # Mechanism
//! The persistent state is the order map ([`super::map`]): one byte per 64-byte unit.
//! DRAM keeps, per order, the set of free blocks, rebuilt from the map at every open
//! (never a second source of truth, DESIGN §6), under one mutex. In front of it, every
//! journal lane has a small *lane cache* of free blocks of the small orders, which only
//! the transaction holding that lane uses: a transaction that allocates and frees small
//! blocks takes no global lock and rewrites no neighbouring heads.
//!
//! Transactions *reserve* blocks and mark them used only when they commit
//! ([`Heap::reserve`], [`Heap::mark_used`], [`Heap::unreserve`]); a block reserved and
//! freed again by the same transaction never reaches the map. Extension blocks of the
//! journal and the raw `internals` API allocate eagerly ([`Heap::alloc`]).
//!
//! # Persistence order
//! *Split* a free block of order m at unit u down to order k < m ([`Heap::take`]):
//! 1. write the heads of the split-off buddies (`FREE|i` at `u + 2^i`, k ≤ i < m): they
//!    sit inside the still-free block, so a crash leaves a valid map (M3 residue);
//! 2. fence — the buddy heads are durable before u's head stops covering them (M1);
//! 3. write u's new head (`FREE|k` for a reservation, `USED|k` for an eager allocation);
//! 4. fence — u's head is durable before any buddy is handed out (S1 below);
//! 5. only now do the buddies enter the free sets.
//!
//! *Reserve* a block of order k: pop it from the lane cache, or take it from the free
//! sets (splitting as above; the split also cuts its smallest buddies into blocks of
//! order k that refill the lane's cache). Its durable head says `FREE|k`; nothing is
//! written.
//!
//! *Mark used* (at commit): the caller's ALLOC record naming the block is durable (A1);
//! store `USED|k` at u and flush it. It is durable at the caller's next fence.
//!
//! *Allocate eagerly*: take the block; the caller's `log` hook flushes its record; fence
//! (A1; the first fence of a split serves); store `USED|k` and flush it.
//!
//! *Free in place* (a transaction's frees, at its commit; [`Heap::free_in_place`]): the
//! FREE records naming the blocks are durable; store `FREE|k` at each head, unmerged, and
//! flush; the caller's commit fence makes them durable with its COMMIT record (recovery
//! turns them back into `USED|k` if the record did not make it). The caller then
//! truncates its log without a fence and gives the blocks back ([`Heap::take_back`]):
//! into the lane's cache, or *parked* on the lane until its next transaction fences
//! ([`Heap::unpark`]), so that no block is reused while the log could free it again (F2).
//!
//! *Free* a batch of blocks (recovery, the `internals` API):
//! 1. the blocks merge with free buddies in DRAM and get the merged head `FREE|k'`; one
//!    byte store commits each free;
//! 2. fence — the frees are durable (F1);
//! 3. zero the heads that became interior (crash residue otherwise, cleaned at open);
//! 4. the caller's `before_publish` hook runs (recovery forgets the log, durably);
//! 5. only now do the blocks enter the free sets, so a block is never handed out again
//!    while a journal could still replay its free (F2).
//!
//! # Concurrency
//! The mutex guards the DRAM free sets; fences happen outside it. A lane cache has its
//! own mutex, uncontended but for [`Heap::check`], the statistics and draining; locks
//! are taken cache first, then the free sets, never the other way round.
//! - **C1** a block taken from a free set or a cache, or being freed, is in no set and
//!   no cache until it is published, so only its own thread touches its map bytes in
//!   the meantime; merges consult the free sets, never the map bytes of other blocks.
//!   Map bytes are byte atomics, so distinct threads storing distinct bytes of one line
//!   (and diagnostics reading any) never race. [`Heap::check`] and the statistics are
//!   exact when no operation is under way, snapshots otherwise.
//! - **S1** a buddy split off a block enters a free set only once the head of the block
//!   it was split from is durable: otherwise another thread could commit a `USED` head
//!   inside a block the map still calls free, and the repair at open would erase it.
//!
//! # Invariants
//! - **A1** a used head byte is durable only after the record that lets recovery undo it.
//! - **A2** a block of order k starts at a heap offset divisible by min(64·2^k, 4096) of
//!   the mapping (the heap is page-aligned), and is at least 64·2^k bytes long.
//! - **A3** outside an operation, the free sets, the lane caches and the parked blocks
//!   together hold exactly the map's free heads. Only cached or parked blocks may have an
//!   unmerged free buddy (M4); the repair at open merges them. All those heads are
//!   durable.
//! - **F1/F2** as above.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::map::{self, FREE, USED};
use super::stats::{AllocStats, ClassStats};
use crate::convert::{small, to_usize};
use crate::error::{Error, Result};
use crate::offset::PoolOff;
use crate::persist::{CACHE_LINE, Persister};

/// log2 of the unit size.
pub(crate) const UNIT_LOG: u32 = 6;
/// The smallest block: one 64-byte unit (one cache line).
pub(crate) const UNIT: u64 = 1 << UNIT_LOG;
/// The largest alignment a block can promise (the heap region is page-aligned).
pub(crate) const MAX_ALIGN: u64 = 4096;
/// Orders a lane cache keeps: blocks of 64 B to 4 KiB.
const CACHE_ORDERS: usize = 7;
/// Blocks a lane cache keeps per order.
const CACHE_CAP: usize = 16;
/// A reservation that must split a block refills its lane's empty cache with the
/// pieces of the buddies of its `CARVE` lowest orders (2^CARVE - 1 blocks), so that the
/// split's two fences serve 2^CARVE reservations.
const CARVE: u8 = 4;
const _: () = assert!(
    (1 << CARVE) - 1 <= CACHE_CAP,
    "a refill fits an empty cache"
);
/// How often an allocation that finds no block waits for splits under way.
const SPLIT_WAITS: u32 = 10_000;

/// The order of the smallest block that holds `size` bytes aligned to `align`.
///
/// # Errors
/// [`Error::UnsupportedAlignment`] for an alignment that is not a power of two or above
/// [`MAX_ALIGN`]; [`Error::OutOfSpace`] for a size no heap can hold.
pub(crate) fn order_for(size: u64, align: u64) -> Result<u8> {
    if !align.is_power_of_two() || align > MAX_ALIGN {
        return Err(Error::UnsupportedAlignment {
            align,
            max: MAX_ALIGN,
        });
    }
    let need = size.max(align).max(1);
    let units = need.div_ceil(UNIT);
    // Not `ok_or`: an `Error` built on every call and dropped costs the hot paths.
    let Some(units) = units.checked_next_power_of_two() else {
        return Err(Error::OutOfSpace {
            requested: size,
            largest_free: 0,
        });
    };
    Ok(small(units.trailing_zeros() as usize))
}

/// Size in bytes of a block of `order`.
pub(crate) fn block_size(order: u8) -> u64 {
    UNIT << order
}

struct State {
    /// Free heads per order, by unit (A3).
    free: Vec<BTreeSet<u64>>,
    /// Splits under way: their buddies are in no free set yet (S1).
    splitting: usize,
}

/// The free blocks one lane keeps for its transactions, by order (units).
#[derive(Default)]
struct LaneCache {
    free: [Vec<u64>; CACHE_ORDERS],
    /// Blocks freed in place by the lane's committed transaction whose log may still be
    /// in the media (unit, order): reusable only once that log's truncation is durable
    /// (F2, [`Heap::take_back`]).
    parked: Vec<(u64, u8)>,
    /// Address of the lane line whose write-back makes the truncation of its last
    /// freeing transaction durable (0: none pending).
    truncation_line: usize,
    /// Blocks of the lane's aborted transactions (unit, order), oldest first, held back
    /// from reuse for a while (at most [`QUARANTINE_CAP`]): a pointer to one that
    /// outlived its transaction (a `thread_local!` stash) then finds a free block and is
    /// refused (rule P2, `stm::placement`) instead of aliasing a new object. Free in
    /// the map; drained with the caches.
    quarantine: std::collections::VecDeque<(u64, u8)>,
}

/// How many blocks of aborted transactions a lane holds back from reuse.
const QUARANTINE_CAP: usize = 64;

/// The allocator of one open pool.
pub(crate) struct Heap {
    state: Mutex<State>,
    /// One cache per journal lane.
    caches: Box<[Mutex<LaneCache>]>,
    /// Per lane: whether its cache holds parked blocks (read without the cache's lock
    /// on every transaction's first fence).
    parked_any: Box<[AtomicBool]>,
    /// Used heads per order (exact outside an operation).
    used: Box<[AtomicU64]>,
    /// Reserved blocks per order: in no set, no cache, and free in the map.
    reserved: Box<[AtomicU64]>,
    /// First byte of the order map inside the pool mapping.
    map: *mut u8,
    /// Pool offset of unit 0.
    heap_off: PoolOff,
    units: u64,
    persister: Persister,
}

// SAFETY: `map` points into the pool mapping, which outlives the `Heap` (the `RawPool`
// drops its heap before its mapping); every access to the map goes through byte
// atomics (`Heap::byte`), and C1 gives each byte one writer at a time.
unsafe impl Send for Heap {}
// SAFETY: as for `Send`: map bytes are only touched through atomics.
unsafe impl Sync for Heap {}

impl std::fmt::Debug for Heap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heap")
            .field("heap_off", &self.heap_off)
            .field("units", &self.units)
            .finish_non_exhaustive()
    }
}

fn counters(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Heap {
    /// Checks, reading only, that [`Heap::open`] will accept the map `bytes` of a heap of
    /// `units` units: run before anything of the pool is written, so that an open
    /// refused for a corrupt map leaves the file as it was. (The repairs of
    /// [`Heap::open`] and recovery's reinstated heads keep every block's order and
    /// place, so they cannot make a valid map invalid.)
    ///
    /// # Errors
    /// [`Error::CorruptAllocator`] if the map violates M1 or M2.
    pub(crate) fn check_map(bytes: &[u8], units: u64) -> Result<()> {
        map::scan(bytes, units).map(|_| ()).map_err(corrupt)
    }

    /// Opens the allocator over an existing map: scans it, repairs crash residue (M3, M4)
    /// durably, and builds the DRAM free sets, with one empty cache per lane.
    ///
    /// # Safety
    /// 1. `[map, map + units)` is writable memory of the pool mapping that stays mapped
    ///    for the life of the returned `Heap`, and nothing else accesses it meanwhile.
    /// 2. `persister` belongs to that mapping.
    ///
    /// # Errors
    /// [`Error::CorruptAllocator`] if the map violates M1 or M2.
    pub(crate) unsafe fn open(
        map: *mut u8,
        units: u64,
        heap_off: PoolOff,
        persister: Persister,
        lanes: u32,
    ) -> Result<Heap> {
        let len = to_usize(units);
        // SAFETY: (1) the range is mapped, writable and not otherwise accessed.
        let bytes = unsafe { std::slice::from_raw_parts_mut(map, len) };
        let mut scan = map::scan(bytes, units).map_err(corrupt)?;
        while !scan.is_canonical() {
            for &u in &scan.stale {
                bytes[to_usize(u)] = 0;
            }
            // A merge only writes the merged head here; the upper buddy's head, now inside
            // the merged block, is stale to the next scan and cleared in the next round,
            // after this persist. Clearing both in one persist would let a crash keep the
            // cleared byte and lose the merged head: units no head covers (M1).
            for &(u, k) in &scan.unmerged {
                bytes[to_usize(u)] = FREE | (k + 1);
            }
            // PERSIST: the repaired map is durable before any allocation relies on it,
            // and each round's merged heads before the next round clears the heads
            // inside them (M1 at every moment).
            // SAFETY: (1) the whole map is in the mapping; (2) the persister is its own.
            unsafe { persister.persist(map, len) };
            scan = map::scan(bytes, units).map_err(corrupt)?;
        }
        let orders = scan.free.len();
        let used = counters(orders);
        for (c, &n) in used.iter().zip(&scan.used) {
            c.store(n, Ordering::Relaxed);
        }
        let free = scan.free.into_iter().map(BTreeSet::from_iter).collect();
        Ok(Heap {
            state: Mutex::new(State { free, splitting: 0 }),
            caches: (0..lanes).map(|_| Mutex::default()).collect(),
            parked_any: (0..lanes).map(|_| AtomicBool::new(false)).collect(),
            used,
            reserved: counters(orders),
            map,
            heap_off,
            units,
            persister,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock can only come from a broken internal
        // invariant; the map itself is always valid, so keep going with the state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cache of `lane`, if there is such a lane.
    fn cache(&self, lane: u32) -> Option<MutexGuard<'_, LaneCache>> {
        let c = self.caches.get(to_usize(u64::from(lane)))?;
        Some(c.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The map byte of unit `u`, as an atomic: threads write distinct bytes of the map
    /// outside the lock (C1), and a diagnostic may read any byte at any time; relaxed
    /// byte atomics cost what plain accesses do and keep all of that free of data races.
    fn byte(&self, u: u64) -> &AtomicU8 {
        debug_assert!(u < self.units);
        // SAFETY: `u < units`, so the byte is inside the map (Heap::open (1)).
        let p = unsafe { self.map.add(to_usize(u)) };
        // `AtomicU8` has the size and alignment of `u8`, and every access to the map
        // outside `Heap::open` goes through these atomics.
        // SAFETY: the byte is valid for the heap's life (Heap::open (1)), accessed
        // atomically.
        unsafe { AtomicU8::from_ptr(p) }
    }

    fn read(&self, u: u64) -> u8 {
        self.byte(u).load(Ordering::Relaxed)
    }

    /// Stores a map byte. Consecutive stores to one line are flushed together, *after*
    /// the last of them: `clwb`/`clflushopt` write back only the stores made before
    /// them (Intel SDM vol. 2A, "CLWB": ordered with older stores to the same line), so
    /// a flush before a later store to its line would leave that store in the cache.
    /// `line` names the line stored to since its last flush; [`Heap::end_writes`]
    /// flushes it.
    fn write(&self, u: u64, b: u8, line: &mut usize) {
        let cell = self.byte(u);
        cell.store(b, Ordering::Relaxed);
        let this = cell.as_ptr() as usize & !(CACHE_LINE - 1);
        if this != *line {
            self.end_writes(line);
            *line = this;
        }
    }

    /// Flushes the line the last [`Heap::write`]s stored to, if any.
    fn end_writes(&self, line: &mut usize) {
        if *line != usize::MAX {
            // SAFETY: a line of the live map that `write` stored to (Heap::open (1), (2)).
            unsafe { self.persister.flush(*line as *const u8, 1) };
            *line = usize::MAX;
        }
    }

    /// The unit at pool offset `off`, if `off` is a unit boundary inside the heap.
    fn unit_of(&self, off: PoolOff) -> Option<u64> {
        let rel = off.checked_since(self.heap_off)?;
        (rel % UNIT == 0 && rel / UNIT < self.units).then_some(rel / UNIT)
    }

    /// The pool offset of unit `u`.
    fn off_of(&self, u: u64) -> PoolOff {
        self.heap_off.add(u * UNIT)
    }

    /// Takes a free block of order ≥ `k` out of the free sets: its unit and order. If the
    /// order is above `k`, a split is under way until [`Heap::split`] ends it. When no
    /// block is large enough, the lane caches are drained and splits under way awaited
    /// before giving up.
    ///
    /// # Errors
    /// [`Error::OutOfSpace`] (`size` is what the caller asked for).
    fn take(&self, k: u8, size: u64) -> Result<(u64, u8)> {
        let mut waits = 0;
        loop {
            let mut st = self.lock();
            let m = (usize::from(k)..st.free.len()).find(|&m| !st.free[m].is_empty());
            if let Some(u) = m.and_then(|m| st.free[m].pop_first()) {
                let m = small(m.unwrap_or_default());
                if m > k {
                    st.splitting += 1;
                }
                return Ok((u, m));
            }
            let splitting = st.splitting;
            drop(st);
            if self.drain_caches() > 0 {
                continue;
            }
            if splitting == 0 || waits == SPLIT_WAITS {
                let st = self.lock();
                return Err(Error::OutOfSpace {
                    requested: size,
                    largest_free: largest_free(&st),
                });
            }
            waits += 1;
            std::thread::yield_now();
        }
    }

    /// Cuts the free block of order `m` at `u` (taken by [`Heap::take`]) down to order
    /// `k`, writing `head` as u's new head byte, then publishes the split-off buddies
    /// (steps 1–5 of a split). The first fence also orders whatever the caller flushed
    /// before (A1 for an eager allocation).
    ///
    /// The buddies of orders `k..k + carve` are cut into blocks of order `k`, which are
    /// returned to the caller (for its lane cache) instead of being published.
    fn split(&self, u: u64, m: u8, k: u8, head: u8, carve: u8) -> Vec<u64> {
        let carve = carve.min(m - k);
        let mut pieces = Vec::new();
        let mut line = usize::MAX;
        for i in (k..m).rev() {
            let b = u + (1u64 << i);
            if i < k + carve {
                for p in 0..1u64 << (i - k) {
                    pieces.push(b + (p << k));
                    self.write(b + (p << k), FREE | k, &mut line);
                }
            } else {
                self.write(b, FREE | i, &mut line);
            }
        }
        self.end_writes(&mut line);
        // PERSIST: the buddy heads are durable before u's head stops covering them (M1),
        // and the caller's record before a used head (A1).
        self.persister.fence();
        self.write(u, head, &mut line);
        self.end_writes(&mut line);
        // PERSIST: u's head is durable before a buddy can be handed out (S1).
        self.persister.fence();
        let mut st = self.lock();
        for i in k + carve..m {
            self.publish(&mut st, u + (1u64 << i), i);
        }
        st.splitting -= 1;
        pieces
    }

    /// Allocates a block for `size` bytes aligned to `align` and marks it used at once;
    /// returns its pool offset.
    ///
    /// `log(off, order)` runs once the block is chosen and before anything is written;
    /// it must flush (not fence) whatever record lets recovery free the block. If it
    /// fails, nothing changes and its error is returned. The allocation is durable at the
    /// caller's next fence.
    ///
    /// # Errors
    /// [`Error::OutOfSpace`] when no free block is large enough, the errors of
    /// [`order_for`], and whatever `log` returns.
    pub(crate) fn alloc(
        &self,
        size: u64,
        align: u64,
        log: impl FnOnce(PoolOff, u8) -> Result<()>,
    ) -> Result<PoolOff> {
        let k = order_for(size, align)?;
        let (u, m) = self.take(k, size)?;
        let off = self.off_of(u);
        if let Err(e) = log(off, k) {
            let mut st = self.lock();
            st.free[usize::from(m)].insert(u);
            if m > k {
                st.splitting -= 1;
            }
            return Err(e);
        }
        self.used[usize::from(k)].fetch_add(1, Ordering::Relaxed);
        if m > k {
            self.split(u, m, k, USED | k, 0);
        } else {
            // PERSIST: the journal record is durable before the head byte below can
            // reach the media (A1).
            self.persister.fence();
            let mut line = usize::MAX;
            self.write(u, USED | k, &mut line);
            self.end_writes(&mut line);
        }
        Ok(off)
    }

    /// Reserves a block for `size` bytes aligned to `align` for a transaction running on
    /// `lane`: returns its pool offset and order. The block stays free in the map; the
    /// transaction either marks it used at commit ([`Heap::mark_used`]) or gives it back
    /// ([`Heap::unreserve`]).
    ///
    /// # Errors
    /// [`Error::OutOfSpace`] when no free block is large enough, and the errors of
    /// [`order_for`].
    pub(crate) fn reserve(&self, lane: u32, size: u64, align: u64) -> Result<(PoolOff, u8)> {
        let k = order_for(size, align)?;
        let cached = if usize::from(k) < CACHE_ORDERS {
            self.cache(lane)
                .and_then(|mut c| c.free[usize::from(k)].pop())
        } else {
            None
        };
        let u = match cached {
            Some(u) => u,
            None => {
                let (u, m) = self.take(k, size)?;
                if m > k {
                    let cacheable = usize::from(k) < CACHE_ORDERS && self.cache(lane).is_some();
                    let pieces = self.split(u, m, k, FREE | k, if cacheable { CARVE } else { 0 });
                    // The cache of order k was empty (the pop above failed, and only this
                    // lane's transaction fills it); 2^CARVE - 1 ≤ CACHE_CAP.
                    if !pieces.is_empty()
                        && let Some(mut c) = self.cache(lane)
                    {
                        c.free[usize::from(k)].extend(pieces);
                    }
                }
                u
            }
        };
        self.reserved[usize::from(k)].fetch_add(1, Ordering::Relaxed);
        Ok((self.off_of(u), k))
    }

    /// Marks reserved blocks used: stores and flushes their head bytes. The caller's
    /// records naming them must be durable already (A1); the heads are durable at the
    /// caller's next fence. The counters change later, in [`Heap::count_used`]: an
    /// atomic read-modify-write here would wait for the caller's earlier flushes and
    /// fences to complete (CLWB is ordered by locked instructions; a fence only orders
    /// later stores), where plain work can overlap them.
    pub(crate) fn mark_used(&self, blocks: &[(PoolOff, u8)]) {
        let mut line = usize::MAX;
        for &(off, k) in blocks {
            let Some(u) = self.unit_of(off) else {
                debug_assert!(false, "a reserved block is in the heap");
                continue;
            };
            self.write(u, USED | k, &mut line);
        }
        self.end_writes(&mut line);
    }

    /// Counts blocks [`Heap::mark_used`] marked as used instead of reserved.
    pub(crate) fn count_used(&self, blocks: &[(PoolOff, u8)]) {
        for &(_, k) in blocks {
            self.reserved[usize::from(k)].fetch_sub(1, Ordering::Relaxed);
            self.used[usize::from(k)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Gives back blocks reserved on `lane` and never marked used: into the lane's
    /// cache while it has room, else into the free sets. Their heads are durable
    /// `FREE|k` already, so nothing is written unless a block merges (A3).
    pub(crate) fn unreserve(&self, lane: u32, blocks: &[(PoolOff, u8)]) {
        self.give_back(lane, blocks, false);
    }

    /// [`Heap::unreserve`] for the blocks of an aborted transaction: the small ones go
    /// to the lane's quarantine first, and the oldest quarantined ones leave it.
    pub(crate) fn unreserve_aborted(&self, lane: u32, blocks: &[(PoolOff, u8)]) {
        self.give_back(lane, blocks, true);
    }

    /// Gives `blocks` back to `lane`'s cache or the free sets, through the quarantine
    /// when `quarantine` is set.
    fn give_back(&self, lane: u32, blocks: &[(PoolOff, u8)], quarantine: bool) {
        if blocks.is_empty() {
            return;
        }
        let mut rest = Vec::new();
        {
            let mut cache = self.cache(lane);
            for &(off, k) in blocks {
                let Some(u) = self.unit_of(off) else {
                    debug_assert!(false, "a reserved block is in the heap");
                    continue;
                };
                self.reserved[usize::from(k)].fetch_sub(1, Ordering::Relaxed);
                let (u, k) = match cache.as_mut() {
                    Some(c) if quarantine && usize::from(k) < CACHE_ORDERS => {
                        c.quarantine.push_back((u, k));
                        if c.quarantine.len() <= QUARANTINE_CAP {
                            continue;
                        }
                        c.quarantine.pop_front().unwrap_or((u, k))
                    }
                    _ => (u, k),
                };
                match cache.as_mut() {
                    Some(c)
                        if usize::from(k) < CACHE_ORDERS
                            && c.free[usize::from(k)].len() < CACHE_CAP =>
                    {
                        c.free[usize::from(k)].push(u);
                    }
                    _ => rest.push((u, k)),
                }
            }
        }
        if !rest.is_empty() {
            self.publish_all(&mut self.lock(), &rest);
        }
    }

    /// Merges the cached blocks back into the free sets when the pool closes, so that
    /// a cleanly closed file's map is canonical (M4). The caller fences afterwards,
    /// while the mapping is alive.
    pub(crate) fn close(&self) {
        self.drain_caches();
    }

    /// Moves every cached and parked block into the free sets (merging); returns how
    /// many. Cached and parked blocks may come from logs whose truncation is not durable
    /// yet: those lanes' lines are written back and fenced first (F2), from this
    /// thread, whichever thread wrote them.
    fn drain_caches(&self) -> usize {
        let mut blocks = Vec::new();
        let mut lines = Vec::new();
        for (c, flag) in self.caches.iter().zip(&self.parked_any) {
            let mut c = c.lock().unwrap_or_else(|p| p.into_inner());
            for (k, list) in c.free.iter_mut().enumerate() {
                blocks.extend(list.drain(..).map(|u| (u, small(k))));
            }
            blocks.append(&mut c.parked);
            blocks.extend(c.quarantine.drain(..));
            if c.truncation_line != 0 {
                lines.push(std::mem::take(&mut c.truncation_line));
            }
            flag.store(false, Ordering::Relaxed);
        }
        for &line in &lines {
            // SAFETY: a line of a lane in the live pool mapping (Heap::take_back (1)).
            unsafe { self.persister.flush(line as *const u8, 1) };
        }
        if !lines.is_empty() {
            // PERSIST: the truncations of the logs that freed the parked blocks are
            // durable before the blocks can be reused (F2).
            self.persister.fence();
        }
        if !blocks.is_empty() {
            self.publish_all(&mut self.lock(), &blocks);
        }
        blocks.len()
    }

    /// Frees used blocks in place for a committing transaction: stores `FREE|k` at each
    /// head, unmerged, and flushes it; the caller fences. Blocks that are not used blocks
    /// of that order are skipped. Fills `freed` (emptied first) with the blocks freed
    /// (units), which are in no free set and no cache until the caller gives them back ([`Heap::take_back`], which also
    /// counts them). No atomic read-modify-write runs here: one would wait for the
    /// caller's flushes as a fence does (CLWB is ordered by locked instructions).
    ///
    /// Until the caller's commit point, recovery turns such a head back into `USED|k`
    /// (the FREE record naming it is durable: the caller fenced after writing it).
    pub(crate) fn free_in_place(&self, blocks: &[(PoolOff, u8)], freed: &mut Vec<(u64, u8)>) {
        freed.clear();
        let mut line = usize::MAX;
        for &(off, k) in blocks {
            // C1: a used block's head changes only by its own free, which is this one.
            let Some(u) = self.unit_of(off).filter(|&u| self.read(u) == USED | k) else {
                continue;
            };
            self.write(u, FREE | k, &mut line);
            freed.push((u, k));
        }
        self.end_writes(&mut line);
    }

    /// Takes back blocks freed by a committed transaction of `lane` (from
    /// [`Heap::free_in_place`]) whose log's truncation, at `line`, is not yet durable. Blocks that fit go to the lane's cache at once: only the lane's own
    /// transactions take from it, and each of them overwrites the lane's first line and
    /// fences before it writes a used head (A1), which makes that truncation durable
    /// first (F2). The others are *parked* until the lane's next transaction has fenced
    /// ([`Heap::unpark`]); a drain writes back `line` and fences before publishing any.
    ///
    /// # Safety
    /// 1. `line` is in the lane's first record line, in the pool mapping, which outlives
    ///    this heap's use of it.
    pub(crate) unsafe fn take_back(&self, lane: u32, blocks: &[(u64, u8)], line: *const u8) {
        if blocks.is_empty() {
            return;
        }
        let Some(mut c) = self.cache(lane) else {
            debug_assert!(false, "a transaction's lane has a cache");
            return;
        };
        c.truncation_line = line as usize & !(CACHE_LINE - 1);
        for &(u, k) in blocks {
            self.used[usize::from(k)].fetch_sub(1, Ordering::Relaxed);
            let kk = usize::from(k);
            if kk < CACHE_ORDERS && c.free[kk].len() < CACHE_CAP {
                c.free[kk].push(u);
            } else {
                c.parked.push((u, k));
            }
        }
        if !c.parked.is_empty() {
            self.parked_any[to_usize(u64::from(lane))].store(true, Ordering::Relaxed);
        }
    }

    /// Publishes the blocks parked on `lane`: into its cache while there is room, else
    /// into the free sets. The caller holds the lane and has made its own first record
    /// durable, which overwrote the log of the transaction that parked them (F2).
    pub(crate) fn unpark(&self, lane: u32) {
        let Some(flag) = self.parked_any.get(to_usize(u64::from(lane))) else {
            return;
        };
        if !flag.load(Ordering::Relaxed) {
            return;
        }
        let mut rest = Vec::new();
        if let Some(mut c) = self.cache(lane) {
            // Small blocks wait for a batch: publishing merges, and one fence serves
            // every merge of a batch. Large blocks go at once.
            let large = c
                .parked
                .iter()
                .any(|&(_, k)| usize::from(k) >= CACHE_ORDERS);
            if c.parked.len() < CACHE_CAP && !large {
                return;
            }
            flag.store(false, Ordering::Relaxed);
            let parked = std::mem::take(&mut c.parked);
            for (u, k) in parked {
                let kk = usize::from(k);
                if kk < CACHE_ORDERS && c.free[kk].len() < CACHE_CAP {
                    c.free[kk].push(u);
                } else {
                    rest.push((u, k));
                }
            }
        }
        if !rest.is_empty() {
            self.publish_all(&mut self.lock(), &rest);
        }
    }

    /// Frees a batch of blocks `(off, order)` and calls `before_publish` once they are
    /// durable and before any of them can be allocated again (F1, F2).
    ///
    /// With `strict`, every block must be a used block of that order, and nothing is
    /// changed if one is not ([`Error::InvalidFree`]). Without it (recovery), blocks that
    /// are not used blocks of that order are skipped, which makes a replay idempotent.
    ///
    /// # Errors
    /// [`Error::InvalidFree`] (strict mode only).
    pub(crate) fn free_batch(
        &self,
        blocks: &[(PoolOff, u8)],
        strict: bool,
        before_publish: impl FnOnce(),
    ) -> Result<()> {
        let mut todo = Vec::with_capacity(blocks.len());
        for &(off, k) in blocks {
            // C1: a used block's head changes only by its own free, which is this one.
            let valid = self.unit_of(off).filter(|&u| self.read(u) == USED | k);
            match valid {
                Some(u) if !todo.contains(&(u, k)) => todo.push((u, k)),
                Some(_) if strict => {
                    return Err(Error::InvalidFree {
                        off: off.get(),
                        reason: "freed twice in one batch",
                    });
                }
                None if strict => {
                    return Err(Error::InvalidFree {
                        off: off.get(),
                        reason: "not the start of a used block of that size",
                    });
                }
                _ => {}
            }
        }
        let mut line = usize::MAX;
        let mut publish: Vec<(u64, u8)> = Vec::with_capacity(todo.len());
        let mut interior = Vec::new();
        if !todo.is_empty() {
            let mut st = self.lock();
            for (u, k0) in todo {
                self.used[usize::from(k0)].fetch_sub(1, Ordering::Relaxed);
                let (mut cur, mut k) = (u, k0);
                // Merge with buddies that are free: published (in a free set, A3) or
                // freed earlier in this batch. Only the DRAM sets are consulted: a block
                // another thread is allocating or freeing right now is in neither (C1).
                while usize::from(k) + 1 < st.free.len() {
                    let buddy = cur ^ (1u64 << k);
                    if buddy + (1u64 << k) > self.units {
                        break;
                    }
                    let pending = publish.iter().position(|&b| b == (buddy, k));
                    if let Some(i) = pending {
                        publish.swap_remove(i);
                    } else if !st.free[usize::from(k)].remove(&buddy) {
                        break;
                    }
                    interior.push(cur.max(buddy));
                    cur = cur.min(buddy);
                    k += 1;
                }
                self.write(cur, FREE | k, &mut line);
                publish.push((cur, k));
            }
            // C1: the blocks in `publish` are in no free set until step 5, so they are
            // ours; the fences below need not hold up other threads.
        }
        self.end_writes(&mut line);
        // PERSIST: the frees are durable (F1) before the hook lets the journal forget
        // them and before the stale heads are cleared.
        self.persister.fence();
        for u in interior {
            if publish.iter().all(|&(p, _)| p != u) {
                self.write(u, 0, &mut line);
            }
        }
        self.end_writes(&mut line);
        before_publish();
        if !publish.is_empty() {
            self.publish_all(&mut self.lock(), &publish);
        }
        Ok(())
    }

    /// Puts a free block into its free set, merging it first with a buddy that another
    /// thread published while this block was pending (M4).
    fn publish(&self, st: &mut State, u: u64, k: u8) {
        self.publish_all(st, &[(u, k)]);
    }

    /// Puts free blocks into their free sets, merging each with free buddies (M4): a
    /// merged head is one byte store (either state is a valid map), and the heads that
    /// became interior are cleared only after those stores are durable, as in step 3 of a
    /// free; one fence serves the whole batch.
    fn publish_all(&self, st: &mut State, blocks: &[(u64, u8)]) {
        let mut stale = Vec::new();
        let mut line = usize::MAX;
        for &(u0, k0) in blocks {
            let (mut u, mut k) = (u0, k0);
            while usize::from(k) + 1 < st.free.len() {
                let buddy = u ^ (1u64 << k);
                if buddy + (1u64 << k) > self.units || !st.free[usize::from(k)].remove(&buddy) {
                    break;
                }
                stale.push(u.max(buddy));
                u = u.min(buddy);
                k += 1;
                self.write(u, FREE | k, &mut line);
            }
            st.free[usize::from(k)].insert(u);
        }
        if !stale.is_empty() {
            self.end_writes(&mut line);
            // PERSIST: the merged heads are durable before the old heads inside them are
            // cleared (M1 at every moment).
            self.persister.fence();
            // A unit that became interior stays interior: later merges keep the lower
            // unit of each pair as the head.
            for s in stale {
                self.write(s, 0, &mut line);
            }
            self.end_writes(&mut line);
        }
    }

    /// Whether `off` is the start of a used block of `order` (M3 makes the byte test
    /// exact).
    pub(crate) fn is_used(&self, off: PoolOff, order: u8) -> bool {
        self.unit_of(off)
            .is_some_and(|u| self.read(u) == USED | order)
    }

    /// Whether `off` is the start of a used block of any order: the allocation guard of
    /// owned pointers (`stm::placement`, rule P2).
    pub(crate) fn is_used_head(&self, off: PoolOff) -> bool {
        self.unit_of(off)
            .is_some_and(|u| self.read(u) & (USED | FREE) == USED)
    }

    /// The blocks in lane caches or parked, per order (units).
    fn cached(&self) -> Vec<BTreeSet<u64>> {
        let mut out = vec![BTreeSet::new(); self.used.len()];
        for c in &self.caches {
            let c = c.lock().unwrap_or_else(|p| p.into_inner());
            for (set, list) in out.iter_mut().zip(&c.free) {
                set.extend(list.iter().copied());
            }
            for &(u, k) in c.parked.iter().chain(&c.quarantine) {
                if let Some(set) = out.get_mut(usize::from(k)) {
                    set.insert(u);
                }
            }
        }
        out
    }

    /// Usage statistics. Reserved blocks count as used, cached and parked ones as free.
    pub(crate) fn stats(&self) -> AllocStats {
        let cached = self.cached();
        let st = self.lock();
        let largest_cached = cached
            .iter()
            .rposition(|s| !s.is_empty())
            .map_or(0, |k| block_size(small(k)));
        let mut s = AllocStats {
            total: self.units * UNIT,
            largest_free: largest_free(&st).max(largest_cached),
            ..AllocStats::default()
        };
        for (k, free) in st.free.iter().enumerate() {
            let size = block_size(small(k));
            let used =
                self.used[k].load(Ordering::Relaxed) + self.reserved[k].load(Ordering::Relaxed);
            let free = free.len() as u64 + cached.get(k).map_or(0, |c| c.len() as u64);
            s.used += used * size;
            s.free += free * size;
            s.classes.push(ClassStats {
                block_size: size,
                used_blocks: used,
                free_blocks: free,
            });
        }
        s
    }

    /// A copy of the order map, read through the byte atomics (C1): other threads may be
    /// storing bytes of blocks they own right now.
    pub(crate) fn map_copy(&self) -> Vec<u8> {
        (0..self.units).map(|u| self.read(u)).collect()
    }

    /// Verifies every allocator invariant against the map as it is in PM; returns one
    /// line per problem (empty: healthy).
    pub(crate) fn check(&self) -> Vec<String> {
        let cached = self.cached();
        let st = self.lock();
        let bytes = self.map_copy();
        let mut scan = match map::scan(&bytes, self.units) {
            Ok(s) => s,
            Err((u, why)) => return vec![format!("heap unit {u}: {why}")],
        };
        // A3: a cached block may sit next to its free buddy, unmerged.
        let is_cached = |u: u64, k: u8| cached.get(usize::from(k)).is_some_and(|c| c.contains(&u));
        scan.unmerged
            .retain(|&(u, k)| !is_cached(u, k) && !is_cached(u + (1 << k), k));
        let mut problems = scan_problems(&scan);
        for (k, (dram, pm)) in st.free.iter().zip(&scan.free).enumerate() {
            let cache = cached.get(k);
            let in_dram = dram.len() + cache.map_or(0, BTreeSet::len);
            let all_known = pm
                .iter()
                .all(|u| dram.contains(u) || cache.is_some_and(|c| c.contains(u)));
            if in_dram != pm.len() || !all_known {
                problems.push(format!(
                    "order {k}: {in_dram} free blocks in DRAM lists, {} in the map",
                    pm.len()
                ));
            }
        }
        let used: Vec<u64> = self
            .used
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        if used != scan.used {
            problems.push(format!(
                "used-block counters {used:?} disagree with the map {:?}",
                scan.used
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
        .map_or(0, |k| block_size(small(k)))
}

fn corrupt((unit, reason): (u64, String)) -> Error {
    Error::CorruptAllocator { unit, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::Mode;
    use proptest::prelude::*;

    /// A heap over a DRAM buffer standing in for the pool's map region.
    struct TestHeap {
        heap: Heap,
        map: Vec<u8>,
    }

    impl TestHeap {
        fn new(units: u64) -> TestHeap {
            let mut map = vec![0u8; to_usize(units)];
            map::format(&mut map, units);
            // `map` lives as long as the TestHeap and is read back only while the heap is
            // idle; an Emulated persister only issues cache flushes.
            // SAFETY: (1) the heap alone touches `map` while it works; (2) cache flushes
            // are valid on any memory.
            let heap = unsafe {
                Heap::open(
                    map.as_mut_ptr(),
                    units,
                    PoolOff::new(4096),
                    Persister::new(Mode::Emulated),
                    2,
                )
            }
            .unwrap();
            TestHeap { heap, map }
        }

        /// # Errors
        /// As `Heap::alloc`.
        fn alloc(&self, size: u64) -> Result<PoolOff> {
            self.heap.alloc(size, 1, |_, _| Ok(()))
        }

        /// # Errors
        /// As `Heap::free_batch`.
        fn free(&self, off: PoolOff, size: u64) -> Result<()> {
            self.heap
                .free_batch(&[(off, order_for(size, 1)?)], true, || {})
        }

        fn pristine(&self) -> bool {
            let mut fresh = vec![0u8; self.map.len()];
            map::format(&mut fresh, self.heap.units);
            fresh == self.map
        }
    }

    #[test]
    fn orders_round_up_to_powers_of_two_units() {
        assert_eq!(order_for(0, 1).unwrap(), 0);
        assert_eq!(order_for(8, 8).unwrap(), 0);
        assert_eq!(order_for(64, 8).unwrap(), 0);
        assert_eq!(order_for(65, 8).unwrap(), 1);
        assert_eq!(order_for(4096, 8).unwrap(), 6);
        assert_eq!(order_for(8, 4096).unwrap(), 6);
        assert!(matches!(
            order_for(8, 8192),
            Err(Error::UnsupportedAlignment { .. })
        ));
        assert!(matches!(
            order_for(8, 3),
            Err(Error::UnsupportedAlignment { .. })
        ));
        assert_eq!(order_for(u64::MAX, 1).unwrap(), 58);
        let h = TestHeap::new(8);
        assert!(matches!(h.alloc(u64::MAX), Err(Error::OutOfSpace { .. })));
    }

    #[test]
    fn alloc_free_round_trip_restores_the_map() {
        let h = TestHeap::new(1000);
        let a = h.alloc(8).unwrap();
        let b = h.alloc(256).unwrap();
        let c = h.alloc(4096).unwrap();
        assert!(h.heap.check().is_empty());
        let s = h.heap.stats();
        assert_eq!(s.used, 64 + 256 + 4096);
        assert_eq!(s.used + s.free, s.total);
        assert_eq!(
            (c.get() - 4096) % 4096,
            0,
            "a 4 KiB block is 4 KiB aligned in the heap"
        );
        h.free(b, 256).unwrap();
        h.free(a, 8).unwrap();
        h.free(c, 4096).unwrap();
        assert!(h.heap.check().is_empty());
        assert_eq!(h.heap.stats().used, 0);
        assert!(
            h.pristine(),
            "freeing everything merges back to the formatted map"
        );
    }

    #[test]
    fn bad_frees_are_errors_and_change_nothing() {
        let h = TestHeap::new(256);
        let a = h.alloc(64).unwrap();
        let before = h.map.clone();
        assert!(matches!(
            h.free(a.add(64), 64),
            Err(Error::InvalidFree { .. })
        ));
        assert!(matches!(h.free(a, 128), Err(Error::InvalidFree { .. })));
        assert!(matches!(
            h.free(PoolOff::new(1), 64),
            Err(Error::InvalidFree { .. })
        ));
        assert!(matches!(
            h.free(PoolOff::new(u64::MAX), 64),
            Err(Error::InvalidFree { .. })
        ));
        let dup = h.heap.free_batch(&[(a, 0), (a, 0)], true, || {});
        assert!(matches!(dup, Err(Error::InvalidFree { .. })));
        assert_eq!(before, h.map);
        h.free(a, 64).unwrap();
        assert!(
            matches!(h.free(a, 64), Err(Error::InvalidFree { .. })),
            "double free"
        );
        // Lenient mode (recovery replay) skips what is already free.
        h.heap.free_batch(&[(a, 0)], false, || {}).unwrap();
        assert!(h.pristine());
    }

    #[test]
    fn out_of_space_is_an_error_with_the_largest_block() {
        let h = TestHeap::new(64);
        let big = h.alloc(64 * 64).unwrap();
        match h.alloc(64) {
            Err(Error::OutOfSpace {
                largest_free: 0, ..
            }) => {}
            other => panic!("expected OutOfSpace, got {other:?}"),
        }
        h.free(big, 64 * 64).unwrap();
        let _ = h.alloc(32 * 64).unwrap();
        assert!(matches!(
            h.alloc(64 * 64),
            Err(Error::OutOfSpace {
                largest_free: 2048,
                ..
            })
        ));
    }

    #[test]
    fn a_failing_log_hook_leaves_everything_as_it_was() {
        let h = TestHeap::new(128);
        let err = h.heap.alloc(64, 1, |_, _| Err(Error::NotOpen));
        assert!(matches!(err, Err(Error::NotOpen)));
        assert!(h.pristine());
        assert!(h.heap.check().is_empty());
    }

    #[test]
    fn the_log_hook_sees_the_block_before_it_is_marked_used() {
        let h = TestHeap::new(128);
        let mut seen = None;
        let off = h
            .heap
            .alloc(100, 1, |off, order| {
                let u = to_usize((off.get() - 4096) / UNIT);
                // The head byte still says free: nothing is committed yet (A1).
                assert_eq!(map::decode(h.map[u]), map::Cell::Free(7));
                seen = Some((off, order));
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, Some((off, 1)));
    }

    #[test]
    fn buddies_freed_in_one_batch_merge() {
        let h = TestHeap::new(64);
        let blocks: Vec<PoolOff> = (0..64).map(|_| h.alloc(64).unwrap()).collect();
        let batch: Vec<(PoolOff, u8)> = blocks.iter().map(|&o| (o, 0)).collect();
        let mut hook_ran = false;
        h.heap.free_batch(&batch, true, || hook_ran = true).unwrap();
        assert!(hook_ran);
        assert!(h.pristine());
        assert_eq!(h.heap.stats().largest_free, 64 * 64);
    }

    #[test]
    fn freed_blocks_are_not_reusable_before_the_publish_hook() {
        let h = TestHeap::new(2);
        let a = h.alloc(64).unwrap();
        let b = h.alloc(64).unwrap();
        h.heap
            .free_batch(&[(a, 0)], true, || {
                // F2: inside the hook (journal truncation) the block is durable-free but
                // in no free set: an allocation now cannot get it.
                assert!(matches!(h.alloc(64), Err(Error::OutOfSpace { .. })));
            })
            .unwrap();
        h.free(b, 64).unwrap();
        assert!(h.pristine());
    }

    #[test]
    fn open_repairs_crash_residue() {
        // A crash between step 2 and step 4 of an allocation leaves split heads inside
        // a free block; a crash after a merge leaves the old head inside the new block.
        let mut map = vec![0u8; 16];
        map::format(&mut map, 16);
        map[1] = FREE;
        map[2] = FREE | 1;
        map[8] = USED | 3;
        let heap =
            // SAFETY: (1) `map` outlives the heap; (2) Emulated flushes are valid anywhere.
            unsafe { Heap::open(map.as_mut_ptr(), 16, PoolOff::NULL, Persister::new(Mode::Emulated), 2) }
                .unwrap();
        assert!(heap.check().is_empty());
        drop(heap);
        let mut fresh = vec![0u8; 16];
        map::format(&mut fresh, 16);
        assert_eq!(map, fresh);
        // Unmerged free buddies are merged at open.
        let mut map = vec![0u8; 4];
        map[0] = FREE;
        map[1] = FREE;
        map[2] = FREE | 1;
        // SAFETY: as above.
        let heap = unsafe {
            Heap::open(
                map.as_mut_ptr(),
                4,
                PoolOff::NULL,
                Persister::new(Mode::Emulated),
                2,
            )
        }
        .unwrap();
        assert_eq!(heap.stats().largest_free, 4 * 64);
        drop(heap);
        assert_eq!(map, vec![FREE | 2, 0, 0, 0]);
    }

    #[test]
    fn reservations_use_the_lane_cache_and_leave_a_clean_map() {
        let h = TestHeap::new(1 << 10);
        let blocks: Vec<(PoolOff, u8)> =
            (0..20).map(|_| h.heap.reserve(0, 64, 8).unwrap()).collect();
        let mut offs: Vec<PoolOff> = blocks.iter().map(|b| b.0).collect();
        offs.sort_unstable();
        offs.dedup();
        assert_eq!(offs.len(), 20, "every reservation is its own block");
        h.heap.mark_used(&blocks[..10]);
        h.heap.count_used(&blocks[..10]);
        h.heap.unreserve(0, &blocks[10..]);
        assert_eq!(h.heap.check(), Vec::<String>::new());
        let s = h.heap.stats();
        assert_eq!(s.used, 10 * 64);
        assert_eq!(s.used + s.free, s.total);
        // A commit's frees: in place, then back to the lane's cache.
        let mut freed = Vec::new();
        h.heap.free_in_place(&blocks[..10], &mut freed);
        let line = [0u8; 64];
        // SAFETY: (1) a live line standing in for the lane's first line.
        unsafe { h.heap.take_back(0, &freed, line.as_ptr()) };
        assert_eq!(h.heap.check(), Vec::<String>::new());
        assert_eq!(h.heap.stats().used, 0);
        // Cached blocks sit unmerged next to their buddies; draining merges them back.
        assert!(!h.pristine());
        assert!(h.heap.drain_caches() > 0);
        assert!(h.pristine());
    }

    #[test]
    fn blocks_freed_in_place_are_parked_until_their_lane_fences() {
        let h = TestHeap::new(1 << 10);
        // A small block (cacheable) and a large one (order 8, beyond the caches).
        let small = h.heap.reserve(0, 64, 8).unwrap();
        let large = h.heap.reserve(0, 64 << 8, 8).unwrap();
        h.heap.mark_used(&[small, large]);
        h.heap.count_used(&[small, large]);
        let mut freed = Vec::new();
        h.heap.free_in_place(&[small, large, large], &mut freed);
        assert_eq!(
            freed.len(),
            2,
            "a block freed twice in one batch is freed once"
        );
        let line = [0u8; 64];
        // SAFETY: (1) a live line standing in for the lane's first line.
        unsafe { h.heap.take_back(0, &freed, line.as_ptr()) };
        assert_eq!(h.heap.stats().used, 0);
        assert_eq!(h.heap.check(), Vec::<String>::new());
        // Another lane must not get the large block while lane 0's log could still free
        // it again; lane 0's next transaction publishes it after its first fence.
        let other = h.heap.reserve(1, 64 << 8, 8).unwrap();
        assert_ne!(other.0, large.0, "a parked block was handed out");
        h.heap.unreserve(1, &[other]);
        h.heap.unpark(0);
        let again = h.heap.reserve(1, 64 << 8, 8).unwrap();
        assert_eq!(again.0, large.0, "published after the lane's fence");
        h.heap.unreserve(1, &[again]);
        // The small block went to lane 0's cache at once.
        assert_eq!(h.heap.reserve(0, 64, 8).unwrap().0, small.0);
    }

    #[test]
    fn a_large_allocation_drains_the_caches_before_running_out() {
        let h = TestHeap::new(16);
        let b = h.heap.reserve(1, 64, 8).unwrap();
        h.heap.unreserve(1, &[b]);
        // Every unit is free, but split into cached blocks: the allocation of the whole
        // heap must still succeed.
        let big = h.alloc(16 * 64).unwrap();
        h.free(big, 16 * 64).unwrap();
        assert!(h.pristine());
    }

    #[test]
    fn corrupt_maps_refuse_to_open() {
        let mut map = vec![USED | 9, 0, 0, 0];
        // SAFETY: as in open_repairs_crash_residue.
        let r = unsafe {
            Heap::open(
                map.as_mut_ptr(),
                4,
                PoolOff::NULL,
                Persister::new(Mode::Emulated),
                2,
            )
        };
        assert!(matches!(r, Err(Error::CorruptAllocator { unit: 0, .. })));
    }

    #[test]
    fn two_threads_allocating_and_freeing_leave_a_clean_heap() {
        let h = TestHeap::new(1 << 14);
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let h = &h;
                s.spawn(move || {
                    let mut live = Vec::new();
                    let mut x = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(t + 1);
                    for _ in 0..20_000u64 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if live.len() < 64 && (!x.is_multiple_of(3) || live.is_empty()) {
                            let size = [8, 100, 256, 1000, 4096][to_usize(x % 5)];
                            live.push((h.alloc(size).unwrap(), size));
                        } else {
                            let (off, size) = live.swap_remove(to_usize(x % live.len() as u64));
                            h.free(off, size).unwrap();
                        }
                    }
                    for (off, size) in live {
                        h.free(off, size).unwrap();
                    }
                });
            }
        });
        assert!(h.heap.check().is_empty());
        assert_eq!(h.heap.stats().used, 0);
        assert!(h.pristine());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc(u64),
        Free(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (1u64..9000).prop_map(Op::Alloc),
            2 => any::<usize>().prop_map(Op::Free),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Random alloc/free programs against a model: the live blocks never overlap,
        /// sit inside the heap, are as large as asked; usage and `check` agree at every
        /// step; freeing everything restores the formatted map.
        #[test]
        fn alloc_free_matches_a_model(units in 1u64..600, ops in proptest::collection::vec(op(), 1..200)) {
            let h = TestHeap::new(units);
            let mut live: Vec<(PoolOff, u64)> = Vec::new(); // (off, block size)
            for op in ops {
                match op {
                    Op::Alloc(size) => match h.alloc(size) {
                        Ok(at) => {
                            let off = at.get();
                            let bs = block_size(order_for(size, 1).unwrap());
                            prop_assert!(off >= 4096 && off + bs <= 4096 + units * UNIT);
                            prop_assert_eq!((off - 4096) % bs, 0);
                            for &(o, s) in &live {
                                let o = o.get();
                                prop_assert!(off + bs <= o || o + s <= off, "overlap");
                            }
                            live.push((at, bs));
                        }
                        Err(Error::OutOfSpace { largest_free, .. }) => {
                            prop_assert!(largest_free < size.max(1));
                        }
                        Err(e) => prop_assert!(false, "unexpected {e}"),
                    },
                    Op::Free(i) if !live.is_empty() => {
                        let (off, bs) = live.swap_remove(i % live.len());
                        h.free(off, bs).unwrap();
                    }
                    Op::Free(_) => {}
                }
                let s = h.heap.stats();
                prop_assert_eq!(s.used, live.iter().map(|l| l.1).sum::<u64>());
                prop_assert_eq!(s.used + s.free, s.total);
                prop_assert!(h.heap.check().is_empty());
            }
            for (off, bs) in live.drain(..) {
                h.free(off, bs).unwrap();
            }
            prop_assert!(h.pristine());
        }
    }
}
