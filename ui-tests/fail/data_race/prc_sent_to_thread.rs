// Bug: a single-thread Prc is sent to another thread (its count is not synchronised).
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<Prc<u64>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let mine = root.pclone(j);
        std::thread::spawn(move || *mine).join().unwrap()
    })?;
    Ok(())
}
