//! Pool types: the [`PoolType`] trait (the lower half of `MemPool`, the bound of every
//! persistent type), the per-type slot that knows which file is open, and the guard that
//! keeps it open.
//!
//! # Pins
//! A transaction (or any other internal user of the open pool) holds a [`PoolRef`], a
//! *pin*, for as long as it uses the pool. Pinning and unpinning touch one atomic word
//! of the slot, `pins`, and never its lock: `pins` is [`OPEN`] while the pool is open,
//! plus 2 for every pin (and for every attempt to pin that has not yet backed out). A
//! pin succeeds only if its increment sees `OPEN`. Closing (the last handle dropped)
//! clears `OPEN` under the slot lock; the pool is dropped by whoever leaves `pins` at 0
//! — the closer, or the last pin — under the slot lock.
//!
//! # Invariants
//! - **S1** a slot maps at most one file at a time; `open` on an open slot fails with
//!   [`Error::AlreadyOpen`] at once. On a slot whose pool is closed but still pinned by
//!   transactions running on other threads, `open` waits (on `gone`, notified by the
//!   drop) until the last of them ends: new pins of a closed pool fail, so the wait
//!   ends when the transactions already running do. A thread that itself runs a
//!   transaction of the pool type gets `AlreadyOpen` at once (it would wait for itself).
//! - **S2** while a slot's handle count is non-zero its pool is open (`OPEN` is set); the
//!   pool is closed when the last handle ([`PoolGuard`], `RootCell`) is dropped. A pool
//!   closed by another thread stays mapped until its last pin (a running transaction) is
//!   dropped.
//! - **S3** the slot's `state.pool` holds the pool from its open until it is dropped,
//!   and `base` and `generation` name the pool opened last; a new open fails with
//!   `AlreadyOpen` until the old pool is fully gone (dropped under the lock it checks).
//! - **S4** `state.pool`, the `pool` pointer and `OPEN` change only under the slot lock:
//!   the pool is installed before `OPEN` is set, and dropped only after `OPEN` was
//!   cleared, by a lock holder that reads `pins == 0`.
//!
//! # Why a pinned pool stays alive
//! A pin's increment saw `OPEN`, so in the modification order of `pins` it lies between
//! the `fetch_or` that set `OPEN` at open and the RMW that cleared it at close; every
//! change of `pins` is a read-modify-write, so each value is the exact sum of the changes
//! before it. The dropper holds the lock, so it sees a value no older than the clearing of
//! `OPEN` (which was made under the lock: coherence), and that value counts the pin until
//! its decrement. So `pins == 0` there means every pin is gone; the decrements are
//! Release and the dropper's read Acquire (release sequences), so everything the pins
//! did happens before the drop. Attempts that saw no `OPEN` back out without touching
//! the pool; if one leaves `pins` at 0 it only asks the lock, which re-checks.

use std::panic::UnwindSafe;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::marker::{PSafe, PSend, TxInSafe, TxOutSafe, VSafe};
use crate::pool::{Flags, PoolOptions};
use crate::stm::open::OpenPool;

/// The `OPEN` bit of [`PoolSlot::pins`]; each pin adds [`PIN`].
const OPEN: usize = 1;
/// What one pin adds to [`PoolSlot::pins`].
const PIN: usize = 2;

#[derive(Debug, Default)]
struct SlotState {
    /// The pool opened last, from its open until it is dropped: while it is open, and
    /// after its close while pins remain (S3).
    pool: Option<Arc<OpenPool>>,
    handles: usize,
}

