//! Persistence modes: detected from the file (tmpfs: `Emulated`, an ordinary file:
//! `Msync`), forced by `CRNDM_FORCE_PMEM=1` (tested in a child process, so this
//! process's environment is never changed) or asked for with `PoolOptions::mode`; and
//! the per-thread flush and fence counters.

use std::path::Path;

use crndm::default::*;
use crndm::{MemPool, PersistCounters};
use crndm_tests::*;

crndm::pool!(child_pool);

const CHILD_MODE: &str = "modes::child_report_mode";

/// Child: opens (creating it if needed) the pool in `CHILD_POOL_ENV` and checks that its
/// mode is the one named in `CHILD_MODE_ENV`.
#[test]
#[ignore = "child process of the CRNDM_FORCE_PMEM tests"]
fn child_report_mode() {
    let Some(path) = child_env(CHILD_POOL_ENV) else {
        return;
    };
    let expected = child_env(CHILD_MODE_ENV).expect("expected mode");
    type P = child_pool::BuddyAlloc;
    let _g = small().open_unlocked::<P>(&path, O_CFNE).unwrap();
    assert_eq!(P::mode().unwrap().name(), expected);
}

fn small() -> PoolOptions {
    PoolOptions::new().size(1 << 20)
}

fn mode_of<P: MemPool>(path: &Path, opts: &PoolOptions, flags: Flags) -> Mode {
    let _g = opts.open_unlocked::<P>(path, flags).unwrap();
    P::mode().unwrap()
}

#[test]
fn a_tmpfs_file_is_emulated_pmem() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = tmpfs_dir().expect("/dev/shm is a tmpfs on Linux");
    let path = dir.path().join("shm.pool");
    assert_eq!(mode_of::<P>(&path, &small(), O_CF), Mode::Emulated);
    assert_eq!(mode_of::<P>(&path, &small(), 0), Mode::Emulated);
    assert_eq!(admin::info(&path).unwrap().mode, Mode::Emulated);
    assert_eq!(Mode::Emulated.name(), "emulated");
    assert_eq!(Mode::Emulated.to_string(), "emulated");
}

#[test]
fn a_disk_file_is_msync() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = disk_dir();
    // Where no temporary directory is on disk, all the test can check is consistency.
    let expected = if is_ram_fs(dir.path()) {
        Mode::Emulated
    } else {
        Mode::Msync
    };
    let path = dir.path().join("disk.pool");
    assert_eq!(mode_of::<P>(&path, &small(), O_CF), expected);
    assert_eq!(mode_of::<P>(&path, &small(), 0), expected);
    assert_eq!(admin::info(&path).unwrap().mode, expected);
    assert_eq!(Mode::Msync.name(), "msync");
}

#[test]
fn a_requested_mode_is_honoured_and_not_stored() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let shm = shm_dir();
    let path = shm.path().join("m.pool");
    let detected = mode_of::<P>(&path, &small(), O_CF);
    assert_eq!(
        mode_of::<P>(&path, &small().mode(Mode::Msync), 0),
        Mode::Msync
    );
    assert_eq!(
        mode_of::<P>(&path, &small().mode(Mode::Msync), O_CF),
        Mode::Msync
    );
    // The mode belongs to the mapping, not to the file.
    assert_eq!(mode_of::<P>(&path, &small(), 0), detected);
    assert_eq!(admin::info(&path).unwrap().mode, detected);

    let disk = disk_dir();
    let path = disk.path().join("e.pool");
    assert_eq!(
        mode_of::<P>(&path, &small().mode(Mode::Emulated), O_CF),
        Mode::Emulated
    );
    assert_eq!(
        mode_of::<P>(&path, &small().mode(Mode::Msync), 0),
        Mode::Msync
    );
    let _g = P::open_unlocked(&path, 0).unwrap();
    assert!(P::check().unwrap().is_empty());
    assert_eq!(P::generation().unwrap(), 3);
}

