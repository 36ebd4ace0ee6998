// Bug: a transaction changes a captured volatile `RefCell`, a change no abort would undo.
use crndm::default::*;
use std::cell::RefCell;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PCell<u64>>("never-opened.pool", O_CF)?;
    let seen = RefCell::new(Vec::new());
    BuddyAlloc::transaction(|j| {
        seen.borrow_mut().push(root.get());
        root.set(1, j);
    })?;
    Ok(())
}
