//! Shared pointers: `Prc` with persistent and volatile weak pointers, `Parc`, `PMutex`,
//! and transactions on several threads.

use std::collections::VecDeque;
use std::time::Duration;

use crndm::prc::{PWeak, VWeak};
use crndm::{Error, MemPool, O_CF, PCell, PMutex, PRefCell, Parc, Prc, Root};
use crndm_tests::{ChildGuard, retry_locked, shm_dir};

// ---- a doubly-linked list: strong `next`, weak `prev` ----

#[derive(crndm::RootLayout)]
struct Node<P: MemPool> {
    value: u64,
    next: PRefCell<Option<Prc<Node<P>, P>>, P>,
    prev: PRefCell<Option<PWeak<Node<P>, P>>, P>,
}

#[derive(Root)]
struct List<P: MemPool> {
    head: PRefCell<Option<Prc<Node<P>, P>>, P>,
    tail: PRefCell<Option<PWeak<Node<P>, P>>, P>,
    len: PCell<u64, P>,
}

fn new_node<P: MemPool>(value: u64, j: &crndm::Journal<P>) -> Prc<Node<P>, P> {
    Prc::new(
        Node {
            value,
            next: PRefCell::new(None),
            prev: PRefCell::new(None),
        },
        j,
    )
}

fn push_back<P: MemPool>(l: &List<P>, v: u64, j: &crndm::Journal<P>) {
    let n = new_node(v, j);
    let old_tail = l.tail.borrow().as_ref().and_then(|w| w.upgrade(j));
    match old_tail {
        Some(t) => {
            *n.prev.borrow_mut(j) = Some(Prc::downgrade(&t, j));
            *t.next.borrow_mut(j) = Some(n.pclone(j));
        }
        None => *l.head.borrow_mut(j) = Some(n.pclone(j)),
    }
    *l.tail.borrow_mut(j) = Some(Prc::downgrade(&n, j));
    l.len.set(l.len.get() + 1, j);
}

fn push_front<P: MemPool>(l: &List<P>, v: u64, j: &crndm::Journal<P>) {
    let n = new_node(v, j);
    let old_head = l.head.take(j);
    match old_head {
        Some(h) => {
            *h.prev.borrow_mut(j) = Some(Prc::downgrade(&n, j));
            *n.next.borrow_mut(j) = Some(h);
        }
        None => *l.tail.borrow_mut(j) = Some(Prc::downgrade(&n, j)),
    }
    *l.head.borrow_mut(j) = Some(n);
    l.len.set(l.len.get() + 1, j);
}

fn pop_front<P: MemPool>(l: &List<P>, j: &crndm::Journal<P>) -> Option<u64> {
    let h = l.head.take(j)?;
    let next = h.next.take(j);
    match &next {
        Some(n) => *n.prev.borrow_mut(j) = None,
        None => *l.tail.borrow_mut(j) = None,
    }
    *l.head.borrow_mut(j) = next;
    l.len.set(l.len.get() - 1, j);
    Some(h.value)
}

fn pop_back<P: MemPool>(l: &List<P>, j: &crndm::Journal<P>) -> Option<u64> {
    let t = l.tail.take(j)?.upgrade(j).expect("the tail is alive");
    let prev = t.prev.take(j).and_then(|w| w.upgrade(j));
    match &prev {
        Some(p) => {
            *l.tail.borrow_mut(j) = Some(Prc::downgrade(p, j));
            *p.next.borrow_mut(j) = None;
        }
        None => *l.head.borrow_mut(j) = None,
    }
    l.len.set(l.len.get() - 1, j);
    Some(t.value)
}

/// The list front to back, and checks every back link and count on the way.
fn contents<P: MemPool>(l: &List<P>) -> Vec<u64> {
    let mut out = Vec::new();
    let head = l.head.borrow();
    let mut prev_value: Option<u64> = None;
    walk(head.as_ref(), &mut prev_value, &mut out);
    out
}

fn walk<P: MemPool>(n: Option<&Prc<Node<P>, P>>, prev: &mut Option<u64>, out: &mut Vec<u64>) {
    let Some(n) = n else { return };
    // One strong pointer (from the list), one weak (from the next node or the tail).
    assert_eq!(Prc::strong_count(n), 1, "node {}", n.value);
    assert_eq!(Prc::weak_count(n), 1, "node {}", n.value);
    let back = n.prev.borrow();
    assert_eq!(back.as_ref().map(|w| w.strong_count()), prev.map(|_| 1));
    out.push(n.value);
    *prev = Some(n.value);
    walk(n.next.borrow().as_ref(), prev, out);
}

