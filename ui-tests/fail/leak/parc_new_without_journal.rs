// Bug: a shared object is allocated outside a transaction, where a crash would leak it.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<u8>>("never-opened.pool", O_CF)?;
    let _shared = Parc::new(1_u64);
    Ok(())
}
