// Bug: a transaction's journal is kept in a volatile variable that outlives the transaction.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    let mut kept = None;
    BuddyAlloc::transaction(|j| kept = Some(j))?;
    root.set(1, kept.unwrap());
    Ok(())
}
