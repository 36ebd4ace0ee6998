// Bug: `AssertTxInSafe` smuggles a Pbox of pool `a` into a transaction of pool `b`.
crndm::pool!(a);
crndm::pool!(b);
use crndm::{AssertTxInSafe, MemPool, O_CF};

fn main() -> crndm::Result<()> {
    let rb = b::BuddyAlloc::open::<b::PRefCell<Option<a::Pbox<i32>>>>("b.pool", O_CF)?;
    a::BuddyAlloc::transaction(|ja| {
        let smuggled = AssertTxInSafe(a::Pbox::new(1, ja));
        b::BuddyAlloc::transaction(|jb| {
            let wrapper = smuggled; // the whole wrapper, not a field
            *rb.borrow_mut(jb) = Some(wrapper.0);
        })
        .unwrap();
    })?;
    Ok(())
}
