// Bug: a new object leaves its transaction inside a volatile struct and is never stored.
use crndm::default::*;

#[derive(TxOutSafe)]
struct Made {
    _id: u64,
    _node: Pbox<u64>,
}

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<u8>>("never-opened.pool", O_CF)?;
    let _made = BuddyAlloc::transaction(|j| Made {
        _id: 1,
        _node: Pbox::new(1, j),
    })?;
    Ok(())
}
