// Bug: a transaction's journal is stashed type-erased (`Box<dyn Any>`), to be used later.
use crndm::default::*;
use std::any::Any;
use std::cell::RefCell;

thread_local! {
    static STASH: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<i32>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let erased: Box<dyn Any> = Box::new(j);
        STASH.with(|s| *s.borrow_mut() = Some(erased));
    })?;
    Ok(())
}
