// Bug: a persistent pointer is kept in a volatile cell, which is reset (leaking it) on reopen.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<VCell<Option<Pbox<i32>>>>("never-opened.pool", O_CF)?;
    Ok(())
}
