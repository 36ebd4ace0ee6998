//! An open pool as the transaction layer sees it: the raw pool, recovered, plus the
//! set of free lanes.
//!
//! # Lane set
//! Each lane has one bit in an array of `u64` words (63 lanes a word), set while the
//! lane is free. A transaction claims a lane by clearing its bit with one atomic
//! read-modify-write and gives it back by setting the bit again: no lock on either path.
//! A thread first tries the lane it used last on this pool (a thread-local hint), because
//! each lane keeps an allocator cache that stays warm while the same thread reuses it;
//! then the lowest free lane. Only when every lane is taken does it sleep on a mutex and
//! a condition variable ([`LaneSet::acquire_slow`]). Bit 63 of every word, `SLEEPERS`,
//! says that someone sleeps: the releaser's own RMW returns it, so a release touches the
//! mutex only when needed, at no extra cost when nobody sleeps.
//!
//! # Invariants
//! - **F1** a lane's bit is clear exactly while one transaction (or nobody, between a
//!   claim and its use) owns the lane; only the owner sets it again. The claim is an
//!   Acquire and the release a Release RMW of the word, so everything the last owner did
//!   to the lane (its log, its epoch counter, its allocator cache) happens before the
//!   next owner uses it.
//! - **F2** no lost wakeup: if a thread sleeps in [`LaneSet::acquire_slow`] while a lane
//!   is free, a notification is on its way. The argument is on [`LaneSet`].
//! - **F3** `SLEEPERS` changes only under the sleepers' mutex: each sleeper sets it in
//!   every word before it sleeps (W1), and the last sleeper to leave clears it in every
//!   word. So while a thread sleeps, every word has it.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::convert::to_usize;
use crate::error::Result;
use crate::offset::PoolOff;
use crate::pool::raw::RawPool;
use crate::pool::{Flags, PoolOptions};
use crate::primitive::{Condvar, LaneWord, Mutex, MutexGuard};
use crate::stm::lane::{RawLane, epoch_of, lane_at};
use crate::stm::locks::LockTable;
use crate::stm::recovery::{LaneOutcome, recover_lane};
use crate::stm::truncations::Truncations;

// The pool flushes each lane's first record word at close (`pool/raw.rs`), past a lane
// header of the pool's idea of its size.
const _: () = assert!(crate::pool::header::LANE_HEADER == crate::stm::lane::LANE_HEADER as u64);

/// Gives every [`OpenPool`] of the process its own identity, for the lane hint.
static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The lane this thread used last, and the [`OpenPool::id`] of its pool (0: none).
    /// A hint only: it is checked against the pool and the lane is claimed like any
    /// other, so a stale or foreign value costs one failed try, never correctness.
    static LANE_HINT: Cell<(u64, u32)> = const { Cell::new((0, u32::MAX)) };
}

/// Lanes per word of [`LaneSet::words`]; bit 63 is [`SLEEPERS`].
const PER_WORD: u32 = 63;
/// The lane bits of a word.
const LANE_BITS: u64 = (1 << PER_WORD) - 1;
/// Set in every word while a thread sleeps in [`LaneSet::acquire_slow`] (F3).
const SLEEPERS: u64 = 1 << PER_WORD;

/// The free lanes of one pool: a bitmask, plus a sleeping place for when none is free.
///
/// # No lost wakeup (F2)
/// The argument needs only the coherence of each word (every change of a word is an
/// RMW, which reads its latest value), no SeqCst. A sleeper `W` runs, holding the
/// `sleepers` mutex: (W1) for each word, an RMW setting `SLEEPERS`, then a scan of the
/// value it returns for a free bit (and of the word again after a lost claim); (W2)
/// having found none, wait on `freed`, which releases the mutex atomically; after a
/// wakeup, W1 again. A releaser `R` runs: (R1) an RMW setting its lane's bit, which
/// returns the word as it was; (R2) if that had `SLEEPERS`, take the mutex and
/// `notify_one`.
///
/// Take a release R that W's last W1 did not see, and its word. If R1 came before W1's
/// RMW in the word's modification order, that RMW returned R's bit set and W found it,
/// unless another thread claimed it first, which will release it later (a new R). So R1
/// comes after W1's RMW, and returns `SLEEPERS` (F3: W has not left). So R takes the
/// mutex: not before W took it for W1 (R1 would then happen before W1, and so precede it
/// in the modification order), hence only once W released it in W2, i.e. sleeps; its
/// `notify_one` wakes W or another sleeper, which rescans (W1). Each such release sends
/// its own notification, so sleepers are woken at least as often as lanes they missed
/// are freed; spurious wakeups only cause a rescan. The loom models at the end of this
/// file check this.
#[derive(Debug)]
struct LaneSet {
    /// Bit `i % 63` of word `i / 63` is set while lane `i` is free (F1); bit 63 is
    /// [`SLEEPERS`] (F3). Bits of lanes `>= lanes` are never set.
    words: Box<[LaneWord]>,
    /// The number of lanes (at most `MAX_LANES`, so a lane index fits a `u32`).
    lanes: u32,
    /// The number of threads in [`LaneSet::acquire_slow`] (F3); the mutex is held by
    /// them until they sleep, and by releasers to notify.
    sleepers: Mutex<usize>,
    freed: Condvar,
}

