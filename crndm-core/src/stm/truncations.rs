//! Truncations redo commits left unflushed, per pool: every transaction makes them
//! durable before it changes anything in place.
//!
//! # Why
//! A redo commit (see `stm::journal`) is durable at its COMMIT fence; the truncation of
//! its log only stops recovery from rolling it forward *again*. That replay is harmless
//! until something changes what the transaction wrote, so:
//!
//! - **R1** before each fence of a transaction, the truncations left unflushed by redo
//!   commits that returned before are flushed, so that fence makes them durable, before
//!   the transaction's first in-place store.
//!
//! Any transaction that can change what a redo commit wrote runs after that commit
//! returned (it synchronised with it, through the object locks the commit released
//! after recording its entry, or whatever moved the data to its thread), so it sees the
//! commit's entry here. Commits with frees record their unflushed truncation here too.
//!
//! # Mechanism
//! One word per lane holds the epoch of the redo commit whose truncation is pending
//! there (0: none), and a bitmask marks the lanes whose word may be non-zero. A redo
//! commit stores its epoch, then sets its bit. A transaction about to fence reads the
//! mask, flushes the truncated word of each marked lane with a pending epoch, fences,
//! then clears each word it flushed *if it still holds the epoch it saw* (a newer
//! commit of the lane keeps its entry), and the bit of a cleared word, setting the bit
//! again if the word became non-zero meanwhile (all sequentially consistent, so a set
//! bit can only be lost together with a word that is zero).
//!
//! Another transaction that takes the lane overwrites the word's line with its own
//! first record before fencing, which also ends the old log; closing the pool writes
//! every lane's first line back. That transaction must not overwrite the old log's
//! *other* lines before that fence, though: a crash there can keep them without the
//! first line, and the old log would reappear cut short of its COMMIT record (rule R2 in
//! `stm::journal`). So the table also keeps, per lane, where the pending log lies in
//! the lane ([`Truncations::pending_extent`]).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// Lanes with an unflushed truncation (see the module docs).
#[derive(Debug)]
pub(crate) struct Truncations {
    /// Per lane: the epoch of the redo commit whose truncation is pending, or 0.
    epochs: Box<[AtomicU64]>,
    /// Bit `l % 64` of word `l / 64`: lane `l`'s epoch word may be non-zero.
    mask: Box<[AtomicU64]>,
    /// Per lane: where the records of the log whose truncation is pending lie in the
    /// lane, `start << 32 | end` (R2).
    ends: Box<[AtomicU64]>,
}

/// Flushed lanes a transaction settles after its fence: `(lane, epoch seen)`. A few are
/// enough: an entry not settled stays pending and is flushed again later.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Claims {
    taken: [(u32, u64); 4],
    len: usize,
}

