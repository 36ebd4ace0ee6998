//! An open pool as the transaction layer sees it: the raw pool, recovered, plus the
//! table of free journals.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use crate::error::Result;
use crate::pool::raw::RawPool;
use crate::pool::{Flags, PoolOptions};
use crate::stm::lane::{RawLane, epoch_of, lane_at};
use crate::stm::locks::LockTable;
use crate::stm::recovery::{LaneOutcome, recover_lane};
use crate::util::to_usize;

/// The journals no transaction uses, and how many transactions wait for one.
#[derive(Debug)]
struct FreeLanes {
    free: Vec<u32>,
    waiters: usize,
}

/// A pool opened, recovered and ready for transactions.
#[derive(Debug)]
pub(crate) struct OpenPool {
    pub(crate) raw: RawPool,
    free_lanes: Mutex<FreeLanes>,
    lane_freed: Condvar,
    /// The next epoch of each lane (L1: inside the range reserved at open).
    next_epoch: Vec<AtomicU64>,
    /// What recovery did at open, per lane.
    pub(crate) recovered: Vec<LaneOutcome>,
    /// Object locks held by running transactions.
    pub(crate) locks: LockTable,
    /// Objects with volatile weak pointers: offset → identity (see [`OpenPool::vweak_id`]).
    vweaks: Mutex<HashMap<u64, u64>>,
    next_vweak: AtomicU64,
}

impl OpenPool {
    /// Opens the pool file, recovers every journal, reserves epochs.
    ///
    /// # Errors
    /// Every error of [`RawPool::open`] and of recovery.
    pub(crate) fn open(path: &Path, flags: Flags, opts: &PoolOptions) -> Result<OpenPool> {
        let raw = RawPool::open(path, flags, opts)?;
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
            free_lanes: Mutex::new(FreeLanes {
                free: (0..lanes).rev().collect(),
                waiters: 0,
            }),
            lane_freed: Condvar::new(),
            next_epoch,
            recovered,
            locks: LockTable::new(),
            vweaks: Mutex::new(HashMap::new()),
            next_vweak: AtomicU64::new(1),
        })
    }

    fn lane_of(raw: &RawPool, i: u32) -> RawLane {
        let geo = raw.geometry();
        debug_assert!(i < geo.lanes);
        // SAFETY: the journals region is inside the mapping (validated geometry).
        let journals = unsafe { raw.base().add(to_usize(geo.journals_off)) };
        // SAFETY: (1) lane `i` < `lanes` is inside the region; (2) lanes are used only by
        // the transaction that acquired them from `free_lanes`, or by recovery before
        // any transaction exists.
        unsafe { lane_at(journals, i, geo.lane_size) }
    }

    /// Takes a free journal for one transaction, waiting if all are in use; returns it
    /// with the epoch its records use.
    pub(crate) fn acquire_lane(&self) -> (u32, RawLane, u64) {
        let mut free = self.free_lanes.lock().unwrap_or_else(|p| p.into_inner());
        let idx = loop {
            if let Some(i) = free.free.pop() {
                break i;
            }
            free.waiters += 1;
            free = self
                .lane_freed
                .wait(free)
                .unwrap_or_else(|p| p.into_inner());
            free.waiters -= 1;
        };
        drop(free);
        let lane = Self::lane_of(&self.raw, idx);
        let slot = &self.next_epoch[to_usize(u64::from(idx))];
        let mut counter = slot.fetch_add(1, Ordering::Relaxed);
        if !lane.epoch_reserved(counter) {
            counter = lane.reserve_epochs(self.raw.persister());
            slot.store(counter + 1, Ordering::Relaxed);
        }
        (idx, lane, epoch_of(idx, counter))
    }

    /// The identity of the live object at `off` for volatile weak pointers: the same
    /// for every `VWeak` made while it lives, never reused for another object of this
    /// open pool (entries leave when the object's block is freed, at commit).
    pub(crate) fn vweak_id(&self, off: u64) -> u64 {
        let mut m = self.vweaks.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(off)
            .or_insert_with(|| self.next_vweak.fetch_add(1, Ordering::Relaxed))
    }

    /// Whether `id` still names the live object at `off`.
    pub(crate) fn vweak_alive(&self, off: u64, id: u64) -> bool {
        let m = self.vweaks.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&off) == Some(&id)
    }

    /// Forgets the object at `off` (its block was freed).
    pub(crate) fn forget_vweaks(&self, off: u64) {
        self.vweaks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&off);
    }

    /// Gives a journal back; its log must be truncated durably (L2).
    pub(crate) fn release_lane(&self, idx: u32) {
        let mut free = self.free_lanes.lock().unwrap_or_else(|p| p.into_inner());
        free.free.push(idx);
        // `notify_one` is a system call even with nobody waiting: only wake a waiter.
        if free.waiters > 0 {
            self.lane_freed.notify_one();
        }
    }
}
