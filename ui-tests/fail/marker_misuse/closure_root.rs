// A closure type as (part of) a pool's root: closures have no structural identity, so two
// of them could not be told apart in the pool's header; a root must be `RootLayout`.
use crndm::default::*;

/// Ties the root handle's type to a value's, so the closure type is inferred as the root.
fn same_root<T>(_: &RootCell<T>, _: &T) {}

fn main() {
    let root = BuddyAlloc::open::<Option<_>>("never-opened.pool", O_CFNE).unwrap();
    let make = || 7u64;
    same_root(&root, &Some(make));
}