/// The private state behind one pool type: which file it has open, if any.
///
/// Made by [`pool!`](crate::pool!) as a `static`; not for direct use.
#[doc(hidden)]
#[derive(Debug)]
pub struct PoolSlot {
    state: Mutex<SlotState>,
    /// [`OPEN`] while the pool is open, plus [`PIN`] per pin and per attempt to pin not
    /// backed out yet (see the module docs).
    pins: AtomicUsize,
    /// `Arc::as_ptr` of `state.pool`, for pins (which do not take the lock). Valid while
    /// a pin lives (S4).
    pool: AtomicPtr<OpenPool>,
    /// Address of offset 0 of the pool opened last; read on every dereference of a
    /// persistent pointer. Valid while a handle or a transaction of that pool exists
    /// (S2, S3); replaced only by the next open, which waits for both to be gone.
    base: AtomicPtr<u8>,
    /// Size in bytes of the mapping at `base` (same validity as `base`).
    size: AtomicUsize,
    /// Generation of the pool opened last; volatile cells compare against it.
    generation: AtomicU64,
    /// Notified (under the lock) when a pool is dropped: an open waiting for a closed,
    /// still pinned pool to go (S1).
    gone: Condvar,
    /// The stamp of `VCell` values of the pool opened last: random and nonzero, new at
    /// every open, so that bytes which are not a `VCell` stamp of this open (a rolled
    /// back value, a field of another type) are never mistaken for one (V1).
    volatile_token: AtomicU64,
}

impl PoolSlot {
    /// An empty slot (no pool open).
    #[allow(
        clippy::new_without_default,
        reason = "only the pool! macro makes slots, in a const context"
    )]
    pub const fn new() -> PoolSlot {
        PoolSlot {
            state: Mutex::new(SlotState {
                pool: None,
                handles: 0,
            }),
            pins: AtomicUsize::new(0),
            pool: AtomicPtr::new(std::ptr::null_mut()),
            base: AtomicPtr::new(std::ptr::null_mut()),
            size: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            gone: Condvar::new(),
            volatile_token: AtomicU64::new(0),
        }
    }

    /// Address of offset 0 of the pool opened last (null before the first open).
    #[inline]
    pub(crate) fn base(&self) -> *mut u8 {
        self.base.load(Ordering::Acquire)
    }

    /// Whether `[addr, addr + len)` lies inside the mapping of the pool opened last
    /// (never before the first open).
    #[inline]
    pub(crate) fn contains(&self, addr: usize, len: usize) -> bool {
        let base = self.base() as usize;
        let size = self.size.load(Ordering::Acquire);
        base != 0 && addr >= base && addr - base <= size && len <= size - (addr - base)
    }

    /// Generation of the pool opened last (0 before the first open).
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The `VCell` stamp of the pool opened last (0 before the first open).
    #[inline]
    pub(crate) fn volatile_token(&self) -> u64 {
        self.volatile_token.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pins the open pool: it stays mapped while the returned [`PoolRef`] lives, even if
    /// another thread closes it meanwhile (S2). No lock: two atomic RMWs in all, this one
    /// and the one of the drop.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    #[inline]
    pub(crate) fn raw(&'static self) -> Result<PoolRef> {
        // Acquire: pairs with the Release `fetch_or` of `open`, which made `pool` visible.
        let prev = self.pins.fetch_add(PIN, Ordering::Acquire);
        if prev & OPEN == 0 {
            self.unpin();
            return Err(Error::NotOpen);
        }
        if prev > isize::MAX as usize {
            // As `Arc` does: only leaked pins can get here.
            std::process::abort();
        }
        let pool = self.pool.load(Ordering::Relaxed);
        debug_assert!(
            !pool.is_null(),
            "S4: OPEN is set after the pool is installed"
        );
        // SAFETY: (S4) `pool` was stored before `OPEN` was set, which our Acquire RMW saw,
        // and it is never null while `OPEN` is set (debug-asserted above).
        let pool = unsafe { NonNull::new_unchecked(pool) };
        Ok(PoolRef { slot: self, pool })
    }

    /// Whether a pool is open (no pin taken).
    pub(crate) fn is_open(&self) -> bool {
        self.pins.load(Ordering::Acquire) & OPEN != 0
    }

    /// Drops one pin, or backs out of an attempt; the last one of a closed pool drops it.
    #[inline]
    fn unpin(&self) {
        // Release: our use of the pool happens before its drop (module docs).
        if self.pins.fetch_sub(PIN, Ordering::Release) == PIN {
            self.reclaim();
        }
    }

    /// Drops the pool if it is closed and unpinned; called by whoever saw `pins` reach
    /// 0. Re-checked under the lock: a later pool may be open by now, or a backing-out
    /// attempt may hold `pins` above 0 (it then calls this itself).
    #[cold]
    #[inline(never)]
    fn reclaim(&self) {
        let mut st = self.lock();
        // Acquire: every pin's use of the pool happens before the drop.
        if self.pins.load(Ordering::Acquire) == 0 {
            Self::drop_pool(&mut st);
            self.gone.notify_all();
        }
    }

    /// Drops the closed, unpinned pool, if the slot still holds one; under the lock, so
    /// that an open waits until it is fully gone (S3).
    fn drop_pool(st: &mut SlotState) {
        if let Some(pool) = st.pool.take() {
            // `into_inner` runs the pool's drop here (unmapping it, unlocking the file);
            // a clone of the `Arc` still held would delay that past the unlock, which
            // S3 forbids.
            let pool = Arc::into_inner(pool);
            debug_assert!(pool.is_some(), "S3: no Arc of the pool outlives its pins");
            drop(pool);
        }
    }
}

