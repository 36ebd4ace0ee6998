// Bug: a persistent cell is changed without a journal (outside any transaction).
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    root.set(1);
    Ok(())
}
