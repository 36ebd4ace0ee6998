// Bug: a journal is made outside a transaction, to allocate with it.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<u8>>("never-opened.pool", O_CF)?;
    let j = Journal::default();
    let _boxed = Pbox::new(1_u64, &j);
    Ok(())
}