/// A pin on the open pool of a slot (see the module docs): it derefs to the pool, which
/// stays mapped until the pin is dropped.
pub(crate) struct PoolRef {
    slot: &'static PoolSlot,
    /// The pinned pool: `slot.state.pool`, alive while this pin lives (S4).
    pool: NonNull<OpenPool>,
}

impl std::ops::Deref for PoolRef {
    type Target = OpenPool;
    #[inline]
    fn deref(&self) -> &OpenPool {
        // SAFETY: the slot keeps the pool alive while this pin lives (S4); nothing gets
        // `&mut` to it (it lives in an `Arc`).
        unsafe { self.pool.as_ref() }
    }
}

impl Clone for PoolRef {
    fn clone(&self) -> PoolRef {
        // Our pin keeps `pins` above 0, so the pool cannot go while we add another; no
        // need to see `OPEN` (the pool may be closed and still pinned).
        if self.slot.pins.fetch_add(PIN, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
        PoolRef {
            slot: self.slot,
            pool: self.pool,
        }
    }
}

impl Drop for PoolRef {
    #[inline]
    fn drop(&mut self) {
        self.slot.unpin();
    }
}

impl std::fmt::Debug for PoolRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolRef")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// The lower half of a pool type: what the layers from stm up need of it, its slot (which
/// file it has open) and the marker supertraits.
///
/// Every persistent pointer, cell, collection and journal is generic over `P: PoolType`,
/// so pointers of two pools can never mix. Programs write the public face
/// [`MemPool`](crate::MemPool) instead, which every `PoolType` has (a blanket impl) and
/// which adds the user's methods (`open`, `transaction`, `stats`, ...); the two are split
/// so that the transaction layer does not depend on the root object (docs/ARCHITECTURE.md).
///
/// A pool type is a zero-sized marker, so it has every marker trait: generic code over
/// `P: PoolType` (or `P: MemPool`) may rely on that.
///
/// # Safety
/// Implemented only by [`pool!`](crate::pool!), which guarantees:
/// 1. `__slot` returns the same `'static` slot on every call;
/// 2. no other type's `__slot` returns that slot.
pub unsafe trait PoolType:
    'static
    + Sized
    + Send
    + Sync
    + PSafe
    + TxInSafe
    + crate::marker::TxRefSafe
    + TxOutSafe
    + VSafe
    + PSend
    + UnwindSafe
    + std::panic::RefUnwindSafe
{
    /// The slot of this pool type; for the crate's internal use.
    #[doc(hidden)]
    fn __slot() -> &'static PoolSlot;
}

/// Keeps pool type `P`'s file open; the pool closes when the last guard (or root handle)
/// is dropped.
#[must_use = "the pool closes as soon as the guard is dropped"]
pub struct PoolGuard<P: PoolType> {
    _pool: std::marker::PhantomData<P>,
}

impl<P: PoolType> std::fmt::Debug for PoolGuard<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolGuard")
            .field("pool", &std::any::type_name::<P>())
            .finish()
    }
}

