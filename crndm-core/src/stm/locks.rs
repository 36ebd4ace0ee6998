//! Object locks held until the end of a transaction (two-phase locking), kept in DRAM.
//!
//! A lock is named by the pool offset of the object it protects (a `PMutex`, or the
//! counts of a `Parc`). Its state lives in this table, never in the pool: a crash (or a
//! close) loses the table, so no lock survives it, and no undo record can ever restore
//! a stale lock word (which a lock word stored in the object could suffer when an
//! enclosing object is logged and rolled back).
//!
//! # Invariants
//! - **K1** an entry exists exactly while a transaction holds the lock; it names that
//!   transaction.
//! - **K2** a transaction releases all its locks when it ends (after its commit point or
//!   its rollback), never earlier, so no other transaction sees its uncommitted state.
//! - **K3** (deadlock detection) a transaction about to wait records the edge
//!   *waiter → holder* in the wait-for graph, under the graph's mutex, only after
//!   following the holder's chain of edges without meeting itself; it removes the edge
//!   when it wakes. Every node of a cycle would be waiting, and the last edge of a cycle
//!   is refused by that check, so the graph never holds a cycle, and a transaction whose
//!   wait would close one is told so instead (it aborts, the others go on). An edge may
//!   name a holder that has since ended (its locks released, K2): an ended transaction
//!   waits for nothing, so such an edge ends a chain and never makes a false cycle; the
//!   release wakes the waiter, which records its new holder and checks again.

use crate::alloc::buddy::UNIT_LOG;
use crate::offset::PoolOff;
use crate::primitive::{Condvar, Mutex, MutexGuard};
use std::collections::HashMap;

/// Identifies a running transaction: its journal lane and the lane's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Owner {
    pub(crate) lane: u32,
    pub(crate) epoch: u64,
}

const SHARDS: usize = 64;

#[derive(Debug)]
struct Shard {
    held: Mutex<Held>,
    released: Condvar,
}

/// The locks of one shard, and how many transactions wait for one of them.
#[derive(Debug, Default)]
struct Held {
    owners: HashMap<PoolOff, Owner>,
    /// Waiters on `released`: a release notifies only when there are some (a notify is
    /// a system call even when nobody waits). Changed under the shard's mutex, so a
    /// waiter counted before it sleeps is always woken.
    waiters: usize,
}

/// The lock table of one open pool.
#[derive(Debug)]
pub(crate) struct LockTable {
    shards: Box<[Shard]>,
    /// The wait-for graph (K3): each waiting transaction and the holder it waits for.
    /// Taken after a shard's mutex, never before one.
    waits: Mutex<HashMap<Owner, Owner>>,
}

/// Waiting for a lock would close a cycle of transactions waiting for each other (K3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deadlock {
    /// The transaction holding the lock that was asked for.
    pub(crate) holder: Owner,
}

/// The outcome of taking a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// The caller now holds it (and must release it at the end of its transaction).
    New,
    /// The caller's transaction already held it.
    Again,
}

