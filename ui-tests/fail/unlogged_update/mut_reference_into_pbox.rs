// Bug: a `&mut` into a Pbox's contents is taken without logging them in the journal.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PRefCell<Option<Pbox<u64>>>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let mut slot = root.borrow_mut(j);
        let boxed = slot.as_mut().unwrap();
        let contents: &mut u64 = &mut *boxed;
        *contents += 1;
    })?;
    Ok(())
}
