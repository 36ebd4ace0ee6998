// Bug: a Pbox of pool `a` is moved into a transaction of pool `b` to be stored in `b`.
crndm::pool!(a);
crndm::pool!(b);
use crndm::{MemPool, O_CF};

fn main() -> crndm::Result<()> {
    let rb = b::BuddyAlloc::open::<b::PRefCell<Option<a::Pbox<i32>>>>("b.pool", O_CF)?;
    a::BuddyAlloc::transaction(|ja| {
        let boxed = a::Pbox::new(1, ja);
        b::BuddyAlloc::transaction(|jb| *rb.borrow_mut(jb) = Some(boxed)).unwrap();
    })?;
    Ok(())
}
