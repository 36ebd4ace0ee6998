// Bug: a PMutex guard is stashed as `'static` in a thread-local, to use the value unlocked.
use crndm::default::*;
use std::cell::RefCell;

type Guard = crndm::sync::PMutexGuard<'static, u64, BuddyAlloc>;

thread_local! {
    static STASH: RefCell<Option<Guard>> = const { RefCell::new(None) };
}

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PMutex<u64>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| STASH.with(|s| *s.borrow_mut() = Some(root.lock(j))))?;
    Ok(())
}
