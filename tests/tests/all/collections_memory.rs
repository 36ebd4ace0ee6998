//! Memory: 100,000 entries inserted into, then removed from, each collection give the
//! heap back (to within the few bytes of an empty hash table), with no leaked block.

use crndm::{MemPool, O_CF, PBTreeMap, PHashMap, PRefCell, PString, PVec, PoolOptions, Root};
use crndm_tests::{retry_locked, shm_dir};

use crate::collections_common::*;

crndm::pool!(memory_pool);
type P = memory_pool::BuddyAlloc;

#[derive(Root)]
struct All<P: MemPool> {
    hash: PRefCell<PHashMap<u64, u64, P>, P>,
    tree: PRefCell<PBTreeMap<u64, u64, P>, P>,
    vec: PRefCell<PVec<u64, P>, P>,
    text: PRefCell<PString<P>, P>,
}

const N: u64 = 100_000;
const BATCH: u64 = 10_000;

/// The `i`-th key: a permutation of 0..2^32, so insertion and removal orders differ.
fn key(i: u64) -> u64 {
    i.wrapping_mul(2_654_435_761) % (1 << 32)
}

#[test]
fn inserting_then_removing_100_000_entries_returns_the_memory() {
    let d = shm_dir();
    let path = d.path().join("mem.pool");
    let root = retry_locked(|| {
        PoolOptions::new()
            .size(64 << 20)
            .open::<P, All<P>>(&path, O_CF)
    })
    .unwrap();
    let base = used::<P>();
    for start in (0..N).step_by(BATCH as usize) {
        P::transaction(|j| {
            let (mut h, mut t) = (root.hash.borrow_mut(j), root.tree.borrow_mut(j));
            let (mut v, mut s) = (root.vec.borrow_mut(j), root.text.borrow_mut(j));
            for i in start..start + BATCH {
                h.insert(key(i), i, j);
                t.insert(key(i), i, j);
                v.push(i, j);
                s.push(char::from(b'a' + (i % 26) as u8), j);
            }
        })
        .unwrap();
    }
    let full = used::<P>() - base;
    assert!(
        full > 4 << 20,
        "100,000 entries in four collections: {full} bytes"
    );
    assert_eq!(root.hash.borrow().len(), N as usize);
    assert_eq!(root.tree.borrow().len(), N as usize);
    // Remove in another order than the insertion (from the back, keys permuted).
    for start in (0..N).step_by(BATCH as usize) {
        P::transaction(|j| {
            let (mut h, mut t) = (root.hash.borrow_mut(j), root.tree.borrow_mut(j));
            let (mut v, mut s) = (root.vec.borrow_mut(j), root.text.borrow_mut(j));
            for i in (start..start + BATCH).rev() {
                let k = key(N - 1 - i);
                assert_eq!(h.remove(&k, j), Some(N - 1 - i));
                assert_eq!(t.remove(&k, j), Some(N - 1 - i));
                assert!(v.pop(j).is_some());
                assert!(s.pop(j).is_some());
            }
        })
        .unwrap();
    }
    assert!(root.hash.borrow().is_empty() && root.tree.borrow().is_empty());
    // Like `Vec` and `String`, a vector and a string keep their buffer until asked.
    P::transaction(|j| {
        root.vec.borrow_mut(j).shrink_to_fit(j);
        root.text.borrow_mut(j).shrink_to_fit(j);
    })
    .unwrap();
    assert_eq!(P::check().unwrap(), Vec::<String>::new());
    let left = used::<P>() - base;
    // The hash map shrinks as it empties, down to its smallest table (8 slots of 24
    // bytes: one 256-byte block); the tree frees its last node; the rest is freed.
    assert!(left <= 4096, "{left} bytes still used of {full}");
    assert_eq!(left, 256, "exactly the smallest hash table");
    P::transaction(|j| root.hash.borrow_mut(j).shrink_to_fit(j)).unwrap();
    assert_heap::<P>(base, "everything returned");
}
