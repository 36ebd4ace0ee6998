// Bug: a PMutex guard is kept in a volatile variable that outlives its transaction.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PMutex<u64>>("never-opened.pool", O_CF)?;
    let mut kept = None;
    BuddyAlloc::transaction(|j| kept = Some(root.lock(j)))?;
    drop(kept);
    Ok(())
}