impl LockTable {
    pub(crate) fn new() -> LockTable {
        LockTable {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    held: Mutex::new(Held::default()),
                    released: Condvar::new(),
                })
                .collect(),
            waits: Mutex::new(HashMap::new()),
        }
    }

    fn graph(&self) -> MutexGuard<'_, HashMap<Owner, Owner>> {
        self.waits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `waiter` waits for `holder`, unless `holder` waits (directly or
    /// through others) for `waiter`: then the wait would never end (K3).
    ///
    /// # Errors
    /// [`Deadlock`] in that case; nothing is recorded.
    fn start_waiting(&self, waiter: Owner, holder: Owner) -> Result<(), Deadlock> {
        let mut g = self.graph();
        let mut cur = holder;
        // The graph has no cycle (K3), so the chain ends within `len` steps.
        for _ in 0..=g.len() {
            if cur == waiter {
                return Err(Deadlock { holder });
            }
            match g.get(&cur) {
                Some(&next) => cur = next,
                None => break,
            }
        }
        g.insert(waiter, holder);
        Ok(())
    }

    /// Removes `waiter`'s edge from the wait-for graph (it woke up).
    fn stop_waiting(&self, waiter: Owner) {
        self.graph().remove(&waiter);
    }

    fn shard(&self, off: PoolOff) -> &Shard {
        // Objects are unit-aligned (blocks start on a unit); mix the higher bits.
        let h = (off.get() >> UNIT_LOG).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58;
        &self.shards[crate::convert::to_usize(h) % SHARDS]
    }

    fn map(shard: &Shard) -> MutexGuard<'_, Held> {
        shard.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the lock on `off` for `owner`, waiting while another transaction holds it.
    ///
    /// # Errors
    /// [`Deadlock`] if the holder waits, directly or through others, for a lock `owner`
    /// holds (K3): `owner` must give up (abort) for anyone to go on.
    pub(crate) fn lock(&self, off: PoolOff, owner: Owner) -> Result<Taken, Deadlock> {
        let shard = self.shard(off);
        let mut held = Self::map(shard);
        loop {
            match held.owners.get(&off) {
                None => {
                    held.owners.insert(off, owner);
                    return Ok(Taken::New);
                }
                Some(o) if *o == owner => return Ok(Taken::Again),
                Some(&holder) => {
                    self.start_waiting(owner, holder)?;
                    held.waiters += 1;
                    held = shard.released.wait(held).unwrap_or_else(|p| p.into_inner());
                    held.waiters -= 1;
                    self.stop_waiting(owner);
                }
            }
        }
    }

    /// Takes the lock on `off` for `owner` if no other transaction holds it.
    pub(crate) fn try_lock(&self, off: PoolOff, owner: Owner) -> Option<Taken> {
        let mut held = Self::map(self.shard(off));
        match held.owners.get(&off) {
            None => {
                held.owners.insert(off, owner);
                Some(Taken::New)
            }
            Some(o) if *o == owner => Some(Taken::Again),
            Some(_) => None,
        }
    }

    /// Releases the locks `offs` held by `owner` (K2).
    pub(crate) fn unlock_all(&self, offs: &[PoolOff], owner: Owner) {
        for &off in offs {
            let shard = self.shard(off);
            let mut held = Self::map(shard);
            let removed = held.owners.remove(&off);
            debug_assert_eq!(removed, Some(owner), "K1: the lock was ours");
            if held.waiters > 0 {
                shard.released.notify_all();
            }
        }
    }

    /// Whether any transaction holds the lock on `off`.
    #[cfg(all(test, not(crndm_loom)))]
    pub(crate) fn is_locked(&self, off: PoolOff) -> bool {
        Self::map(self.shard(off)).owners.contains_key(&off)
    }
}

