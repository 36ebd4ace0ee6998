// Bug: a persistent PRefCell is shared between threads (its borrow flag is not synchronised).
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PRefCell<u64>>("never-opened.pool", O_CF)?;
    std::thread::scope(|s| {
        s.spawn(|| *root.borrow());
        *root.borrow()
    });
    Ok(())
}
