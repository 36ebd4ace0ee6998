//! Workload: a persistent binary search tree. Inserts `N` pseudo-random keys, one
//! transaction per insert, then looks every key up, and prints the throughput and the
//! cache-line flushes and fences per operation of each phase.
//!
//! ```text
//! cargo run --release -p crndm --example bst -- [N] [--dir DIR]
//! ```
//!
//! `N` defaults to 100 000; the pool is a fresh file in `DIR` (default `/dev/shm`, emulated
//! pmem; set `CRNDM_FORCE_PMEM=1` to flush as on pmem on any file system). Each phase
//! prints one line:
//!
//! ```text
//! RESULT bst_insert <ns per op> <flushes per op> <fences per op> <ops per second>
//! ```
//!
//! The keys are the splitmix64 sequence from seed 42, as in the libpmemobj twin
//! `bench/compare-pmdk/pmdk_bench.c`, so both build the same tree. One thread only: a
//! tree behind one lock would not scale, and a concurrent tree is a collection of its
//! own.

use std::cmp::Ordering;
use std::time::Instant;

use crndm::PersistCounters;

mod workload;
use crndm::default::*;
use workload::{report_since, splitmix64};

/// A link to a subtree.
type Link = PRefCell<Option<Pbox<Node>>>;

/// The pool's root: the tree.
#[derive(Root)]
struct Tree {
    root: Link,
}

/// A tree node.
#[derive(crndm::RootLayout)]
struct Node {
    key: u64,
    value: u64,
    left: Link,
    right: Link,
}

// As the C side's `struct node` (whose `TOID`s are 16 bytes): one 64-byte block each.
const _: () = assert!(size_of::<Node>() == 48);

/// Inserts `key` in transaction `j`; `false` if it was there. Recursive, so every
/// node reference stays borrowed from a live `Ref` guard of its parent link.
fn insert(link: &Link, key: u64, j: &Journal) -> bool {
    if let Some(node) = link.borrow().as_deref() {
        return match key.cmp(&node.key) {
            Ordering::Equal => false,
            Ordering::Less => insert(&node.left, key, j),
            Ordering::Greater => insert(&node.right, key, j),
        };
    }
    let node = Node {
        key,
        value: key,
        left: PRefCell::new(None),
        right: PRefCell::new(None),
    };
    *link.borrow_mut(j) = Some(Pbox::new(node, j));
    true
}

/// The value stored under `key`, if any (no transaction needed to read).
fn lookup(link: &Link, key: u64) -> Option<u64> {
    let guard = link.borrow();
    // One `Pbox` dereference per node (as the C side's one `D_RO`), not one per field.
    let node: &Node = guard.as_deref()?;
    match key.cmp(&node.key) {
        Ordering::Equal => Some(node.value),
        Ordering::Less => lookup(&node.left, key),
        Ordering::Greater => lookup(&node.right, key),
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let workload::Args { n, dir, .. } = workload::args("bst", false)?;
    let tree = PoolOptions::new()
        .size(256 << 20)
        .open::<BuddyAlloc, Tree>(dir.path().join("bst.pool"), O_CF)?;
    eprintln!("bst: {n} keys, mode {}", BuddyAlloc::mode()?);

    let mut seed = 42;
    let (counters, start) = (PersistCounters::current(), Instant::now());
    for _ in 0..n {
        let key = splitmix64(&mut seed);
        BuddyAlloc::transaction(|j| insert(&tree.root, key, j))?;
    }
    report_since("bst_insert", n, start, counters);

    let mut seed = 42;
    let mut found = 0;
    let (counters, start) = (PersistCounters::current(), Instant::now());
    for _ in 0..n {
        found += u64::from(lookup(&tree.root, splitmix64(&mut seed)).is_some());
    }
    report_since("bst_lookup", n, start, counters);
    assert_eq!(found, n, "every inserted key is found");
    Ok(())
}
