// Bug: a `Vec` (its buffer is on the volatile heap) is moved into persistent memory.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let _b = Pbox::new(vec![1, 2, 3], j);
    })?;
    Ok(())
}