impl LaneSet {
    fn new(lanes: u32) -> LaneSet {
        let words = (0..lanes.div_ceil(PER_WORD))
            .map(|w| {
                let in_word = (lanes - w * PER_WORD).min(PER_WORD);
                LaneWord::new((1u64 << in_word) - 1)
            })
            .collect();
        LaneSet {
            words,
            lanes,
            sleepers: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// The word and bit of lane `i` (`i < lanes`).
    #[inline]
    fn slot(&self, i: u32) -> (&LaneWord, u64) {
        (
            &self.words[to_usize(u64::from(i / PER_WORD))],
            1u64 << (i % PER_WORD),
        )
    }

    /// Claims lane `i` if it is free.
    #[inline]
    fn try_take(&self, i: u32) -> bool {
        let (word, bit) = self.slot(i);
        // A plain load first: a busy hint costs no write to the shared line.
        word.load(Ordering::Relaxed) & bit != 0
            // Acquire: the last owner's work on the lane happens before ours (F1).
            && word.fetch_and(!bit, Ordering::Acquire) & bit != 0
    }

    /// Claims the lowest free lane, if any. With `sleeping` (W1 of the F2 argument),
    /// sets `SLEEPERS` in each word before it looks at it.
    fn try_any(&self, sleeping: bool) -> Option<u32> {
        for (w, word) in (0u32..).zip(self.words.iter()) {
            let mut cur = if sleeping {
                word.fetch_or(SLEEPERS, Ordering::Acquire)
            } else {
                word.load(Ordering::Relaxed)
            } & LANE_BITS;
            while cur != 0 {
                let b = cur.trailing_zeros();
                let bit = 1u64 << b;
                // Acquire: as in `try_take` (F1).
                let prev = word.fetch_and(!bit, Ordering::Acquire);
                if prev & bit != 0 {
                    return Some(w * PER_WORD + b);
                }
                // Someone else took it; `prev` is the word as it is now.
                cur = prev & LANE_BITS & !bit;
            }
        }
        None
    }

    /// Claims a free lane, `hint` if it is free (any value is accepted; lanes out of
    /// range are never tried), waiting while none is.
    #[inline]
    fn acquire(&self, hint: u32) -> u32 {
        if hint < self.lanes && self.try_take(hint) {
            return hint;
        }
        self.acquire_any()
    }

    /// Claims the lowest free lane, waiting while none is.
    #[inline(never)]
    fn acquire_any(&self) -> u32 {
        match self.try_any(false) {
            Some(i) => i,
            None => self.acquire_slow(),
        }
    }

    /// Sleeps until a lane is free and claims it (W1–W2 of the F2 argument).
    #[cold]
    #[inline(never)]
    fn acquire_slow(&self) -> u32 {
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|p| p.into_inner());
        *sleepers += 1;
        loop {
            if let Some(i) = self.try_any(true) {
                *sleepers -= 1;
                if *sleepers == 0 {
                    // F3: the last sleeper leaves. A releaser that still sees the flag
                    // only notifies nobody.
                    for word in &self.words {
                        word.fetch_and(!SLEEPERS, Ordering::Relaxed);
                    }
                }
                return i;
            }
            sleepers = self.freed.wait(sleepers).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Gives lane `i`, claimed before, back (R1–R2 of the F2 argument).
    #[inline]
    fn release(&self, i: u32) {
        let (word, bit) = self.slot(i);
        // R1. Release: our work on the lane happens before the next owner's (F1).
        let prev = word.fetch_or(bit, Ordering::Release);
        debug_assert!(prev & bit == 0, "F1: lane {i} released twice");
        // `notify_one` is a system call even with nobody waiting: only wake a sleeper.
        if prev & SLEEPERS != 0 {
            self.wake();
        }
    }

    /// R2 of the F2 argument.
    #[cold]
    #[inline(never)]
    fn wake(&self) {
        let _sleepers = self.sleepers.lock().unwrap_or_else(|p| p.into_inner());
        self.freed.notify_one();
    }
}

/// A pool opened, recovered and ready for transactions.
#[derive(Debug)]
pub(crate) struct OpenPool {
    pub(crate) raw: RawPool,
    /// Unique among the pools this process opened (never 0): the key of the lane hint.
    id: u64,
    free_lanes: LaneSet,
    /// The next epoch of each lane (L1: inside the range reserved at open). Read and
    /// written only by the lane's owner (F1), so a plain load and store suffice.
    next_epoch: Vec<AtomicU64>,
    /// What recovery did at open, per lane.
    pub(crate) recovered: Vec<LaneOutcome>,
    /// Object locks held by running transactions.
    pub(crate) locks: LockTable,
    /// Objects with volatile weak pointers: offset → identity (see [`OpenPool::vweak_id`]).
    vweaks: Mutex<HashMap<PoolOff, u64>>,
    /// Truncations redo commits left unflushed (R1, `stm::truncations`).
    pub(crate) truncations: Truncations,
    /// Held while one thread takes every lane ([`OpenPool::quiesce`]), so that two such
    /// threads never hold half the lanes each.
    quiescing: Mutex<()>,
}

/// Every journal lane of an open pool, held: no transaction of the pool runs while it
/// lives (each holds a lane from its start to its end). Made by [`OpenPool::quiesce`].
#[must_use = "the lanes are given back when it is dropped"]
pub(crate) struct Quiesced<'a> {
    pool: &'a OpenPool,
    held: Vec<u32>,
    _one: MutexGuard<'a, ()>,
}

impl Drop for Quiesced<'_> {
    fn drop(&mut self) {
        for &i in &self.held {
            self.pool.free_lanes.release(i);
        }
    }
}

impl OpenPool {
    /// Opens the pool file, recovers every journal, reserves epochs.
    ///
    /// # Errors
    /// Every error of [`RawPool::open`] and of recovery.
    pub(crate) fn open(path: &Path, flags: Flags, opts: &PoolOptions) -> Result<OpenPool> {
        Self::open_checked(path, flags, opts, None)
    }

