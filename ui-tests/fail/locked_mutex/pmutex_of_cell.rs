// Bug: a PMutex protects a non-`PSafe` value (a volatile `Cell`, unlogged interior mutability).
use crndm::default::*;
use std::cell::Cell;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PMutex<Cell<u64>>>("never-opened.pool", O_CF)?;
    Ok(())
}
