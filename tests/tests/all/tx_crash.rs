//! Transactions against real process crashes: SIGKILL at random moments, and aborts at
//! chosen steps of commit and recovery (`CRNDM_CRASH_AT`, feature `internals`).

use std::path::Path;
use std::process::{Command, Stdio};

use crndm::{MemPool, O_CF, PCell, PRefCell, Pbox, Root};
use crndm_tests::retry_locked;

// Every test uses its own pool type so that tests run in parallel; its children use
// the same type, chosen by `ENV_POOL_TYPE`.
crndm::pool!(sigkill_pool);
crndm::pool!(commit_pool);
crndm::pool!(recovery_pool);
crndm::pool!(reservation_pool);

const TOTAL: i64 = 1000;
const ENV_POOL: &str = "CRNDM_TX_CRASH_POOL";
const ENV_POOL_TYPE: &str = "CRNDM_TX_CRASH_POOL_TYPE";

/// Runs `$body` with `P` bound to the pool type the parent test named.
macro_rules! with_parent_pool {
    ($body:ident) => {
        match std::env::var(ENV_POOL_TYPE).unwrap().as_str() {
            "sigkill" => $body::<sigkill_pool::BuddyAlloc>(),
            "commit" => $body::<commit_pool::BuddyAlloc>(),
            "recovery" => $body::<recovery_pool::BuddyAlloc>(),
            "reservation" => $body::<reservation_pool::BuddyAlloc>(),
            other => panic!("unknown pool type {other}"),
        }
    };
}

#[derive(Root)]
struct Bank<P: MemPool> {
    a: PCell<i64, P>,
    b: PCell<i64, P>,
    len: PCell<u64, P>,
    list: PRefCell<Option<Pbox<Node<P>, P>>, P>,
    ops: PCell<u64, P>,
}

#[derive(crndm::RootLayout)]
struct Node<P: MemPool> {
    /// Kept so nodes have content; never read.
    _value: u64,
    next: PRefCell<Option<Pbox<Node<P>, P>>, P>,
}

fn dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

/// Runs the ignored test `name` of this module in a child process with `env`, on the
/// pool file `pool` of the parent's pool type `pool_type`.
fn child(name: &str, pool_type: &str, pool: &Path, env: &[(&str, &str)]) -> Command {
    let module = module_path!().split_once("::").map_or("", |m| m.1);
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        &format!("{module}::{name}"),
        "--ignored",
        "--test-threads=1",
    ])
    .env(ENV_POOL, pool)
    .env(ENV_POOL_TYPE, pool_type)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn list_len<P: MemPool>(link: &Option<Pbox<Node<P>, P>>) -> u64 {
    match link {
        None => 0,
        Some(n) => 1 + list_len(&n.next.borrow()),
    }
}

/// Opens the pool and checks every invariant; returns the number of operations done.
fn verify<P: MemPool>(path: &Path) -> u64 {
    let bank = retry_locked(|| P::open::<Bank<P>>(path, 0)).unwrap();
    assert_eq!(
        bank.a.get() + bank.b.get(),
        TOTAL,
        "money created or destroyed"
    );
    let len = list_len(&bank.list.borrow());
    assert_eq!(len, bank.len.get(), "list length and counter disagree");
    assert_eq!(P::check().unwrap(), Vec::<String>::new());
    // No leak: the heap holds the root and the list nodes, nothing else.
    let s = P::stats().unwrap();
    let root_block = 64u64.max((size_of::<Bank<P>>() as u64).next_power_of_two());
    assert_eq!(
        s.used,
        root_block + len * 64,
        "used bytes not accounted for"
    );
    bank.ops.get()
}

fn step<P: MemPool>(bank: &Bank<P>, x: u64) {
    let r = P::transaction(|j| {
        let amount = (x % 50) as i64 - 25;
        bank.a.set(bank.a.get() - amount, j);
        bank.b.set(bank.b.get() + amount, j);
        let len = bank.len.get();
        if !x.is_multiple_of(3) || len == 0 {
            let next = bank.list.take(j);
            let node = Pbox::new(
                Node {
                    _value: x,
                    next: PRefCell::new(next),
                },
                j,
            );
            *bank.list.borrow_mut(j) = Some(node);
            bank.len.set(len + 1, j);
        } else {
            let top = bank.list.take(j).expect("len > 0");
            *bank.list.borrow_mut(j) = top.next.take(j);
            bank.len.set(len - 1, j);
        }
        bank.ops.set(bank.ops.get() + 1, j);
        if x.is_multiple_of(7) {
            panic!("abort on purpose");
        }
    });
    assert_eq!(r.is_err(), x.is_multiple_of(7));
}

