// Bug: a persistent mutex protects a `Box`, a pointer into the volatile heap.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PMutex<Box<u64>>>("never-opened.pool", O_CF)?;
    Ok(())
}
