// Bug: a PMutex guard is handed to another thread, which would use the lock of this one.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PMutex<u64>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let mut guard = root.lock(j);
        std::thread::scope(|s| {
            s.spawn(move || *guard += 1);
        });
    })?;
    Ok(())
}