    /// [`OpenPool::open`], running `check` on the mapped file before anything is written
    /// (see [`OpenCheck`](crate::pool::raw::OpenCheck)).
    ///
    /// # Errors
    /// Every error of [`RawPool::open_checked`] and of recovery.
    pub(crate) fn open_checked(
        path: &Path,
        flags: Flags,
        opts: &PoolOptions,
        check: Option<crate::pool::raw::OpenCheck>,
    ) -> Result<OpenPool> {
        let raw = RawPool::open_checked(path, flags, opts, check)?;
        let lanes = raw.geometry().lanes;
        let mut next_epoch = Vec::with_capacity(to_usize(u64::from(lanes)));
        let mut recovered = Vec::with_capacity(next_epoch.capacity());
        for i in 0..lanes {
            let lane = Self::lane_of(&raw, i);
            recovered.push(recover_lane(&raw, i, &lane)?);
            next_epoch.push(AtomicU64::new(lane.reserve_epochs(raw.persister())));
        }
        Ok(OpenPool {
            raw,
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            free_lanes: LaneSet::new(lanes),
            next_epoch,
            recovered,
            locks: LockTable::new(),
            vweaks: Mutex::new(HashMap::new()),
            truncations: Truncations::new(lanes),
            quiescing: Mutex::new(()),
        })
    }

    /// The word of lane `lane` a truncation clears (see [`RawLane::truncation_word`]).
    pub(crate) fn truncation_word(&self, lane: u32) -> *const u8 {
        Self::lane_of(&self.raw, lane).truncation_word()
    }

