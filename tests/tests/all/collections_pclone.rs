//! `#[derive(PClone)]`: structs (named, tuple, unit, generic over the pool), enums,
//! deep copies that own their own memory, the pool module aliases, and hygiene (the
//! generated code compiles under `#[no_implicit_prelude]` beside clashing names).

use crndm::{
    MemPool, O_CF, PBTreeMap, PCell, PClone, PHashMap, PRefCell, PString, PVec, Pbox, ToPString,
};
use crndm_tests::shm_dir;

use crate::collections_common::*;

#[derive(PClone, crndm::RootLayout)]
struct Item<P: MemPool> {
    name: PString<P>,
    tags: PVec<u32, P>,
    count: PCell<u16, P>,
    next: Option<Pbox<Item<P>, P>>,
}

#[derive(PClone, crndm::RootLayout)]
enum Shape<P: MemPool> {
    Dot,
    Circle(u32),
    Named { label: PString<P>, sides: u8 },
    Boxed(Pbox<(u8, char), P>, PVec<Shape<P>, P>),
}

#[derive(PClone, Debug, PartialEq)]
struct Unit;

#[derive(PClone, Debug, PartialEq)]
struct Pair(u8, (i64, bool));

#[derive(PClone, crndm::RootLayout)]
struct Indexes<P: MemPool> {
    by_name: PHashMap<PString<P>, u64, P>,
    by_id: PBTreeMap<u64, PString<P>, P>,
}

type Root<P> = PRefCell<PVec<Item<P>, P>, P>;

fn item<P: MemPool>(name: &str, next: Option<Pbox<Item<P>, P>>, j: &crndm::Journal<P>) -> Item<P> {
    Item {
        name: name.to_pstring(j),
        tags: PVec::from_slice(&[1, 2, 3], j),
        count: PCell::new(7),
        next,
    }
}

#[test]
fn a_derived_clone_is_deep_and_independent() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, Root<P>>(d.path().join("c.pool"), O_CF);
    let base = used::<P>();
    P::transaction(|j| {
        let tail = Pbox::new(item("tail", None, j), j);
        let head = item("head", Some(tail), j);
        let mut copy = head.pclone(j);
        copy.name.push_str("-copy", j);
        copy.tags.push(4, j);
        *copy.count.get_mut() = 8;
        copy.next.as_mut().unwrap().get_mut(j).name.push('!', j);
        let mut v = root.borrow_mut(j);
        v.push(head, j);
        v.push(copy, j);
    })
    .unwrap();
    {
        let v = root.borrow();
        let (a, b) = (&v[0], &v[1]);
        assert_eq!((a.name.as_str(), b.name.as_str()), ("head", "head-copy"));
        assert_eq!((a.tags.len(), b.tags.len()), (3, 4));
        assert_eq!((a.count.get(), b.count.get()), (7, 8));
        assert_eq!(a.next.as_ref().unwrap().name, "tail");
        assert_eq!(b.next.as_ref().unwrap().name, "tail!");
        assert!(!Pbox::ptr_eq(
            a.next.as_ref().unwrap(),
            b.next.as_ref().unwrap()
        ));
    }
    // Each copy owns its memory: dropping both frees all of it.
    P::transaction(|j| root.borrow_mut(j).clear(j)).unwrap();
    P::transaction(|j| root.borrow_mut(j).shrink_to_fit(j)).unwrap();
    assert_heap::<P>(base, "both copies freed");
}

#[test]
fn enums_clone_the_variant_they_hold() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PVec<Shape<P>, P>, P>>(d.path().join("c.pool"), O_CF);
    P::transaction(|j| {
        let inner = PVec::from_slice(&[Shape::Dot, Shape::Circle(3)], j);
        let shapes = [
            Shape::Dot,
            Shape::Circle(5),
            Shape::Named {
                label: "tri".to_pstring(j),
                sides: 3,
            },
            Shape::Boxed(Pbox::new((1, 'x'), j), inner),
        ];
        let mut v = root.borrow_mut(j);
        for s in shapes {
            let c = s.pclone(j);
            v.push(s, j);
            v.push(c, j);
        }
    })
    .unwrap();
    let v = root.borrow();
    assert_eq!(v.len(), 8);
    for pair in v.chunks(2) {
        match (&pair[0], &pair[1]) {
            (Shape::Dot, Shape::Dot) => {}
            (Shape::Circle(a), Shape::Circle(b)) => assert_eq!(a, b),
            (Shape::Named { label: a, sides: x }, Shape::Named { label: b, sides: y }) => {
                assert_eq!((a.as_str(), x), (b.as_str(), y));
            }
            (Shape::Boxed(a, va), Shape::Boxed(b, vb)) => {
                assert_eq!(**a, **b);
                assert!(!Pbox::ptr_eq(a, b));
                assert_eq!(va.len(), vb.len());
                assert!(matches!(vb[1], Shape::Circle(3)));
            }
            _ => panic!("variant changed"),
        }
    }
}

