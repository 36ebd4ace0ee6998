// Bug: a transaction changes a captured atomic, a change no abort would undo.
use crndm::default::*;
use std::sync::atomic::{AtomicU64, Ordering};

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PCell<u64>>("never-opened.pool", O_CF)?;
    let attempts = AtomicU64::new(0);
    BuddyAlloc::transaction(|j| {
        root.set(attempts.fetch_add(1, Ordering::Relaxed), j);
    })?;
    Ok(())
}