    #[inline]
    fn lane_of(raw: &RawPool, i: u32) -> RawLane {
        let geo = raw.geometry();
        debug_assert!(i < geo.lanes);
        // SAFETY: the journals region is inside the mapping (validated geometry).
        let journals = unsafe { raw.base().add(geo.journals_off.to_usize()) };
        // Lanes are used only by the transaction that acquired them from `free_lanes`, or
        // by recovery before any transaction exists.
        // SAFETY: (1) lane `i` < `lanes` is inside the region; (2) its user alone uses it.
        unsafe { lane_at(journals, i, geo.lane_size) }
    }

    /// Takes a free lane for one transaction, waiting if all are in use; returns it
    /// with the epoch its records use. Prefers the lane this thread used last on this
    /// pool (its allocator cache is warm).
    #[inline]
    pub(crate) fn acquire_lane(&self) -> (u32, RawLane, u64) {
        let (pool, hint) = LANE_HINT.get();
        let hint = if pool == self.id { hint } else { u32::MAX };
        let idx = self.free_lanes.acquire(hint);
        if idx != hint {
            LANE_HINT.set((self.id, idx));
        }
        let lane = Self::lane_of(&self.raw, idx);
        let slot = &self.next_epoch[to_usize(u64::from(idx))];
        // The lane is ours (F1): nobody else touches its counter until we release it,
        // so a load and a store do what `fetch_add` would, without a locked instruction.
        let counter = slot.load(Ordering::Relaxed);
        slot.store(counter + 1, Ordering::Relaxed);
        let counter = if lane.epoch_reserved(counter) {
            counter
        } else {
            self.reserve_epochs(idx, &lane)
        };
        (idx, lane, epoch_of(idx, counter))
    }

    /// Reserves the next range of epochs of lane `idx` (ours, F1) and takes the first.
    #[cold]
    #[inline(never)]
    fn reserve_epochs(&self, idx: u32, lane: &RawLane) -> u64 {
        let counter = lane.reserve_epochs(self.raw.persister());
        self.next_epoch[to_usize(u64::from(idx))].store(counter + 1, Ordering::Relaxed);
        counter
    }

    /// The identity of the live object at `off` for volatile weak pointers: the same
    /// for every `VWeak` made while it lives, never reused for another object (entries
    /// leave when the object's block is freed, at commit). Identities come from one
    /// counter of the process, not of this open pool: another file opened later into
    /// the same pool type can have the same generation number and an object at the same
    /// offset, and a `VWeak` of the first file must not name it.
    pub(crate) fn vweak_id(&self, off: PoolOff) -> u64 {
        static NEXT_VWEAK: AtomicU64 = AtomicU64::new(1);
        let mut m = self.vweaks.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(off)
            .or_insert_with(|| NEXT_VWEAK.fetch_add(1, Ordering::Relaxed))
    }

    /// Whether `id` still names the live object at `off`.
    pub(crate) fn vweak_alive(&self, off: PoolOff, id: u64) -> bool {
        let m = self.vweaks.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&off) == Some(&id)
    }

    /// Forgets the object at `off` (its block was freed). (`off` is the journal's
    /// `u64` until the journal's offsets are typed.)
    pub(crate) fn forget_vweaks(&self, off: PoolOff) {
        self.vweaks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&off);
    }

    /// Waits until no transaction of the pool runs and keeps it so while the result
    /// lives, by taking every lane (transactions take one each, for their whole run, and
    /// never wait for a second). The caller must not be inside a transaction of this
    /// pool: it would wait for its own lane.
    pub(crate) fn quiesce(&self) -> Quiesced<'_> {
        let one = self.quiescing.lock().unwrap_or_else(|p| p.into_inner());
        let held = (0..self.free_lanes.lanes)
            .map(|_| self.free_lanes.acquire_any())
            .collect();
        Quiesced {
            pool: self,
            held,
            _one: one,
        }
    }

    /// Gives a journal back; its log must be truncated durably (L2).
    #[inline]
    pub(crate) fn release_lane(&self, idx: u32) {
        self.free_lanes.release(idx);
    }
}

