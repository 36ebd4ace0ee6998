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
