// Bug: an element of a persistent vector is overwritten through `&mut` without logging it.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root =
        BuddyAlloc::open::<PRefCell<crndm::PVec<u64, BuddyAlloc>>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let mut numbers = root.borrow_mut(j);
        numbers[0] = 7;
        let first: &mut u64 = &mut numbers.as_slice()[0];
        *first += 1;
    })?;
    Ok(())
}
