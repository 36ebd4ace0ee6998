//! Misuse that safe code can write and crndm refuses or survives at run time (issue 15,
//! the fifty misuse programs): each test makes the mistake and asserts the refusal, or
//! that the pool stays consistent. The misuses that do not compile are covered by `ui-tests/fail/`.

#![allow(
    clippy::mem_forget,
    reason = "forgetting guards is the misuse under test"
)]

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crndm::{Error, MemPool, O_CF, O_CFNE};
use crndm_tests::{CHILD_POOL_ENV, child_env, retry_locked, run_child};

fn aborted_with<T: std::fmt::Debug>(r: &crndm::Result<T>, needle: &str) {
    match r {
        Err(Error::Aborted(msg)) => assert!(msg.contains(needle), "unexpected message {msg}"),
        other => panic!("expected an abort mentioning {needle:?}, got {other:?}"),
    }
}

fn quiet<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    catch_unwind(AssertUnwindSafe(f))
}

/// Out of pool space is crndm's own panic: caught by the body, it still poisons the
/// transaction (each allocating entry point), and nothing of it stays.
mod out_of_space_poisons {
    use super::*;
    crndm::pool!(p);
    use p::*;

    type Big = [[[u8; 32]; 32]; 32];

    fn assert_poisons(name: &str, step: fn(&Journal)) {
        let d = tempfile::tempdir().unwrap();
        let root = PoolOptions::new()
            .size(1 << 20)
            .open::<BuddyAlloc, PCell<u64>>(d.path().join(format!("{name}.pool")), O_CF)
            .unwrap();
        let used = BuddyAlloc::stats().unwrap().used;
        let r = BuddyAlloc::transaction(|j| {
            root.set(1, j);
            assert!(quiet(|| step(j)).is_err(), "{name}: the pool is full");
        });
        aborted_with(&r, "poisoned");
        assert_eq!(root.get(), 0, "{name}: the write before it was rolled back");
        assert_eq!(
            BuddyAlloc::stats().unwrap().used,
            used,
            "{name}: nothing leaked"
        );
        assert!(BuddyAlloc::check().unwrap().is_empty());
        drop(root);
    }

    #[test]
    fn a_caught_out_of_space_panic_aborts_the_transaction() {
        assert_poisons("pbox", |j| {
            let mut keep = Vec::new();
            loop {
                keep.push(Pbox::new(Big::default(), j));
            }
        });
        assert_poisons("prc", |j| {
            let mut keep = Vec::new();
            loop {
                keep.push(Prc::new(Big::default(), j));
            }
        });
        assert_poisons("parc", |j| {
            let mut keep = Vec::new();
            loop {
                keep.push(Parc::new(Big::default(), j));
            }
        });
        assert_poisons("pvec_reserve", |j| PVec::<u64>::new().reserve(1 << 30, j));
        assert_poisons("pstring_with_capacity", |j| {
            drop(PString::with_capacity(1 << 30, j));
        });
        assert_poisons("phashmap_insert", |j| {
            let mut m = PHashMap::<u64, Big>::new();
            for i in 0.. {
                m.insert(i, Big::default(), j);
            }
        });
    }
}

/// A `VWeak` of one file must not promote to an object of another file opened later
/// into the same pool type, even with the same generation number and the same offset
/// (identities were counted per open pool, so both objects were "1").
mod vweak_of_another_file {
    use super::*;
    crndm::pool!(p);
    use p::*;

    #[test]
    fn a_vweak_of_a_closed_file_does_not_promote_in_another() {
        let d = tempfile::tempdir().unwrap();
        let wa = {
            let ra =
                BuddyAlloc::open::<PRefCell<Option<Prc<PVec<u64>>>>>(d.path().join("a.pool"), O_CF)
                    .unwrap();
            BuddyAlloc::transaction(|j| {
                let p = Prc::new(PVec::new(), j);
                let w = Prc::demote(&p);
                *ra.borrow_mut(j) = Some(p);
                w
            })
            .unwrap()
        };
        let rb = BuddyAlloc::open::<PRefCell<Option<Prc<[u64; 3]>>>>(d.path().join("b.pool"), O_CF)
            .unwrap();
        assert_eq!(
            BuddyAlloc::generation().unwrap(),
            1,
            "same generation as A had"
        );
        let wb = BuddyAlloc::transaction(|j| {
            let p = Prc::new([1 << 40, 1 << 40, 1 << 40], j);
            let w = Prc::demote(&p);
            *rb.borrow_mut(j) = Some(p);
            w
        })
        .unwrap();
        BuddyAlloc::transaction(|j| {
            assert!(wb.promote(j).is_some(), "B's own VWeak promotes");
            assert!(
                wa.promote(j).is_none(),
                "A's VWeak named B's object of another type"
            );
        })
        .unwrap();
    }
}

