// Bug: a reference to volatile memory is moved into persistent memory.
use crndm::default::*;

static VOLATILE: i32 = 1;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let _b = Pbox::new(&VOLATILE, j);
    })?;
    Ok(())
}
