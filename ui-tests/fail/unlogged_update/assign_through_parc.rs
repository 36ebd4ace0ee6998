// Bug: the value behind a shared persistent pointer is overwritten without a journal or lock.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<Parc<u64>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let mine = root.pclone(j);
        *mine = 5;
    })?;
    Ok(())
}