/// The last handle of a pool, kept in a `thread_local!`, dropped inside one of its
/// transactions: the transaction keeps the pool mapped, commits, and the pool closes
/// after it; opening (the same file or another) inside it is `AlreadyOpen`.
mod handle_dropped_inside_a_transaction {
    use super::*;
    crndm::pool!(p);
    use p::*;

    type R = PCell<Option<Pbox<u64>>>;

    thread_local! {
        static ROOT: RefCell<Option<RootCell<R>>> = const { RefCell::new(None) };
    }

    fn with_root<T>(f: impl FnOnce(&RootCell<R>) -> T) -> T {
        ROOT.with(|r| f(r.borrow().as_ref().expect("root parked")))
    }

    #[test]
    fn the_transaction_commits_and_reopening_inside_it_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let (pa, pb) = (d.path().join("a.pool"), d.path().join("b.pool"));
        ROOT.with(|r| *r.borrow_mut() = Some(BuddyAlloc::open(&pa, O_CF).unwrap()));
        let (pa2, pb2) = (pa.clone(), pb.clone());
        BuddyAlloc::transaction(move |j| {
            with_root(|r| r.set(Some(Pbox::new(5, j)), j));
            drop(ROOT.with(|r| r.borrow_mut().take()));
            assert!(!BuddyAlloc::is_open(), "no handle is left");
            let same = BuddyAlloc::open::<R>(&pa2, O_CFNE).map(drop);
            assert!(matches!(same, Err(Error::AlreadyOpen)), "{same:?}");
            let other = BuddyAlloc::open::<R>(&pb2, O_CF).map(drop);
            assert!(matches!(other, Err(Error::AlreadyOpen)), "{other:?}");
            drop(Pbox::new(6, j));
        })
        .unwrap();
        assert!(!BuddyAlloc::is_open());
        assert!(!pb.exists(), "the refused open did not create B");
        let root = retry_locked(|| BuddyAlloc::open::<R>(&pa, O_CFNE)).unwrap();
        let v = BuddyAlloc::transaction(|j| {
            let b = root.take(j);
            let v = b.as_deref().copied();
            root.set(b, j);
            v
        })
        .unwrap();
        assert_eq!(v, Some(5), "the transaction committed");
        assert!(BuddyAlloc::check().unwrap().is_empty());
    }
}

/// A root type's `Default` runs inside the root's transaction: when it panics, or opens
/// another pool type (whose own root transaction is then a nested one of another pool),
/// the open fails cleanly and both pools are usable afterwards.
mod root_init {
    use super::*;
    crndm::pool!(p);
    crndm::pool!(p2);
    crndm::pool!(q);

    #[derive(Debug, crndm::RootLayout)]
    struct Grumpy {
        _cell: p::PCell<u64>,
    }

    impl Default for Grumpy {
        fn default() -> Grumpy {
            panic!("no default for you")
        }
    }

    static Q_PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

    thread_local! {
        static Q_OPEN: RefCell<Option<crndm::Result<()>>> = const { RefCell::new(None) };
    }

    #[derive(crndm::RootLayout)]
    struct Sneaky(p2::PCell<u64>);

    impl Default for Sneaky {
        fn default() -> Sneaky {
            let path = Q_PATH.get().expect("path set");
            let r = q::BuddyAlloc::open::<q::PCell<u64>>(path, O_CF).map(drop);
            Q_OPEN.with(|s| *s.borrow_mut() = Some(r));
            Sneaky(p2::PCell::new(1))
        }
    }

