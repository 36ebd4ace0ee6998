// Bug: a Parc is sent to another thread instead of a `VWeak` promoted in that thread.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<Parc<u64>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let mine = root.pclone(j);
        std::thread::spawn(move || *mine).join().unwrap()
    })?;
    Ok(())
}
