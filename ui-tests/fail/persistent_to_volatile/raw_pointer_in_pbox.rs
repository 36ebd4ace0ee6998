// Bug: a raw pointer to a volatile local is moved into persistent memory.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    let volatile = 5;
    BuddyAlloc::transaction(|j| {
        let _b = Pbox::new(&raw const volatile, j);
    })?;
    Ok(())
}
