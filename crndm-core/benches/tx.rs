//! Transactions: an empty transaction, a transaction logging and storing an 8 B, 1 KiB
//! and 4 KiB update, and a transaction allocating and freeing a `Pbox` of 8 B, 256 B
//! and 4 KiB, on an `Emulated` pool in /dev/shm (or the temp dir).
//!
//! `cargo bench -p crndm --bench tx [-- --quick]`
//!
//! Before timing, it prints how many cache-line flushes and fences each operation costs
//! (DESIGN §10: the cost model counts them), measured with [`PersistCounters`] over a loop
//! of the same operation the timing runs; those counts do not depend on the machine.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use crndm::default::*;
use crndm::{PSafe, PersistCounters};

/// Operations per measurement in the flush/fence count.
const COUNT_OPS: u64 = 10_000;

/// `N` bytes of plain data (arrays longer than 32 have no `Default`).
#[derive(Clone, Copy, crndm::RootLayout)]
struct Bytes<const N: usize>([u8; N]);

impl<const N: usize> Default for Bytes<N> {
    fn default() -> Self {
        Bytes([0; N])
    }
}

/// The bench pool's root: one cell per logged-update size.
#[derive(Root)]
struct TxRoot {
    word: PCell<u64>,
    kib: PRefCell<Bytes<1024>>,
    page: PRefCell<Bytes<4096>>,
}

/// Emulated pmem when the machine has it, like the DESIGN §10 measurements.
fn pool_dir() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    let writable =
        shm.is_dir() && std::fs::metadata(&shm).is_ok_and(|m| !m.permissions().readonly());
    if writable { shm } else { std::env::temp_dir() }
}

/// Runs `op` [`COUNT_OPS`] times and prints its flushes and fences per operation.
fn print_cost(name: &str, mut op: impl FnMut()) {
    op(); // warm up: first-use costs (lane claim, log pages) are not per operation
    let start = PersistCounters::current();
    for _ in 0..COUNT_OPS {
        op();
    }
    let c = PersistCounters::current().since(start);
    let per = |n: u64| n as f64 / COUNT_OPS as f64;
    eprintln!(
        "  {name:<28} {:>6.2} flushes  {:>6.2} fences",
        per(c.flushes),
        per(c.fences)
    );
}

fn tx_empty() {
    BuddyAlloc::transaction(|_| ()).expect("empty transaction");
}

fn tx_update_8(root: &TxRoot, v: u64) {
    BuddyAlloc::transaction(|j| root.word.set(v, j)).expect("8 B update");
}

fn tx_update_1k(root: &TxRoot, v: u8) {
    BuddyAlloc::transaction(|j| root.kib.borrow_mut(j).0.fill(v)).expect("1 KiB update");
}

fn tx_update_4k(root: &TxRoot, v: u8) {
    BuddyAlloc::transaction(|j| root.page.borrow_mut(j).0.fill(v)).expect("4 KiB update");
}

fn tx_alloc_free<T: Default + PSafe>() {
    BuddyAlloc::transaction(|j| drop(black_box(Pbox::new(T::default(), j)))).expect("alloc+free");
}

fn transactions(c: &mut Criterion) {
    let dir = tempfile::Builder::new()
        .prefix("crndm-bench-")
        .tempdir_in(pool_dir())
        .expect("create a bench directory");
    let root = PoolOptions::new()
        .size(64 << 20)
        .mode(Mode::Emulated)
        .open::<BuddyAlloc, TxRoot>(dir.path().join("tx.pool"), O_CF)
        .expect("open the bench pool");

    eprintln!(
        "persistence cost per operation ({COUNT_OPS} each; pool {}, mode {}, {}):",
        dir.path().display(),
        BuddyAlloc::mode().expect("pool open"),
        crndm::FlushInstr::detect().name()
    );
    print_cost("tx/empty", tx_empty);
    print_cost("tx/update/8", || tx_update_8(&root, 1));
    print_cost("tx/update/1024", || tx_update_1k(&root, 1));
    print_cost("tx/update/4096", || tx_update_4k(&root, 1));
    print_cost("tx/pbox_alloc_free/8", tx_alloc_free::<u64>);
    print_cost("tx/pbox_alloc_free/256", tx_alloc_free::<Bytes<256>>);
    print_cost("tx/pbox_alloc_free/4096", tx_alloc_free::<Bytes<4096>>);

    c.bench_function("tx/empty", |b| b.iter(tx_empty));

    let mut group = c.benchmark_group("tx/update");
    let mut v = 0u64;
    group.bench_function(BenchmarkId::from_parameter(8), |b| {
        b.iter(|| {
            v = v.wrapping_add(1);
            tx_update_8(&root, black_box(v));
        });
    });
    group.bench_function(BenchmarkId::from_parameter(1024), |b| {
        b.iter(|| tx_update_1k(&root, black_box(7)));
    });
    group.bench_function(BenchmarkId::from_parameter(4096), |b| {
        b.iter(|| tx_update_4k(&root, black_box(7)));
    });
    group.finish();

    let mut group = c.benchmark_group("tx/pbox_alloc_free");
    group.bench_function(BenchmarkId::from_parameter(8), |b| {
        b.iter(tx_alloc_free::<u64>);
    });
    group.bench_function(BenchmarkId::from_parameter(256), |b| {
        b.iter(tx_alloc_free::<Bytes<256>>);
    });
    group.bench_function(BenchmarkId::from_parameter(4096), |b| {
        b.iter(tx_alloc_free::<Bytes<4096>>);
    });
    group.finish();
}

criterion_group!(benches, transactions);
criterion_main!(benches);
