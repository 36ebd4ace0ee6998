//! The crndm half of the micro operations `bench/compare-pmdk` times against libpmemobj
//! (not a criterion bench: one operation, a fixed count, one line out).
//!
//! ```text
//! cargo bench -p crndm --bench pmdk_ops -- OP [N] [DIR]
//! ```
//!
//! `OP` is one of `empty` (empty transaction), `update8` / `update1k` / `update4k` /
//! `update16k` / `update64k` (a transaction logging and storing 8 B / 1, 4, 16, 64 KiB),
//! `allocfree64` (one transaction allocating a 64 B `Pbox` and dropping it),
//! `alloc64+free64` (one transaction allocating a 64 B `Pbox` and linking it into the
//! root, a second one unlinking and freeing it), `free64` (that second transaction alone:
//! the boxes are allocated in batches of 32 outside the timed part). It runs `N`
//! operations (default 200 000) after a warm-up on a fresh pool in `DIR` (default
//! /dev/shm) and prints
//!
//! ```text
//! RESULT <op> <ns per op> <flushes per op> <fences per op> <streamed lines per op>
//! ```
//!
//! (streamed lines: cache lines of large log records written with non-temporal stores,
//! durable at the next fence without a flush; not counted in the flushes).
//!
//! The C twin is `bench/compare-pmdk/pmdk_bench.c`; both sides do the same stores.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crndm::PersistCounters;
use crndm::default::*;

/// `N` bytes of plain data (arrays longer than 32 have no `Default`).
#[derive(Clone, Copy, crndm::RootLayout)]
struct Bytes<const N: usize>([u8; N]);

impl<const N: usize> Default for Bytes<N> {
    fn default() -> Self {
        Bytes([0; N])
    }
}

/// How many 64 B boxes `free64` allocates (untimed) before it frees them (timed).
const FREE_BATCH: usize = 32;

/// The pool's root, like the C side's `struct root`.
#[derive(Root)]
struct OpsRoot {
    word: PCell<u64>,
    page: PRefCell<Bytes<4096>>,
    page1k: PRefCell<Bytes<1024>>,
    page16k: PRefCell<Bytes<16384>>,
    page64k: PRefCell<Bytes<65536>>,
    slot: PRefCell<Option<Pbox<Bytes<64>>>>,
    slots: [PRefCell<Option<Pbox<Bytes<64>>>>; FREE_BATCH],
}

/// One transaction that logs the whole page `p` and fills it with a byte of `i`.
fn update<const N: usize>(p: &PRefCell<Bytes<N>>, i: u64) {
    // Truncation intended: any byte value will do.
    let b = i.to_le_bytes()[0];
    BuddyAlloc::transaction(|j| p.borrow_mut(j).0.fill(b)).expect("tx");
}

/// How an operation is timed.
#[derive(Clone, Copy)]
enum Timing {
    /// Every call of the function is timed; the `u64` is the iteration number.
    Each(fn(&OpsRoot, u64)),
    /// `free64`: `FREE_BATCH` boxes are allocated (one transaction each, untimed), then
    /// freed (one transaction each, timed).
    Free64,
}

