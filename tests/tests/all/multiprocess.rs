//! Pools across processes: a second process reopens what the first wrote, and the file
//! lock keeps two processes from having one pool open at once.
//!
//! The second process is this test binary running one of the `#[ignore]`d `child_*`
//! tests below, told what to do through environment variables. Run by hand with
//! `--ignored`, without those variables, the child tests return at once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crndm::MemPool;
use crndm::default::*;
use crndm_tests::*;

crndm::pool!(child_pool);

/// How long a parent or child waits for the other before failing.
const PATIENCE: Duration = Duration::from_secs(30);

const CHILD_OPEN: &str = "multiprocess::child_open_and_check";
const CHILD_HOLD: &str = "multiprocess::child_hold_open";

/// Child: opens the pool in `CHILD_POOL_ENV` (flags 0) and checks its UUID and
/// generation against `CHILD_UUID_ENV` and `CHILD_GENERATION_ENV`.
#[test]
#[ignore = "child process of the reopen_in_a_second_process tests"]
fn child_open_and_check() {
    let Some(path) = child_env(CHILD_POOL_ENV) else {
        return;
    };
    let uuid = child_env(CHILD_UUID_ENV).and_then(|s| parse_uuid_hex(&s));
    let generation: u64 = child_env(CHILD_GENERATION_ENV)
        .expect("generation")
        .parse()
        .unwrap();
    type P = child_pool::BuddyAlloc;
    let _g = P::open_unlocked(&path, 0).unwrap();
    assert_eq!(Some(P::uuid().unwrap()), uuid);
    assert_eq!(P::generation().unwrap(), generation);
    assert!(P::check().unwrap().is_empty());
}

/// Child: opens the pool in `CHILD_POOL_ENV`, creates `CHILD_READY_ENV`, and keeps the
/// pool open until `CHILD_RELEASE_ENV` exists.
#[test]
#[ignore = "child process of the lock tests"]
fn child_hold_open() {
    let Some(path) = child_env(CHILD_POOL_ENV) else {
        return;
    };
    let ready = PathBuf::from(child_env(CHILD_READY_ENV).expect("ready file"));
    let release = PathBuf::from(child_env(CHILD_RELEASE_ENV).expect("release file"));
    type P = child_pool::BuddyAlloc;
    let g = P::open_unlocked(&path, 0).unwrap();
    std::fs::write(&ready, b"open").unwrap();
    assert!(wait_for_file(&release, PATIENCE), "never released");
    drop(g);
}

fn create_pool<P: MemPool>(path: &Path) -> [u8; 16] {
    let _g = PoolOptions::new()
        .size(1 << 20)
        .open_unlocked::<P>(path, O_CF)
        .unwrap();
    assert_eq!(P::generation().unwrap(), 1);
    P::uuid().unwrap()
}

fn reopen_in_a_second_process<P: MemPool>(dir: &Path) {
    let path = dir.join("shared.pool");
    let uuid = create_pool::<P>(&path);
    run_child_ok(
        CHILD_OPEN,
        &[
            (CHILD_POOL_ENV, path.to_str().unwrap()),
            (CHILD_UUID_ENV, &uuid_hex(&uuid)),
            (CHILD_GENERATION_ENV, "2"),
        ],
    );
    // The child's open was persisted: this is the third.
    let _g = P::open_unlocked(&path, 0).unwrap();
    assert_eq!(P::uuid().unwrap(), uuid);
    assert_eq!(P::generation().unwrap(), 3);
}

#[test]
fn reopen_in_a_second_process_on_tmpfs() {
    crndm::pool!(p);
    let dir = shm_dir();
    reopen_in_a_second_process::<p::BuddyAlloc>(dir.path());
}

#[test]
fn reopen_in_a_second_process_on_disk() {
    crndm::pool!(p);
    let dir = disk_dir();
    reopen_in_a_second_process::<p::BuddyAlloc>(dir.path());
}

#[test]
fn the_child_checks_what_it_is_told() {
    // A harness asked for a test it does not have exits 0 after running nothing; and a
    // child that cannot fail proves nothing. Both are caught.
    crndm::pool!(p);
    let dir = shm_dir();
    let path = dir.path().join("wrong.pool");
    let uuid = create_pool::<p::BuddyAlloc>(&path);
    let mut other = uuid;
    other[0] ^= 1;
    let out = run_child(
        CHILD_OPEN,
        &[
            (CHILD_POOL_ENV, path.to_str().unwrap()),
            (CHILD_UUID_ENV, &uuid_hex(&other)),
            (CHILD_GENERATION_ENV, "2"),
        ],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let out = run_child("multiprocess::no_such_test", &[]);
    assert!(!child_passed("multiprocess::no_such_test", &out));
}

/// Starts a child that holds `path` open; returns once it has it open, with the file
/// that releases it.
fn hold_in_child(dir: &Path, path: &Path) -> (ChildGuard, PathBuf) {
    let ready = dir.join("ready");
    let release = dir.join("release");
    let mut child = ChildGuard::spawn(
        CHILD_HOLD,
        &[
            (CHILD_POOL_ENV, path.to_str().unwrap()),
            (CHILD_READY_ENV, ready.to_str().unwrap()),
            (CHILD_RELEASE_ENV, release.to_str().unwrap()),
        ],
    );
    if !wait_for_file(&ready, PATIENCE) {
        child.kill();
        panic!("the child never opened the pool");
    }
    (child, release)
}

#[test]
fn a_pool_open_in_another_process_is_locked() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("locked.pool");
    let uuid = create_pool::<P>(&path);
    let (mut child, release) = hold_in_child(dir.path(), &path);
    let before = contents(&path);

    // (Expected to be Locked: plain opens, not the retrying test helpers.)
    for flags in [0, O_F, O_C, O_CF, O_CNE, O_CFNE] {
        match P::open_no_root(&path, flags) {
            Err(Error::Locked(p)) => assert_eq!(p, path),
            other => panic!("flags {flags:#x}: expected Locked, got {other:?}"),
        }
        assert!(!P::is_open());
    }
    // info and check take a shared lock, which the writer's exclusive lock excludes.
    assert!(matches!(crndm::admin::info(&path), Err(Error::Locked(_))));
    assert!(matches!(crndm::admin::check(&path), Err(Error::Locked(_))));
    assert!(matches!(
        crndm::admin::create(&path, 1 << 20),
        Err(Error::Locked(_))
    ));
    // Nothing was truncated or formatted under the child's feet.
    assert!(contents(&path) == before);

    std::fs::write(&release, b"go").unwrap();
    let out = child.wait(PATIENCE);
    assert!(child_passed(CHILD_HOLD, &out), "{}", describe(&out));

    let _g = P::open_unlocked(&path, 0).unwrap();
    assert_eq!(P::uuid().unwrap(), uuid);
    assert_eq!(P::generation().unwrap(), 3);
}

