// Bug: a reference to a persistent cell is returned from a transaction.
use crndm::default::*;

#[derive(Root)]
struct Counters {
    hits: PCell<u64>,
}

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<Counters>("never-opened.pool", O_CF)?;
    let _kept = BuddyAlloc::transaction(|_j| &root.hits)?;
    Ok(())
}
