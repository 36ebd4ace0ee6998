// Bug: the root object is overwritten in place, without a journal.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<u64>("never-opened.pool", O_CF)?;
    *root = 5;
    Ok(())
}
