//! Transactions: commit, abort, nesting, allocation and deferred frees, roots.

use crndm::{Error, MemPool, O_CF, PCell, PRefCell, Pbox, Root};

fn dir() -> tempfile::TempDir {
    crndm_tests::shm_dir()
}

mod commit_abort {
    use super::*;
    crndm::pool!(p);
    type P = p::BuddyAlloc;

    #[derive(Root)]
    struct Pair {
        a: PCell<i64, P>,
        b: PCell<i64, P>,
    }

    #[test]
    fn commits_persist_and_panics_roll_back() {
        let d = dir();
        let path = d.path().join("t.pool");
        {
            let root = P::open::<Pair>(&path, O_CF).unwrap();
            P::transaction(|j| {
                root.a.set(10, j);
                root.b.set(-10, j);
            })
            .unwrap();
            let r = P::transaction(|j| -> () {
                root.a.set(99, j);
                root.b.set(99, j);
                panic!("no, thanks");
            });
            match r {
                Err(Error::Aborted(msg)) => assert_eq!(msg, "no, thanks"),
                other => panic!("expected Aborted, got {other:?}"),
            }
            assert_eq!((root.a.get(), root.b.get()), (10, -10));
            assert!(P::check().unwrap().is_empty());
        }
        let root = crndm_tests::retry_locked(|| P::open::<Pair>(&path, 0)).unwrap();
        assert_eq!((root.a.get(), root.b.get()), (10, -10));
    }
}

mod nesting {
    use super::*;
    crndm::pool!(p);
    type P = p::BuddyAlloc;

    #[test]
    fn nested_transactions_join_the_outer_one() {
        let d = dir();
        let root = P::open::<PCell<u32, P>>(d.path().join("n.pool"), O_CF).unwrap();
        P::transaction(|j| {
            root.set(1, j);
            P::transaction(|j2| root.set(root.get() + 1, j2)).unwrap();
            root.set(root.get() + 1, j);
        })
        .unwrap();
        assert_eq!(root.get(), 3);
    }

    #[test]
    fn a_panic_in_a_nested_transaction_aborts_the_outer_one() {
        crndm::pool!(q);
        type P = q::BuddyAlloc;
        let d = dir();
        let root = P::open::<PCell<u32, P>>(d.path().join("m.pool"), O_CF).unwrap();
        P::transaction(|j| root.set(5, j)).unwrap();
        let r = P::transaction(|j| {
            root.set(6, j);
            let _ = P::transaction(|j2| -> () {
                root.set(7, j2);
                panic!("inner");
            });
            root.set(8, j);
        });
        assert!(matches!(r, Err(Error::Aborted(ref m)) if m == "inner"));
        assert_eq!(root.get(), 5);
    }
}

mod allocation {
    use super::*;

    #[derive(Root)]
    struct Slots<P: MemPool> {
        one: PRefCell<Option<Pbox<[u64; 8], P>>, P>,
        many: PRefCell<Option<Pbox<[u8; 300], P>>, P>,
    }

    fn addr<T: crndm::PSafe, P: MemPool>(b: &Pbox<T, P>) -> usize {
        std::ptr::from_ref::<T>(b) as usize
    }

    #[test]
    fn allocations_of_an_aborted_transaction_are_freed() {
        crndm::pool!(p);
        type P = p::BuddyAlloc;
        let d = dir();
        let root = P::open::<Slots<P>>(d.path().join("a.pool"), O_CF).unwrap();
        let before = P::stats().unwrap().used;
        let r = P::transaction(|j| -> () {
            *root.one.borrow_mut(j) = Some(Pbox::new([7; 8], j));
            for _ in 0..100 {
                drop(Pbox::new([1u8; 300], j));
            }
            *root.many.borrow_mut(j) = Some(Pbox::new([2; 300], j));
            panic!("abort after allocating");
        });
        assert!(r.is_err());
        assert!(root.one.borrow().is_none());
        assert_eq!(P::stats().unwrap().used, before, "no block leaked");
        assert!(P::check().unwrap().is_empty());
    }

