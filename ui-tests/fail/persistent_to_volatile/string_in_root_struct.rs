// Bug: a field of a persistent root struct is a `String`, whose buffer is volatile.
use crndm::default::*;

#[derive(Root)]
struct Settings {
    _version: PCell<u32>,
    _name: String,
}

fn main() -> crndm::Result<()> {
    let _root = BuddyAlloc::open::<Settings>("never-opened.pool", O_CF)?;
    Ok(())
}
