//! Workload: a persistent singly linked list used as a stack. Pushes `N` values, one
//! transaction per push, then pops them all, one transaction per pop, and prints the
//! throughput and the cache-line flushes and fences per operation of each phase.
//!
//! ```text
//! cargo run --release -p crndm --example list -- [N] [--threads T] [--dir DIR]
//! ```
//!
//! `N` defaults to 100 000; the pool is a fresh file in `DIR` (default `/dev/shm`,
//! emulated pmem; set `CRNDM_FORCE_PMEM=1` to flush as on pmem on any file system).
//! Each phase prints one line:
//!
//! ```text
//! RESULT list_push <ns per op> <flushes per op> <fences per op> <ops per second>
//! ```
//!
//! With one thread (the default) the head is a [`PRefCell`] in the root, like the
//! libpmemobj twin in `bench/compare-pmdk/pmdk_bench.c`. With `--threads T` (T ≥ 2) the
//! list is a [`Parc`] of a [`PMutex`]-guarded head; each thread promotes a
//! [`VWeak`](crndm::sync::VWeak) in each transaction and pushes (then pops) `N / T`
//! values; the lines are `list_push_mt` and `list_pop_mt`, with the wall time per
//! operation across all threads and the counts of the first thread's share.

use std::time::Instant;

use crndm::PersistCounters;

mod workload;
use crndm::default::*;
use workload::{on_threads, report, report_since};

/// The one-thread list: the pool's root.
#[derive(Root)]
struct List {
    head: PRefCell<Option<Pbox<Node>>>,
}

/// A node of the one-thread list.
#[derive(crndm::RootLayout)]
struct Node {
    value: u64,
    next: PRefCell<Option<Pbox<Node>>>,
}

/// A node of the shared list: plain fields, changed only under the head's lock.
#[derive(crndm::RootLayout, crndm::PSend)]
struct SharedNode {
    value: u64,
    next: Option<Pbox<SharedNode>>,
}

/// The shared list's head.
type SharedHead = PMutex<Option<Pbox<SharedNode>>>;

/// One thread: push `n` values, then pop them.
fn single(dir: &std::path::Path, n: u64) -> Result<()> {
    let list = PoolOptions::new()
        .size(256 << 20)
        .open::<BuddyAlloc, List>(dir.join("list.pool"), O_CF)?;
    eprintln!("list: {n} values, 1 thread, mode {}", BuddyAlloc::mode()?);

    let (counters, start) = (PersistCounters::current(), Instant::now());
    for value in 0..n {
        BuddyAlloc::transaction(|j| {
            // Allocate first, then log the head (as the C twin does): the allocation's
            // record shares the head's log fence, and the fresh node needs no logging.
            let mut node = Pbox::new(
                Node {
                    value,
                    next: PRefCell::new(None),
                },
                j,
            );
            let mut head = list.head.borrow_mut(j);
            node.get_mut(j).next = PRefCell::new(head.take());
            *head = Some(node);
        })?;
    }
    report_since("list_push", n, start, counters);

    let mut sum = 0;
    let (counters, start) = (PersistCounters::current(), Instant::now());
    for _ in 0..n {
        sum += BuddyAlloc::transaction(|j| {
            let mut head = list.head.borrow_mut(j);
            let top = head.take().expect("as many pops as pushes");
            let Node { value, next } = Pbox::into_inner(top, j);
            *head = next.into_inner();
            value
        })?;
    }
    report_since("list_pop", n, start, counters);
    assert_eq!(sum, n * n.saturating_sub(1) / 2, "every value popped once");
    Ok(())
}

/// `threads` threads: each pushes `n / threads` values, then pops as many.
fn shared(dir: &std::path::Path, n: u64, threads: u64) -> Result<()> {
    let root = PoolOptions::new()
        .size(256 << 20)
        .open::<BuddyAlloc, Parc<SharedHead>>(dir.join("list-mt.pool"), O_CF)?;
    eprintln!(
        "list: {n} values, {threads} threads, mode {}",
        BuddyAlloc::mode()?
    );
    let list = Parc::demote(&root);
    let per = n / threads;
    for phase in ["list_push_mt", "list_pop_mt"] {
        let start = Instant::now();
        let workers = (0..threads).map(|_| list.clone());
        let counts = on_threads(workers, |list| -> Result<(PersistCounters, u64)> {
            let counters = PersistCounters::current();
            let list = &list;
            let mut sum = 0;
            for value in 0..per {
                sum += BuddyAlloc::transaction(|j| {
                    let head = list.promote(j).expect("the root lives");
                    let mut head = head.lock(j);
                    if phase == "list_push_mt" {
                        let next = head.take();
                        *head = Some(Pbox::new(SharedNode { value, next }, j));
                        0
                    } else {
                        let top = head.take().expect("as many pops as pushes");
                        let SharedNode { value, next } = Pbox::into_inner(top, j);
                        *head = next;
                        value
                    }
                })?;
            }
            Ok((PersistCounters::current().since(counters), sum))
        })?;
        if phase == "list_pop_mt" {
            let sum: u64 = counts.iter().map(|c| c.1).sum();
            assert_eq!(
                sum,
                threads * (per * per.saturating_sub(1) / 2),
                "every value popped once"
            );
        }
        let secs = start.elapsed().as_secs_f64();
        report(phase, per * threads, secs, counts[0].0, per);
    }
    Ok(())
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let workload::Args { n, threads, dir } = workload::args("list", true)?;
    if threads == 1 {
        single(dir.path(), n)?;
    } else {
        shared(dir.path(), n, threads)?;
    }
    Ok(())
}
