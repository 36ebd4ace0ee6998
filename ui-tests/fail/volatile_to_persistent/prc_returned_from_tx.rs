// Bug: a clone of a persistent Prc is returned from its transaction into a volatile variable.
use crndm::default::*;

fn main() -> crndm::Result<()> {
    let root = BuddyAlloc::open::<Prc<i32>>("never-opened.pool", O_CF)?;
    let _kept = BuddyAlloc::transaction(|j| root.pclone(j))?;
    Ok(())
}
