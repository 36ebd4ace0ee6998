//! The right way to use a `PMutex` (see `fail/locked_mutex/`): lock it with the journal,
//! use the guard inside the transaction and return copies; the lock is released when the
//! transaction ends, whether it commits, aborts, or the program stops.

use crndm::default::*;

fn main() -> crndm::Result<()> {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = dir.path().join("mutex.pool");
    let root = BuddyAlloc::open::<PMutex<u64>>(&path, O_CFNE)?;

    let seen = BuddyAlloc::transaction(|j| {
        let mut guard = root.lock(j);
        *guard += 10;
        let copy = *guard;
        drop(guard);
        // The lock is still this transaction's: locking again is fine.
        *root.lock(j) += 1;
        copy
    })?;
    assert_eq!(seen, 10);

    std::panic::set_hook(Box::new(|_| {})); // the abort below is expected
    let aborted = BuddyAlloc::transaction(|j| -> () {
        *root.lock(j) = 0;
        panic!("abort while holding the lock");
    });
    let _ = std::panic::take_hook();
    assert!(aborted.is_err());

    // Released by the abort: another thread's transaction gets it at once.
    let value = std::thread::scope(|s| {
        s.spawn(|| BuddyAlloc::transaction(|j| root.try_lock(j).map(|g| *g)))
            .join()
            .expect("the thread finishes")
    })?;
    assert_eq!(value, Some(11));

    // No lock survives closing the pool.
    drop(root);
    let root = BuddyAlloc::open::<PMutex<u64>>(&path, O_CFNE)?;
    assert_eq!(
        BuddyAlloc::transaction(|j| root.try_lock(j).map(|g| *g))?,
        Some(11)
    );
    Ok(())
}
