//! Workload: a persistent key-value store, a fixed-size hash table of `Pbox` chains.
//! Puts `N` pseudo-random keys with 16-byte values, one transaction per put, then gets
//! them all, and prints the throughput and the cache-line flushes and fences per
//! operation of each phase.
//!
//! ```text
//! cargo run --release -p crndm --example kvstore -- [N] [--threads T] [--dir DIR]
//! ```
//!
//! `N` defaults to 100 000; the pool is a fresh file in `DIR` (default `/dev/shm`,
//! emulated pmem; set `CRNDM_FORCE_PMEM=1` to flush as on pmem on any file system).
//! Each phase prints one line:
//!
//! ```text
//! RESULT kv_put <ns per op> <flushes per op> <fences per op> <ops per second>
//! ```
//!
//! With one thread (the default) the table is a root of [`PRefCell`] buckets, like the
//! libpmemobj twin in `bench/compare-pmdk/pmdk_bench.c` (same keys, same bucket count).
//! With `--threads T` (T ≥ 2) the table is a [`Parc`] of [`PMutex`] buckets; each thread
//! gets a [`VWeak`](crndm::sync::VWeak) and promotes it in each transaction, then locks
//! one bucket; the lines are then `kv_put_mt` and `kv_get_mt`, with the time per
//! operation across all threads (wall time ÷ total operations) and the counts of the
//! main thread's share.

use std::time::Instant;

use crndm::PersistCounters;

mod workload;
use crndm::default::*;
use workload::{on_threads, report, report_since, splitmix64};

/// Buckets in the table (a power of two; the C side uses the same).
const BUCKETS: usize = 1 << 16;

/// A 16-byte value.
type Value = [u8; 16];

/// A bucket of the one-thread table: the head of its chain.
type Link = PRefCell<Option<Pbox<Entry>>>;

/// An entry of the one-thread table. As on the C side, only the value and the bucket
/// heads change after an entry is linked: `next` is set once, when the entry is made.
#[derive(crndm::RootLayout)]
struct Entry {
    key: u64,
    value: PCell<Value>,
    next: Option<Pbox<Entry>>,
}

// One 64-byte block per entry, as the C side's 40-byte `struct entry` (its `TOID` is 16
// bytes, our `Option<Pbox>` 8); a bucket is 16 bytes, as the C side's `TOID`.
const _: () = assert!(size_of::<Entry>() == 32);
const _: () = assert!(size_of::<Link>() == 16);

/// The one-thread table: the pool's root.
#[derive(crndm::RootLayout)]
struct Table {
    buckets: [Link; BUCKETS],
}

impl Default for Table {
    fn default() -> Self {
        Table {
            buckets: std::array::from_fn(|_| PRefCell::new(None)),
        }
    }
}

/// An entry of the shared table: plain fields, changed only under the bucket's lock.
#[derive(crndm::RootLayout, crndm::PSend)]
struct SharedEntry {
    key: u64,
    value: Value,
    next: Option<Pbox<SharedEntry>>,
}

/// The shared table: every bucket behind its own lock.
#[derive(crndm::RootLayout, crndm::PSend)]
struct SharedTable {
    buckets: [PMutex<Option<Pbox<SharedEntry>>>; BUCKETS],
}

impl Default for SharedTable {
    fn default() -> Self {
        SharedTable {
            buckets: std::array::from_fn(|_| PMutex::new(None)),
        }
    }
}

/// The bucket of `key`.
fn bucket_of(key: u64) -> usize {
    // Truncation intended: the low bits pick the bucket (the C side does `key % BUCKETS`).
    (key % BUCKETS as u64) as usize
}

/// The value put for `key` in the `i`-th put: `i` and the key, little-endian.
fn value_for(key: u64, i: u64) -> Value {
    let mut v = [0; 16];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v[8..].copy_from_slice(&key.to_le_bytes());
    v
}

/// The entry of `key` in the chain of `bucket` (every entry reference stays borrowed
/// from the bucket's guard), applied to `f`.
fn with_entry<R>(bucket: &Link, key: u64, f: impl FnOnce(Option<&Entry>) -> R) -> R {
    let head = bucket.borrow();
    // One `Pbox` dereference per entry (as the C side's `D_RO`), not one per field.
    let mut cur = head.as_deref();
    while let Some(e) = cur {
        if e.key == key {
            return f(Some(e));
        }
        cur = e.next.as_deref();
    }
    f(None)
}

