// Bug: a volatile `Cell` (unlogged interior mutability) is moved into persistent memory.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let _b = Pbox::new(std::cell::Cell::new(1), j);
    })?;
    Ok(())
}
