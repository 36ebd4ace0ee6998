// Bug: the root of a pool is a logged cell holding a `Vec`, whose buffer is volatile.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PRefCell<Vec<u8>>>("never-opened.pool", O_CF)?;
    Ok(())
}
