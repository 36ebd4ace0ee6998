// Bug: a persistent PRefCell is borrowed mutably without a journal.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PRefCell<[u8; 4]>>("never-opened.pool", O_CF)?;
    root.borrow_mut()[0] = 1;
    Ok(())
}
