//! The one known open way around `TxOutSafe` (issue 15, item 10): an owned persistent
//! pointer parked in a `thread_local!` (or a `static`) by one transaction and taken out
//! by a later one. It cannot be a compile error (a thread-local needs no capture), so
//! the journal guards the run-time worst case: a pointer whose block is not allocated
//! any more (its transaction aborted) cannot be stored, dropped or changed silently.

use std::cell::RefCell;

use crndm::Error;

crndm::pool!(stash_a);
crndm::pool!(stash_b);
crndm::pool!(stash_c);

thread_local! {
    static STASH_A: RefCell<Option<stash_a::Pbox<u64>>> = const { RefCell::new(None) };
    static STASH_B: RefCell<Option<stash_b::Pbox<u64>>> = const { RefCell::new(None) };
    static STASH_C: RefCell<Option<stash_c::Prc<u64>>> = const { RefCell::new(None) };
}

fn aborted_with<T: std::fmt::Debug>(r: crndm::Result<T>, needle: &str) {
    match r {
        Err(Error::Aborted(msg)) => assert!(msg.contains(needle), "unexpected message {msg}"),
        other => panic!("expected an abort mentioning {needle:?}, got {other:?}"),
    }
}

/// A `Pbox` stashed by an aborted transaction and stored into the root by a later one:
/// the store itself is not caught (the guard is not on the hot path of every write),
/// but the block stays out of reuse (quarantine), and the first transaction that drops,
/// replaces or changes the stored pointer is refused before it frees anything.
#[test]
fn a_stashed_pbox_of_an_aborted_transaction_is_refused_at_its_first_use() {
    use stash_a::*;
    let dir = tempfile::tempdir().unwrap();
    let root =
        BuddyAlloc::open::<PCell<Option<Pbox<u64>>>>(dir.path().join("a.pool"), O_CF).unwrap();
    let r = BuddyAlloc::transaction(|j| -> () {
        let b = Pbox::new(7, j);
        STASH_A.with(|s| *s.borrow_mut() = Some(b));
        panic!("abort on purpose");
    });
    assert!(r.is_err());
    BuddyAlloc::transaction(|j| {
        let b = STASH_A.with(|s| s.borrow_mut().take()).expect("stashed");
        root.set(Some(b), j);
    })
    .unwrap();
    aborted_with(
        BuddyAlloc::transaction(|j| drop(root.take(j))),
        "not allocated",
    );
    aborted_with(
        BuddyAlloc::transaction(|j| root.set(None, j)),
        "not allocated",
    );
    drop(root);
}

/// Dropping a stashed `Pbox` of an aborted transaction in a later one is refused too
/// (it would free a block that is free, or someone else's).
#[test]
fn a_stashed_pbox_of_an_aborted_transaction_cannot_be_dropped() {
    use stash_b::*;
    let dir = tempfile::tempdir().unwrap();
    let root =
        BuddyAlloc::open::<PCell<Option<Pbox<u64>>>>(dir.path().join("b.pool"), O_CF).unwrap();
    let r = BuddyAlloc::transaction(|j| -> () {
        STASH_B.with(|s| *s.borrow_mut() = Some(Pbox::new(7, j)));
        panic!("abort on purpose");
    });
    assert!(r.is_err());
    // The block is reused by a live object.
    BuddyAlloc::transaction(|j| root.set(Some(Pbox::new(11, j)), j)).unwrap();
    aborted_with(
        BuddyAlloc::transaction(|_| drop(STASH_B.with(|s| s.borrow_mut().take()))),
        "not allocated",
    );
    BuddyAlloc::transaction(|j| assert_eq!(root.take(j).as_deref(), Some(&11))).unwrap();
    BuddyAlloc::check().unwrap();
}

/// A stashed `Prc` of an aborted transaction: cloning or dropping it later is refused
/// (its counts live in a free block).
#[test]
fn a_stashed_prc_of_an_aborted_transaction_is_refused() {
    use stash_c::*;
    let dir = tempfile::tempdir().unwrap();
    let root = BuddyAlloc::open::<PCell<u64>>(dir.path().join("c.pool"), O_CF).unwrap();
    let r = BuddyAlloc::transaction(|j| -> () {
        STASH_C.with(|s| *s.borrow_mut() = Some(Prc::new(7, j)));
        panic!("abort on purpose");
    });
    assert!(r.is_err());
    aborted_with(
        BuddyAlloc::transaction(|j| {
            root.set(1, j);
            STASH_C.with(|s| drop(s.borrow().as_ref().map(|p| p.pclone(j))));
        }),
        "not allocated",
    );
    aborted_with(
        BuddyAlloc::transaction(|_| drop(STASH_C.with(|s| s.borrow_mut().take()))),
        "not allocated",
    );
    assert_eq!(root.get(), 0, "the refused transaction rolled back");
    BuddyAlloc::check().unwrap();
}

