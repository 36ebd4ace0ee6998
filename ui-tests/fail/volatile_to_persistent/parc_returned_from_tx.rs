// Bug: a Parc promoted in a transaction is returned from it into a volatile variable.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<Parc<i32>>("never-opened.pool", O_CF)?;
    let weak = Parc::demote(&root);
    let _kept = BuddyAlloc::transaction(|j| weak.promote(j))?;
    Ok(())
}
