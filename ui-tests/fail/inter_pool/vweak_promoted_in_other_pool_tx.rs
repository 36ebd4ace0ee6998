// Bug: a volatile weak pointer into pool `a` is promoted in a transaction of pool `b`.
crndm::pool!(a);
crndm::pool!(b);
use crndm::{MemPool, O_CF};

fn main() -> crndm::Result<()> {
    let ra = a::BuddyAlloc::open::<a::Parc<i32>>("a.pool", O_CF)?;
    let weak = a::Parc::demote(&ra);
    b::BuddyAlloc::transaction(|jb| {
        let _strong = weak.promote(jb);
    })?;
    Ok(())
}