    #[test]
    fn a_panicking_root_default_fails_the_open_and_leaves_the_file_usable() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("g.pool");
        let r = p::BuddyAlloc::open::<Grumpy>(&path, O_CF);
        aborted_with(&r, "no default for you");
        assert!(!p::BuddyAlloc::is_open(), "the failed open closed the pool");
        let root = retry_locked(|| p::BuddyAlloc::open::<p::PCell<u64>>(&path, O_CFNE)).unwrap();
        assert_eq!(root.get(), 0, "a fresh root of the other type");
        assert!(p::BuddyAlloc::check().unwrap().is_empty());
    }

    #[test]
    fn a_root_default_opening_another_pool_is_refused_there() {
        let d = tempfile::tempdir().unwrap();
        Q_PATH.set(d.path().join("q.pool")).unwrap();
        mod_p_open(&d.path().join("p.pool"));
        let q_result = Q_OPEN.with(|s| s.borrow_mut().take()).expect("Default ran");
        assert!(
            matches!(q_result, Err(Error::NestedPools { .. })),
            "{q_result:?}"
        );
        assert!(!q::BuddyAlloc::is_open(), "Q was not left open");
        let rq =
            retry_locked(|| q::BuddyAlloc::open::<q::PCell<u64>>(Q_PATH.get().unwrap(), O_CFNE))
                .unwrap();
        q::BuddyAlloc::transaction(|j| rq.set(2, j)).unwrap();
        assert!(q::BuddyAlloc::check().unwrap().is_empty());
    }

    fn mod_p_open(path: &std::path::Path) {
        let rp = p2::BuddyAlloc::open::<Sneaky>(path, O_CF).unwrap();
        assert_eq!(rp.0.get(), 1);
        assert!(p2::BuddyAlloc::check().unwrap().is_empty());
    }
}

/// `mem::forget` of a `RefMut` or of a `PMutex` guard (or a guard in `ManuallyDrop`):
/// the write was logged, so an abort rolls it back; a forgotten borrow keeps refusing
/// until the pool reopens; a forgotten lock is released when the transaction ends.
mod forgotten_guards {
    use super::*;
    crndm::pool!(p);
    crndm::pool!(m);

    #[test]
    fn a_forgotten_refmut_is_rolled_back_and_its_flag_clears_on_reopen() {
        use p::*;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("f.pool");
        {
            let root = BuddyAlloc::open::<PRefCell<u64>>(&path, O_CF).unwrap();
            let r = BuddyAlloc::transaction(|j| -> () {
                let mut g = root.borrow_mut(j);
                *g = 5;
                std::mem::forget(g);
                panic!("abort on purpose");
            });
            assert!(r.is_err());
            assert!(
                root.try_borrow().is_none(),
                "the forgotten borrow still counts"
            );
            aborted_with(
                &BuddyAlloc::transaction(|j| *root.borrow_mut(j) = 6),
                "already borrowed",
            );
        }
        let root = retry_locked(|| BuddyAlloc::open::<PRefCell<u64>>(&path, O_CFNE)).unwrap();
        assert_eq!(
            *root.borrow(),
            0,
            "the forgotten guard's write was rolled back"
        );
        // A forgotten shared borrow refuses writers in this generation too.
        std::mem::forget(root.borrow());
        aborted_with(
            &BuddyAlloc::transaction(|j| *root.borrow_mut(j) = 7),
            "already borrowed",
        );
        assert_eq!(*root.borrow(), 0);
    }

    #[test]
    fn a_forgotten_or_manually_dropped_pmutex_guard_is_released_at_the_end() {
        use m::*;
        let d = tempfile::tempdir().unwrap();
        let root = BuddyAlloc::open::<PMutex<u64>>(d.path().join("m.pool"), O_CF).unwrap();
        BuddyAlloc::transaction(|j| {
            let mut g = std::mem::ManuallyDrop::new(root.lock(j));
            **g += 1;
        })
        .unwrap();
        let r = BuddyAlloc::transaction(|j| -> () {
            let mut g = root.lock(j);
            *g = 100;
            std::mem::forget(g);
            panic!("abort on purpose");
        });
        assert!(r.is_err());
        // Another thread can lock it: both guards were released.
        let v = std::thread::scope(|s| {
            s.spawn(|| BuddyAlloc::transaction(|j| *root.lock(j)).unwrap())
                .join()
                .unwrap()
        });
        assert_eq!(
            v, 1,
            "the committed increment stays, the aborted write does not"
        );
    }
}

