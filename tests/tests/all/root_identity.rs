//! Root identity (`crndm::RootLayout`): a pool stores its root's structural fingerprint,
//! which ignores module paths (the pool module's too) and sees every field's name and
//! type; and a refused open leaves the file as it was.

use std::path::Path;

use crndm::{Error, MemPool, O_CF, PCell, PRefCell, Pbox, Root, RootCell, RootLayout, RootObj};
use crndm_tests::retry_locked;

/// Open an existing pool (no create, no format).
const OPEN: crndm::Flags = 0;

crndm::pool!(old_name);
crndm::pool!(new_name);
crndm::pool!(ident_a);
crndm::pool!(ident_b);
crndm::pool!(ident_c);
crndm::pool!(ident_d);
crndm::pool!(ident_e);

fn open<P: MemPool, R: RootObj<P> + crndm::PSafe + RootLayout>(
    path: &Path,
    flags: crndm::Flags,
) -> crndm::Result<RootCell<R, P>> {
    retry_locked(|| P::open::<R>(path, flags))
}

/// The error of a refused open, which must be a root mismatch naming `name`.
fn refused<T>(r: crndm::Result<T>, name: &str) {
    match r {
        Err(e @ Error::RootTypeMismatch { requested, .. }) => {
            assert!(requested.contains(name), "requested {requested:?}");
            assert!(e.to_string().contains(name), "message {e}");
        }
        Err(e) => panic!("expected RootTypeMismatch naming {name}, got {e}"),
        Ok(_) => panic!("expected RootTypeMismatch naming {name}, the pool opened"),
    }
}

/// A list node: recursive through a `Pbox` (the fingerprint must terminate).
#[derive(RootLayout)]
struct Node<P: MemPool> {
    value: u64,
    next: PRefCell<Option<Pbox<Node<P>, P>>, P>,
}

#[derive(Root)]
struct Counter<P: MemPool> {
    count: PCell<u64, P>,
    list: PRefCell<Option<Pbox<Node<P>, P>>, P>,
}

/// Renaming the pool module (`crndm::pool!(old_name)` → `pool!(new_name)`) keeps the
/// pools made under the old name openable: the pool type is no part of the fingerprint.
#[test]
fn a_pool_made_under_an_old_pool_module_name_opens_under_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("renamed.pool");
    {
        type P = old_name::BuddyAlloc;
        let root = open::<P, Counter<P>>(&path, O_CF).unwrap();
        P::transaction(|j| {
            root.count.set(41, j);
            *root.list.borrow_mut(j) = Some(Pbox::new(
                Node {
                    value: 7,
                    next: PRefCell::new(None),
                },
                j,
            ));
        })
        .unwrap();
    }
    type Q = new_name::BuddyAlloc;
    let root = open::<Q, Counter<Q>>(&path, OPEN).unwrap();
    assert_eq!(root.count.get(), 41);
    assert_eq!(root.list.borrow().as_ref().map(|n| n.value), Some(7));
    drop(root);
    // A plain crndm type as the root, too.
    let path = dir.path().join("plain.pool");
    drop(open::<old_name::BuddyAlloc, PCell<u64, old_name::BuddyAlloc>>(&path, O_CF).unwrap());
    drop(open::<Q, PCell<u64, Q>>(&path, OPEN).unwrap());
}

mod v1 {
    use crndm::{MemPool, PCell, Root};
    #[derive(Root)]
    pub(crate) struct Rec<P: MemPool> {
        pub(crate) a: PCell<u64, P>,
        pub(crate) b: PCell<u32, P>,
    }
}
mod v2_signed {
    use crndm::{MemPool, PCell, Root};
    /// `a` is an `i64` now: same size, another type.
    #[derive(Root)]
    pub(crate) struct Rec<P: MemPool> {
        pub(crate) a: PCell<i64, P>,
        pub(crate) b: PCell<u32, P>,
    }
}
mod v2_float {
    use crndm::{MemPool, PCell, Root};
    /// `a` is an `f64` now.
    #[derive(Root)]
    pub(crate) struct Rec<P: MemPool> {
        pub(crate) a: PCell<f64, P>,
        pub(crate) b: PCell<u32, P>,
    }
}
mod v2_renamed_field {
    use crndm::{MemPool, PCell, Root};
    /// `b` is called `c` now.
    #[derive(Root)]
    pub(crate) struct Rec<P: MemPool> {
        pub(crate) a: PCell<u64, P>,
        pub(crate) c: PCell<u32, P>,
    }
}
/// `Rec` renamed on purpose, keeping its old identity.
#[derive(Root)]
#[root(name = "Rec")]
struct Record<P: MemPool> {
    a: PCell<u64, P>,
    b: PCell<u32, P>,
}
/// `Rec` renamed without the attribute.
#[derive(Root)]
struct Record2<P: MemPool> {
    a: PCell<u64, P>,
    b: PCell<u32, P>,
}

/// A field whose type changed to another of the same size and alignment (`u64` → `i64`,
/// `u64` → `f64`) is refused, with an error naming the requested root type; so is a
/// renamed field, and a renamed struct; `#[root(name = "Rec")]` opens the old pool.
#[test]
fn a_changed_root_structure_is_refused_and_root_name_keeps_a_renamed_struct() {
    type P = ident_a::BuddyAlloc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.pool");
    {
        let root = open::<P, v1::Rec<P>>(&path, O_CF).unwrap();
        P::transaction(|j| root.a.set(5, j)).unwrap();
    }
    refused(open::<P, v2_signed::Rec<P>>(&path, OPEN), "v2_signed::Rec");
    refused(open::<P, v2_float::Rec<P>>(&path, OPEN), "v2_float::Rec");
    refused(
        open::<P, v2_renamed_field::Rec<P>>(&path, OPEN),
        "v2_renamed_field::Rec",
    );
    refused(open::<P, Record2<P>>(&path, OPEN), "Record2");
    // Other shapes of the same size.
    refused(
        open::<P, (PCell<u64, P>, PCell<u32, P>)>(&path, OPEN),
        "PCell",
    );
    let root = open::<P, Record<P>>(&path, OPEN).unwrap();
    assert_eq!(root.a.get(), 5);
    drop(root);
    // And the original still opens.
    assert_eq!(open::<P, v1::Rec<P>>(&path, OPEN).unwrap().a.get(), 5);
}

/// Two instances of a generic crndm type with the same size differ (their old
/// `type_name`-based identity differed too, but only by accident of naming); a `u64`
/// and an `i64` root are told apart.
#[test]
fn same_size_roots_of_different_types_are_refused() {
    type P = ident_b::BuddyAlloc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u64.pool");
    drop(open::<P, PCell<u64, P>>(&path, O_CF).unwrap());
    refused(open::<P, PCell<i64, P>>(&path, OPEN), "PCell<i64");
    refused(open::<P, PCell<f64, P>>(&path, OPEN), "PCell<f64");
    refused(open::<P, PCell<[u32; 2], P>>(&path, OPEN), "PCell<[u32; 2]");
    refused(
        open::<P, PRefCell<u64, P>>(&path, OPEN).map(|_| ()),
        "PRefCell<u64",
    );
    drop(open::<P, PCell<u64, P>>(&path, OPEN).unwrap());
}
