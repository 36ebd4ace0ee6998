//! Shared pointers and dereference: `Prc` and `Parc` `pclone`, `downgrade`, `upgrade`,
//! `demote` and `promote`, and the read path (`Deref` of `Pbox`/`Prc`/`Parc`,
//! `PCell::get`, `PRefCell::borrow`), on an `Emulated` pool in /dev/shm (or the temp dir).
//!
//! `cargo bench -p crndm --bench rc [-- --quick]`
//!
//! Each count-changing operation needs a transaction, so each timed iteration is one
//! transaction doing the operation and dropping its result (which undoes the count
//! change); compare with `tx/empty` of the `tx` bench for the transaction's own share.
//! `demote` and the derefs need none and are timed bare.
//!
//! Before timing, it prints the flushes and fences of each iteration, measured with
//! [`PersistCounters`] over a loop (DESIGN §10).

use std::hint::black_box;
use std::panic::UnwindSafe;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use crndm::default::*;
use crndm::{PersistCounters, TxInSafe};

/// Iterations per measurement in the flush/fence count.
const COUNT_OPS: u64 = 10_000;

type RcWeak = crndm::prc::PWeak<u64, BuddyAlloc>;
type ArcWeak = crndm::sync::PWeak<u64, BuddyAlloc>;

/// The bench pool's root: one shared object of each kind, their persistent weak
/// pointers, and a boxed and two celled values to read.
#[derive(Root)]
struct RcRoot {
    rc: Prc<u64>,
    arc: Parc<u64>,
    rc_weak: PRefCell<Option<RcWeak>>,
    arc_weak: PRefCell<Option<ArcWeak>>,
    boxed: Pbox<u64>,
    cell: PCell<u64>,
    refcell: PRefCell<u64>,
}

/// Emulated pmem when the machine has it, like the DESIGN §10 measurements.
fn pool_dir() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    let writable =
        shm.is_dir() && std::fs::metadata(&shm).is_ok_and(|m| !m.permissions().readonly());
    if writable { shm } else { std::env::temp_dir() }
}

/// Runs `op` [`COUNT_OPS`] times and prints its flushes and fences per iteration.
fn print_cost(name: &str, mut op: impl FnMut()) {
    op(); // warm up
    let start = PersistCounters::current();
    for _ in 0..COUNT_OPS {
        op();
    }
    let c = PersistCounters::current().since(start);
    let per = |n: u64| n as f64 / COUNT_OPS as f64;
    eprintln!(
        "  {name:<24} {:>6.2} flushes  {:>6.2} fences",
        per(c.flushes),
        per(c.fences)
    );
}

/// What the operations act on: the root and volatile weak pointers to its shared objects.
struct Ctx {
    root: RootCell<RcRoot>,
    rc_v: crndm::prc::VWeak<u64, BuddyAlloc>,
    arc_v: crndm::sync::VWeak<u64, BuddyAlloc>,
}

/// One transaction running `body`.
fn tx(body: impl FnOnce(&Journal) + TxInSafe + UnwindSafe) {
    BuddyAlloc::transaction(body).expect("bench transaction");
}

/// A named operation.
type Op = (&'static str, fn(&Ctx));

/// The operations measured, by name.
const OPS: [Op; 10] = [
    ("prc/pclone", |c| {
        tx(|j| drop(black_box(c.root.rc.pclone(j))))
    }),
    ("prc/downgrade", |c| {
        tx(|j| drop(black_box(Prc::downgrade(&c.root.rc, j))));
    }),
    ("prc/upgrade", |c| {
        tx(|j| {
            let weak = c.root.rc_weak.borrow();
            drop(black_box(weak.as_ref().expect("set up").upgrade(j)));
        });
    }),
    ("prc/demote", |c| {
        black_box(Prc::demote(black_box(&c.root.rc)));
    }),
    ("prc/promote", |c| {
        tx(|j| drop(black_box(c.rc_v.promote(j))))
    }),
    ("parc/pclone", |c| {
        tx(|j| drop(black_box(c.root.arc.pclone(j))))
    }),
    ("parc/downgrade", |c| {
        tx(|j| drop(black_box(Parc::downgrade(&c.root.arc, j))));
    }),
    ("parc/upgrade", |c| {
        tx(|j| {
            let weak = c.root.arc_weak.borrow();
            drop(black_box(weak.as_ref().expect("set up").upgrade(j)));
        });
    }),
    ("parc/demote", |c| {
        black_box(Parc::demote(black_box(&c.root.arc)));
    }),
    ("parc/promote", |c| {
        tx(|j| drop(black_box(c.arc_v.promote(j))))
    }),
];

fn shared_pointers(c: &mut Criterion) {
    let dir = tempfile::Builder::new()
        .prefix("crndm-bench-")
        .tempdir_in(pool_dir())
        .expect("create a bench directory");
    let root = PoolOptions::new()
        .size(64 << 20)
        .mode(Mode::Emulated)
        .open::<BuddyAlloc, RcRoot>(dir.path().join("rc.pool"), O_CF)
        .expect("open the bench pool");
    BuddyAlloc::transaction(|j| {
        *root.rc_weak.borrow_mut(j) = Some(Prc::downgrade(&root.rc, j));
        *root.arc_weak.borrow_mut(j) = Some(Parc::downgrade(&root.arc, j));
    })
    .expect("set up the weak pointers");

    let ctx = Ctx {
        rc_v: Prc::demote(&root.rc),
        arc_v: Parc::demote(&root.arc),
        root,
    };
    eprintln!(
        "persistence cost per iteration ({COUNT_OPS} each; pool {}, mode {}, {}):",
        dir.path().display(),
        BuddyAlloc::mode().expect("pool open"),
        crndm::FlushInstr::detect().name()
    );
    for (name, op) in OPS {
        print_cost(name, || op(&ctx));
    }
    for (name, op) in OPS {
        c.bench_function(name, |b| b.iter(|| op(&ctx)));
    }

    let r: &RcRoot = &ctx.root;
    c.bench_function("deref/pbox", |b| b.iter(|| **black_box(&r.boxed)));
    c.bench_function("deref/prc", |b| b.iter(|| **black_box(&r.rc)));
    c.bench_function("deref/parc", |b| b.iter(|| **black_box(&r.arc)));
    c.bench_function("deref/pcell_get", |b| b.iter(|| black_box(&r.cell).get()));
    c.bench_function("deref/prefcell_borrow", |b| {
        b.iter(|| *black_box(&r.refcell).borrow());
    });
}

criterion_group!(benches, shared_pointers);
criterion_main!(benches);
