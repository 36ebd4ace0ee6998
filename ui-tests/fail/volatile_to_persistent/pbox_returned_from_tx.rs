// Bug: a new Pbox is returned from its transaction into a volatile variable.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    let _kept = BuddyAlloc::transaction(|j| Pbox::new(1, j))?;
    Ok(())
}