#[test]
fn a_doubly_linked_list_with_weak_back_links_matches_a_model() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let l = P::open::<List<P>>(d.path().join("l.pool"), O_CF).unwrap();
    let base = P::stats().unwrap().used;
    let mut model: VecDeque<u64> = VecDeque::new();
    let mut x = 0x1234_5678_9abc_def1_u64;
    for i in 0..600u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let op = x % 5;
        let abort = x.is_multiple_of(11);
        let r = P::transaction(|j| {
            let popped = match op {
                0 | 1 => {
                    push_back(&l, i, j);
                    None
                }
                2 => {
                    push_front(&l, i, j);
                    None
                }
                3 => pop_front(&l, j),
                _ => pop_back(&l, j),
            };
            assert!(!abort, "abort on purpose");
            popped
        });
        if abort {
            assert!(matches!(r, Err(Error::Aborted(_))));
        } else {
            let popped = r.unwrap();
            let expect = match op {
                0 | 1 => {
                    model.push_back(i);
                    None
                }
                2 => {
                    model.push_front(i);
                    None
                }
                3 => model.pop_front(),
                _ => model.pop_back(),
            };
            assert_eq!(popped, expect, "step {i}");
        }
        assert_eq!(contents(&l), Vec::from(model.clone()), "step {i}");
        assert_eq!(l.len.get(), model.len() as u64);
    }
    // Every node costs one block; emptying the list gives all of them back.
    let per_node = (P::stats().unwrap().used - base) / model.len().max(1) as u64;
    assert!(per_node > 0);
    // One transaction larger than the journal: the log continues in extension blocks.
    P::transaction(|j| while pop_front(&l, j).is_some() {}).unwrap();
    assert_eq!(P::stats().unwrap().used, base, "no block leaked");
    assert!(P::check().unwrap().is_empty());
}

// ---- cycles ----

#[derive(crndm::PSafe)]
struct Pair<P: MemPool> {
    other: PRefCell<Option<Prc<Pair<P>, P>>, P>,
    back: PRefCell<Option<PWeak<Pair<P>, P>>, P>,
}

fn pair<P: MemPool>(j: &crndm::Journal<P>) -> Prc<Pair<P>, P> {
    Prc::new(
        Pair {
            other: PRefCell::new(None),
            back: PRefCell::new(None),
        },
        j,
    )
}

#[test]
fn a_cycle_broken_with_a_weak_pointer_frees_everything_a_strong_one_leaks() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let _root = P::open::<PCell<u8, P>>(d.path().join("c.pool"), O_CF).unwrap();
    let base = P::stats().unwrap().used;
    P::transaction(|j| {
        let a = pair(j);
        let b = pair(j);
        *a.other.borrow_mut(j) = Some(b.pclone(j));
        *b.back.borrow_mut(j) = Some(Prc::downgrade(&a, j));
        // Both handles dropped here: a is freed, which drops b.
    })
    .unwrap();
    assert_eq!(
        P::stats().unwrap().used,
        base,
        "the weak back link lets both go"
    );
    P::transaction(|j| {
        let a = pair(j);
        let b = pair(j);
        *a.other.borrow_mut(j) = Some(b.pclone(j));
        *b.other.borrow_mut(j) = Some(a.pclone(j));
    })
    .unwrap();
    assert!(
        P::stats().unwrap().used > base,
        "a strong cycle leaks, as documented"
    );
    assert!(P::check().unwrap().is_empty());
}

// ---- volatile weak pointers ----

#[derive(Root)]
struct Holder<P: MemPool> {
    slot: PRefCell<Option<Prc<u64, P>>, P>,
}

#[test]
fn a_vweak_kept_across_close_and_reopen_promotes_to_none() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let path = d.path().join("v.pool");
    let weak: VWeak<u64, P> = {
        let h = P::open::<Holder<P>>(&path, O_CF).unwrap();
        P::transaction(|j| *h.slot.borrow_mut(j) = Some(Prc::new(5, j))).unwrap();
        let w = Prc::demote(h.slot.borrow().as_ref().unwrap());
        assert_eq!(
            P::transaction(|j| w.promote(j).map(|p| *p)).unwrap(),
            Some(5)
        );
        w
    };
    let h = retry_locked(|| P::open::<Holder<P>>(&path, 0)).unwrap();
    assert_eq!(
        **h.slot.borrow().as_ref().unwrap(),
        5,
        "the object is still there"
    );
    assert!(!P::transaction(|j| weak.promote(j).is_some()).unwrap());
}