/// User `Drop` impls that run transactions: a volatile guard dropped while the body
/// unwinds, and a persistent object whose drop an abort undoes. Their nested
/// transactions join the outer one and roll back with it.
mod drops_running_transactions {
    use super::*;
    crndm::pool!(p);
    crndm::pool!(q);

    struct OnDrop<'a>(&'a p::PCell<u64>);

    impl Drop for OnDrop<'_> {
        fn drop(&mut self) {
            let c = self.0;
            p::BuddyAlloc::transaction(|j| c.set(c.get() + 100, j)).unwrap();
        }
    }

    #[test]
    fn a_transaction_in_a_drop_during_unwinding_rolls_back_with_the_body() {
        use p::*;
        let d = tempfile::tempdir().unwrap();
        let root = BuddyAlloc::open::<PCell<u64>>(d.path().join("d.pool"), O_CF).unwrap();
        let r = BuddyAlloc::transaction(|j| -> () {
            let _g = OnDrop(&root);
            root.set(1, j);
            panic!("abort on purpose");
        });
        assert!(r.is_err());
        assert_eq!(root.get(), 0, "the Drop's write is rolled back too");
        BuddyAlloc::transaction(|j| {
            let _g = OnDrop(&root);
            root.set(1, j);
        })
        .unwrap();
        assert_eq!(root.get(), 101);
    }

    #[derive(crndm::Root)]
    struct R {
        drops: q::PCell<u64>,
        obj: q::PCell<Option<q::Pbox<Counted>>>,
    }

    #[derive(crndm::RootLayout)]
    struct Counted;

    thread_local! {
        static ROOT: RefCell<Option<crndm::RootCell<R, q::BuddyAlloc>>> = const { RefCell::new(None) };
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            q::BuddyAlloc::transaction(|j| {
                ROOT.with(|r| {
                    let r = r.borrow();
                    let r = r.as_ref().expect("root parked");
                    r.drops.set(r.drops.get() + 1, j);
                });
            })
            .unwrap();
        }
    }

    #[test]
    fn a_persistent_drop_running_a_transaction_is_undone_by_an_abort() {
        use q::*;
        let d = tempfile::tempdir().unwrap();
        ROOT.with(|r| {
            *r.borrow_mut() = Some(BuddyAlloc::open(d.path().join("q.pool"), O_CF).unwrap())
        });
        let with = |f: &dyn Fn(&crndm::RootCell<R, BuddyAlloc>)| {
            ROOT.with(|r| f(r.borrow().as_ref().unwrap()))
        };
        BuddyAlloc::transaction(|j| with(&|r| r.obj.set(Some(Pbox::new(Counted, j)), j))).unwrap();
        let r = BuddyAlloc::transaction(|j| -> () {
            with(&|r| drop(r.obj.take(j)));
            panic!("abort on purpose");
        });
        assert!(r.is_err());
        with(&|r| assert_eq!(r.drops.get(), 0, "the aborted drop's count is rolled back"));
        BuddyAlloc::transaction(|j| with(&|r| drop(r.obj.take(j)))).unwrap();
        with(&|r| assert_eq!(r.drops.get(), 1, "dropped once, for good"));
        assert!(BuddyAlloc::check().unwrap().is_empty());
        drop(ROOT.with(|r| r.borrow_mut().take()));
    }
}

/// A second pool type on a file another type holds open, through a hard link and with
/// `O_CF` (which would truncate a file it creates): `Locked`, and the file is untouched.
mod one_file_two_types {
    use super::*;
    crndm::pool!(a);
    crndm::pool!(b);

    #[test]
    fn a_hard_link_and_a_format_open_are_locked_and_write_nothing() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("p.pool");
        let ra = a::BuddyAlloc::open::<a::PCell<u64>>(&path, O_CF).unwrap();
        a::BuddyAlloc::transaction(|j| ra.set(77, j)).unwrap();
        let before = std::fs::read(&path).unwrap();
        let link = d.path().join("link.pool");
        std::fs::hard_link(&path, &link).unwrap();
        let r = b::BuddyAlloc::open::<b::PCell<u64>>(&link, O_CFNE);
        assert!(matches!(r, Err(Error::Locked(_))), "{r:?}");
        let r = b::BuddyAlloc::open::<b::PCell<u64>>(&path, O_CF);
        assert!(matches!(r, Err(Error::Locked(_))), "{r:?}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the refused opens wrote nothing"
        );
        assert_eq!(ra.get(), 77);
        assert!(a::BuddyAlloc::check().unwrap().is_empty());
    }
}

