//! Helpers shared by the `collections_*` tests: a deterministic generator, heap
//! accounting, and the SIGKILL harness that every collection's process test runs.

use std::path::Path;
use std::time::Duration;

use crndm::MemPool;
pub(crate) use crndm_tests::run_cases;
use crndm_tests::{CHILD_POOL_ENV, ChildGuard, retry_locked};
use proptest::prelude::*;

/// Environment variable with the seed of a child's operation sequence.
pub(crate) const CHILD_SEED_ENV: &str = "CRNDM_TEST_COLLECTIONS_SEED";

/// xorshift64*: deterministic, so a child and its parent derive the same operations.
#[derive(Clone, Debug)]
pub(crate) struct OpRng(u64);

impl OpRng {
    pub(crate) fn new(seed: u64) -> OpRng {
        OpRng(seed | 1)
    }

    /// The generator for operation `i` of the sequence `seed`.
    pub(crate) fn for_op(seed: u64, i: u64) -> OpRng {
        let mut r = OpRng::new(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.next();
        r.next();
        r
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value below `n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A change of a collection `C` in a transaction of `P`, for tables of test cases.
pub(crate) type Change<C, P> = fn(&mut C, &crndm::Journal<P>);

/// Bytes of the heap in use.
pub(crate) fn used<P: MemPool>() -> u64 {
    P::stats().unwrap().used
}

/// Asserts that the allocator is consistent and that the heap holds exactly `base`
/// bytes: nothing leaked, nothing freed twice.
#[track_caller]
pub(crate) fn assert_heap<P: MemPool>(base: u64, what: &str) {
    assert_eq!(
        P::check().unwrap(),
        Vec::<String>::new(),
        "{what}: allocator"
    );
    assert_eq!(used::<P>(), base, "{what}: used bytes not accounted for");
}

/// The block the root object of type `R` takes.
pub(crate) fn root_block<R>() -> u64 {
    64u64.max((size_of::<R>() as u64).next_power_of_two())
}

/// Runs `rounds` rounds of: start the child test `child` (the full test path) on
/// `path` with a fresh seed, let it run for a moment, kill it with SIGKILL, then call
/// `verify(seed)`, which reopens the pool, compares it with the model and resets it.
/// Returns the number of operations the children committed in all.
pub(crate) fn sigkill_rounds(
    child: &str,
    path: &Path,
    rounds: u32,
    mut verify: impl FnMut(u64) -> u64,
) -> u64 {
    let mut total = 0;
    let mut r = OpRng::new(0x5eed_1234_abcd_ef01 ^ crndm::PHasher::hash_one(child));
    for round in 0..rounds {
        let seed = r.next();
        let seed_s = seed.to_string();
        let path_s = path.to_str().unwrap();
        let ready = path.with_extension(format!("ready{round}"));
        let mut c = ChildGuard::spawn(
            child,
            &[
                (CHILD_POOL_ENV, path_s),
                (CHILD_SEED_ENV, &seed_s),
                (crndm_tests::CHILD_READY_ENV, ready.to_str().unwrap()),
            ],
        );
        // Killed once it committed CHILD_PROGRESS operations (however slow the machine),
        // then a random moment later, so the kill lands anywhere in a transaction.
        assert!(
            crndm_tests::wait_for_file(&ready, Duration::from_secs(120)),
            "round {round}: the child reported no progress"
        );
        std::thread::sleep(Duration::from_millis(r.below(60)));
        let status = c.kill();
        assert!(
            status.code().is_none(),
            "round {round}: the child ended by itself: {status}"
        );
        total += verify(seed);
    }
    total
}

/// The pool path and seed a child was started with, or `None` when run by hand.
pub(crate) fn child_args() -> Option<(String, u64)> {
    let path = crndm_tests::child_env(CHILD_POOL_ENV)?;
    let seed = crndm_tests::child_env(CHILD_SEED_ENV)?.parse().ok()?;
    Some((path, seed))
}

/// Opens `path` with root `R`, retrying while another test's child holds a copy of
/// the lock for a moment.
pub(crate) fn open_root<P: MemPool, R: crndm::RootObj<P> + crndm::PSafe + crndm::RootLayout>(
    path: impl AsRef<Path>,
    flags: crndm::Flags,
) -> crndm::RootCell<R, P> {
    let path = path.as_ref();
    retry_locked(|| P::open::<R>(path, flags)).unwrap()
}

/// Operations a kill-test child commits before it tells its parent (so five rounds commit
/// more than 500 on any machine).
pub(crate) const CHILD_PROGRESS: u64 = 120;

/// The body of a kill-test child: forever, one transaction runs the next `1..=max_batch`
/// operations (`apply(n, batch, j)`) and stores the new operation count with `set_ops`;
/// every seventh batch aborts once on purpose (and is then retried). Never returns: the
/// parent kills the process.
pub(crate) fn run_child_batches<P, A, G, S>(
    seed: u64,
    max_batch: u64,
    get_ops: G,
    set_ops: S,
    apply: A,
) where
    P: MemPool,
    A: Fn(u64, u64, &crndm::Journal<P>) + crndm::TxRefSafe + std::panic::RefUnwindSafe,
    G: Fn() -> u64,
    S: Fn(u64, &crndm::Journal<P>) + crndm::TxRefSafe + std::panic::RefUnwindSafe,
{
    std::panic::set_hook(Box::new(|_| {}));
    let mut aborted = u64::MAX;
    let start = get_ops();
    let mut ready = crndm_tests::child_env(crndm_tests::CHILD_READY_ENV);
    loop {
        let n = get_ops();
        if n >= start + CHILD_PROGRESS
            && let Some(path) = ready.take()
        {
            std::fs::write(path, b"").unwrap();
        }
        let abort = n % 7 == 3 && aborted != n;
        aborted = if abort { n } else { aborted };
        let batch = 1 + OpRng::for_op(!seed, n).below(max_batch);
        let (apply, set_ops) = (&apply, &set_ops);
        let r = P::transaction(move |j| {
            apply(n, batch, j);
            set_ops(n + batch, j);
            assert!(!abort, "abort on purpose");
        });
        assert_eq!(r.is_err(), abort);
    }
}

/// Runs each of `ops` on the collection in `cell` in a transaction that then panics,
/// and asserts after each that the abort restored everything: `snapshot` of the
/// collection is what it was before, and the heap holds the same bytes.
#[track_caller]
pub(crate) fn assert_each_op_aborts<P, C, S>(
    cell: &crndm::PRefCell<C, P>,
    ops: &[Change<C, P>],
    snapshot: impl Fn(&C) -> S,
) where
    P: MemPool,
    C: crndm::PSafe + crndm::TxRefSafe + std::panic::RefUnwindSafe,
    S: PartialEq + std::fmt::Debug,
{
    let before = snapshot(&cell.borrow());
    let used_before = used::<P>();
    for (i, op) in ops.iter().enumerate() {
        let r = P::transaction(|j| -> () {
            op(&mut cell.borrow_mut(j), j);
            panic!("abort {i}");
        });
        assert!(r.is_err());
        assert_eq!(snapshot(&cell.borrow()), before, "op {i}");
        assert_heap::<P>(used_before, &format!("op {i}"));
    }
}

/// One proptest case of a collection against its model: runs the steps (the
/// operations of a step in one transaction, which aborts when `abort` is set) on the
/// collection in `cell` and the committed ones on `model`, checks after each step that
/// `same(collection, model, step)` holds, then empties the collection with `empty()`
/// and checks that the allocator is consistent and the heap back where it started.
pub(crate) fn check_steps<'a, P, C, M, Op>(
    cell: &crndm::PRefCell<C, P>,
    steps: impl IntoIterator<Item = (&'a [Op], bool)>,
    mut model: M,
    apply: fn(&mut C, &Op, &crndm::Journal<P>),
    apply_model: fn(&mut M, &Op),
    same: impl Fn(&C, &M, usize) -> Result<(), TestCaseError>,
    empty: fn() -> C,
) -> Result<(), TestCaseError>
where
    P: MemPool,
    C: crndm::PSafe + crndm::TxRefSafe + std::panic::RefUnwindSafe,
    Op: std::fmt::Debug + std::panic::RefUnwindSafe + crndm::TxRefSafe + 'a,
{
    let base = used::<P>();
    for (n, (ops, abort)) in steps.into_iter().enumerate() {
        let r = P::transaction(|j| {
            let mut c = cell.borrow_mut(j);
            for op in ops {
                apply(&mut c, op, j);
            }
            if abort {
                panic!("abort on purpose");
            }
        });
        prop_assert_eq!(r.is_err(), abort, "step {}: {:?}", n, r);
        if !abort {
            ops.iter().for_each(|op| apply_model(&mut model, op));
        }
        same(&cell.borrow(), &model, n)
            .map_err(|e| TestCaseError::fail(format!("step {n} {ops:?}: {e}")))?;
    }
    P::transaction(|j| *cell.borrow_mut(j) = empty()).unwrap();
    prop_assert_eq!(P::check().unwrap(), Vec::<String>::new());
    prop_assert_eq!(used::<P>(), base, "leaked blocks");
    Ok(())
}

/// The root of a kill test's pool.
pub(crate) trait KillTestRoot<P: MemPool>:
    crndm::RootObj<P> + crndm::PSafe + crndm::RootLayout + crndm::TxRefSafe + std::panic::RefUnwindSafe
{
}

impl<P: MemPool, R> KillTestRoot<P> for R where
    R: crndm::RootObj<P>
        + crndm::PSafe
        + crndm::RootLayout
        + crndm::TxRefSafe
        + std::panic::RefUnwindSafe
{
}

/// The body of a kill-test child (a test the parent starts in [`kill_test`], which
/// does nothing when run by hand): opens the pool it was given with root `R` and runs
/// [`run_child_batches`] on it, with the root's operation counter `ops`;
/// `apply(root, seed, range, j)` runs the operations `range` of the sequence `seed`.
pub(crate) fn kill_child<P, R>(
    max_batch: u64,
    ops: fn(&R) -> &crndm::PCell<u64, P>,
    apply: impl Fn(&R, u64, std::ops::Range<u64>, &crndm::Journal<P>)
    + crndm::TxRefSafe
    + std::panic::RefUnwindSafe,
) where
    P: MemPool,
    R: KillTestRoot<P>,
{
    let Some((path, seed)) = child_args() else {
        return;
    };
    let root = open_root::<P, R>(&path, 0);
    let root: &R = &root;
    run_child_batches::<P, _, _, _>(
        seed,
        max_batch,
        || ops(root).get(),
        |n, j| ops(root).set(n, j),
        |n, batch, j| apply(root, seed, n..n + batch, j),
    );
}

/// The parent of a kill test: creates a pool with root `R`, then runs `rounds`
/// [`sigkill_rounds`] of the child test `child` (its full path). After each kill it
/// reopens the pool and calls `check(root, seed, n)` with the number `n` of operations
/// the root's counter `ops` says were committed (`check` replays them on a model,
/// compares, and checks the heap), then empties the pool in one transaction (`reset`,
/// and the counter set to 0) and asserts that the heap holds only the root. Asserts that
/// the children committed more than 500 operations in all.
pub(crate) fn kill_test<P, R>(
    child: &str,
    rounds: u32,
    ops: fn(&R) -> &crndm::PCell<u64, P>,
    check: impl Fn(&R, u64, u64),
    reset: fn(&R, &crndm::Journal<P>),
) where
    P: MemPool,
    R: KillTestRoot<P>,
{
    let d = crndm_tests::shm_dir();
    let path = d.path().join("kill.pool");
    drop(open_root::<P, R>(&path, crndm::O_CF));
    let total = sigkill_rounds(child, &path, rounds, |seed| {
        let root = open_root::<P, R>(&path, 0);
        let root: &R = &root;
        let n = ops(root).get();
        check(root, seed, n);
        P::transaction(|j| {
            reset(root, j);
            ops(root).set(0, j);
        })
        .unwrap();
        assert_heap::<P>(root_block::<R>(), "after the reset");
        n
    });
    assert!(
        total > 500,
        "the children committed only {total} operations"
    );
}