/// A named operation.
type Op = (&'static str, Timing);

/// The operations, by name.
const OPS: [Op; 9] = [
    (
        "empty",
        Timing::Each(|_, _| {
            BuddyAlloc::transaction(|_| ()).expect("tx");
        }),
    ),
    (
        "update8",
        Timing::Each(|r, i| {
            BuddyAlloc::transaction(|j| r.word.set(i, j)).expect("tx");
        }),
    ),
    ("update1k", Timing::Each(|r, i| update(&r.page1k, i))),
    ("update4k", Timing::Each(|r, i| update(&r.page, i))),
    ("update16k", Timing::Each(|r, i| update(&r.page16k, i))),
    ("update64k", Timing::Each(|r, i| update(&r.page64k, i))),
    (
        "allocfree64",
        Timing::Each(|_, _| {
            BuddyAlloc::transaction(|j| drop(black_box(Pbox::new(Bytes::<64>::default(), j))))
                .expect("tx");
        }),
    ),
    (
        "alloc64+free64",
        Timing::Each(|r, _| {
            BuddyAlloc::transaction(|j| {
                *r.slot.borrow_mut(j) = Some(Pbox::new(Bytes::<64>::default(), j));
            })
            .expect("tx");
            BuddyAlloc::transaction(|j| drop(r.slot.borrow_mut(j).take())).expect("tx");
        }),
    ),
    ("free64", Timing::Free64),
];

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; skip flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    // Without an operation (as under a plain `cargo bench`), run them all.
    let ops: Vec<&Op> = match args.first() {
        None => OPS.iter().collect(),
        Some(name) => match OPS.iter().find(|(n, _)| n == name) {
            Some(op) => vec![op],
            None => {
                let names: Vec<&str> = OPS.iter().map(|(n, _)| *n).collect();
                eprintln!(
                    "usage: pmdk_ops [OP [N] [DIR]]; OP one of {}",
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        },
    };
    let n: u64 = args
        .get(1)
        .map_or(200_000, |s| s.parse().expect("N: a count"));
    let dir = args
        .get(2)
        .map_or_else(|| PathBuf::from("/dev/shm"), PathBuf::from);
    for op in ops {
        run_op(op, n, &dir);
    }
    ExitCode::SUCCESS
}

/// Times `n` runs of `op` on a fresh pool in a temporary directory under `dir`.
fn run_op(op: &Op, n: u64, dir: &std::path::Path) {
    let dir = tempfile::Builder::new()
        .prefix("crndm-ops-")
        .tempdir_in(dir)
        .expect("create a pool directory");
    let root = PoolOptions::new()
        .size(64 << 20)
        .open::<BuddyAlloc, OpsRoot>(dir.path().join("ops.pool"), O_CF)
        .expect("open the pool");

    let (name, timing) = *op;
    let (ns, c) = match timing {
        Timing::Each(f) => {
            for i in 0..n / 10 + 1 {
                f(&root, i); // warm up
            }
            let counters = PersistCounters::current();
            let start = Instant::now();
            for i in 0..n {
                f(&root, i);
            }
            (start.elapsed(), PersistCounters::current().since(counters))
        }
        Timing::Free64 => {
            free64(&root, n / 10 + 1); // warm up
            free64(&root, n)
        }
    };
    let ns = ns.as_nanos() as f64 / n as f64;
    println!(
        "RESULT {name} {ns:.1} {:.2} {:.2} {:.2} (mode {})",
        c.flushes as f64 / n as f64,
        c.fences as f64 / n as f64,
        c.streamed as f64 / n as f64,
        BuddyAlloc::mode().expect("pool open")
    );
}

/// `n` transactions that each free one 64 B box, in batches of [`FREE_BATCH`] boxes
/// allocated beforehand (one transaction each): the time and the flushes and fences of
/// the frees alone.
fn free64(root: &OpsRoot, n: u64) -> (std::time::Duration, PersistCounters) {
    let mut time = std::time::Duration::ZERO;
    let mut spent = PersistCounters::default();
    let mut left = n;
    while left > 0 {
        let batch = left.min(FREE_BATCH as u64) as usize;
        for slot in &root.slots[..batch] {
            BuddyAlloc::transaction(|j| {
                *slot.borrow_mut(j) = Some(Pbox::new(Bytes::<64>::default(), j));
            })
            .expect("tx");
        }
        let counters = PersistCounters::current();
        let start = Instant::now();
        for slot in &root.slots[..batch] {
            BuddyAlloc::transaction(|j| drop(slot.borrow_mut(j).take())).expect("tx");
        }
        time += start.elapsed();
        let c = PersistCounters::current().since(counters);
        spent.flushes += c.flushes;
        spent.fences += c.fences;
        spent.streamed += c.streamed;
        left -= batch as u64;
    }
    (time, spent)
}
