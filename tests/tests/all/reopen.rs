//! Closing and reopening a pool in the same process: the UUID stays, the generation
//! grows by one per open (and is stored), and the pool closes exactly when its last
//! guard goes.

use std::path::Path;

use crndm::MemPool;
use crndm::default::*;
use crndm_tests::*;

fn reopen_cycle<P: MemPool>(path: &Path) {
    let g = PoolOptions::new()
        .size(1 << 20)
        .open_unlocked::<P>(path, O_CF)
        .unwrap();
    let uuid = P::uuid().unwrap();
    assert_eq!(P::generation().unwrap(), 1);
    assert_eq!(P::path().unwrap(), path);
    drop(g);
    assert!(!P::is_open());
    assert!(matches!(P::uuid(), Err(Error::NotOpen)));
    assert_eq!(
        read_u64(path, hdr::GENERATION),
        1,
        "the generation is stored"
    );

    for (flags, generation) in [(0, 2), (O_CNE, 3), (O_CFNE, 4), (0, 5)] {
        let g = P::open_unlocked(path, flags).unwrap();
        assert_eq!(P::uuid().unwrap(), uuid, "flags {flags:#x}");
        assert_eq!(P::generation().unwrap(), generation, "flags {flags:#x}");
        assert!(P::check().unwrap().is_empty());
        drop(g);
        assert!(!P::is_open());
        assert_eq!(read_u64(path, hdr::GENERATION), generation);
    }
    let info = admin::info(path).unwrap();
    assert_eq!(info.uuid, uuid);
    assert_eq!(info.generation, 5);
    assert_eq!(
        admin::info(path).unwrap().generation,
        5,
        "admin::info does not count as an open"
    );
}

#[test]
fn reopen_on_tmpfs_keeps_uuid_and_counts_generations() {
    crndm::pool!(p);
    let dir = shm_dir();
    reopen_cycle::<p::BuddyAlloc>(&dir.path().join("r.pool"));
}

#[test]
fn reopen_on_disk_keeps_uuid_and_counts_generations() {
    crndm::pool!(p);
    let dir = disk_dir();
    reopen_cycle::<p::BuddyAlloc>(&dir.path().join("r.pool"));
}

#[test]
fn the_pool_closes_when_the_last_guard_is_dropped() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("c.pool");
    let a = P::open_unlocked(&path, O_CF).unwrap();
    let b = a.clone();
    let c = b.clone();
    drop(a);
    assert!(P::is_open());
    drop(c);
    assert!(P::is_open());
    assert_eq!(P::generation().unwrap(), 1);
    assert!(matches!(
        P::open_unlocked(&path, 0),
        Err(Error::AlreadyOpen)
    ));
    drop(b);
    assert!(!P::is_open());
    let _d = P::open_unlocked(&path, 0).unwrap();
    assert_eq!(P::generation().unwrap(), 2);
}

#[test]
fn a_guard_dropped_on_another_thread_closes_the_pool() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("t.pool");
    let g = P::open_unlocked(&path, O_CF).unwrap();
    let uuid = P::uuid().unwrap();
    std::thread::spawn(move || {
        assert_eq!(
            P::uuid().unwrap(),
            uuid,
            "the pool type is global to the process"
        );
        drop(g);
    })
    .join()
    .unwrap();
    assert!(!P::is_open());
    let _g = P::open_unlocked(&path, 0).unwrap();
    assert_eq!(P::uuid().unwrap(), uuid);
}

#[test]
fn a_failed_open_leaves_the_type_closed_and_usable() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("f.pool");
    assert!(matches!(
        P::open_unlocked(&path, 0),
        Err(Error::NotFound(_))
    ));
    assert!(!P::is_open());
    std::fs::write(&path, b"not a pool at all").unwrap();
    assert!(matches!(
        P::open_unlocked(&path, O_CNE),
        Err(Error::NotAPool { .. })
    ));
    assert!(!P::is_open());
    assert!(matches!(P::generation(), Err(Error::NotOpen)));
    let _g = P::open_unlocked(&path, O_CF).unwrap();
    assert!(P::is_open());
    assert_eq!(P::generation().unwrap(), 1);
}

#[test]
fn many_reopens_count_every_one() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("m.pool");
    admin::create(&path, 1 << 20).unwrap();
    let uuid = read_uuid(&path);
    for generation in 2..=50 {
        let _g = P::open_unlocked(&path, 0).unwrap();
        assert_eq!(P::generation().unwrap(), generation);
        assert_eq!(P::uuid().unwrap(), uuid);
    }
}

#[test]
fn a_patched_generation_is_continued() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("pg.pool");
    admin::create(&path, 1 << 20).unwrap();
    // The generation lies outside the checksum: any value is a valid one.
    patch_u64(&path, hdr::GENERATION, 41);
    assert_eq!(admin::info(&path).unwrap().generation, 41);
    let _g = P::open_unlocked(&path, 0).unwrap();
    assert_eq!(P::generation().unwrap(), 42);
}

/// Closing while other threads run transactions, then reopening at once: the open waits
/// for the closed pool's running transactions to end instead of failing (issue 16,
/// item 7: it used to return `AlreadyOpen` millions of times). Counted, not timed.
#[test]
fn reopening_while_other_threads_run_transactions_never_spins() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("w.pool");
    drop(P::open_no_root(&path, O_CF).unwrap());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let ran = std::sync::atomic::AtomicU64::new(0);
    let refused = std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = P::transaction(|_| {
                        // Long enough that a close often lands inside one.
                        std::hint::black_box((0..2000u64).sum::<u64>())
                    });
                    if r.is_ok() {
                        ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
        let mut refused = 0u64;
        for _ in 0..300 {
            let g = loop {
                match P::open_no_root(&path, 0) {
                    Ok(g) => break g,
                    Err(Error::AlreadyOpen) => refused += 1,
                    Err(e) => panic!("{e}"),
                }
            };
            // Let the workers get into transactions of this open before closing it.
            let seen = ran.load(std::sync::atomic::Ordering::Relaxed);
            while ran.load(std::sync::atomic::Ordering::Relaxed) < seen + 3 {
                std::thread::yield_now();
            }
            drop(g);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        refused
    });
    assert_eq!(
        refused, 0,
        "an open was refused while the closed pool drained"
    );
}
