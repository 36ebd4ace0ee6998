// Bug: `Pbox::get_mut` is called without the journal that logs the contents first.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PRefCell<Option<Pbox<u64>>>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let mut slot = root.borrow_mut(j);
        *slot.as_mut().unwrap().get_mut() += 1;
    })?;
    Ok(())
}
