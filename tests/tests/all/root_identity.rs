//! Root identity (issue 15, items 5 and 6): the root fingerprint does not depend on the
//! pool module's path, unnamed types (closures) cannot be roots, and a refused open
//! leaves the file byte for byte as it was.

use std::marker::PhantomData;

use crndm::{Error, MemPool, O_CF, O_CFNE, PCell};

crndm::pool!(old_name);
crndm::pool!(new_name);
crndm::pool!(refusal);
crndm::pool!(closures);

/// A pool made under one `pool!` module opens under another one (a renamed module):
/// the pool type's path is not part of the root's identity.
#[test]
fn renaming_the_pool_module_keeps_old_pools_openable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pool");
    {
        let root =
            old_name::BuddyAlloc::open::<PCell<u64, old_name::BuddyAlloc>>(&path, O_CF).unwrap();
        old_name::BuddyAlloc::transaction(|j| root.set(42, j)).unwrap();
    }
    let root =
        new_name::BuddyAlloc::open::<PCell<u64, new_name::BuddyAlloc>>(&path, O_CFNE).unwrap();
    assert_eq!(root.get(), 42);
}

/// Opening a pool as another root type is refused before anything is written: the
/// file's bytes are unchanged (no recovery, no generation bump).
#[test]
fn a_refused_open_leaves_the_file_unchanged() {
    type P = refusal::BuddyAlloc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.pool");
    {
        let root = P::open::<PCell<u64, P>>(&path, O_CF).unwrap();
        P::transaction(|j| root.set(7, j)).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    for _ in 0..2 {
        let r = P::open::<PCell<u32, P>>(&path, O_CFNE);
        assert!(
            matches!(&r, Err(Error::RootTypeMismatch { requested, .. }) if requested.contains("PCell<u32")),
            "{:?}",
            r.map(drop)
        );
        // Same size and alignment, another type: refused too.
        let r = P::open::<PCell<i64, P>>(&path, O_CFNE);
        assert!(
            matches!(r, Err(Error::RootTypeMismatch { .. })),
            "{:?}",
            r.map(drop)
        );
    }
    assert!(
        std::fs::read(&path).unwrap() == before,
        "a refused open wrote the file"
    );
    let root = P::open::<PCell<u64, P>>(&path, O_CFNE).unwrap();
    assert_eq!(root.get(), 7);
}

/// A root generic over a closure type.
struct ClosureRoot<F> {
    value: u64,
    _f: PhantomData<F>,
}

impl<F> Default for ClosureRoot<F> {
    fn default() -> Self {
        ClosureRoot {
            value: 0,
            _f: PhantomData,
        }
    }
}

fn open_with<F>(_: &F, path: &std::path::Path) -> crndm::Result<()>
where
    ClosureRoot<F>: crndm::PSafe,
{
    closures::BuddyAlloc::open::<ClosureRoot<F>>(path, O_CF).map(|r| assert_eq!(r.value, 0))
}

/// Two closures of one function have one type name: a root naming one is refused (it
/// opened the other's pool, and reading it was SIGSEGV), before any file is made.
#[test]
fn a_root_type_naming_a_closure_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.pool");
    let a = || 1u64;
    let b = || 2u64;
    for r in [open_with(&a, &path), open_with(&b, &path)] {
        match r {
            Err(Error::UnnamedRootType { requested }) => {
                assert!(requested.contains("{{closure}}"), "{requested}");
            }
            other => panic!("expected UnnamedRootType, got {other:?}"),
        }
    }
    assert!(!path.exists(), "the refusal came before the file was made");
    assert!(!closures::BuddyAlloc::is_open());
    let _ = (a(), b());
}