fn assert_no_dax<P: MemPool>(dir: &Path) {
    // An existing pool, opened as DAX: refused, and left as it was.
    let path = dir.join("existing.pool");
    admin::create(&path, 1 << 20).unwrap();
    let before = contents(&path);
    for flags in [0, O_CNE, O_CFNE] {
        match small().mode(Mode::Dax).open_unlocked::<P>(&path, flags) {
            Err(Error::ModeUnavailable {
                requested: Mode::Dax,
                path: p,
                ..
            }) => assert_eq!(p, path),
            other => panic!("flags {flags:#x}: {other:?}"),
        }
        assert!(!P::is_open());
    }
    assert!(contents(&path) == before);
    // Creating one as DAX is refused too.
    let path = dir.join("new.pool");
    let r = small().mode(Mode::Dax).open_unlocked::<P>(&path, O_CF);
    assert!(
        matches!(
            r,
            Err(Error::ModeUnavailable {
                requested: Mode::Dax,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(!P::is_open());
}

#[test]
fn dax_is_unavailable_on_tmpfs() {
    crndm::pool!(p);
    let dir = tmpfs_dir().expect("/dev/shm is a tmpfs on Linux");
    assert_no_dax::<p::BuddyAlloc>(dir.path());
}

#[test]
fn dax_is_unavailable_on_an_ordinary_file() {
    crndm::pool!(p);
    // Assumes the temporary directory is not on an ext4-dax or xfs-dax filesystem.
    let dir = disk_dir();
    assert_no_dax::<p::BuddyAlloc>(dir.path());
}

// BUG (reported): a create that fails because the mode is unavailable leaves the file
// behind, sized and zero-filled (8 MiB of zeros). It is then neither missing nor empty,
// so a retry with O_CFNE and no mode (the documented "create if missing") fails with
// `NotAPool { found: [0; 8] }` for ever. Expected: the mode is checked before the file is
// resized, or a failed create leaves the file empty, so that the retry creates the pool.
#[test]
fn a_failed_dax_create_does_not_poison_the_file() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("dax.pool");
    let r = PoolOptions::new()
        .mode(Mode::Dax)
        .open_unlocked::<P>(&path, O_CFNE);
    assert!(matches!(r, Err(Error::ModeUnavailable { .. })), "{r:?}");
    let retry = P::open_unlocked(&path, O_CFNE);
    assert!(retry.is_ok(), "retry without Dax: {retry:?}");
}

#[test]
fn crndm_force_pmem_makes_a_disk_file_emulated() {
    let dir = disk_dir();
    let path = dir.path().join("forced.pool");
    let path_s = path.to_str().unwrap();
    run_child_ok(
        CHILD_MODE,
        &[
            (CHILD_POOL_ENV, path_s),
            (CHILD_MODE_ENV, "emulated"),
            ("CRNDM_FORCE_PMEM", "1"),
        ],
    );
    // Only the value 1 forces it; the file itself is an ordinary pool.
    let plain = if is_ram_fs(dir.path()) {
        "emulated"
    } else {
        "msync"
    };
    run_child_ok(
        CHILD_MODE,
        &[
            (CHILD_POOL_ENV, path_s),
            (CHILD_MODE_ENV, plain),
            ("CRNDM_FORCE_PMEM", "0"),
        ],
    );
    assert!(admin::check(&path).unwrap().is_empty());
    assert_eq!(admin::info(&path).unwrap().generation, 2);
}

#[test]
fn the_child_mode_check_can_fail() {
    let dir = shm_dir();
    let path = dir.path().join("wrong.pool");
    let out = run_child(
        CHILD_MODE,
        &[
            (CHILD_POOL_ENV, path.to_str().unwrap()),
            (CHILD_MODE_ENV, "dax"),
        ],
    );
    assert!(!out.status.success(), "{}", describe(&out));
}

#[test]
fn persist_counters_count_this_threads_work() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let size = 1u64 << 20;
    for (dir, mode) in [(shm_dir(), Mode::Emulated), (disk_dir(), Mode::Msync)] {
        let path = dir.path().join("c.pool");
        let before = PersistCounters::current();
        let g = small().mode(mode).open_unlocked::<P>(&path, O_CF).unwrap();
        let spent = PersistCounters::current().since(before);
        // The format persists the whole file, then the header; the open the generation.
        assert!(spent.flushes >= size / 64, "{mode}: {spent:?}");
        assert!(spent.fences >= 2, "{mode}: {spent:?}");
        let idle = PersistCounters::current();
        P::stats().unwrap();
        P::check().unwrap();
        assert_eq!(
            PersistCounters::current().since(idle),
            PersistCounters::default(),
            "reading stats persists nothing"
        );
        drop(g);
        // Reopening persists the generation, not the pool.
        let before = PersistCounters::current();
        let g = small().mode(mode).open_unlocked::<P>(&path, 0).unwrap();
        let spent = PersistCounters::current().since(before);
        assert!(spent.flushes >= 1 && spent.fences >= 1, "{mode}: {spent:?}");
        assert!(spent.flushes < size / 64, "{mode}: {spent:?}");
        drop(g);
    }
    // Counters are per thread: a new thread starts from zero.
    let other = std::thread::spawn(PersistCounters::current).join().unwrap();
    assert_eq!(other, PersistCounters::default());
}
