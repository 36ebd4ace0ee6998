// Bug: the root object of a pool is a reference (here into the program's read-only data).
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<&'static str>("never-opened.pool", O_CF)?;
    Ok(())
}