#[test]
fn plain_structs_and_collections_of_them() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<Option<Indexes<P>>, P>>(d.path().join("c.pool"), O_CF);
    P::transaction(|j| {
        assert_eq!(Unit.pclone(j), Unit);
        assert_eq!(Pair(1, (-2, true)).pclone(j), Pair(1, (-2, true)));
        let mut ix = Indexes {
            by_name: PHashMap::new(),
            by_id: PBTreeMap::new(),
        };
        for (id, name) in [(3, "c"), (1, "a"), (2, "b")] {
            ix.by_name.insert(name.to_pstring(j), id, j);
            ix.by_id.insert(id, name.to_pstring(j), j);
        }
        let copy = ix.pclone(j);
        ix.by_id.clear(j);
        *root.borrow_mut(j) = Some(copy);
    })
    .unwrap();
    let r = root.borrow();
    let ix = r.as_ref().unwrap();
    assert_eq!(ix.by_name.get("b"), Some(&2));
    assert_eq!(
        ix.by_id.values().map(|s| s.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
}

#[test]
fn the_pool_module_aliases_work_with_the_derive() {
    use crndm::default::*;
    #[derive(PClone, crndm::RootLayout)]
    struct Rec {
        text: PString,
        list: PVec<u8>,
        map: PHashMap<u8, u8>,
        tree: PBTreeMap<u8, u8>,
    }
    let d = shm_dir();
    let root = open_root::<BuddyAlloc, PRefCell<Option<Rec>>>(d.path().join("c.pool"), O_CF);
    BuddyAlloc::transaction(|j| {
        let mut r = Rec {
            text: "t".to_pstring(j),
            list: PVec::new(),
            map: PHashMap::new(),
            tree: PBTreeMap::new(),
        };
        r.list.push(1, j);
        r.map.insert(2, 3, j);
        r.tree.insert(4, 5, j);
        *root.borrow_mut(j) = Some(r.pclone(j));
    })
    .unwrap();
    let r = root.borrow();
    let r = r.as_ref().unwrap();
    assert_eq!(
        (r.text.as_str(), r.list[0], r.map.get(&2), r.tree.get(&4)),
        ("t", 1, Some(&3), Some(&5))
    );
}

/// The generated code names everything by absolute path: it compiles without the
/// prelude, and beside fields named like its own locals.
#[no_implicit_prelude]
mod hygiene {
    #[derive(::crndm::PClone)]
    pub(super) struct Clash<P: ::crndm::MemPool> {
        pub(super) j: u32,
        pub(super) __crndm_j: u8,
        pub(super) pclone: ::crndm::PString<P>,
        pub(super) opt: ::core::option::Option<::crndm::PVec<u8, P>>,
    }

    #[derive(::crndm::PClone)]
    pub(super) enum Choice<P: ::crndm::MemPool> {
        Some(::crndm::Pbox<u8, P>),
        None,
        Ok { __crndm_f0: u8, __crndm_f1: u16 },
    }
}

#[test]
fn the_derive_is_hygienic() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let _pool =
        crndm_tests::retry_locked(|| P::open_no_root(d.path().join("c.pool"), O_CF)).unwrap();
    P::transaction(|j| {
        let a = hygiene::Clash::<P> {
            j: 1,
            __crndm_j: 2,
            pclone: "p".to_pstring(j),
            opt: None,
        };
        let b = a.pclone(j);
        assert_eq!(
            (b.j, b.__crndm_j, b.pclone.as_str(), b.opt.is_none()),
            (1, 2, "p", true)
        );
        let c = hygiene::Choice::<P>::Ok {
            __crndm_f0: 4,
            __crndm_f1: 5,
        };
        assert!(matches!(
            c.pclone(j),
            hygiene::Choice::Ok {
                __crndm_f0: 4,
                __crndm_f1: 5
            }
        ));
        let s = hygiene::Choice::Some(Pbox::new(9, j));
        assert!(matches!(s.pclone(j), hygiene::Choice::Some(b) if *b == 9));
        assert!(matches!(
            hygiene::Choice::<P>::None.pclone(j),
            hygiene::Choice::None
        ));
    })
    .unwrap();
}
