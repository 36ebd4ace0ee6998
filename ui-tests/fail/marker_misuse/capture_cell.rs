// Bug: a transaction changes a captured volatile `Cell`, a change no abort would undo.
use crndm::default::*;
use std::cell::Cell;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PCell<u64>>("never-opened.pool", O_CF)?;
    let attempts = Cell::new(0);
    BuddyAlloc::transaction(|j| {
        attempts.set(attempts.get() + 1);
        root.set(attempts.get(), j);
    })?;
    Ok(())
}