impl Truncations {
    /// No truncation pending, for `lanes` lanes.
    pub(crate) fn new(lanes: u32) -> Truncations {
        let n = lanes as usize;
        Truncations {
            epochs: (0..n).map(|_| AtomicU64::new(0)).collect(),
            mask: (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            ends: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records that the redo commit of `epoch` on `lane` left its truncation unflushed;
    /// past the lane's first line, its log's records lie in `[start, end)` of the lane.
    pub(crate) fn leave(&self, lane: u32, epoch: u64, start: usize, end: usize) {
        let l = lane as usize;
        // A plain store (no read-modify-write: see `stm::journal`); only this lane's
        // transactions read it. Lanes are far smaller than 4 GiB.
        let extent = (start as u64) << 32 | (end as u64 & 0xffff_ffff);
        self.ends[l].store(extent, std::sync::atomic::Ordering::Relaxed);
        debug_assert!(epoch != 0);
        self.epochs[l].store(epoch, SeqCst);
        self.mask[l / 64].fetch_or(1 << (l % 64), SeqCst);
    }

    /// Where in `lane`, past its first line, the records of the log whose truncation
    /// may not be durable yet lie, `(start, end)`, if there is one (R2; read by the
    /// lane's own next transaction, before its first fence).
    pub(crate) fn pending_extent(&self, lane: u32) -> Option<(usize, usize)> {
        let l = lane as usize;
        if self.epochs[l].load(SeqCst) == 0 {
            return None;
        }
        let extent = self.ends[l].load(std::sync::atomic::Ordering::Relaxed);
        let start = usize::try_from(extent >> 32).ok()?;
        let end = usize::try_from(extent & 0xffff_ffff).ok()?;
        Some((start, end))
    }

    /// Calls `flush(lane)` for every lane with a pending truncation; the caller fences
    /// next, then passes the result to [`Truncations::settle`].
    pub(crate) fn flush_pending(&self, mut flush: impl FnMut(u32)) -> Claims {
        let mut claims = Claims::default();
        for (w, word) in self.mask.iter().enumerate() {
            let mut bits = word.load(SeqCst);
            while bits != 0 {
                let l = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let epoch = self.epochs[l].load(SeqCst);
                if epoch == 0 {
                    continue;
                }
                let lane = u32::try_from(l).unwrap_or(u32::MAX);
                flush(lane);
                if claims.len < claims.taken.len() {
                    claims.taken[claims.len] = (lane, epoch);
                    claims.len += 1;
                }
            }
        }
        claims
    }

    /// Clears the entries `claims` names, now durable, unless a newer commit replaced
    /// them.
    pub(crate) fn settle(&self, claims: Claims) {
        for &(lane, epoch) in &claims.taken[..claims.len] {
            let l = lane as usize;
            if self.epochs[l]
                .compare_exchange(epoch, 0, SeqCst, SeqCst)
                .is_ok()
            {
                let bit = 1 << (l % 64);
                self.mask[l / 64].fetch_and(!bit, SeqCst);
                if self.epochs[l].load(SeqCst) != 0 {
                    self.mask[l / 64].fetch_or(bit, SeqCst);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_flushed_until_settled_and_newer_ones_survive() {
        let t = Truncations::new(70);
        t.leave(3, 10, 64, 64);
        t.leave(65, 11, 64, 64);
        let mut seen = Vec::new();
        let claims = t.flush_pending(|l| seen.push(l));
        assert_eq!(seen, [3, 65]);
        t.leave(3, 12, 64, 64); // a newer commit on lane 3 before the settle
        t.settle(claims);
        let mut again = Vec::new();
        let claims = t.flush_pending(|l| again.push(l));
        assert_eq!(again, [3], "lane 3's newer entry stays, lane 65's is gone");
        t.settle(claims);
        let mut none = Vec::new();
        let _ = t.flush_pending(|l| none.push(l));
        assert!(none.is_empty());
    }
}

#[cfg(all(test, feature = "crash-sim", not(crndm_loom)))]
mod r1 {
    use crate::persist::sim::Sim;
    use crate::{AssertTxInSafe, MemPool, O_CF, PCell, PoolOptions, PoolType, RootCell};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    crate::pool!(r1_pool);
    type P = r1_pool::BuddyAlloc;

    /// A new pool of `Q` in `dir` with two journals, under `sim`, whose root is a cell.
    ///
    /// # Errors
    /// The errors of opening the pool.
    fn simulated<Q: MemPool>(
        dir: &tempfile::TempDir,
        sim: &Sim,
    ) -> crate::Result<RootCell<PCell<u64, Q>, Q>> {
        PoolOptions::new()
            .size(1 << 20)
            .journals(2, 4096)
            .simulate(sim)
            .open::<Q, PCell<u64, Q>>(dir.path().join("sim.pool"), O_CF)
    }

    /// A clean close leaves no log behind, not even the one whose truncation the last
    /// commit left unflushed: closing writes every lane's first line back.
    #[test]
    fn a_clean_close_leaves_no_log_behind() {
        crate::pool!(close_pool);
        type Q = close_pool::BuddyAlloc;
        let (dir, sim) = (tempfile::tempdir().unwrap(), Sim::new());
        let root = simulated::<Q>(&dir, &sim).unwrap();
        Q::transaction(|j| root.set(1, j)).unwrap();
        drop(root);
        let closed = dir.path().join("closed.pool");
        std::fs::write(&closed, sim.image().unwrap()).unwrap();
        let logs = crate::admin::info(&closed).unwrap().journal_logs;
        assert!(logs.is_empty(), "logs left by a clean close: {logs:?}");
    }

    /// R1: a redo commit leaves its truncation unflushed; when the next transaction runs
    /// on another lane (the first one is busy), its first fence makes the old
    /// truncation durable, so no stale committed log survives it.
    #[test]
    fn a_truncation_left_on_another_lane_is_durable_at_the_next_fence() {
        let (dir, sim) = (tempfile::tempdir().unwrap(), Sim::new());
        let root = simulated::<P>(&dir, &sim).unwrap();
        P::transaction(|j| root.set(1, j)).unwrap();
        let pending = || {
            let pool = P::__slot().raw().unwrap();
            let mut lanes = Vec::new();
            let _ = pool.truncations.flush_pending(|l| lanes.push(l));
            let words: Vec<usize> = lanes
                .iter()
                .map(|&l| pool.truncation_word(l) as usize - pool.raw.base() as usize)
                .collect();
            words
        };
        let first = pending();
        assert_eq!(first.len(), 1, "the redo commit left its truncation");
        let off = first[0];
        let word = |image: &[u8]| u64::from_le_bytes(image[off..off + 8].try_into().unwrap());
        assert_ne!(word(&sim.image().unwrap()), 0, "not yet durable");

        // Another thread holds the lane of the first transaction until the second
        // commit is done (flags, not sleeps: however slow the machine).
        let inside = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let flag = AssertTxInSafe(Arc::clone(&inside));
        let stop = AssertTxInSafe(Arc::clone(&done));
        let holder = std::thread::spawn(move || {
            P::transaction(|_| {
                flag.store(true, Ordering::Release);
                while !stop.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
            })
            .unwrap();
        });
        while !inside.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        P::transaction(|j| root.set(2, j)).unwrap();
        done.store(true, Ordering::Release);
        holder.join().unwrap();
        let second = pending();
        assert_eq!(
            second.len(),
            1,
            "only the second commit's truncation is pending"
        );
        assert_ne!(
            second[0], off,
            "the second transaction ran on the other lane"
        );
        assert_eq!(
            word(&sim.image().unwrap()),
            0,
            "the first lane's truncation is durable after the second commit"
        );
        drop(root);
    }
}
