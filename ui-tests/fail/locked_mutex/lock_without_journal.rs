// Bug: a PMutex is locked outside a transaction, where nothing would ever release the lock.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PMutex<u64>>("never-opened.pool", O_CF)?;
    *root.lock() += 1;
    Ok(())
}