#[test]
fn a_vweak_to_an_object_of_an_aborted_transaction_promotes_to_none() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    thread_local! {
        // Volatile weak pointers may live anywhere, a thread-local included.
        static KEPT: std::cell::RefCell<Option<VWeak<u64, P>>> =
            const { std::cell::RefCell::new(None) };
    }
    let d = shm_dir();
    let h = P::open::<Holder<P>>(d.path().join("a.pool"), O_CF).unwrap();
    let r = P::transaction(|j| -> () {
        let obj = Prc::new(1, j);
        KEPT.with(|k| *k.borrow_mut() = Some(Prc::demote(&obj)));
        *h.slot.borrow_mut(j) = Some(obj);
        panic!("abort: the object never existed");
    });
    assert!(r.is_err());
    // The next allocation of that size reuses the block.
    P::transaction(|j| *h.slot.borrow_mut(j) = Some(Prc::new(2, j))).unwrap();
    let weak = KEPT.with(|k| k.borrow_mut().take()).unwrap();
    assert_eq!(
        P::transaction(|j| weak.promote(j).map(|p| *p)).unwrap(),
        None,
        "a weak pointer to the aborted object does not reach the new one"
    );
}

#[test]
fn a_vweak_to_a_freed_and_reused_object_promotes_to_none() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let h = P::open::<Holder<P>>(d.path().join("r.pool"), O_CF).unwrap();
    P::transaction(|j| *h.slot.borrow_mut(j) = Some(Prc::new(1, j))).unwrap();
    let addr =
        |h: &Holder<P>| std::ptr::from_ref::<u64>(h.slot.borrow().as_ref().unwrap()) as usize;
    let old = addr(&h);
    let weak = Prc::demote(h.slot.borrow().as_ref().unwrap());
    // A weak pointer made inside the freeing transaction, and an abort: still alive.
    let r = P::transaction(|j| -> () {
        drop(h.slot.take(j));
        panic!("keep it");
    });
    assert!(r.is_err());
    assert_eq!(
        P::transaction(|j| weak.promote(j).map(|p| *p)).unwrap(),
        Some(1)
    );
    // Freed for real, then the same memory is handed to a new object.
    P::transaction(|j| drop(h.slot.take(j))).unwrap();
    P::transaction(|j| *h.slot.borrow_mut(j) = Some(Prc::new(2, j))).unwrap();
    assert_eq!(addr(&h), old, "the block was reused");
    assert!(!P::transaction(|j| weak.promote(j).is_some()).unwrap());
    // A new weak pointer to the new object works.
    let fresh = Prc::demote(h.slot.borrow().as_ref().unwrap());
    assert_eq!(
        P::transaction(|j| fresh.promote(j).map(|p| *p)).unwrap(),
        Some(2)
    );
}

// ---- Parc, PMutex, threads ----

/// What the threads share: a total and each thread's own committed count, changed in
/// the same transactions.
#[derive(Root, crndm::PSend)]
struct Shared<P: MemPool> {
    total: PMutex<u64, P>,
    per_thread: PMutex<[u64; THREADS], P>,
}

const THREADS: usize = 4;
const INCREMENTS: u64 = 150;

/// Each of `THREADS` threads increments the total `rounds` times (forever with
/// `None`), one transaction per increment, aborting every seventh on purpose, and counts
/// its own committed increments in the same transaction. Returns the committed count.
fn hammer<P: MemPool>(shared: &crndm::sync::VWeak<Shared<P>, P>, rounds: Option<u64>) -> u64 {
    let committed = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let shared = shared.clone();
            let committed = &committed;
            s.spawn(move || {
                let mut i = 0u64;
                while rounds.is_none_or(|r| i < r) {
                    let abort = rounds.is_some() && i % 7 == 3;
                    let r = P::transaction(|j| {
                        let s = shared.promote(j).expect("the root is alive");
                        *s.total.lock(j) += 1;
                        s.per_thread.lock(j)[t] += 1;
                        assert!(!abort, "abort on purpose");
                    });
                    assert_eq!(r.is_err(), abort);
                    if !abort {
                        committed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    i += 1;
                }
            });
        }
    });
    committed.into_inner()
}

fn totals<P: MemPool>(root: &Parc<Shared<P>, P>) -> (u64, u64) {
    P::transaction(|j| (*root.total.lock(j), root.per_thread.lock(j).iter().sum())).unwrap()
}

