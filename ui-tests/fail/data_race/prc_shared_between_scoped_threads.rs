// Bug: two scoped threads `pclone` one `Prc` through `&Prc` and race on its count.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<Prc<u64>>("never-opened.pool", O_CF)?;
    let shared: &Prc<u64> = &root;
    std::thread::scope(|s| {
        s.spawn(|| BuddyAlloc::transaction(|j| drop(shared.pclone(j))));
        s.spawn(|| BuddyAlloc::transaction(|j| drop(shared.pclone(j))));
    });
    Ok(())
}
