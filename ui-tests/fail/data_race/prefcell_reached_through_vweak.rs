// Bug: another thread reaches a single-thread PRefCell through a `sync::VWeak`.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<Parc<PRefCell<u64>>>("never-opened.pool", O_CF)?;
    let weak = Parc::demote(&root);
    std::thread::spawn(move || {
        BuddyAlloc::transaction(|j| *weak.promote(j).unwrap().borrow_mut(j) += 1).unwrap()
    })
    .join()
    .unwrap();
    Ok(())
}
