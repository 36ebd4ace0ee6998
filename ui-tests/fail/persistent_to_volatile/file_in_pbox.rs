// Bug: an open `File` (a handle of this process) is moved into persistent memory.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let _b = Pbox::new(std::fs::File::open("/dev/null").unwrap(), j);
    })?;
    Ok(())
}
