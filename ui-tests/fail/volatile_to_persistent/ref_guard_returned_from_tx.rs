// Bug: a borrow guard of a persistent PRefCell is returned from a transaction.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PRefCell<u64>>("never-opened.pool", O_CF)?;
    let _kept = BuddyAlloc::transaction(|_j| root.borrow())?;
    Ok(())
}
