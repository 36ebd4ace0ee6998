// Bug: a persistent PRefCell is written through a shared (unlogged) borrow.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PRefCell<u64>>("never-opened.pool", O_CF)?;
    *root.borrow() = 5;
    Ok(())
}
