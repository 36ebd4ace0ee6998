// Bug: an object made in pool `b`'s transaction is carried out of it and stored in pool `a`.
crndm::pool!(a);
crndm::pool!(b);
use crndm::{MemPool, O_CF};

fn main() -> crndm::Result<()> {
    let ra = a::BuddyAlloc::open::<a::PRefCell<Option<b::Pbox<i32>>>>("a.pool", O_CF)?;
    a::BuddyAlloc::transaction(|ja| {
        let boxed = b::BuddyAlloc::transaction(|jb| b::Pbox::new(1, jb)).unwrap();
        *ra.borrow_mut(ja) = Some(boxed);
    })?;
    Ok(())
}
