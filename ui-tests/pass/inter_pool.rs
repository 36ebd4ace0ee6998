//! The right way with two pools (see `fail/inter_pool/`): each pool's objects are made and
//! changed with its own journal, values (not pointers) are copied between pools, and
//! transactions of two pools may nest as long as each uses only its own journal.

crndm::pool!(a);
crndm::pool!(b);

use crndm::{MemPool, O_CFNE};

fn main() -> crndm::Result<()> {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let ra = a::BuddyAlloc::open::<a::PRefCell<Option<a::Pbox<u64>>>>(
        dir.path().join("a.pool"),
        O_CFNE,
    )?;
    let rb = b::BuddyAlloc::open::<b::PRefCell<Option<b::Pbox<u64>>>>(
        dir.path().join("b.pool"),
        O_CFNE,
    )?;

    a::BuddyAlloc::transaction(|ja| *ra.borrow_mut(ja) = Some(a::Pbox::new(7, ja)))?;

    // Copy the value out of pool `a` and allocate it anew in pool `b`.
    let value = ra.borrow().as_ref().map(|boxed| **boxed);
    b::BuddyAlloc::transaction(|jb| *rb.borrow_mut(jb) = value.map(|v| b::Pbox::new(v, jb)))?;
    assert_eq!(rb.borrow().as_ref().map(|boxed| **boxed), Some(7));

    // Nested transactions of two pools, each with its own journal.
    let inner_committed = a::BuddyAlloc::transaction(|ja| {
        let mut slot = ra.borrow_mut(ja);
        let v = slot.as_mut().expect("set above").get_mut(ja);
        *v += 1;
        let copy = *v;
        b::BuddyAlloc::transaction(|jb| *rb.borrow_mut(jb) = Some(b::Pbox::new(copy, jb))).is_ok()
    })?;
    assert!(inner_committed);
    assert_eq!(ra.borrow().as_ref().map(|boxed| **boxed), Some(8));
    assert_eq!(rb.borrow().as_ref().map(|boxed| **boxed), Some(8));
    Ok(())
}