#[test]
fn a_killed_process_releases_its_lock() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("killed.pool");
    let uuid = create_pool::<P>(&path);
    let (mut child, _release) = hold_in_child(dir.path(), &path);
    assert!(matches!(P::open_no_root(&path, 0), Err(Error::Locked(_))));
    let status = child.kill();
    assert!(!status.success());
    // The kernel drops a dead process's flock; the pool it had open is intact.
    let _g = P::open_unlocked(&path, 0).unwrap();
    assert_eq!(P::uuid().unwrap(), uuid);
    assert_eq!(P::generation().unwrap(), 3);
    assert!(P::check().unwrap().is_empty());
}

#[test]
fn a_process_holding_one_pool_does_not_lock_another() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let held = dir.path().join("held.pool");
    let mine = dir.path().join("mine.pool");
    create_pool::<P>(&held);
    let (mut child, release) = hold_in_child(dir.path(), &held);
    create_pool::<P>(&mine);
    let _g = P::open_unlocked(&mine, 0).unwrap();
    assert_eq!(P::generation().unwrap(), 2);
    std::fs::write(&release, b"go").unwrap();
    let out = child.wait(PATIENCE);
    assert!(child_passed(CHILD_HOLD, &out), "{}", describe(&out));
}

// A pool's lock is a `flock`, held by the open file description. While any thread of
// the process spawns a child, the child holds copies of all the parent's descriptors
// from its fork until its exec, and with them the lock of every pool that was open at
// the fork. crndm retries a conflicting lock briefly, so reopening a pool this process
// has just closed succeeds even while another thread spawns processes in a loop
// (before that retry, 1,740 of these 2,000 reopens failed with `Locked`).
#[test]
fn spawning_a_process_does_not_lock_closed_pools() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("spawn.pool");
    create_pool::<P>(&path);
    let stop = Arc::new(AtomicBool::new(false));
    let spawner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = std::process::Command::new("true").status();
            }
        })
    };
    let mut locked = 0;
    for _ in 0..2000 {
        match P::open_no_root(&path, 0) {
            Ok(g) => drop(g),
            Err(Error::Locked(_)) => locked += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    spawner.join().unwrap();
    assert_eq!(locked, 0, "spurious Locked errors in 2000 reopens");
}

// A child that stays between its fork and its exec for longer than crndm's short retry
// (1.5 s in `pre_exec` here; a loaded machine can do the same to an ordinary spawn)
// holds a copy of the lock of a pool that was open at the fork. Reopening that pool
// after closing it waits for the child's exec instead of failing with `Locked`: the
// lock table says the lock is this process's own and no live handle holds it.
#[test]
fn a_slow_child_does_not_lock_a_closed_pool() {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("slow-child.pool");
    create_pool::<P>(&path);
    let mut fds = [0; 2];
    // SAFETY: `pipe2` writes two new descriptors into the array it is given.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: the descriptor was just created and is owned by nothing else.
    let mut forked = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[0]) });
    // SAFETY: as above.
    let wake = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    let pool = P::open_no_root(&path, 0).expect("open");
    let spawner = {
        let wake = std::os::fd::AsRawFd::as_raw_fd(&wake);
        std::thread::spawn(move || {
            let mut cmd = std::process::Command::new("true");
            let hook = move || {
                // SAFETY: `write` of one byte from a static buffer to a descriptor the
                // parent keeps open until the child has run (async-signal-safe).
                unsafe { libc::write(wake, b"f".as_ptr().cast(), 1) };
                let t = libc::timespec {
                    tv_sec: 1,
                    tv_nsec: 500_000_000,
                };
                // SAFETY: `nanosleep` reads a valid timespec (async-signal-safe).
                unsafe { libc::nanosleep(&raw const t, std::ptr::null_mut()) };
                Ok(())
            };
            // SAFETY: the hook calls only async-signal-safe functions and allocates
            // nothing, as code between fork and exec must.
            unsafe { cmd.pre_exec(hook) };
            cmd.status().expect("spawn true")
        })
    };
    let mut byte = [0u8];
    forked
        .read_exact(&mut byte)
        .expect("the child reports its fork");
    drop(pool);
    let start = std::time::Instant::now();
    let reopened = P::open_no_root(&path, 0);
    let waited = start.elapsed();
    assert!(
        reopened.is_ok(),
        "reopen while a forked child holds the old lock: {:?}",
        reopened.err()
    );
    assert!(spawner.join().unwrap().success());
    drop(wake);
    println!("reopen waited {waited:?} for the child's exec");
}
