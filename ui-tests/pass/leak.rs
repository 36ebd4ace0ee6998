//! The right way to allocate (see `fail/leak/`): inside a transaction, storing the new
//! object in the pool before the transaction ends; what is dropped or aborted is freed.

use crndm::default::*;

fn main() -> crndm::Result<()> {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let root = BuddyAlloc::open::<PRefCell<Option<Pbox<[u64; 32]>>>>(
        dir.path().join("leak.pool"),
        O_CFNE,
    )?;
    let baseline = BuddyAlloc::stats()?.used;

    BuddyAlloc::transaction(|j| *root.borrow_mut(j) = Some(Pbox::new([1; 32], j)))?;
    assert!(BuddyAlloc::stats()?.used > baseline);

    // Replaced in a transaction: the old object is freed when it commits.
    BuddyAlloc::transaction(|j| *root.borrow_mut(j) = None)?;
    assert_eq!(BuddyAlloc::stats()?.used, baseline);

    // Made and dropped in one transaction: freed, not leaked.
    BuddyAlloc::transaction(|j| drop(Pbox::new([2_u64; 32], j)))?;
    assert_eq!(BuddyAlloc::stats()?.used, baseline);

    // Made in a transaction that aborts: the allocation is rolled back.
    std::panic::set_hook(Box::new(|_| {})); // the abort below is expected
    let aborted = BuddyAlloc::transaction(|j| -> () {
        *root.borrow_mut(j) = Some(Pbox::new([3; 32], j));
        panic!("abort after allocating");
    });
    let _ = std::panic::take_hook();
    assert!(aborted.is_err());
    assert!(root.borrow().is_none());
    assert_eq!(BuddyAlloc::stats()?.used, baseline);
    assert!(BuddyAlloc::check()?.is_empty());
    Ok(())
}
