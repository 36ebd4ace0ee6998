// Bug: the pool handle (a process-local pin) is stored in the pool, where the next
// process would find a dangling handle.
use crndm::default::*;

#[derive(PSafe)]
struct Holder {
    handle: RootCell<PCell<u64>>,
}

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PRefCell<Option<Pbox<Holder>>>>("never-opened.pool", O_CF)?;
    Ok(())
}
