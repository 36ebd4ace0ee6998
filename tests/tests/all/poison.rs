//! Issue 15, items 4 and 8: a panic that crossed crndm inside a transaction poisons it
//! (caught or not, it ends in `Err(Aborted)` and rolls back), and a transaction of one
//! pool inside one of another is refused with `Error::NestedPools`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crndm::{Error, MemPool, O_CF, PBTreeMap, PCell, PRefCell, PoolOptions};

fn dir() -> tempfile::TempDir {
    crndm_tests::shm_dir()
}

fn quiet<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    catch_unwind(AssertUnwindSafe(f))
}

mod nested_panic {
    use super::*;
    crndm::pool!(p);
    type P = p::BuddyAlloc;

    #[test]
    fn a_caught_panic_of_a_nested_transaction_aborts_the_outer_one() {
        let d = dir();
        let root = P::open::<PCell<u64, P>>(d.path().join("n.pool"), O_CF).unwrap();
        P::transaction(|j| root.set(1, j)).unwrap();
        let r = P::transaction(|j| {
            root.set(2, j);
            let inner = quiet(|| {
                P::transaction(|j2| {
                    root.set(3, j2);
                    panic!("inner");
                })
            });
            assert!(inner.is_err(), "the nested panic unwinds to the body");
            7
        });
        assert!(matches!(r, Err(Error::Aborted(_))), "{r:?}");
        assert_eq!(root.get(), 1);
        // The next transaction is not poisoned.
        P::transaction(|j| root.set(4, j)).unwrap();
        assert_eq!(root.get(), 4);
    }

    #[test]
    fn a_caught_panic_of_pure_user_code_does_not_poison() {
        crndm::pool!(u);
        type P = u::BuddyAlloc;
        let d = dir();
        let root = P::open::<PCell<u64, P>>(d.path().join("u.pool"), O_CF).unwrap();
        let r = P::transaction(|j| {
            root.set(5, j);
            quiet(|| panic!("user code only")).is_err()
        });
        assert!(r.unwrap(), "the body caught its own panic");
        assert_eq!(root.get(), 5);
    }
}

mod journal_full {
    use super::*;
    crndm::pool!(p);
    type P = p::BuddyAlloc;

    /// 384 KiB (arrays of at most 32 elements have a `Default`).
    type Big = [[[[u8; 32]; 32]; 32]; 12];

    #[test]
    fn a_range_whose_log_failed_is_logged_again_and_rolled_back() {
        let d = dir();
        let root = PoolOptions::new()
            .size(1 << 20)
            .open::<P, PRefCell<Big, P>>(d.path().join("f.pool"), O_CF)
            .unwrap();
        let r = P::transaction(|j| {
            // The undo record of 384 KiB does not fit in the heap: crndm panics.
            let first = quiet(|| {
                root.borrow_mut(j)[0][0][0][0] = 1;
            });
            assert!(first.is_err(), "the log cannot hold the range");
            // The same range again: it must be logged (and fail) again, not written.
            let again = quiet(|| {
                root.borrow_mut(j)[0][0][0][0] = 2;
            });
            again.is_err()
        });
        assert!(matches!(r, Err(Error::Aborted(_))), "{r:?}");
        assert_eq!(
            root.borrow()[0][0][0][0],
            0,
            "no unlogged write survives the abort"
        );
    }
}

mod collections {
    use super::*;
    crndm::pool!(p);
    type P = p::BuddyAlloc;

    /// A key whose comparison panics when either side is 13.
    #[derive(Debug, PartialEq, Eq, crndm::RootLayout)]
    struct Key(u64);

    impl PartialOrd for Key {
        fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }

    impl Ord for Key {
        fn cmp(&self, other: &Key) -> std::cmp::Ordering {
            assert!(self.0 != 13 && other.0 != 13, "unlucky key");
            self.0.cmp(&other.0)
        }
    }

    type Map = PRefCell<PBTreeMap<Key, u64, P>, P>;

    #[test]
    fn a_caught_panic_of_a_key_ord_aborts_and_leaves_the_map_unchanged() {
        let d = dir();
        let root = P::open::<Map>(d.path().join("c.pool"), O_CF).unwrap();
        P::transaction(|j| {
            let mut m = root.borrow_mut(j);
            m.insert(Key(1), 10, j);
            m.insert(Key(2), 20, j);
        })
        .unwrap();
        let r = P::transaction(|j| {
            let mut m = root.borrow_mut(j);
            m.insert(Key(3), 30, j);
            quiet(|| m.insert(Key(13), 130, j)).is_err()
        });
        assert!(matches!(r, Err(Error::Aborted(_))), "{r:?}");
        let m = root.borrow();
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(&Key(1)), Some(&10));
        assert_eq!(m.get(&Key(3)), None);
    }
}

mod two_pools {
    use super::*;
    crndm::pool!(a);
    crndm::pool!(b);
    type A = a::BuddyAlloc;
    type B = b::BuddyAlloc;

    #[test]
    fn a_transaction_of_another_pool_inside_one_is_refused() {
        let d = dir();
        let ra = A::open::<PCell<u64, A>>(d.path().join("a.pool"), O_CF).unwrap();
        let rb = B::open::<PCell<u64, B>>(d.path().join("b.pool"), O_CF).unwrap();
        let r = A::transaction(|ja| {
            ra.set(1, ja);
            let inner = B::transaction(|jb| rb.set(10, jb));
            match inner {
                Err(Error::NestedPools { outer, inner }) => {
                    assert!(outer.contains("a::BuddyAlloc"), "{outer}");
                    assert!(inner.contains("b::BuddyAlloc"), "{inner}");
                }
                other => panic!("expected NestedPools, got {other:?}"),
            }
            assert_eq!(rb.get(), 0, "nothing of B written");
        });
        r.unwrap();
        assert_eq!((ra.get(), rb.get()), (1, 0));
        // A still aborts normally.
        let r = A::transaction(|ja| {
            ra.set(2, ja);
            let _ = B::transaction(|jb| rb.set(20, jb));
            panic!("abort A");
        });
        assert!(matches!(r, Err(Error::Aborted(_))));
        assert_eq!((ra.get(), rb.get()), (1, 0));
        // After A's transaction ends, B's work.
        B::transaction(|jb| rb.set(30, jb)).unwrap();
        assert_eq!(rb.get(), 30);
        let msg = Error::NestedPools {
            outer: "x::P",
            inner: "y::Q",
        }
        .to_string();
        assert!(msg.contains("x::P") && msg.contains("y::Q"), "{msg}");
    }
}