#[test]
fn threads_incrementing_a_shared_counter_lose_no_committed_increment() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = P::open::<Parc<Shared<P>, P>>(d.path().join("t.pool"), O_CF).unwrap();
    let committed = hammer(&Parc::demote(&root), Some(INCREMENTS));
    let aborted_each = (0..INCREMENTS).filter(|i| i % 7 == 3).count() as u64;
    assert_eq!(committed, THREADS as u64 * (INCREMENTS - aborted_each));
    assert_eq!(totals(&root), (committed, committed));
    assert_eq!(
        Parc::strong_count(&root),
        1,
        "every promoted Parc was dropped"
    );
    assert!(P::check().unwrap().is_empty());
}

#[test]
fn a_pmutex_stays_locked_until_its_transaction_ends() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let m = P::open::<PMutex<u64, P>>(d.path().join("m.pool"), O_CF).unwrap();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let m = &m;
    std::thread::scope(|s| {
        // Channels are volatile side effects a transaction cannot roll back; the test
        // asserts that is fine here.
        let signals = crndm::AssertTxInSafe((locked_tx, go_rx));
        let holder = s.spawn(move || {
            P::transaction(|j| {
                let (locked, go) = &*signals; // captures the whole wrapper
                *m.lock(j) += 10; // the guard goes at once, the lock stays
                locked.send(()).unwrap();
                go.recv().unwrap();
                *m.lock(j) += 1; // locking again in the same transaction is fine
            })
            .unwrap();
        });
        locked_rx.recv().unwrap();
        let free = P::transaction(|j| m.try_lock(j).is_some()).unwrap();
        assert!(!free, "another transaction holds the lock");
        go_tx.send(()).unwrap();
        holder.join().unwrap();
    });
    assert_eq!(P::transaction(|j| *m.lock(j)).unwrap(), 11);
    // An aborted transaction releases its lock too, and its change is undone.
    let r = P::transaction(|j| -> () {
        *m.lock(j) = 99;
        panic!("undo");
    });
    assert!(r.is_err());
    assert_eq!(
        P::transaction(|j| m.try_lock(j).map(|g| *g)).unwrap(),
        Some(11)
    );
}

#[test]
fn a_second_guard_in_one_transaction_is_refused() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let m = P::open::<PMutex<u64, P>>(d.path().join("g.pool"), O_CF).unwrap();
    let r = P::transaction(|j| {
        let _a = m.lock(j);
        let _b = m.lock(j); // two `&mut` to one value: refused
    });
    assert!(matches!(r, Err(Error::Aborted(msg)) if msg.contains("locked twice")));
    P::transaction(|j| {
        drop(m.lock(j));
        *m.lock(j) = 3;
    })
    .unwrap();
    assert_eq!(P::transaction(|j| *m.lock(j)).unwrap(), 3);
}

// A pool type shared by the parent and its child processes (the root's fingerprint
// names it).
crndm::pool!(killed);

#[test]
#[ignore = "child process of a_sigkill_during_threaded_increments_keeps_what_committed"]
fn child_threaded_increments() {
    type P = killed::BuddyAlloc;
    let Some(path) = crndm_tests::child_env(crndm_tests::CHILD_POOL_ENV) else {
        return;
    };
    let root = P::open::<Parc<Shared<P>, P>>(&path, 0).unwrap();
    if crndm_tests::child_env("CRNDM_TEST_HOLD_LOCK").is_some() {
        // Take the lock and never let go: the parent kills us while we hold it.
        let _ = P::transaction(|j| {
            *root.total.lock(j) += 1000;
            std::fs::write(
                crndm_tests::child_env(crndm_tests::CHILD_READY_ENV).unwrap(),
                b"",
            )
            .unwrap();
            std::thread::sleep(Duration::from_secs(60));
        });
        return;
    }
    let shared = Parc::demote(&root);
    let start = totals(&root).0;
    let ready = crndm_tests::child_env(crndm_tests::CHILD_READY_ENV);
    std::thread::scope(|s| {
        s.spawn(|| hammer(&shared, None));
        // Tell the parent once PROGRESS increments of this child have committed.
        if let Some(ready) = ready {
            while totals(&root).0 < start + PROGRESS {
                std::thread::yield_now();
            }
            std::fs::write(ready, b"").unwrap();
        }
    });
}

/// Increments each child of the SIGKILL test commits before it is killed.
const PROGRESS: u64 = 50;