// ---- std's `AssertUnwindSafe` (stable only) ----
//
// On stable, what a transaction body may capture is `UnwindSafe`, and std's
// `AssertUnwindSafe` admits anything: an owned pointer can be parked outside its
// transaction, or another pool's journal captured. Both stay guarded at run time, as the
// thread-local stash above (README, "Stable Rust and the `nightly` feature"). With the
// `nightly` feature these programs do not compile (`TxInSafe` refuses `&mut` and
// journals inside the wrapper).

#[cfg(not(feature = "nightly"))]
crndm::pool!(stash_d);
#[cfg(not(feature = "nightly"))]
crndm::pool!(stash_e);
#[cfg(not(feature = "nightly"))]
crndm::pool!(stash_f);

/// A `Pbox` parked in a local through `AssertUnwindSafe(&mut _)` by an aborted
/// transaction, then stored by a later one: refused at its first drop or change, like
/// the thread-local stash.
#[cfg(not(feature = "nightly"))]
#[test]
fn a_pbox_parked_through_assert_unwind_safe_is_refused_at_its_first_use() {
    use stash_d::*;
    use std::panic::AssertUnwindSafe;
    let dir = tempfile::tempdir().unwrap();
    let root =
        BuddyAlloc::open::<PCell<Option<Pbox<u64>>>>(dir.path().join("d.pool"), O_CF).unwrap();
    let mut parked: Option<Pbox<u64>> = None;
    let slot = AssertUnwindSafe(&mut parked);
    let r = BuddyAlloc::transaction(move |j| -> () {
        let slot = slot; // the whole wrapper, not its field
        *slot.0 = Some(Pbox::new(7, j));
        panic!("abort on purpose");
    });
    assert!(r.is_err());
    let b = AssertUnwindSafe(parked.take().expect("parked by the aborted transaction"));
    let cell: &PCell<Option<Pbox<u64>>> = &root;
    BuddyAlloc::transaction(move |j| {
        let b = b;
        cell.set(Some(b.0), j);
    })
    .unwrap();
    aborted_with(
        BuddyAlloc::transaction(|j| drop(root.take(j))),
        "not allocated",
    );
    aborted_with(
        BuddyAlloc::transaction(|j| root.set(None, j)),
        "not allocated",
    );
}

/// Another pool's journal captured through `AssertUnwindSafe`: the only place it exists
/// is inside that pool's transaction, and a transaction of a second pool started there is
/// refused before it writes anything, so no pointer of one pool reaches the other.
#[cfg(not(feature = "nightly"))]
#[test]
fn a_journal_captured_through_assert_unwind_safe_cannot_reach_another_pool() {
    use crndm::MemPool;
    use std::panic::AssertUnwindSafe;
    let dir = tempfile::tempdir().unwrap();
    let a =
        stash_e::BuddyAlloc::open::<stash_e::PCell<u64>>(dir.path().join("e.pool"), crndm::O_CF)
            .unwrap();
    let b = stash_f::BuddyAlloc::open::<stash_f::PCell<Option<stash_e::Pbox<u64>>>>(
        dir.path().join("f.pool"),
        crndm::O_CF,
    )
    .unwrap();
    let inner = stash_e::BuddyAlloc::transaction(|ja| {
        a.set(1, ja);
        let ja = AssertUnwindSafe(ja);
        let cell: &stash_f::PCell<Option<stash_e::Pbox<u64>>> = &b;
        stash_f::BuddyAlloc::transaction(move |jb| {
            let ja = ja;
            cell.set(Some(stash_e::Pbox::new(5, ja.0)), jb);
        })
    })
    .expect("the outer transaction goes on");
    assert!(
        matches!(inner, Err(Error::NestedPools { .. })),
        "expected NestedPools, got {inner:?}"
    );
    assert_eq!(a.get(), 1, "the outer transaction committed");
    assert!(
        stash_f::BuddyAlloc::transaction(|j| b.take(j).is_none()).unwrap(),
        "nothing of pool e reached pool f"
    );
}
