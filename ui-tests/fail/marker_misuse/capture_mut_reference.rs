// Bug: a transaction changes a captured `&mut` local, a change no abort would undo.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PCell<u64>>("never-opened.pool", O_CF)?;
    let mut attempts = 0;
    BuddyAlloc::transaction(|j| {
        attempts += 1;
        root.set(attempts, j);
    })?;
    Ok(())
}
