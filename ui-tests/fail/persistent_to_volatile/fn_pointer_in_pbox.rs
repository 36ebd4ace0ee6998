// Bug: a function pointer (an address that changes with every run) is moved into persistent memory.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let _b = Pbox::new(main as fn() -> crndm::Result<()>, j);
    })?;
    Ok(())
}