impl<P: PoolType> Clone for PoolGuard<P> {
    fn clone(&self) -> Self {
        P::__slot().lock().handles += 1;
        PoolGuard {
            _pool: std::marker::PhantomData,
        }
    }
}

impl<P: PoolType> Drop for PoolGuard<P> {
    fn drop(&mut self) {
        let slot = P::__slot();
        let mut st = slot.lock();
        st.handles -= 1;
        if st.handles == 0 {
            // S2: no new pin from here on. AcqRel: if no pin is left, their uses of the
            // pool happen before the drop below (module docs).
            let prev = slot.pins.fetch_and(!OPEN, Ordering::AcqRel);
            debug_assert!(prev & OPEN != 0, "S2: open while handles remain");
            if prev == OPEN {
                // No pin: the pool goes now, under the lock (S3). Otherwise the last pin
                // drops it.
                PoolSlot::drop_pool(&mut st);
                slot.gone.notify_all();
            }
        }
    }
}

/// Opens `path` into `P`'s slot (S1), recovering its journals; `check` runs before
/// anything is written (see [`OpenCheck`](crate::pool::raw::OpenCheck)).
///
/// `in_tx` tells whether the calling thread runs a transaction of `P` (the caller asks
/// the thread's registry in `stm::tx`, which sits above this file: the transaction
/// layer is built on the slot, not the other way round). Passing `false` from inside
/// such a transaction, on a closed pool it still pins, would wait for that pin forever.
///
/// # Errors
/// [`Error::AlreadyOpen`], and every error of [`OpenPool::open`] and of `check`.
pub(crate) fn open<P: PoolType>(
    path: &Path,
    flags: Flags,
    opts: &PoolOptions,
    check: Option<crate::pool::raw::OpenCheck>,
    in_tx: bool,
) -> Result<PoolGuard<P>> {
    let slot = P::__slot();
    let mut st = slot.lock();
    // S1: a closed pool whose last transactions still run on other threads is still
    // mapped and named by `base` (S3): wait for them to end, unless this thread runs
    // one of them.
    while st.pool.is_some() && !slot.is_open() && !in_tx {
        st = slot.gone.wait(st).unwrap_or_else(|p| p.into_inner());
    }
    if st.pool.is_some() {
        return Err(Error::AlreadyOpen);
    }
    let pool = OpenPool::open_checked(path, flags, opts, check)?;
    slot.size.store(
        crate::convert::to_usize(pool.raw.geometry().pool_size),
        Ordering::Release,
    );
    slot.base.store(pool.raw.base(), Ordering::Release);
    slot.generation
        .store(pool.raw.generation(), Ordering::Release);
    slot.volatile_token
        .store(fresh_volatile_token(), Ordering::Release);
    let pool = Arc::new(pool);
    slot.pool
        .store(Arc::as_ptr(&pool).cast_mut(), Ordering::Relaxed);
    st.pool = Some(pool);
    st.handles = 1;
    // S4: the pool is installed before `OPEN` is set. Release: a pin that sees `OPEN`
    // sees the pool.
    let prev = slot.pins.fetch_or(OPEN, Ordering::Release);
    debug_assert!(prev & OPEN == 0, "S1: one pool at a time");
    Ok(PoolGuard {
        _pool: std::marker::PhantomData,
    })
}

#[cfg(all(test, not(crndm_loom)))]
mod tests {
    use super::*;
    use crate::{MemPool, O_CF};
    use std::sync::atomic::AtomicBool;