#[test]
#[ignore = "child process of sigkill_during_transactions_keeps_every_invariant"]
fn bank_child() {
    with_parent_pool!(bank_child_body);
}

fn bank_child_body<P: MemPool>() {
    let path = std::env::var(ENV_POOL).unwrap();
    let bank = retry_locked(|| P::open::<Bank<P>>(&path, 0)).unwrap();
    let mut x = u64::from(std::process::id()) | 1;
    loop {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Keep the list short so the pool never fills up.
        let x = if bank.len.get() > 200 { x - x % 3 } else { x };
        step(&bank, x);
        // Progress for the parent, which kills after a number of commits, not a time.
        // (Written to the descriptor directly: the test harness captures `println!`.)
        let line = format!("ops {}\n", bank.ops.get());
        if std::io::Write::write_all(&mut std::io::stdout(), line.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn sigkill_during_transactions_keeps_every_invariant() {
    type P = sigkill_pool::BuddyAlloc;
    let d = dir();
    let path = d.path().join("bank.pool");
    {
        let bank = retry_locked(|| P::open::<Bank<P>>(&path, O_CF)).unwrap();
        P::transaction(|j| bank.a.set(TOTAL, j)).unwrap();
    }
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut last_ops = 0;
    for round in 0..15 {
        let mut c = child("bank_child", "sigkill", &path, &[])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Kill once the child has reported a seed-chosen number of commits of its own,
        // however fast or loaded the machine is.
        let target = last_ops + 70 + seed % 120;
        let mut reported = last_ops;
        let out = std::io::BufReader::new(c.stdout.take().unwrap());
        for line in std::io::BufRead::lines(out) {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("ops ") {
                reported = n.parse().unwrap();
                if reported >= target {
                    break;
                }
            }
        }
        assert!(
            reported >= target,
            "round {round}: child stopped reporting at {reported}"
        );
        c.kill().unwrap();
        let status = c.wait().unwrap();
        assert!(
            status.code().is_none(),
            "round {round}: child ended by itself: {status}"
        );
        let ops = verify::<P>(&path);
        assert!(
            ops >= reported,
            "round {round}: committed operations lost ({ops} < {reported} reported)"
        );
        last_ops = ops;
    }
    assert!(
        last_ops > 1000,
        "the children committed only {last_ops} transactions"
    );
}

#[test]
#[ignore = "child process of the CRNDM_CRASH_AT tests"]
fn pop_child() {
    with_parent_pool!(pop_child_body);
}

fn pop_child_body<P: MemPool>() {
    let path = std::env::var(ENV_POOL).unwrap();
    let bank = retry_locked(|| P::open::<Bank<P>>(&path, 0)).unwrap();
    // A transaction that frees a node: it has a COMMIT record and deferred frees.
    P::transaction(|j| {
        let top = bank.list.take(j).expect("prepared list");
        *bank.list.borrow_mut(j) = top.next.take(j);
        bank.len.set(bank.len.get() - 1, j);
    })
    .unwrap();
}

#[test]
#[ignore = "child process of the CRNDM_CRASH_AT tests"]
fn abort_child() {
    with_parent_pool!(abort_child_body);
}

fn abort_child_body<P: MemPool>() {
    let path = std::env::var(ENV_POOL).unwrap();
    let bank = retry_locked(|| P::open::<Bank<P>>(&path, 0)).unwrap();
    let _ = P::transaction(|j| {
        bank.a.set(-5, j);
        for v in 0..3 {
            let next = bank.list.take(j);
            *bank.list.borrow_mut(j) = Some(Pbox::new(
                Node {
                    _value: v,
                    next: PRefCell::new(next),
                },
                j,
            ));
        }
        // The process dies in the middle of the transaction, as in a power cut: here,
        // or (with CRNDM_CRASH_AT=commit-before-truncate) inside the commit, once the
        // nodes' used heads are durable but before the commit point.
        if std::env::var_os(crndm::internals::CRASH_AT_ENV).is_none() {
            std::process::abort();
        }
    });
    unreachable!("the commit dies at its crash point");
}

#[test]
#[ignore = "child process of the CRNDM_CRASH_AT tests"]
fn recover_child() {
    let path = std::env::var(ENV_POOL).unwrap();
    retry_locked(|| crndm::admin::recover(&path)).unwrap();
}

/// Heap bytes in use in the pool file at `path`, read without opening it.
fn used_bytes(path: &Path) -> u64 {
    retry_locked(|| crndm::admin::info(path))
        .unwrap()
        .stats
        .used
}

/// Runs the child test `name` on `pool_type`'s pool at `path` and asserts that it dies
/// (at the crash point `env` names, or by its own abort).
fn run_dying_child(name: &str, pool_type: &str, path: &Path, env: &[(&str, &str)], why: &str) {
    let status = child(name, pool_type, path, env).status().unwrap();
    assert!(!status.success(), "{why}");
}

/// Recovers the pool at `path` and returns the report; asserts that recovery is
/// idempotent: a second run finds nothing to do.
#[track_caller]
fn recover(path: &Path) -> crndm::admin::RecoveryReport {
    let report = retry_locked(|| crndm::admin::recover(path)).unwrap();
    assert_eq!(
        retry_locked(|| crndm::admin::recover(path)).unwrap(),
        crndm::admin::RecoveryReport::default(),
        "a second recovery found something to do"
    );
    report
}

fn prepared_bank<P: MemPool>(path: &Path, nodes: u64) {
    let bank = retry_locked(|| P::open::<Bank<P>>(path, O_CF)).unwrap();
    P::transaction(|j| {
        bank.a.set(TOTAL, j);
        for v in 0..nodes {
            let next = bank.list.take(j);
            *bank.list.borrow_mut(j) = Some(Pbox::new(
                Node {
                    _value: v,
                    next: PRefCell::new(next),
                },
                j,
            ));
        }
        bank.len.set(nodes, j);
    })
    .unwrap();
}

#[test]
fn a_committed_but_untruncated_journal_finishes_its_frees() {
    type P = commit_pool::BuddyAlloc;
    for point in ["commit-before-frees", "commit-before-truncate"] {
        let d = dir();
        let path = d.path().join("c.pool");
        prepared_bank::<P>(&path, 3);
        run_dying_child(
            "pop_child",
            "commit",
            &path,
            &[(crndm::internals::CRASH_AT_ENV, point)],
            &format!("{point}: the child must die at the crash point"),
        );
        let used_before = used_bytes(&path);
        let report = recover(&path);
        assert_eq!(
            (report.journals_with_logs, report.committed),
            (1, 1),
            "{point}"
        );
        assert_eq!(report.rolled_back, 0);
        let expect_freed = usize::from(point == "commit-before-frees");
        assert_eq!(report.freed_blocks, expect_freed, "{point}");
        assert_eq!(used_bytes(&path), used_before - 64 * expect_freed as u64);
        let bank = retry_locked(|| P::open::<Bank<P>>(&path, 0)).unwrap();
        assert_eq!(bank.len.get(), 2, "{point}: the committed pop is kept");
        drop(bank);
        verify::<P>(&path);
    }
}

#[test]
fn a_crash_during_recovery_is_recovered_again() {
    type P = recovery_pool::BuddyAlloc;
    let d = dir();
    let path = d.path().join("r.pool");
    prepared_bank::<P>(&path, 2);
    let used = used_bytes(&path);
    run_dying_child(
        "abort_child",
        "recovery",
        &path,
        &[(crndm::internals::CRASH_AT_ENV, "commit-before-truncate")],
        "the transaction must stop at the crash point",
    );
    run_dying_child(
        "recover_child",
        "recovery",
        &path,
        &[(crndm::internals::CRASH_AT_ENV, "recovery-before-frees")],
        "recovery must stop at the crash point",
    );
    let report = recover(&path);
    assert_eq!((report.journals_with_logs, report.rolled_back), (1, 1));
    assert_eq!(
        report.freed_blocks, 3,
        "the three nodes of the dead transaction"
    );
    assert_eq!(used_bytes(&path), used);
    let bank = retry_locked(|| P::open::<Bank<P>>(&path, 0)).unwrap();
    assert_eq!(bank.a.get(), TOTAL);
    assert_eq!(bank.len.get(), 2);
    drop(bank);
    verify::<P>(&path);
}

#[test]
fn a_transaction_killed_before_its_commit_never_marked_its_blocks_used() {
    type P = reservation_pool::BuddyAlloc;
    let d = dir();
    let path = d.path().join("k.pool");
    prepared_bank::<P>(&path, 2);
    let used = used_bytes(&path);
    run_dying_child(
        "abort_child",
        "reservation",
        &path,
        &[],
        "the transaction must die",
    );
    // The three nodes were only reserved: the map never called them used, so recovery
    // restores the undo records and has nothing to free.
    let report = recover(&path);
    assert_eq!((report.journals_with_logs, report.rolled_back), (1, 1));
    assert_eq!(report.freed_blocks, 0);
    assert_eq!(used_bytes(&path), used);
    let bank = retry_locked(|| P::open::<Bank<P>>(&path, 0)).unwrap();
    assert_eq!(bank.a.get(), TOTAL);
    drop(bank);
    verify::<P>(&path);
}