    #[test]
    fn a_dropped_pbox_is_not_reused_before_commit_and_is_free_after() {
        crndm::pool!(p);
        type P = p::BuddyAlloc;
        let d = dir();
        let root = P::open::<Slots<P>>(d.path().join("f.pool"), O_CF).unwrap();
        P::transaction(|j| *root.one.borrow_mut(j) = Some(Pbox::new([3; 8], j))).unwrap();
        let used = P::stats().unwrap().used;
        let old = addr(root.one.borrow().as_ref().unwrap());
        let reused = P::transaction(|j| {
            let gone = root.one.take(j);
            drop(gone);
            // The block is still reserved: a new allocation of the same size must not
            // land on it (the undo log could still bring the old Pbox back).
            let fresh = Pbox::new([4u64; 8], j);
            let same = addr(&fresh) == old;
            *root.one.borrow_mut(j) = Some(fresh);
            same
        })
        .unwrap();
        assert!(!reused, "freed block reused inside its own transaction");
        assert_eq!(P::stats().unwrap().used, used, "old block freed at commit");
        // After commit the freed block is available again.
        let again = P::transaction(|j| {
            let b = Pbox::new([5u64; 8], j);
            let a = addr(&b);
            *root.many.borrow_mut(j) = None;
            drop(b);
            a
        })
        .unwrap();
        assert_eq!(again, old, "the lowest free block is handed out first");
        assert!(P::check().unwrap().is_empty());
    }

    #[test]
    fn an_aborted_drop_frees_nothing() {
        crndm::pool!(p);
        type P = p::BuddyAlloc;
        let d = dir();
        let root = P::open::<Slots<P>>(d.path().join("g.pool"), O_CF).unwrap();
        P::transaction(|j| *root.one.borrow_mut(j) = Some(Pbox::new([9; 8], j))).unwrap();
        let used = P::stats().unwrap().used;
        let r = P::transaction(|j| -> () {
            drop(root.one.take(j));
            panic!("keep it");
        });
        assert!(r.is_err());
        assert_eq!(root.one.borrow().as_ref().map(|b| b[0]), Some(9));
        assert_eq!(P::stats().unwrap().used, used);
    }
}

mod roots {
    use super::*;
    crndm::pool!(p);
    type P = p::BuddyAlloc;

    #[derive(Root)]
    struct A {
        x: PCell<u64, P>,
    }

    #[derive(Root)]
    #[allow(
        dead_code,
        reason = "only its layout matters: it is never opened successfully"
    )]
    struct B {
        x: PCell<u64, P>,
        y: PCell<u64, P>,
    }

    #[test]
    fn reopening_with_another_root_type_is_refused() {
        let d = dir();
        let path = d.path().join("r.pool");
        drop(P::open::<A>(&path, O_CF).unwrap());
        assert!(matches!(
            crndm_tests::retry_locked(|| P::open::<B>(&path, 0)),
            Err(Error::RootTypeMismatch { .. })
        ));
        assert!(!P::is_open(), "a refused open leaves the pool closed");
        let a = crndm_tests::retry_locked(|| P::open::<A>(&path, 0)).unwrap();
        assert_eq!(a.x.get(), 0);
    }

    #[test]
    fn pbox_roots_are_allocated_in_the_root_transaction() {
        crndm::pool!(q);
        type Q = q::BuddyAlloc;
        let d = dir();
        let path = d.path().join("pb.pool");
        let root = Q::open::<Pbox<PCell<u64, Q>, Q>>(&path, O_CF).unwrap();
        Q::transaction(|j| root.set(77, j)).unwrap();
        drop(root);
        let root =
            crndm_tests::retry_locked(|| Q::open::<Pbox<PCell<u64, Q>, Q>>(&path, 0)).unwrap();
        assert_eq!(root.get(), 77);
        assert!(Q::check().unwrap().is_empty());
    }
}

mod counters {
    use super::*;
    crndm::pool!(p);
    type P = p::BuddyAlloc;

