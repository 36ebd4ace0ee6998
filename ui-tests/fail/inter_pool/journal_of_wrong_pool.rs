// Bug: an object of pool `b` is changed with the journal of pool `a`'s transaction.
crndm::pool!(a);
crndm::pool!(b);
use crndm::{MemPool, O_CF};

fn main() -> crndm::Result<()> {
    let rb = b::BuddyAlloc::open::<b::PCell<i32>>("b.pool", O_CF)?;
    a::BuddyAlloc::transaction(|ja| rb.set(1, ja))?;
    Ok(())
}
