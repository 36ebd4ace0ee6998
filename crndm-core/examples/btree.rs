//! Workload: a persistent B-tree map. Inserts `N` pseudo-random keys into a
//! [`PBTreeMap`], one transaction per insert, looks every key up, then removes them all,
//! one transaction per removal, and prints the throughput and the cache-line flushes and
//! fences per operation of each phase.
//!
//! ```text
//! cargo run --release -p crndm --example btree -- [N] [--dir DIR]
//! ```
//!
//! `N` defaults to 100 000; the pool is a fresh file in `DIR` (default `/dev/shm`, emulated
//! pmem; set `CRNDM_FORCE_PMEM=1` to flush as on pmem on any file system). Each phase
//! prints one line:
//!
//! ```text
//! RESULT btree_insert <ns per op> <flushes per op> <fences per op> <ops per second>
//! ```
//!
//! and likewise `btree_lookup` and `btree_remove`. The keys are the splitmix64 sequence
//! from seed 42, as in the libpmemobj twin `bench/compare-pmdk/pmdk_bench.c` (a B-tree
//! of the same order: up to 11 keys a node), which removes them in the same order. One
//! thread only: a tree behind one lock would not scale.

use std::time::Instant;

use crndm::PersistCounters;

mod workload;
use crndm::default::*;
use workload::{report_since, splitmix64};

/// The pool's root: the map.
#[derive(Root)]
struct Store {
    map: PRefCell<PBTreeMap<u64, u64>>,
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let workload::Args { n, dir, .. } = workload::args("btree", false)?;
    let store = PoolOptions::new()
        .size(256 << 20)
        .open::<BuddyAlloc, Store>(dir.path().join("btree.pool"), O_CF)?;
    eprintln!("btree: {n} keys, mode {}", BuddyAlloc::mode()?);

    let mut seed = 42;
    let (counters, start) = (PersistCounters::current(), Instant::now());
    for _ in 0..n {
        let key = splitmix64(&mut seed);
        BuddyAlloc::transaction(|j| store.map.borrow_mut(j).insert(key, key, j))?;
    }
    report_since("btree_insert", n, start, counters);

    let mut seed = 42;
    let mut found = 0;
    let (counters, start) = (PersistCounters::current(), Instant::now());
    {
        let map = store.map.borrow();
        for _ in 0..n {
            let key = splitmix64(&mut seed);
            found += u64::from(map.get(&key) == Some(&key));
        }
    }
    report_since("btree_lookup", n, start, counters);
    assert_eq!(found, n, "every inserted key is found");

    let mut seed = 42;
    let (counters, start) = (PersistCounters::current(), Instant::now());
    for _ in 0..n {
        let key = splitmix64(&mut seed);
        let removed = BuddyAlloc::transaction(|j| store.map.borrow_mut(j).remove(&key, j))?;
        assert_eq!(removed, Some(key));
    }
    report_since("btree_remove", n, start, counters);
    assert!(store.map.borrow().is_empty(), "every key was removed");
    Ok(())
}
