// Bug: an `Rc` (a pointer into the volatile heap) is moved into persistent memory.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let _b = Pbox::new(std::rc::Rc::new(1), j);
    })?;
    Ok(())
}