#[test]
fn a_sigkill_during_threaded_increments_keeps_what_committed() {
    type P = killed::BuddyAlloc;
    let d = shm_dir();
    let path = d.path().join("k.pool");
    drop(P::open::<Parc<Shared<P>, P>>(&path, O_CF).unwrap());
    let pool = path.to_str().unwrap();
    let name = "shared::child_threaded_increments";
    let mut last = 0;
    for round in 0..5 {
        let ready = d.path().join(format!("ready{round}"));
        let mut child = ChildGuard::spawn(
            name,
            &[
                (crndm_tests::CHILD_POOL_ENV, pool),
                (crndm_tests::CHILD_READY_ENV, ready.to_str().unwrap()),
            ],
        );
        // Killed once it reported progress (however slow the machine), a little later
        // each round so the kill lands at different points of its transactions.
        assert!(
            crndm_tests::wait_for_file(&ready, Duration::from_secs(120)),
            "round {round}: the child reported no progress"
        );
        std::thread::sleep(Duration::from_millis(7 * round));
        let status = child.kill();
        assert!(
            status.code().is_none(),
            "round {round}: the child ended by itself"
        );
        let root = retry_locked(|| P::open::<Parc<Shared<P>, P>>(&path, 0)).unwrap();
        let (total, per_thread) = totals(&root);
        assert_eq!(total, per_thread, "round {round}: a transaction was torn");
        assert!(
            total >= last + PROGRESS,
            "round {round}: committed increments lost ({last} -> {total})"
        );
        last = total;
        assert_eq!(
            Parc::strong_count(&root),
            1,
            "round {round}: counts restored"
        );
        assert!(P::check().unwrap().is_empty(), "round {round}");
    }
    assert!(
        last >= 5 * PROGRESS,
        "the children committed only {last} increments"
    );
}

#[test]
fn a_pmutex_locked_by_a_killed_process_is_free_after_reopen() {
    type P = killed::BuddyAlloc;
    let d = shm_dir();
    let path = d.path().join("h.pool");
    let ready = d.path().join("ready");
    drop(P::open::<Parc<Shared<P>, P>>(&path, O_CF).unwrap());
    let mut child = ChildGuard::spawn(
        "shared::child_threaded_increments",
        &[
            (crndm_tests::CHILD_POOL_ENV, path.to_str().unwrap()),
            ("CRNDM_TEST_HOLD_LOCK", "1"),
            (crndm_tests::CHILD_READY_ENV, ready.to_str().unwrap()),
        ],
    );
    assert!(
        crndm_tests::wait_for_file(&ready, Duration::from_secs(120)),
        "the child never took the lock"
    );
    child.kill();
    let root = retry_locked(|| P::open::<Parc<Shared<P>, P>>(&path, 0)).unwrap();
    let got = P::transaction(|j| root.total.try_lock(j).map(|g| *g)).unwrap();
    assert_eq!(
        got,
        Some(0),
        "unlocked, and the uncommitted +1000 rolled back"
    );
}

/// Two transactions locking two `PMutex`es in opposite orders: the one whose wait would
/// close the cycle aborts with a "deadlock" message (releasing its lock), the other
/// commits; nothing hangs.
#[test]
fn opposite_lock_orders_abort_one_transaction_instead_of_hanging() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    #[derive(Root)]
    struct Two {
        a: PMutex<u64, P>,
        b: PMutex<u64, P>,
    }
    let d = shm_dir();
    let root = P::open::<Two>(d.path().join("d.pool"), O_CF).unwrap();
    let root = &root;
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let results = std::thread::scope(|s| {
        let workers: Vec<_> = [false, true]
            .into_iter()
            .map(|b_first| {
                let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
                // Channels are volatile side effects a transaction cannot roll back.
                let signals = crndm::AssertTxInSafe((locked_tx.clone(), go_rx));
                let h = s.spawn(move || {
                    P::transaction(|j| {
                        let (locked, go) = &*signals;
                        let (m1, m2, add) = if b_first {
                            (&root.b, &root.a, 10)
                        } else {
                            (&root.a, &root.b, 1)
                        };
                        *m1.lock(j) += add;
                        locked.send(()).unwrap();
                        go.recv().unwrap();
                        *m2.lock(j) += add;
                    })
                });
                (go_tx, h)
            })
            .collect();
        // Both hold their first lock before either asks for its second.
        locked_rx.recv().unwrap();
        locked_rx.recv().unwrap();
        let hs: Vec<_> = workers
            .into_iter()
            .map(|(go, h)| {
                go.send(()).unwrap();
                h
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    let aborted: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            Err(Error::Aborted(msg)) => Some(msg.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(aborted.len(), 1, "{results:?}");
    assert!(aborted[0].contains("deadlock"), "{}", aborted[0]);
    let (a, b) = P::transaction(|j| (*root.a.lock(j), *root.b.lock(j))).unwrap();
    assert!(
        (a, b) == (1, 1) || (a, b) == (10, 10),
        "one committed whole: {a}, {b}"
    );
    assert!(P::check().unwrap().is_empty());
}
