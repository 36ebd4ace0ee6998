// Bug: a transaction's journal is used from another thread while the transaction runs.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PMutex<u64>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        std::thread::scope(|s| {
            s.spawn(|| *root.lock(j) += 1);
        });
    })?;
    Ok(())
}