    #[test]
    fn an_empty_transaction_does_no_flush_and_no_fence_and_an_update_two_fences() {
        let d = dir();
        let root = P::open::<PCell<u64, P>>(d.path().join("c.pool"), O_CF).unwrap();
        let before = crndm::PersistCounters::current();
        P::transaction(|_| {}).unwrap();
        let spent = crndm::PersistCounters::current().since(before);
        assert_eq!(spent, crndm::PersistCounters::default());
        let before = crndm::PersistCounters::current();
        P::transaction(|j| root.set(1, j)).unwrap();
        let spent = crndm::PersistCounters::current().since(before);
        assert_eq!(spent.fences, 2, "undo record, commit point (redo)");
        assert!(spent.flushes <= 4, "flushed {} lines", spent.flushes);
    }

    crndm::pool!(q);
    type Q = q::BuddyAlloc;

    #[test]
    fn allocating_costs_no_fence_beyond_an_update_and_freeing_one() {
        let d = dir();
        let root =
            Q::open::<PRefCell<Option<Pbox<(u64, u64), Q>>, Q>>(d.path().join("f.pool"), O_CF)
                .unwrap();
        // Warm the lane's cache: the first allocation splits a large block (two fences).
        Q::transaction(|j| drop(Pbox::new((0, 0), j))).unwrap();
        // A fresh block written through `get_mut` is not logged, and its allocation
        // record shares the parent's log fence.
        let before = crndm::PersistCounters::current();
        Q::transaction(|j| {
            let mut b = Pbox::new((1, 0), j);
            b.get_mut(j).1 = 2;
            *root.borrow_mut(j) = Some(b);
        })
        .unwrap();
        let linked = crndm::PersistCounters::current().since(before).fences;
        assert_eq!(linked, 2, "undo record, commit point (redo)");
        assert_eq!(**root.borrow().as_ref().unwrap(), (1, 2));
        // A free takes the classic commit: its record is durable with the data, its head
        // with the commit point.
        let before = crndm::PersistCounters::current();
        Q::transaction(|j| *root.borrow_mut(j) = None).unwrap();
        let freed = crndm::PersistCounters::current().since(before).fences;
        assert_eq!(
            freed, 3,
            "undo record, data, commit point with the freed head"
        );
        assert!(Q::check().unwrap().is_empty());
        assert_eq!(
            Q::stats().unwrap().used,
            64,
            "only the root block is in use"
        );
    }
}

mod large {
    use super::*;
    use crndm::PRefCell;

    const CHUNKS: usize = 30;
    type Slot<P> = Option<Pbox<[u8; 4000], P>>;
    type Chunk<P> = PRefCell<Slot<P>, P>;

    #[derive(Root)]
    struct Big<P: MemPool> {
        chunks: PRefCell<[Slot<P>; CHUNKS], P>,
        spare: Chunk<P>,
    }

    fn fill<P: MemPool>(b: &Big<P>, v: u8) -> crndm::Result<()> {
        P::transaction(|j| {
            let mut chunks = b.chunks.borrow_mut(j);
            for c in chunks.iter_mut() {
                match c {
                    Some(c) => *c.get_mut(j) = [v; 4000],
                    None => *c = Some(Pbox::new([v; 4000], j)),
                }
            }
        })
    }

    fn all_are<P: MemPool>(b: &Big<P>, v: u8) -> bool {
        b.chunks
            .borrow()
            .iter()
            .all(|c| c.as_ref().is_some_and(|c| c.iter().all(|&x| x == v)))
    }

