//! Pool types made with `crndm::pool!`: each has its own state, maps at most one file,
//! and reports `NotOpen` when it has none.

use std::sync::{Arc, Barrier};

use crndm::MemPool;
use crndm::default::*;
use crndm_tests::*;

crndm::pool!(named, Inventory);

#[test]
fn two_pool_types_are_independent() {
    crndm::pool!(a);
    crndm::pool!(b);
    type A = a::BuddyAlloc;
    type B = b::BuddyAlloc;
    let dir = shm_dir();
    let pa = dir.path().join("a.pool");
    let pb = dir.path().join("b.pool");
    let ga = A::open_unlocked(&pa, O_CF).unwrap();
    assert!(!B::is_open(), "opening A does not open B");
    let gb = PoolOptions::new()
        .size(2 << 20)
        .open_unlocked::<B>(&pb, O_CF)
        .unwrap();
    assert_ne!(A::uuid().unwrap(), B::uuid().unwrap());
    assert_eq!(A::path().unwrap(), pa);
    assert_eq!(B::path().unwrap(), pb);
    assert_ne!(A::stats().unwrap().total, B::stats().unwrap().total);
    let ub = B::uuid().unwrap();

    drop(ga);
    assert!(!A::is_open());
    assert!(B::is_open(), "closing A leaves B open");
    assert_eq!(B::uuid().unwrap(), ub);
    assert_eq!(B::generation().unwrap(), 1);
    assert!(B::check().unwrap().is_empty());

    let _ga = A::open_unlocked(&pa, 0).unwrap();
    assert_eq!(A::generation().unwrap(), 2);
    assert_eq!(B::generation().unwrap(), 1);
    drop(gb);
    assert!(A::is_open());
    assert!(!B::is_open());
}

#[test]
fn the_default_pool_type_is_a_pool_type_like_any_other() {
    // The only test of this binary that uses `crndm::default::BuddyAlloc`.
    type P = BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("default.pool");
    let g = P::open_unlocked(&path, O_CFNE).unwrap();
    assert!(P::is_open());
    assert!(matches!(
        P::open_unlocked(&path, 0),
        Err(Error::AlreadyOpen)
    ));
    drop(g);
    assert!(!P::is_open());
}

#[test]
fn a_named_pool_type_works() {
    type P = named::Inventory;
    let dir = shm_dir();
    let g = P::open_unlocked(dir.path().join("inv.pool"), O_CF).unwrap();
    assert!(format!("{g:?}").contains("Inventory"), "{g:?}");
    assert!(P::is_open());
}

#[test]
fn a_second_open_of_one_type_is_already_open() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("one.pool");
    let other = dir.path().join("other.pool");
    let _g = P::open_unlocked(&path, O_CF).unwrap();
    let uuid = P::uuid().unwrap();
    for flags in [0, O_F, O_C, O_CF, O_CNE, O_CFNE] {
        assert!(
            matches!(P::open_unlocked(&path, flags), Err(Error::AlreadyOpen)),
            "same file, flags {flags:#x}"
        );
        assert!(
            matches!(P::open_unlocked(&other, flags), Err(Error::AlreadyOpen)),
            "other file, flags {flags:#x}"
        );
    }
    // The refused opens did nothing: no file was created, the open pool is untouched.
    assert!(!other.exists());
    assert!(P::is_open());
    assert_eq!(P::uuid().unwrap(), uuid);
    assert_eq!(P::generation().unwrap(), 1);
    assert_eq!(P::path().unwrap(), path);
    assert!(P::check().unwrap().is_empty());
}

#[test]
fn a_type_without_a_pool_is_not_open() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    assert!(!P::is_open());
    assert!(matches!(P::mode(), Err(Error::NotOpen)));
    assert!(matches!(P::uuid(), Err(Error::NotOpen)));
    assert!(matches!(P::generation(), Err(Error::NotOpen)));
    assert!(matches!(P::path(), Err(Error::NotOpen)));
    assert!(matches!(P::stats(), Err(Error::NotOpen)));
    assert!(matches!(P::check(), Err(Error::NotOpen)));
    let dir = shm_dir();
    let g = P::open_unlocked(dir.path().join("n.pool"), O_CF).unwrap();
    assert!(P::mode().is_ok());
    drop(g);
    assert!(matches!(P::stats(), Err(Error::NotOpen)));
    assert!(matches!(P::check(), Err(Error::NotOpen)));
}

