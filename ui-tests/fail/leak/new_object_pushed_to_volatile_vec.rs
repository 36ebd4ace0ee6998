// Bug: new objects are pushed to a volatile `Vec` outside the pool and never stored.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<u8>>("never-opened.pool", O_CF)?;
    let mut made = Vec::new();
    BuddyAlloc::transaction(|j| made.push(Prc::new(1_u64, j)))?;
    drop(made);
    Ok(())
}