    #[test]
    fn a_transaction_larger_than_its_journal_commits_and_aborts_whole() {
        crndm::pool!(p);
        type P = p::BuddyAlloc;
        let d = dir();
        let b = P::open::<Big<P>>(d.path().join("big.pool"), O_CF).unwrap();
        fill(&b, 1).unwrap();
        let used = P::stats().unwrap().used;
        // ~120 KiB of undo records in 32 KiB journals: the log continues in extension
        // blocks, which are freed when the transaction ends.
        fill(&b, 2).unwrap();
        assert!(all_are(&b, 2));
        assert_eq!(
            P::stats().unwrap().used,
            used,
            "extension blocks freed at commit"
        );
        let r = P::transaction(|j| -> () {
            let mut chunks = b.chunks.borrow_mut(j);
            for c in chunks.iter_mut().flatten() {
                *c.get_mut(j) = [3; 4000];
            }
            *b.spare.borrow_mut(j) = Some(Pbox::new([9; 4000], j));
            panic!("roll all of it back");
        });
        assert!(matches!(r, Err(Error::Aborted(_))));
        assert!(all_are(&b, 2), "every chunk restored");
        assert!(b.spare.borrow().is_none());
        assert_eq!(
            P::stats().unwrap().used,
            used,
            "extensions and the new block freed"
        );
        assert!(P::check().unwrap().is_empty());
    }

    crndm::pool!(crashing);

    #[test]
    #[ignore = "child process of a_crash_in_a_transaction_larger_than_its_journal_rolls_back"]
    fn child_dies_in_a_large_transaction() {
        type P = crashing::BuddyAlloc;
        let Some(path) = crndm_tests::child_env(crndm_tests::CHILD_POOL_ENV) else {
            return;
        };
        let b = P::open::<Big<P>>(&path, 0).unwrap();
        let _ = P::transaction(|j| -> () {
            let mut chunks = b.chunks.borrow_mut(j);
            for c in chunks.iter_mut().flatten() {
                *c.get_mut(j) = [7; 4000];
            }
            std::process::abort();
        });
    }

    #[test]
    fn a_crash_in_a_transaction_larger_than_its_journal_rolls_back() {
        type P = crashing::BuddyAlloc;
        let d = dir();
        let path = d.path().join("crash.pool");
        {
            let b = P::open::<Big<P>>(&path, O_CF).unwrap();
            fill(&b, 5).unwrap();
        }
        let used = crndm_tests::retry_locked(|| crndm::admin::info(&path))
            .unwrap()
            .stats
            .used;
        let out = crndm_tests::run_child(
            "transactions::large::child_dies_in_a_large_transaction",
            &[(crndm_tests::CHILD_POOL_ENV, path.to_str().unwrap())],
        );
        assert!(!out.status.success(), "the child must die mid-transaction");
        let info = crndm_tests::retry_locked(|| crndm::admin::info(&path)).unwrap();
        assert!(info.stats.used > used, "the extension blocks are allocated");
        let report = crndm_tests::retry_locked(|| crndm::admin::recover(&path)).unwrap();
        assert_eq!(report.rolled_back, 1);
        assert!(
            report.freed_blocks >= 1,
            "extension blocks freed: {report:?}"
        );
        let b = crndm_tests::retry_locked(|| P::open::<Big<P>>(&path, 0)).unwrap();
        assert!(all_are(&b, 5), "every chunk restored");
        assert_eq!(P::stats().unwrap().used, used);
        assert!(P::check().unwrap().is_empty());
    }
}

mod drop_in_pool {
    use super::*;

    /// A persistent type whose `Drop` scribbles on itself.
    #[derive(crndm::RootLayout)]
    struct Scribbler {
        value: u64,
    }

    impl Drop for Scribbler {
        fn drop(&mut self) {
            self.value = 0xdead;
        }
    }

    #[test]
    fn a_user_drop_cannot_change_pool_bytes_of_an_aborted_free() {
        crndm::pool!(p);
        type P = p::BuddyAlloc;
        let d = dir();
        let root =
            P::open::<PRefCell<Option<Pbox<Scribbler, P>>, P>>(d.path().join("d.pool"), O_CF)
                .unwrap();
        P::transaction(|j| *root.borrow_mut(j) = Some(Pbox::new(Scribbler { value: 7 }, j)))
            .unwrap();
        let r = P::transaction(|j| -> () {
            drop(root.take(j)); // runs Scribbler::drop
            panic!("abort");
        });
        assert!(r.is_err());
        assert_eq!(
            root.borrow().as_ref().map(|b| b.value),
            Some(7),
            "restored intact"
        );
    }
}
