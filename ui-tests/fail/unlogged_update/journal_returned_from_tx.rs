// Bug: a transaction's journal is returned, to log changes after the transaction ended.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    let j = BuddyAlloc::transaction(|j| j)?;
    root.set(1, j);
    Ok(())
}
