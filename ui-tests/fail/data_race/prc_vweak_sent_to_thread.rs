// Bug: a volatile weak pointer to a single-thread Prc is sent to another thread to promote.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<Prc<u64>>("never-opened.pool", O_CF)?;
    let weak = Prc::demote(&root);
    std::thread::spawn(move || BuddyAlloc::transaction(|j| weak.promote(j).is_some()).unwrap())
        .join()
        .unwrap();
    Ok(())
}
