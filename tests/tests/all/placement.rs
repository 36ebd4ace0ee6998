//! The placement rule P1 (`stm::placement`): a cell changed through `&self` must live in
//! the heap of its journal's pool; and `PRefCell::pclone` under its own fresh guard.

use crndm::{Error, MemPool};

crndm::pool!(place_a);
crndm::pool!(place_b);
crndm::pool!(place_c);
crndm::pool!(place_d);
crndm::pool!(place_e);
crndm::pool!(place_f);

fn aborted_with<T: std::fmt::Debug>(r: crndm::Result<T>, needle: &str) {
    match r {
        Err(Error::Aborted(msg)) => assert!(msg.contains(needle), "unexpected message {msg}"),
        other => panic!("expected an abort mentioning {needle:?}, got {other:?}"),
    }
}

/// A `PCell<Option<Pbox>>` on the stack cannot take a `Pbox`: the transaction aborts,
/// nothing leaks, and the pool checks clean.
#[test]
fn a_stack_pcell_is_refused() {
    use place_a::*;
    let dir = tempfile::tempdir().unwrap();
    let root = BuddyAlloc::open::<PCell<u64>>(dir.path().join("a.pool"), O_CF).unwrap();
    let used = BuddyAlloc::stats().unwrap().used;
    let stack: PCell<Option<Pbox<u64>>> = PCell::new(None);
    aborted_with(
        BuddyAlloc::transaction(|j| {
            root.set(5, j);
            stack.set(Some(Pbox::new(7, j)), j);
        }),
        "does not live in that pool's heap",
    );
    assert_eq!(root.get(), 0, "the abort rolled back the root");
    assert_eq!(BuddyAlloc::stats().unwrap().used, used, "nothing leaked");
    BuddyAlloc::check().unwrap();
    drop(stack);
}

/// A `PRefCell` in a `Box` cannot be borrowed mutably; a `PVec` owned by the body (changed
/// through `&mut`) still works and can be stored.
#[test]
fn a_boxed_prefcell_is_refused_and_owned_values_work() {
    use place_b::*;
    let dir = tempfile::tempdir().unwrap();
    let root = BuddyAlloc::open::<PRefCell<PVec<u64>>>(dir.path().join("b.pool"), O_CF).unwrap();
    let boxed: Box<PRefCell<PVec<u64>>> = Box::new(PRefCell::new(PVec::new()));
    aborted_with(
        BuddyAlloc::transaction(|j| boxed.borrow_mut(j).push(1, j)),
        "PRefCell",
    );
    BuddyAlloc::transaction(|j| {
        let mut local = PVec::new();
        for i in 0..100 {
            local.push(i, j);
        }
        *root.borrow_mut(j) = local;
    })
    .unwrap();
    assert_eq!(root.borrow().len(), 100);
    BuddyAlloc::check().unwrap();
    drop(boxed);
}

/// A cell whose type names pool Q but lives in pool P's heap cannot be changed with Q's
/// journal (its change would be logged nowhere and survive the abort).
#[test]
fn a_cell_of_another_pool_type_inside_a_pool_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    type P = place_c::BuddyAlloc;
    type Q = place_d::BuddyAlloc;
    let root = P::open::<crndm::PRefCell<Option<crndm::Pbox<crndm::PCell<u64, Q>, P>>, P>>(
        dir.path().join("p.pool"),
        crndm::O_CF,
    )
    .unwrap();
    let _q = Q::open::<crndm::PCell<u64, Q>>(dir.path().join("q.pool"), crndm::O_CF).unwrap();
    P::transaction(|j| *root.borrow_mut(j) = Some(crndm::Pbox::new(crndm::PCell::new(1), j)))
        .unwrap();
    let inner = root.borrow();
    let cell = inner.as_ref().unwrap();
    aborted_with(Q::transaction(|j| cell.set(99, j)), "PCell");
    assert_eq!(
        cell.get(),
        1,
        "an unlogged write would have survived the abort"
    );
}

/// A `PMutex` and a `VCell` outside their pool are refused too.
#[test]
fn a_stack_pmutex_and_vcell_are_refused() {
    use place_e::*;
    let dir = tempfile::tempdir().unwrap();
    let _root = BuddyAlloc::open::<PCell<u64>>(dir.path().join("e.pool"), O_CF).unwrap();
    let m: PMutex<u64> = PMutex::new(0);
    aborted_with(BuddyAlloc::transaction(|j| *m.lock(j) += 1), "PMutex");
    let v: VCell<u64> = VCell::new();
    let r = std::panic::catch_unwind(|| *v);
    assert!(r.is_err(), "a VCell on the stack must not be read");
}

#[derive(crndm::Root)]
struct Head {
    next: place_f::PRefCell<Option<place_f::Prc<Node>>>,
}

#[derive(crndm::RootLayout)]
struct Node {
    value: u64,
    next: place_f::PRefCell<Option<place_f::Prc<Node>>>,
}

