// Bug: a transaction's journal is stashed as `'static` in a thread-local, to be used later.
use crndm::default::*;
use std::cell::Cell;

thread_local! {
    static STASH: Cell<Option<&'static Journal>> = const { Cell::new(None) };
}

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| STASH.with(|s| s.set(Some(j))))?;
    root.set(1, STASH.with(Cell::get).unwrap());
    Ok(())
}