/// `std::process::exit` inside a transaction, and a panic while unwinding (the process
/// aborts): both leave an unfinished transaction that the next open rolls back.
mod process_dies_inside_a_transaction {
    use super::*;
    crndm::pool!(p);
    use p::*;

    type R = PCell<Option<Pbox<u64>>>;

    struct Bomb;

    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("a panic while unwinding aborts the process");
        }
    }

    #[test]
    #[ignore = "child process of process_dies_inside_a_transaction"]
    fn child_exit_in_a_transaction() {
        let Some(path) = child_env(CHILD_POOL_ENV) else {
            return;
        };
        let root = retry_locked(|| BuddyAlloc::open::<R>(&path, O_CFNE)).unwrap();
        let _ = BuddyAlloc::transaction(|j| -> () {
            root.set(Some(Pbox::new(5, j)), j);
            std::process::exit(0)
        });
    }

    #[test]
    #[ignore = "child process of process_dies_inside_a_transaction"]
    fn child_double_panic_in_a_transaction() {
        let Some(path) = child_env(CHILD_POOL_ENV) else {
            return;
        };
        let root = retry_locked(|| BuddyAlloc::open::<R>(&path, O_CFNE)).unwrap();
        let _ = BuddyAlloc::transaction(|j| -> () {
            root.set(Some(Pbox::new(6, j)), j);
            let _b = Bomb;
            panic!("first panic");
        });
    }

    #[test]
    fn the_next_open_rolls_the_transaction_back() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("x.pool");
        drop(BuddyAlloc::open::<R>(&path, O_CF).unwrap());
        let used = {
            let _r = retry_locked(|| BuddyAlloc::open::<R>(&path, O_CFNE)).unwrap();
            BuddyAlloc::stats().unwrap().used
        };
        let p = path.to_str().unwrap();
        for (child, dies_by_signal) in [
            (
                "misuse::process_dies_inside_a_transaction::child_exit_in_a_transaction",
                false,
            ),
            (
                "misuse::process_dies_inside_a_transaction::child_double_panic_in_a_transaction",
                true,
            ),
        ] {
            let out = run_child(child, &[(CHILD_POOL_ENV, p)]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains(&format!("test {child} ...")),
                "{child} ran: {stdout}"
            );
            assert!(
                !stdout.contains("... ok"),
                "{child} did not finish its test: {stdout}"
            );
            {
                use std::os::unix::process::ExitStatusExt;
                assert_eq!(
                    out.status.signal().is_some(),
                    dies_by_signal,
                    "{child}: {:?}",
                    out.status
                );
            }
            let root = retry_locked(|| BuddyAlloc::open::<R>(&path, O_CFNE)).unwrap();
            let empty = BuddyAlloc::transaction(|j| root.take(j).is_none()).unwrap();
            assert!(empty, "{child}: the unfinished transaction was rolled back");
            assert_eq!(
                BuddyAlloc::stats().unwrap().used,
                used,
                "{child}: its allocation was freed"
            );
            assert!(BuddyAlloc::check().unwrap().is_empty());
        }
    }
}

/// Zero-sized roots: `()` opens again and again; another zero-sized type is refused.
mod zero_sized_root {
    use super::*;
    crndm::pool!(p);
    use p::*;

    #[derive(Default, crndm::RootLayout)]
    struct Nothing;

    #[test]
    fn a_unit_root_reopens_and_another_zst_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("z.pool");
        for _ in 0..3 {
            drop(retry_locked(|| BuddyAlloc::open::<()>(&path, O_CFNE)).unwrap());
        }
        let r = retry_locked(|| BuddyAlloc::open::<Nothing>(&path, O_CFNE));
        assert!(
            matches!(r, Err(Error::RootTypeMismatch { .. })),
            "{:?}",
            r.map(drop)
        );
        let _root = retry_locked(|| BuddyAlloc::open::<()>(&path, O_CFNE)).unwrap();
        assert!(BuddyAlloc::check().unwrap().is_empty());
    }
}
