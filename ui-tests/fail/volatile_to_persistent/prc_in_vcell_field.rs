// Bug: a persistent object caches a Prc in a volatile cell, which is reset on reopen.
use crndm::default::*;

#[derive(PSafe)]
struct Node {
    _value: u64,
    _cache: VCell<Option<Prc<u64>>>,
}

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<PCell<u8>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(|j| {
        let _node = Pbox::new(
            Node {
                _value: 1,
                _cache: VCell::new(),
            },
            j,
        );
    })?;
    Ok(())
}