/// Puts `key → value` in transaction `j`: overwrites the value if the key is there,
/// else links a new entry at the head of the bucket.
fn put(table: &Table, key: u64, value: Value, j: &Journal) {
    let bucket = &table.buckets[bucket_of(key)];
    let found = with_entry(bucket, key, |e| e.map(|e| e.value.set(value, j)).is_some());
    if !found {
        // Allocate first, then log the bucket head (as the C twin does): the allocation's
        // record shares the head's log fence, and the fresh entry needs no logging.
        let mut entry = Pbox::new(
            Entry {
                key,
                value: PCell::new(value),
                next: None,
            },
            j,
        );
        let mut head = bucket.borrow_mut(j);
        entry.get_mut(j).next = head.take();
        *head = Some(entry);
    }
}

/// The value of `key` (no transaction needed to read).
fn get(table: &Table, key: u64) -> Option<Value> {
    with_entry(&table.buckets[bucket_of(key)], key, |e| {
        e.map(|e| e.value.get())
    })
}

/// Puts `key → value` in the shared table, in transaction `j`, under the bucket's lock.
fn put_shared(table: &SharedTable, key: u64, value: Value, j: &Journal) {
    let mut head = table.buckets[bucket_of(key)].lock(j);
    let mut cur = &*head;
    while let Some(e) = cur {
        if e.key == key {
            break;
        }
        cur = &e.next;
    }
    if cur.is_none() {
        let next = head.take();
        *head = Some(Pbox::new(SharedEntry { key, value, next }, j));
        return;
    }
    // Found: walk again, mutably (each `get_mut` logs the entry it passes).
    let mut cur = &mut *head;
    while let Some(e) = cur {
        let e = e.get_mut(j);
        if e.key == key {
            e.value = value;
            return;
        }
        cur = &mut e.next;
    }
}

/// The value of `key` in the shared table, read in transaction `j` under the bucket's
/// lock.
fn get_shared(table: &SharedTable, key: u64, j: &Journal) -> Option<Value> {
    let head = table.buckets[bucket_of(key)].lock(j);
    let mut cur = &*head;
    while let Some(e) = cur {
        if e.key == key {
            return Some(e.value);
        }
        cur = &e.next;
    }
    None
}

/// One thread: put `n` keys, then get them.
fn single(dir: &std::path::Path, n: u64) -> Result<()> {
    let table = PoolOptions::new()
        .size(512 << 20)
        .open::<BuddyAlloc, Table>(dir.join("kv.pool"), O_CF)?;
    eprintln!("kvstore: {n} keys, 1 thread, mode {}", BuddyAlloc::mode()?);

    let mut seed = 42;
    let (counters, start) = (PersistCounters::current(), Instant::now());
    for i in 0..n {
        let key = splitmix64(&mut seed);
        BuddyAlloc::transaction(|j| put(&table, key, value_for(key, i), j))?;
    }
    report_since("kv_put", n, start, counters);

    let mut seed = 42;
    let mut found = 0;
    let (counters, start) = (PersistCounters::current(), Instant::now());
    for i in 0..n {
        let key = splitmix64(&mut seed);
        found += u64::from(get(&table, key) == Some(value_for(key, i)));
    }
    report_since("kv_get", n, start, counters);
    assert_eq!(found, n, "every key reads back its value");
    Ok(())
}

/// `threads` threads: each puts `n / threads` keys of its own, then gets them.
fn shared(dir: &std::path::Path, n: u64, threads: u64) -> Result<()> {
    let root = PoolOptions::new()
        .size(512 << 20)
        .open::<BuddyAlloc, Parc<SharedTable>>(dir.join("kv-mt.pool"), O_CF)?;
    eprintln!(
        "kvstore: {n} keys, {threads} threads, mode {}",
        BuddyAlloc::mode()?
    );
    let table = Parc::demote(&root);
    let per = n / threads;
    for phase in ["kv_put_mt", "kv_get_mt"] {
        let start = Instant::now();
        let workers = (0..threads).map(|t| (t, table.clone()));
        let counts = on_threads(workers, |(t, table)| -> Result<PersistCounters> {
            let counters = PersistCounters::current();
            let mut seed = 1000 + t;
            for i in 0..per {
                let key = splitmix64(&mut seed);
                let value = value_for(key, i);
                let table = &table;
                if phase == "kv_put_mt" {
                    BuddyAlloc::transaction(|j| {
                        let t = table.promote(j).expect("the root lives");
                        put_shared(&t, key, value, j);
                    })?;
                } else {
                    let got = BuddyAlloc::transaction(|j| {
                        let t = table.promote(j).expect("the root lives");
                        get_shared(&t, key, j)
                    })?;
                    assert_eq!(got, Some(value), "a key reads back its value");
                }
            }
            Ok(PersistCounters::current().since(counters))
        })?;
        let secs = start.elapsed().as_secs_f64();
        report(phase, per * threads, secs, counts[0], per);
    }
    Ok(())
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let workload::Args { n, threads, dir } = workload::args("kvstore", true)?;
    if threads == 1 {
        single(dir.path(), n)?;
    } else {
        shared(dir.path(), n, threads)?;
    }
    Ok(())
}