/// Loom models of the lane set: every interleaving hands each lane to one transaction
/// at a time (F1) and never leaves a sleeper behind while a lane is free (F2: a lost
/// wakeup would show as a deadlock).
///
/// `RUSTFLAGS="--cfg crndm_loom" cargo test -p crndm --lib loom --release`
#[cfg(all(test, crndm_loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicBool;

    /// Claims a lane (trying `hint` first), checks nobody else holds it, gives it back.
    fn use_a_lane(set: &LaneSet, busy: &[AtomicBool], hint: u32) {
        let i = set.acquire(hint);
        let held = &busy[to_usize(u64::from(i))];
        assert!(
            !held.swap(true, Ordering::Relaxed),
            "F1: lane {i} handed out twice"
        );
        held.store(false, Ordering::Relaxed);
        set.release(i);
    }

    fn contend(lanes: u32, threads: u32) {
        loom::model(move || {
            let set = Arc::new(LaneSet::new(lanes));
            let busy: Arc<Vec<AtomicBool>> =
                Arc::new((0..lanes).map(|_| AtomicBool::new(false)).collect());
            let others: Vec<_> = (1..threads)
                .map(|t| {
                    let (set, busy) = (set.clone(), busy.clone());
                    loom::thread::spawn(move || use_a_lane(&set, &busy, t % lanes))
                })
                .collect();
            use_a_lane(&set, &busy, 0);
            for t in others {
                t.join().unwrap();
            }
            // Every lane is free again.
            for i in 0..lanes {
                assert!(set.try_take(i), "lane {i} was not given back");
            }
        });
    }

    #[test]
    fn loom_one_lane_two_threads_no_lost_wakeup() {
        contend(1, 2);
    }

    #[test]
    fn loom_one_lane_three_threads_no_lost_wakeup() {
        contend(1, 3);
    }

    #[test]
    fn loom_two_lanes_three_threads() {
        contend(2, 3);
    }
}

#[cfg(all(test, not(crndm_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// Every lane of pools of 1 to 130 lanes (several words, partly used ones) is handed
    /// out exactly once, then the set is exhausted; a given-back lane comes back.
    #[test]
    fn each_lane_is_handed_out_once() {
        for lanes in [1u32, 2, 62, 63, 64, 125, 126, 127, 130, 1024] {
            let set = LaneSet::new(lanes);
            let mut seen = vec![false; to_usize(u64::from(lanes))];
            for _ in 0..lanes {
                let i = set.try_any(false).expect("a free lane");
                assert!(i < lanes, "{lanes} lanes: got {i}");
                assert!(!seen[to_usize(u64::from(i))], "{lanes} lanes: {i} twice");
                seen[to_usize(u64::from(i))] = true;
            }
            assert_eq!(set.try_any(false), None, "{lanes} lanes: exhausted");
            set.release(lanes / 2);
            assert_eq!(set.acquire(0), lanes / 2, "the only free lane");
            for i in 0..lanes {
                set.release(i);
            }
        }
    }

    /// A free hint is taken; a busy or out-of-range one falls back to the lowest lane.
    #[test]
    fn the_hint_is_preferred_when_free() {
        let set = LaneSet::new(70);
        assert_eq!(set.acquire(66), 66);
        assert_eq!(set.acquire(66), 0, "busy hint");
        assert_eq!(set.acquire(70), 1, "out of range");
        assert_eq!(set.acquire(u32::MAX), 2, "no hint");
        set.release(66);
        assert_eq!(set.acquire(66), 66);
    }

    /// More threads than lanes: sleepers are woken (F2) and lanes stay exclusive (F1).
    #[test]
    fn threads_beyond_the_lane_count_wait_their_turn() {
        const LANES: u32 = 2;
        let set = Arc::new(LaneSet::new(LANES));
        let busy: Arc<Vec<AtomicBool>> =
            Arc::new((0..LANES).map(|_| AtomicBool::new(false)).collect());
        let threads: Vec<_> = (0..6u32)
            .map(|t| {
                let (set, busy) = (set.clone(), busy.clone());
                std::thread::spawn(move || {
                    let mut hint = t;
                    for _ in 0..2000 {
                        let i = set.acquire(hint);
                        let held = &busy[to_usize(u64::from(i))];
                        assert!(!held.swap(true, Ordering::SeqCst), "F1: lane {i} twice");
                        std::thread::yield_now(); // hold it a while: others must sleep
                        held.store(false, Ordering::SeqCst);
                        set.release(i);
                        hint = i;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*set.sleepers.lock().unwrap(), 0);
        for word in &set.words {
            assert_eq!(word.load(Ordering::Relaxed) & SLEEPERS, 0, "F3");
        }
        assert!(set.try_take(0) && set.try_take(1), "both lanes are free");
    }
}