    // One pool type per test: tests run in parallel and a slot holds one pool (S1).
    crate::pool!(pin_unit_pool);
    crate::pool!(pin_race_pool);
    type P = pin_unit_pool::BuddyAlloc;
    type Q = pin_race_pool::BuddyAlloc;

    /// S2, S3: a pin keeps a closed pool mapped, and a reopen fails until the last pin
    /// (a clone here) is gone; then it succeeds at once (the pool was dropped in full).
    #[test]
    fn a_pin_keeps_a_closed_pool_mapped_and_blocks_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin.pool");
        let g = PoolOptions::new()
            .size(1 << 20)
            .open_no_root::<P>(&path, O_CF)
            .unwrap();
        let pin = P::__slot().raw().unwrap();
        let uuid = pin.raw.uuid();
        drop(g);
        assert!(!P::is_open());
        assert!(matches!(P::__slot().raw(), Err(Error::NotOpen)));
        assert!(matches!(P::transaction(|_| ()), Err(Error::NotOpen)));
        // (An open now would wait for the pin to go, S1; the pin is ours, so none here.)
        // SAFETY: offset 0 of the mapping, which the pin keeps (S2); the header's magic.
        let magic = unsafe { pin.raw.base().cast::<[u8; 8]>().read() };
        assert_eq!(magic, crate::pool::header::MAGIC, "still mapped");
        let again = pin.clone();
        drop(pin);
        // No transaction starts on the closed pool (the in-transaction reopen, refused
        // at once instead of waiting for itself, is tested in tests/all/misuse.rs).
        assert!(matches!(
            P::transaction(|_| P::open_no_root(&path, 0).map(drop)),
            Err(Error::NotOpen)
        ));
        // Another thread's open waits for the last pin, then succeeds.
        let opener = std::thread::spawn({
            let path = path.clone();
            move || P::open_no_root(&path, 0).map(drop)
        });
        drop(again);
        opener.join().unwrap().unwrap();
        assert_eq!(P::__slot().pins.load(Ordering::Relaxed), 0);
        let g = P::open_no_root(&path, 0).unwrap();
        assert_eq!(P::uuid().unwrap(), uuid);
        drop(g);
        assert_eq!(P::__slot().pins.load(Ordering::Relaxed), 0);
    }

    /// Transactions on other threads race with closes and reopens on this one: each runs
    /// on a mapped pool or reports `NotOpen`; a reopen only ever fails with
    /// `AlreadyOpen` (while a transaction drains the closed pool), never with a held
    /// file lock, since the dropper finishes before a reopen can start (S3).
    #[test]
    fn transactions_race_closes_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.pool");
        drop(
            PoolOptions::new()
                .size(1 << 20)
                .open_no_root::<Q>(&path, O_CF)
                .unwrap(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let (mut ran, mut closed) = (0u64, 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        let r = Q::transaction(|j| {
                            // SAFETY: offset 0 of the mapping, which the transaction's
                            // pin keeps (S2).
                            unsafe { j.base().cast::<[u8; 8]>().read() }
                        });
                        match r {
                            Ok(magic) => {
                                assert_eq!(magic, crate::pool::header::MAGIC);
                                ran += 1;
                            }
                            Err(Error::NotOpen) => closed += 1,
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    (ran, closed)
                })
            })
            .collect();
        let mut opens = 0;
        while opens < 200 {
            match Q::open_no_root(&path, 0) {
                Ok(g) => {
                    opens += 1;
                    drop(g);
                }
                Err(Error::AlreadyOpen) => std::thread::yield_now(),
                Err(e) => panic!("reopen: {e:?}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            let (ran, closed) = w.join().unwrap();
            assert!(ran + closed > 0);
        }
        assert!(!Q::is_open());
        assert_eq!(Q::__slot().pins.load(Ordering::Relaxed), 0);
        assert!(Q::__slot().lock().pool.is_none(), "the last pin dropped it");
    }
}

/// A random nonzero 64-bit value, new at each call: std's per-instance random hash
/// keys, mixed with a process-wide counter.
fn fresh_volatile_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish() | 1
}
