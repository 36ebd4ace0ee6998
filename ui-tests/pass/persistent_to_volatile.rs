//! The right way to build persistent data (see `fail/persistent_to_volatile/`): only
//! `PSafe` values in the pool, links between objects as `Pbox`/`Prc`, text as bytes, and
//! volatile state (here a `Vec` cache) only inside a `VCell`, which is reset on every open.

use crndm::default::*;

#[derive(RootLayout)]
struct Node {
    name: [u8; 8],
    shared: Prc<u64>,
    next: PRefCell<Option<Pbox<Node>>>,
}

#[derive(Root)]
struct Catalog {
    head: PRefCell<Option<Pbox<Node>>>,
    total: PMutex<u64>,
    cache: VCell<Vec<u8>>,
}

fn main() -> crndm::Result<()> {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let root = BuddyAlloc::open::<Catalog>(dir.path().join("catalog.pool"), O_CFNE)?;

    BuddyAlloc::transaction(|j| {
        let shared = Prc::new(42, j);
        for name in [*b"first\0\0\0", *b"second\0\0"] {
            let next = PRefCell::new(root.head.take(j));
            let node = Node {
                name,
                shared: shared.pclone(j),
                next,
            };
            *root.head.borrow_mut(j) = Some(Pbox::new(node, j));
            *root.total.lock(j) += 1;
        }
    })?;

    let head = root.head.borrow();
    let first = head.as_ref().expect("two nodes");
    assert_eq!(&first.name, b"second\0\0");
    assert_eq!(*first.shared, 42);
    assert!(
        first
            .next
            .borrow()
            .as_ref()
            .is_some_and(|n| &n.name == b"first\0\0\0")
    );
    drop(head);
    assert_eq!(BuddyAlloc::transaction(|j| *root.total.lock(j))?, 2);
    assert!(root.cache.is_empty());
    Ok(())
}