#[test]
fn two_types_on_one_file_are_locked() {
    crndm::pool!(a);
    crndm::pool!(b);
    type A = a::BuddyAlloc;
    type B = b::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("shared.pool");
    let ga = A::open_unlocked(&path, O_CF).unwrap();
    let uuid = A::uuid().unwrap();
    let before = contents(&path);
    for flags in [0, O_F, O_C, O_CF, O_CNE, O_CFNE] {
        match B::open_no_root(&path, flags) {
            Err(Error::Locked(p)) => assert_eq!(p, path),
            other => panic!("flags {flags:#x}: {other:?}"),
        }
        assert!(!B::is_open());
    }
    assert!(
        contents(&path) == before,
        "a locked file is not truncated or formatted"
    );
    assert_eq!(A::uuid().unwrap(), uuid);
    drop(ga);
    let _gb = B::open_unlocked(&path, 0).unwrap();
    assert_eq!(B::uuid().unwrap(), uuid);
    assert_eq!(B::generation().unwrap(), 2);
    assert!(matches!(A::open_no_root(&path, 0), Err(Error::Locked(_))));
}

#[test]
fn racing_opens_of_one_type_let_exactly_one_win() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    const THREADS: usize = 8;
    let dir = shm_dir();
    let path = Arc::new(dir.path().join("race.pool"));
    admin::create(&*path, 1 << 20).unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let done = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (path, start, done) = (path.clone(), start.clone(), done.clone());
            std::thread::spawn(move || {
                start.wait();
                let r = P::open_unlocked(&*path, 0);
                let won = match &r {
                    Ok(_) => Ok(true),
                    Err(Error::AlreadyOpen) => Ok(false),
                    Err(e) => Err(format!("unexpected {e:?}")),
                };
                // Keep the winner's guard until every thread has tried (and do not panic
                // before this point, which would leave the others waiting).
                done.wait();
                drop(r);
                won
            })
        })
        .collect();
    let mut wins = 0;
    for h in handles {
        if h.join().unwrap().unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert!(!P::is_open());
    assert_eq!(
        admin::info(&*path).unwrap().generation,
        2,
        "one open happened"
    );
}

#[test]
fn many_pool_types_open_at_once() {
    crndm::pool!(p0);
    crndm::pool!(p1);
    crndm::pool!(p2);
    crndm::pool!(p3);
    let dir = shm_dir();
    let d = dir.path();
    let small = PoolOptions::new().size(1 << 20);
    let g0 = small
        .open_unlocked::<p0::BuddyAlloc>(d.join("0.pool"), O_CF)
        .unwrap();
    let g1 = small
        .open_unlocked::<p1::BuddyAlloc>(d.join("1.pool"), O_CF)
        .unwrap();
    let g2 = small
        .open_unlocked::<p2::BuddyAlloc>(d.join("2.pool"), O_CF)
        .unwrap();
    let g3 = small
        .open_unlocked::<p3::BuddyAlloc>(d.join("3.pool"), O_CF)
        .unwrap();
    let uuids = [
        p0::BuddyAlloc::uuid().unwrap(),
        p1::BuddyAlloc::uuid().unwrap(),
        p2::BuddyAlloc::uuid().unwrap(),
        p3::BuddyAlloc::uuid().unwrap(),
    ];
    for (i, a) in uuids.iter().enumerate() {
        assert!(uuids[i + 1..].iter().all(|b| a != b), "{uuids:?}");
    }
    drop((g1, g3));
    assert!(p0::BuddyAlloc::is_open() && p2::BuddyAlloc::is_open());
    assert!(!p1::BuddyAlloc::is_open() && !p3::BuddyAlloc::is_open());
    drop((g0, g2));
    assert!(!p0::BuddyAlloc::is_open() && !p2::BuddyAlloc::is_open());
}
