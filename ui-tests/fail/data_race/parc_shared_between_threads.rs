// Bug: a Parc is shared by reference with another thread instead of through a `VWeak`.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<Parc<u64>>("never-opened.pool", O_CF)?;
    let shared: &Parc<u64> = &root;
    std::thread::scope(|s| {
        s.spawn(|| **shared);
    });
    Ok(())
}
