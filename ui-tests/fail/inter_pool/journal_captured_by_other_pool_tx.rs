// Bug: the journal of pool `a`'s transaction is used inside a transaction of pool `b`.
crndm::pool!(a);
crndm::pool!(b);
use crndm::{MemPool, O_CF};

fn main() -> crndm::Result<()> {
    let ra = a::BuddyAlloc::open::<a::PCell<i32>>("a.pool", O_CF)?;
    a::BuddyAlloc::transaction(|ja| {
        b::BuddyAlloc::transaction(|_jb| ra.set(1, ja)).unwrap();
    })?;
    Ok(())
}
