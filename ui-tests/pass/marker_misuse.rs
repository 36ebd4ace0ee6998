//! The right way to use volatile state in a transaction (see `fail/marker_misuse/`): read
//! captured values, and wrap volatile state whose changes need not be rolled back (here
//! statistics) in `AssertTxInSafe`, knowing that an abort does not undo them.

use crndm::AssertTxInSafe;
use crndm::default::*;
use std::cell::Cell;

fn main() -> crndm::Result<()> {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let root = BuddyAlloc::open::<PCell<u64>>(dir.path().join("stats.pool"), O_CFNE)?;

    let step = 5_u64; // read-only captures are fine
    let attempts = AssertTxInSafe(Cell::new(0_u32));
    let mut log = Vec::new();
    {
        let (root, attempts) = (&root, &attempts);
        let mut log = AssertTxInSafe(&mut log);
        BuddyAlloc::transaction(move |j| {
            attempts.set(attempts.get() + 1);
            log.push(root.get());
            root.set(root.get() + step, j);
        })?;
    }
    assert_eq!(attempts.get(), 1);
    assert_eq!(log, [0]);
    assert_eq!(root.get(), 5);
    Ok(())
}
