// Bug: a `String` (its buffer is on the volatile heap) is moved into persistent memory.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let _b = Pbox::new(String::from("gone after a restart"), j);
    })?;
    Ok(())
}