/// The reference design's push: `pclone` of the cell whose guard is held (not yet
/// dereferenced) sees the current value; after a `deref_mut` it refuses.
#[test]
fn pclone_under_its_own_fresh_guard() {
    use place_f::*;
    let dir = tempfile::tempdir().unwrap();
    let head = BuddyAlloc::open::<Head>(dir.path().join("f.pool"), O_CF).unwrap();
    for v in 1..=3 {
        BuddyAlloc::transaction(|j| {
            let mut h = head.next.borrow_mut(j);
            *h = Some(Prc::new(
                Node {
                    value: v,
                    next: head.next.pclone(j),
                },
                j,
            ));
        })
        .unwrap();
    }
    fn collect(cell: &PRefCell<Option<Prc<Node>>>, out: &mut Vec<u64>) {
        if let Some(node) = cell.borrow().as_ref() {
            out.push(node.value);
            collect(&node.next, out);
        }
    }
    let mut seen = Vec::new();
    collect(&head.next, &mut seen);
    assert_eq!(seen, [3, 2, 1]);
    aborted_with(
        BuddyAlloc::transaction(|j| {
            let mut h = head.next.borrow_mut(j);
            let _touched: &mut Option<Prc<Node>> = &mut h;
            drop(head.next.pclone(j));
        }),
        "already mutably borrowed",
    );
    BuddyAlloc::check().unwrap();
}

crndm::pool!(place_g);

/// A panic that unwinds through a live `borrow_mut` guard poisons the transaction even
/// when the body catches it: the half-made change is rolled back with everything else.
#[test]
fn a_panic_through_a_live_guard_poisons_the_transaction() {
    use place_g::*;
    #[derive(crndm::Root)]
    struct R {
        a: PRefCell<u64>,
        b: PCell<u64>,
    }
    let dir = tempfile::tempdir().unwrap();
    let r = BuddyAlloc::open::<R>(dir.path().join("g.pool"), O_CF).unwrap();
    let res = BuddyAlloc::transaction(|j| {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut g = r.a.borrow_mut(j);
            *g = 3;
            panic!("half-made change");
        }));
        assert!(caught.is_err());
        r.b.set(1, j);
        7
    });
    assert!(matches!(res, Err(Error::Aborted(_))), "got {res:?}");
    assert_eq!((*r.a.borrow(), r.b.get()), (0, 0));
    BuddyAlloc::transaction(|j| *r.a.borrow_mut(j) = 4).unwrap();
    assert_eq!(*r.a.borrow(), 4, "the next transaction commits");
}

crndm::pool!(place_v);
crndm::pool!(place_w);

/// Rule V1: a `VCell` whose value owns resources, used in a range the transaction
/// logged, is reset by an abort (its old bytes would name a buffer the transaction
/// freed); a committed change stays.
#[test]
fn a_vcell_of_a_vec_used_in_an_aborted_transaction_is_reset() {
    use place_v::*;
    let dir = tempfile::tempdir().unwrap();
    let root = BuddyAlloc::open::<PRefCell<(u64, VCell<Vec<u8>>)>>(dir.path().join("v.pool"), O_CF)
        .unwrap();
    BuddyAlloc::transaction(|j| {
        let mut g = root.borrow_mut(j);
        g.0 = 1;
        *g.1 = vec![7; 1 << 16];
    })
    .unwrap();
    assert_eq!(root.borrow().1.len(), 1 << 16, "a committed change stays");
    let r = BuddyAlloc::transaction(|j| -> () {
        let mut g = root.borrow_mut(j);
        g.0 = 2;
        *g.1 = vec![9; 4]; // frees the 64 KiB buffer the logged bytes name
        panic!("abort on purpose");
    });
    assert!(r.is_err());
    let g = root.borrow();
    assert_eq!(g.0, 1, "the persistent part rolled back");
    assert!(
        g.1.is_empty(),
        "the volatile part was reset, not restored: {}",
        g.1.len()
    );
    drop(g);
    // The cell works on.
    BuddyAlloc::transaction(|j| root.borrow_mut(j).1.push(3)).unwrap();
    assert_eq!(*root.borrow().1, [3]);
}

/// A `VCell` of a plain value (no drop glue) works in a logged range: an abort puts
/// back its old bytes, which are a valid value.
#[test]
fn a_vcell_of_a_plain_value_works_in_a_logged_range() {
    use place_w::*;
    let dir = tempfile::tempdir().unwrap();
    let root = BuddyAlloc::open::<PRefCell<VCell<u64>>>(dir.path().join("w.pool"), O_CF).unwrap();
    BuddyAlloc::transaction(|j| **root.borrow_mut(j) = 5).unwrap();
    assert_eq!(**root.borrow(), 5);
    let r = BuddyAlloc::transaction(|j| -> () {
        **root.borrow_mut(j) = 9;
        panic!("abort on purpose");
    });
    assert!(r.is_err());
    assert_eq!(**root.borrow(), 5, "rolled back to a valid old value");
}
