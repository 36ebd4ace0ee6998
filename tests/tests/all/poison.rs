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
                P::transaction(|j2| -> () {
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
        // 16 KiB journals: the 384 KiB root fits the heap of a 1 MiB pool.
        let root = PoolOptions::new()
            .size(1 << 20)
            .journals(16, 16 << 10)
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
        let r = A::transaction(|ja| -> () {
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

    /// The first open of a pool (whose root is made in a transaction of its own) inside
    /// another pool's transaction is refused the same way, and works afterwards.
    #[test]
    fn a_first_open_inside_another_pools_transaction_is_refused() {
        crndm::pool!(c);
        crndm::pool!(e);
        type C = c::BuddyAlloc;
        type E = e::BuddyAlloc;
        let d = dir();
        let rc = C::open::<PCell<u64, C>>(d.path().join("c.pool"), O_CF).unwrap();
        let path = d.path().join("e.pool");
        let r = C::transaction(|j| {
            rc.set(1, j);
            let inner = E::open::<PCell<u64, E>>(&path, O_CF);
            assert!(
                matches!(inner, Err(Error::NestedPools { .. })),
                "{:?}",
                inner.map(|_| ())
            );
        });
        r.unwrap();
        assert_eq!(rc.get(), 1, "the outer transaction went on");
        let re = E::open::<PCell<u64, E>>(&path, O_CF).unwrap();
        E::transaction(|j| re.set(5, j)).unwrap();
        assert_eq!(re.get(), 5);
    }
}

/// Every crndm method that runs user code inside a transaction (`Drop`, `PClone`,
/// `Ord`, closures, `Default`) poisons it when that code panics, even if the body
/// catches the panic: the transaction aborts and nothing of it stays.
mod user_callbacks {
    use super::*;
    use crndm::{PClone, PVec, Pbox, Prc};
    crndm::pool!(p);
    type P = p::BuddyAlloc;

    /// A value whose `Drop` panics when it holds 13.
    #[derive(Debug, crndm::PSafe)]
    struct Grumpy(u64);

    impl Drop for Grumpy {
        fn drop(&mut self) {
            if self.0 == 13 && !std::thread::panicking() {
                panic!("grumpy drop");
            }
        }
    }

    /// A value whose `pclone` panics when it holds 13.
    #[derive(Debug, crndm::PSafe)]
    struct Fussy(u64);

    impl PClone<P> for Fussy {
        fn pclone(&self, _: &crndm::Journal<P>) -> Self {
            assert!(self.0 != 13, "fussy clone");
            Fussy(self.0)
        }
    }

    type Root = PCell<u64, P>;

    /// Runs `step` (which panics in user code called by crndm) under `catch_unwind` in
    /// a transaction that also writes the root, and asserts the transaction aborted and
    /// the root write was rolled back.
    fn assert_poisons(name: &str, step: fn(&crndm::Journal<P>)) {
        let d = dir();
        let root = P::open::<Root>(d.path().join(format!("{name}.pool")), O_CF).unwrap();
        let r = P::transaction(|j| {
            root.set(1, j);
            let caught = quiet(|| step(j));
            assert!(caught.is_err(), "{name}: the user code panicked");
        });
        assert!(matches!(r, Err(Error::Aborted(_))), "{name}: {r:?}");
        assert_eq!(root.get(), 0, "{name}: the aborted write was rolled back");
        P::check().unwrap();
        drop(root);
    }

    #[test]
    fn a_caught_panic_in_user_code_called_by_crndm_aborts_the_transaction() {
        assert_poisons("pbox_drop", |j| drop(Pbox::new(Grumpy(13), j)));
        assert_poisons("prc_drop", |j| drop(Prc::new(Grumpy(13), j)));
        assert_poisons("pcell_set", |j| {
            let c = Pbox::new(PCell::<Option<Pbox<Grumpy, P>>, P>::new(None), j);
            c.set(Some(Pbox::new(Grumpy(13), j)), j);
            c.set(None, j);
        });
        assert_poisons("pcell_update", |j| {
            let c = Pbox::new(PCell::<u64, P>::new(1), j);
            c.update(|_| panic!("closure"), j);
        });
        assert_poisons("pvec_truncate", |j| {
            let mut v = PVec::<Grumpy, P>::new();
            v.push(Grumpy(13), j);
            v.truncate(0, j);
        });
        assert_poisons("pvec_retain", |j| {
            let mut v = PVec::<u64, P>::from_slice(&[1, 2, 3], j);
            v.retain(
                |&x| {
                    assert_ne!(x, 2, "retain predicate");
                    true
                },
                j,
            );
        });
        assert_poisons("pvec_pclone", |j| {
            let mut v = PVec::<Fussy, P>::new();
            v.push(Fussy(13), j);
            let _copy = v.pclone(j);
        });
        assert_poisons("option_pclone", |j| {
            let _copy = Some(Fussy(13)).pclone(j);
        });
    }
}
