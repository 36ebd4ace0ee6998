// Bug: a new Pbox is kept in a volatile variable that outlives its transaction.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    let mut kept = None;
    BuddyAlloc::transaction(|j| kept = Some(Pbox::new(1, j)))?;
    drop(kept);
    Ok(())
}
