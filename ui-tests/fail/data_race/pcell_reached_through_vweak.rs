// Bug: another thread reaches a single-thread PCell through a `sync::VWeak`.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<Parc<PCell<u64>>>("never-opened.pool", O_CF)?;
    let weak = Parc::demote(&root);
    std::thread::spawn(move || {
        BuddyAlloc::transaction(|j| weak.promote(j).unwrap().set(1, j)).unwrap()
    })
    .join()
    .unwrap();
    Ok(())
}
