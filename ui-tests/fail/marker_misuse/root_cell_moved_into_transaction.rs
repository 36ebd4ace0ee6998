// Bug: the pool handle is moved into a transaction and dropped there; the rollback
// cannot bring it back, and the pool is closed under the running transaction.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<PCell<u64>>("never-opened.pool", O_CF)?;
    BuddyAlloc::transaction(move |j| -> () {
        root.set(1, j);
        drop(root);
        panic!("abort");
    })?;
    Ok(())
}
