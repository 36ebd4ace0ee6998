//! The right way to take results out of a transaction (see `fail/volatile_to_persistent/`):
//! return copies, and keep a persistent object reachable from volatile code only as a
//! `sync::VWeak`, which is promoted in a later transaction and never dangles.

use crndm::default::*;
use crndm::sync::VWeak;

fn main() -> crndm::Result<()> {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = dir.path().join("weak.pool");
    let root = BuddyAlloc::open::<PRefCell<Option<Parc<u64>>>>(&path, O_CFNE)?;

    let (copy, weak): (u64, VWeak<u64, BuddyAlloc>) = BuddyAlloc::transaction(|j| {
        let shared = Parc::new(5, j);
        let weak = Parc::demote(&shared);
        *root.borrow_mut(j) = Some(shared);
        (5, weak)
    })?;
    assert_eq!(copy, 5);

    // Later: promote it in a transaction, and return a copy of what it points to.
    let seen = BuddyAlloc::transaction(|j| weak.promote(j).map(|p| *p))?;
    assert_eq!(seen, Some(5));

    // After the pool is closed and reopened, the old weak pointer no longer promotes.
    drop(root);
    let root = BuddyAlloc::open::<PRefCell<Option<Parc<u64>>>>(&path, O_CFNE)?;
    assert_eq!(
        BuddyAlloc::transaction(|j| weak.promote(j).is_some())?,
        false
    );
    assert_eq!(root.borrow().as_ref().map(|p| **p), Some(5));
    Ok(())
}
