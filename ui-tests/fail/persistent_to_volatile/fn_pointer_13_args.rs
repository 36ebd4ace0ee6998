// Bug: a fn pointer with 13 arguments (one more than the old negative impls) in a PCell root.
use crndm::default::*;

type F13 = fn(u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8) -> u64;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<Option<F13>>>("never-opened.pool", O_CF)?;
    Ok(())
}
