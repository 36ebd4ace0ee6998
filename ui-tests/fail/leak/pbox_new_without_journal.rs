// Bug: an object is allocated outside a transaction, where a crash would leak it.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PRefCell<Option<Pbox<u64>>>>("never-opened.pool", O_CF)?;
    let boxed = Pbox::new(1);
    BuddyAlloc::transaction(|j| *root.borrow_mut(j) = Some(boxed))?;
    Ok(())
}
