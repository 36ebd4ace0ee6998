//! Truncations a redo commit left unflushed, remembered per thread until a later
//! transaction of the same thread flushes them before its first fence.
//!
//! # Why per thread
//! A redo commit (see `stm::journal`) is durable at its COMMIT fence; the truncation of
//! its log only stops recovery from rolling it forward *again*. That replay is harmless
//! until something changes what the transaction wrote. A transaction that holds no
//! object lock wrote nothing another thread can reach (crndm's cross-thread mutation
//! goes through object locks, which take the classic commit), so only this thread's
//! later transactions can change those bytes, and each of them makes the truncation
//! durable before its first in-place store:
//!
//! - **R1** before a transaction's first fence, the truncation a previous redo commit
//!   of its thread left unflushed on the same pool is flushed (or is on the lane the
//!   transaction writes its own first record over, which the same fence makes durable).
//!
//! Another thread that takes the lane overwrites the line with its own first record
//! before fencing, which also ends the old log. Closing the pool writes every lane's
//! first line back.

use std::cell::RefCell;

/// One unflushed truncation: the pool (its slot's address and the open's
/// [`instance`](crate::pool::raw::RawPool::instance)) and the address of the cleared
/// word.
#[derive(Clone, Copy)]
struct Pending {
    slot: usize,
    instance: u64,
    word: usize,
}

thread_local! {
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
}

/// Takes the unflushed truncation of this thread on the pool open in `slot` with
/// `instance`, if any: the caller flushes `word` before its first fence, or gives it
/// back with [`put`].
pub(crate) fn take(slot: usize, instance: u64) -> Option<usize> {
    PENDING
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let i = p
                .iter()
                .position(|e| e.slot == slot && e.instance == instance)?;
            Some(p.swap_remove(i).word)
        })
        .ok()
        .flatten()
}

/// Remembers that the truncation of the word at `word` of the pool open in `slot` with
/// `instance` is not flushed (replacing an older one of that pool, which the caller's
/// fence made durable). Entries of pools opened since are dropped: their mappings may
/// be gone, and closing wrote their lanes back.
pub(crate) fn put(slot: usize, instance: u64, word: usize) {
    // A thread that is exiting has nothing left to order.
    let _ = PENDING.try_with(|p| {
        let mut p = p.borrow_mut();
        p.retain(|e| e.slot != slot);
        p.push(Pending {
            slot,
            instance,
            word,
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_pool_and_open() {
        put(1, 7, 100);
        put(2, 3, 200);
        put(1, 8, 300);
        assert_eq!(take(1, 7), None, "an older open of slot 1 was replaced");
        assert_eq!(take(1, 8), Some(300));
        assert_eq!(take(1, 8), None);
        assert_eq!(take(2, 3), Some(200));
    }
}

#[cfg(all(test, feature = "crash-sim", not(crndm_loom)))]
mod r1 {
    use crate::persist::sim::Sim;
    use crate::{MemPool, O_CF, PCell, PoolOptions};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    crate::pool!(r1_pool);
    type P = r1_pool::BuddyAlloc;

    /// R1: a redo commit leaves its truncation unflushed; when the thread's next
    /// transaction runs on another lane (its own is busy), that transaction's first
    /// fence makes the old truncation durable, so no stale committed log survives it.
    #[test]
    fn a_truncation_left_on_another_lane_is_durable_at_the_next_fence() {
        let dir = tempfile::tempdir().unwrap();
        let sim = Sim::new();
        let root = PoolOptions::new()
            .size(1 << 20)
            .journals(2, 4096)
            .simulate(&sim)
            .open::<P, PCell<u64, P>>(dir.path().join("r1.pool"), O_CF)
            .unwrap();
        P::transaction(|j| root.set(1, j)).unwrap();
        let slot = std::ptr::from_ref(P::__slot()) as usize;
        let pool = P::__slot().raw().unwrap();
        let (instance, base) = (pool.raw.instance(), pool.raw.base() as usize);
        drop(pool);
        let first = super::take(slot, instance).expect("the redo commit left its truncation");
        super::put(slot, instance, first);
        let off = first - base;
        let word = |image: &[u8]| u64::from_le_bytes(image[off..off + 8].try_into().unwrap());
        assert_ne!(word(&sim.image().unwrap()), 0, "not yet durable");

        // Another thread holds the lane of the first transaction for a while.
        let inside = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&inside);
        let holder = std::thread::spawn(move || {
            flag.store(true, Ordering::Release);
            P::transaction(|_| std::thread::sleep(Duration::from_millis(400))).unwrap();
        });
        while !inside.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(100));
        P::transaction(|j| root.set(2, j)).unwrap();
        holder.join().unwrap();
        let pool = P::__slot().raw().unwrap();
        let second = super::take(slot, pool.raw.instance()).expect("a redo commit again");
        drop(pool);
        assert_ne!(
            second, first,
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