/// Loom models of the two-phase protocol that `PMutex` and the `Parc` counts follow:
/// take the object lock, save the old value (the undo record), change it, and at the end
/// either keep it (commit) or put the old value back (abort), then unlock. Every
/// interleaving must end with exactly the committed changes: an abort never erases
/// another transaction's committed change.
///
/// `RUSTFLAGS="--cfg crndm_loom" cargo test -p crndm --lib loom --release`
#[cfg(all(test, crndm_loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU64, Ordering};

    /// One transaction adding `delta` to the counter at offset 64, aborting if `abort`.
    fn transaction(t: &LockTable, counter: &AtomicU64, lane: u32, delta: u64, abort: bool) {
        let me = Owner { lane, epoch: 1 };
        assert_eq!(t.lock(PoolOff::new(64), me), Ok(Taken::New));
        let old = counter.load(Ordering::Relaxed); // the undo record
        counter.store(old + delta, Ordering::Relaxed); // the change
        if abort {
            counter.store(old, Ordering::Relaxed); // rollback: restore the saved bytes
        }
        t.unlock_all(&[PoolOff::new(64)], me);
    }

    #[test]
    fn loom_an_abort_never_erases_a_committed_change() {
        loom::model(|| {
            let t = Arc::new(LockTable::new());
            let counter = Arc::new(AtomicU64::new(0));
            let a = {
                let (t, c) = (t.clone(), counter.clone());
                loom::thread::spawn(move || transaction(&t, &c, 0, 1, false))
            };
            let b = {
                let (t, c) = (t.clone(), counter.clone());
                loom::thread::spawn(move || transaction(&t, &c, 1, 10, true))
            };
            transaction(&t, &counter, 2, 100, false);
            a.join().unwrap();
            b.join().unwrap();
            assert_eq!(counter.load(Ordering::Relaxed), 101);
        });
    }

    #[test]
    fn loom_relocking_in_one_transaction_does_not_deadlock() {
        loom::model(|| {
            let t = Arc::new(LockTable::new());
            let other = {
                let t = t.clone();
                loom::thread::spawn(move || {
                    let me = Owner { lane: 1, epoch: 1 };
                    assert_eq!(t.lock(PoolOff::new(64), me), Ok(Taken::New));
                    t.unlock_all(&[PoolOff::new(64)], me);
                })
            };
            let me = Owner { lane: 0, epoch: 7 };
            assert_eq!(t.lock(PoolOff::new(64), me), Ok(Taken::New));
            assert_eq!(t.lock(PoolOff::new(64), me), Ok(Taken::Again));
            t.unlock_all(&[PoolOff::new(64)], me);
            other.join().unwrap();
        });
    }
}

#[cfg(all(test, not(crndm_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    const A: Owner = Owner { lane: 0, epoch: 1 };
    const B: Owner = Owner { lane: 1, epoch: 1 };

    #[test]
    fn locks_are_reentrant_for_their_owner_and_exclusive_otherwise() {
        let t = LockTable::new();
        assert_eq!(t.lock(PoolOff::new(64), A), Ok(Taken::New));
        assert_eq!(t.lock(PoolOff::new(64), A), Ok(Taken::Again));
        assert_eq!(t.try_lock(PoolOff::new(64), B), None);
        assert_eq!(t.try_lock(PoolOff::new(128), B), Some(Taken::New));
        t.unlock_all(&[PoolOff::new(64)], A);
        assert_eq!(t.try_lock(PoolOff::new(64), B), Some(Taken::New));
        t.unlock_all(&[PoolOff::new(64), PoolOff::new(128)], B);
        assert!(!t.is_locked(PoolOff::new(64)) && !t.is_locked(PoolOff::new(128)));
    }

    #[test]
    fn a_wait_that_would_close_a_cycle_is_refused() {
        let t = LockTable::new();
        let c = Owner { lane: 2, epoch: 1 };
        assert_eq!(t.start_waiting(A, B), Ok(()));
        assert_eq!(t.start_waiting(B, c), Ok(()));
        // C waiting for A would close A -> B -> C -> A.
        assert_eq!(t.start_waiting(c, A), Err(Deadlock { holder: A }));
        // Once B woke, C may wait for A (the chain A -> B ends).
        t.stop_waiting(B);
        assert_eq!(t.start_waiting(c, A), Ok(()));
        assert_eq!(t.start_waiting(A, A), Err(Deadlock { holder: A }));
    }

    #[test]
    fn a_waiter_gets_the_lock_after_the_holder_releases_it() {
        let t = Arc::new(LockTable::new());
        let inside = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4u32)
            .map(|i| {
                let (t, inside) = (t.clone(), inside.clone());
                std::thread::spawn(move || {
                    for e in 0..200 {
                        let me = Owner { lane: i, epoch: e };
                        assert_eq!(t.lock(PoolOff::new(4096), me), Ok(Taken::New));
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "mutual exclusion");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        t.unlock_all(&[PoolOff::new(4096)], me);
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert!(!t.is_locked(PoolOff::new(4096)));
    }
}
