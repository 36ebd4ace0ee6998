//! The right way to change persistent data (see `fail/unlogged_update/`): every change goes
//! through the transaction's journal, so an abort undoes all of them.

use crndm::default::*;

#[derive(Root)]
struct Data {
    count: PCell<u64>,
    bytes: PRefCell<[u8; 4]>,
    boxed: PRefCell<Option<Pbox<u64>>>,
    locked: PMutex<u64>,
}

fn change_everything(root: &Data, j: &Journal) {
    root.count.set(root.count.get() + 1, j);
    root.bytes.borrow_mut(j)[0] += 1;
    let mut slot = root.boxed.borrow_mut(j);
    match slot.as_mut() {
        Some(boxed) => *boxed.get_mut(j) += 1,
        None => *slot = Some(Pbox::new(1, j)),
    }
    drop(slot);
    *root.locked.lock(j) += 1;
}

fn snapshot(root: &Data) -> crndm::Result<(u64, u8, Option<u64>, u64)> {
    let boxed = root.boxed.borrow().as_ref().map(|b| **b);
    let locked = BuddyAlloc::transaction(|j| *root.locked.lock(j))?;
    Ok((root.count.get(), root.bytes.borrow()[0], boxed, locked))
}

fn main() -> crndm::Result<()> {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let root = BuddyAlloc::open::<Data>(dir.path().join("data.pool"), O_CFNE)?;

    BuddyAlloc::transaction(|j| change_everything(&root, j))?;
    BuddyAlloc::transaction(|j| change_everything(&root, j))?;
    assert_eq!(snapshot(&root)?, (2, 2, Some(2), 2));

    std::panic::set_hook(Box::new(|_| {})); // the abort below is expected
    let aborted = BuddyAlloc::transaction(|j| -> () {
        change_everything(&root, j);
        panic!("abort after changing everything");
    });
    let _ = std::panic::take_hook();
    assert!(matches!(aborted, Err(Error::Aborted(_))));
    assert_eq!(snapshot(&root)?, (2, 2, Some(2), 2));
    Ok(())
}
