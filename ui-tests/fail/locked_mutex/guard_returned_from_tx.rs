// Bug: a PMutex guard is returned from its transaction, so the lock would outlive it.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PMutex<u64>>("never-opened.pool", O_CF)?;
    let _guard = BuddyAlloc::transaction(|j| root.lock(j))?;
    Ok(())
}
