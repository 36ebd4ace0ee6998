//! The right way with two pools (see `fail/inter_pool/`): each pool's objects are made and
//! changed with its own journal, and values (not pointers) are copied between pools. A
//! transaction of one pool inside one of another is refused (`Error::NestedPools`), as the
//! two could not commit atomically together: run them one after the other.

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

    // Nesting a transaction of `b` inside one of `a` is refused; `a`'s goes on.
    let (copy, refused) = a::BuddyAlloc::transaction(|ja| {
        let mut slot = ra.borrow_mut(ja);
        let v = slot.as_mut().expect("set above").get_mut(ja);
        *v += 1;
        let inner = b::BuddyAlloc::transaction(|jb| *rb.borrow_mut(jb) = None);
        (*v, matches!(inner, Err(crndm::Error::NestedPools { .. })))
    })?;
    assert!(refused);
    assert_eq!(rb.borrow().as_ref().map(|boxed| **boxed), Some(7));
    b::BuddyAlloc::transaction(|jb| *rb.borrow_mut(jb) = Some(b::Pbox::new(copy, jb)))?;
    assert_eq!(ra.borrow().as_ref().map(|boxed| **boxed), Some(8));
    assert_eq!(rb.borrow().as_ref().map(|boxed| **boxed), Some(8));
    Ok(())
}
