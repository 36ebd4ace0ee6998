// Bug: `AssertTxInSafe` smuggles pool `a`'s journal into a transaction of pool `b`.
crndm::pool!(a);
crndm::pool!(b);
use crndm::{AssertTxInSafe, MemPool, O_CF};

fn main() -> crndm::Result<()> {
    let ra = a::BuddyAlloc::open::<a::PCell<i32>>("a.pool", O_CF)?;
    a::BuddyAlloc::transaction(|ja| {
        let smuggled = AssertTxInSafe(ja);
        b::BuddyAlloc::transaction(|_jb| ra.set(1, *smuggled)).unwrap();
    })?;
    Ok(())
}
