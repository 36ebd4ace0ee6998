//! Allocation and free of 8 B, 256 B and 4 KiB blocks through the raw allocator
//! (`--features internals`), on an `Emulated` pool in /dev/shm (or the temp dir).
//!
//! `cargo bench -p crndm --features internals --bench alloc [-- --quick]`
//!
//! Before timing, it prints how many cache-line flushes and fences each operation costs
//! (DESIGN §10: the cost model counts them); those counts do not depend on the machine.
//!
//! The `threads` group shows that the allocator is not one global bottleneck: 64 B
//! alloc+free pairs from 1 and from 2 threads at once, through the raw allocator (its
//! global free sets, one mutex, fences outside it) and through transactions (a `Pbox`
//! allocated and dropped in one transaction: the lane's cache serves it). Criterion reports the time per pair
//! over all threads, so with 2 threads a scalable allocator shows about half the
//! 1-thread time on a machine with 2 idle cores.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use crndm::PersistCounters;
use crndm::default::*;
use crndm::internals;

/// The block sizes measured.
const SIZES: [u64; 3] = [8, 256, 4096];
/// Operations per size in the flush/fence count.
const COUNT_OPS: u64 = 10_000;

/// Emulated pmem when the machine has it, like the DESIGN §10 measurements.
fn pool_dir() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    let writable =
        shm.is_dir() && std::fs::metadata(&shm).is_ok_and(|m| !m.permissions().readonly());
    if writable { shm } else { std::env::temp_dir() }
}

fn alloc_or_die(size: u64) -> u64 {
    internals::alloc::<BuddyAlloc>(size).expect("the bench pool has room")
}

fn free_or_die(off: u64, size: u64) {
    // SAFETY: (1) `off` came from `alloc_or_die(size)` and nothing uses the block after.
    unsafe { internals::free::<BuddyAlloc>(off, size) }.expect("a block this bench allocated");
}

/// Prints the flushes and fences of the alloc, the free and the pair, per pair, for every
/// size, over the same alloc-then-free loop the timing runs.
fn print_persist_costs(dir: &std::path::Path) {
    eprintln!(
        "persistence cost per operation ({} alloc+free pairs each; pool {}, mode {}, {}):",
        COUNT_OPS,
        dir.display(),
        BuddyAlloc::mode().expect("pool open"),
        crndm::FlushInstr::detect().name()
    );
    eprintln!(
        "  {:>6}  {:>16}  {:>16}  {:>16}",
        "size", "alloc fl/fe", "free fl/fe", "alloc+free fl/fe"
    );
    for size in SIZES {
        let (mut allocs, mut frees) = (PersistCounters::default(), PersistCounters::default());
        for _ in 0..COUNT_OPS {
            let start = PersistCounters::current();
            let off = alloc_or_die(size);
            let mid = PersistCounters::current();
            free_or_die(off, size);
            let end = PersistCounters::current();
            let (a, f) = (mid.since(start), end.since(mid));
            allocs.flushes += a.flushes;
            allocs.fences += a.fences;
            frees.flushes += f.flushes;
            frees.fences += f.fences;
        }
        let per = |n: u64| n as f64 / COUNT_OPS as f64;
        eprintln!(
            "  {:>4} B  {:>7.2} / {:<6.2}  {:>7.2} / {:<6.2}  {:>7.2} / {:<6.2}",
            size,
            per(allocs.flushes),
            per(allocs.fences),
            per(frees.flushes),
            per(frees.fences),
            per(allocs.flushes + frees.flushes),
            per(allocs.fences + frees.fences),
        );
    }
    assert_eq!(
        BuddyAlloc::stats().expect("pool open").used,
        0,
        "every block was freed"
    );
}

/// A fresh 64 MiB `Emulated` pool `name` in a new directory under [`pool_dir`].
fn bench_pool(name: &str) -> (tempfile::TempDir, PoolGuard<BuddyAlloc>) {
    let dir = tempfile::Builder::new()
        .prefix("crndm-bench-")
        .tempdir_in(pool_dir())
        .expect("create a bench directory");
    let pool = PoolOptions::new()
        .size(64 << 20)
        .mode(Mode::Emulated)
        .open_no_root::<BuddyAlloc>(dir.path().join(format!("{name}.pool")), O_CF)
        .expect("open the bench pool");
    (dir, pool)
}

fn alloc_free(c: &mut Criterion) {
    let (dir, _pool) = bench_pool("alloc");

    print_persist_costs(dir.path());

    let mut group = c.benchmark_group("alloc+free");
    for size in SIZES {
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            b.iter(|| free_or_die(black_box(alloc_or_die(black_box(size))), size));
        });
    }
    group.finish();
}

/// One slot per thread for the transactional pairs.
/// One thread's share of the `threads` group: `n` pairs, through transactions if `tx`.
fn pairs(n: u64, tx: bool) {
    for _ in 0..n {
        if tx {
            BuddyAlloc::transaction(|j| drop(black_box(Pbox::new([0u8; 64], j)))).expect("tx");
        } else {
            free_or_die(black_box(alloc_or_die(64)), 64);
        }
    }
}

fn threads(c: &mut Criterion) {
    let (_dir, _pool) = bench_pool("threads");
    let mut group = c.benchmark_group("threads");
    for (name, tx) in [("raw", false), ("tx", true)] {
        for n_threads in [1u64, 2] {
            let id = BenchmarkId::new(name, n_threads);
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let per = iters.div_ceil(n_threads);
                    let start = std::time::Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..n_threads {
                            s.spawn(move || pairs(per, tx));
                        }
                    });
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per * n_threads) as f64)
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, alloc_free, threads);
criterion_main!(benches);
