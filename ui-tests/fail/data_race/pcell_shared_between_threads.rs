// Bug: a persistent PCell is shared with another thread, which changes it concurrently.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PCell<u64>>("never-opened.pool", O_CF)?;
    std::thread::scope(|s| {
        s.spawn(|| BuddyAlloc::transaction(|j| root.set(1, j)));
        BuddyAlloc::transaction(|j| root.set(2, j))
    })?;
    Ok(())
}
