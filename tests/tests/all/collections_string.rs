//! `PString`: std-like behaviour on multi-byte text, no change on a refused operation,
//! a model proptest with aborted transactions, and a SIGKILL process test.

use std::hash::BuildHasher;

use crndm::{MemPool, O_CF, PCell, PHashMap, PHasher, PRefCell, PString, Root, ToPString};
use crndm_tests::shm_dir;
use proptest::prelude::*;

use crate::collections_common::*;

#[test]
fn text_operations_behave_like_string() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PString<P>, P>>(d.path().join("s.pool"), O_CF);
    P::transaction(|j| {
        let mut s = root.borrow_mut(j);
        s.push_str("héllo", j);
        s.push(' ', j);
        s.push_str("wörld", j);
        s.insert(0, '¡', j);
        s.insert_str(3, "€𝄞", j);
        assert_eq!(s.remove(2, j), 'h');
        assert_eq!(s.pop(j), Some('d'));
    })
    .unwrap();
    let mut model = String::from("héllo wörld");
    model.insert(0, '¡');
    model.insert_str(3, "€𝄞");
    model.remove(2);
    model.pop();
    let s = root.borrow();
    assert_eq!(*s, *model);
    assert_eq!(*s, model.as_str());
    assert_eq!(model, *s);
    assert_eq!(s.len(), model.len());
    assert_eq!(s.to_string(), model);
    assert_eq!(format!("{s:?}"), format!("{model:?}"));
    assert_eq!(format!("{:>40}", *s), format!("{model:>40}"));
    assert!(s.contains("𝄞") && s.starts_with("¡"));
    let h = std::collections::hash_map::RandomState::new();
    assert_eq!(h.hash_one(&*s), h.hash_one(model.as_str()));
    assert_eq!(PHasher::hash_one(&*s), PHasher::hash_one(model.as_str()));
}

#[test]
fn refused_operations_change_nothing() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PString<P>, P>>(d.path().join("s.pool"), O_CF);
    P::transaction(|j| root.borrow_mut(j).push_str("aé", j)).unwrap();
    let used_before = used::<P>();
    // Byte 2 is inside 'é': each of these panics, which aborts the transaction.
    let bad: [Change<PString<P>, P>; 4] = [
        |s, j| s.insert(2, 'x', j),
        |s, j| s.truncate(2, j),
        |s, j| _ = s.remove(2, j),
        |s, j| _ = s.remove(3, j),
    ];
    for (i, op) in bad.iter().enumerate() {
        assert!(
            P::transaction(|j| op(&mut root.borrow_mut(j), j)).is_err(),
            "op {i}"
        );
        assert_eq!(*root.borrow(), "aé");
    }
    assert_heap::<P>(used_before, "refused operations");
}

#[test]
fn strings_are_keys_found_by_str() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root =
        open_root::<P, PRefCell<PHashMap<PString<P>, u32, P>, P>>(d.path().join("s.pool"), O_CF);
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        for (i, w) in ["un", "deux", "trois", "quatre"].iter().enumerate() {
            m.insert(w.to_pstring(j), i as u32, j);
        }
        m.insert(3.to_pstring(j), 3, j);
    })
    .unwrap();
    let m = root.borrow();
    assert_eq!(m.get("trois"), Some(&2));
    assert_eq!(m.get("3"), Some(&3));
    assert_eq!(m.get("cinq"), None);
}

#[test]
fn dropping_strings_frees_their_buffers() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<Option<PString<P>>, P>>(d.path().join("s.pool"), O_CF);
    let base = used::<P>();
    P::transaction(|j| *root.borrow_mut(j) = Some("x".repeat(1000).to_pstring(j))).unwrap();
    assert!(used::<P>() >= base + 1024);
    P::transaction(|j| {
        let mut s = root.borrow_mut(j);
        let s = s.as_mut().unwrap();
        s.clear(j);
        s.shrink_to_fit(j);
    })
    .unwrap();
    assert_heap::<P>(base, "after shrink");
    P::transaction(|j| *root.borrow_mut(j) = Some("abc".to_pstring(j))).unwrap();
    P::transaction(|j| *root.borrow_mut(j) = None).unwrap();
    assert_heap::<P>(base, "after drop");
}

// ---- model proptest ----

#[derive(Clone, Debug)]
enum SOp {
    PushStr(String),
    Push(char),
    Pop,
    Insert(usize, char),
    InsertStr(usize, String),
    Remove(usize),
    Truncate(usize),
    Clear,
    Shrink,
}

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just('a'), Just('z'), Just('é'), Just('€'), Just('𝄞')],
        0..12,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn sop() -> impl Strategy<Value = SOp> {
    let ch = prop_oneof![Just('b'), Just('ß'), Just('中'), Just('😀')];
    prop_oneof![
        3 => text().prop_map(SOp::PushStr),
        2 => ch.clone().prop_map(SOp::Push),
        2 => Just(SOp::Pop),
        2 => (any::<usize>(), ch).prop_map(|(i, c)| SOp::Insert(i, c)),
        2 => (any::<usize>(), text()).prop_map(|(i, t)| SOp::InsertStr(i, t)),
        2 => any::<usize>().prop_map(SOp::Remove),
        1 => any::<usize>().prop_map(SOp::Truncate),
        1 => Just(SOp::Clear),
        1 => Just(SOp::Shrink),
    ]
}

/// The char boundary at or below `i % (len + 1)`.
fn boundary(s: &str, i: usize) -> usize {
    let mut i = i % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply_pstring<P: MemPool>(s: &mut PString<P>, op: &SOp, j: &crndm::Journal<P>) {
    match op {
        SOp::PushStr(t) => s.push_str(t, j),
        SOp::Push(c) => s.push(*c, j),
        SOp::Pop => drop(s.pop(j)),
        SOp::Insert(i, c) => s.insert(boundary(s, *i), *c, j),
        SOp::InsertStr(i, t) => s.insert_str(boundary(s, *i), t, j),
        SOp::Remove(i) if !s.is_empty() => drop(s.remove(boundary(s, i % s.len()), j)),
        SOp::Truncate(i) => s.truncate(boundary(s, *i), j),
        SOp::Clear => s.clear(j),
        SOp::Shrink => s.shrink_to_fit(j),
        SOp::Remove(_) => {}
    }
}

fn apply_string(s: &mut String, op: &SOp) {
    match op {
        SOp::PushStr(t) => s.push_str(t),
        SOp::Push(c) => s.push(*c),
        SOp::Pop => drop(s.pop()),
        SOp::Insert(i, c) => s.insert(boundary(s, *i), *c),
        SOp::InsertStr(i, t) => s.insert_str(boundary(s, *i), t),
        SOp::Remove(i) if !s.is_empty() => drop(s.remove(boundary(s, i % s.len()))),
        SOp::Truncate(i) => s.truncate(boundary(s, *i)),
        SOp::Clear => s.clear(),
        SOp::Shrink | SOp::Remove(_) => {}
    }
}

#[test]
fn random_operations_match_string_and_aborts_change_nothing() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let steps = proptest::collection::vec((proptest::collection::vec(sop(), 1..5), 0u8..5), 1..40);
    run_cases(64, steps, |steps| {
        // A fresh pool per case: a failing case leaves nothing behind for the
        // next one, and shrinking finds the smallest failing case itself.
        let root = open_root::<P, PRefCell<PString<P>, P>>(d.path().join("s.pool"), O_CF);
        check_steps(
            &root,
            steps.iter().map(|(ops, abort)| (&ops[..], *abort == 0)),
            String::new(),
            apply_pstring,
            apply_string,
            |s, model, _| {
                prop_assert_eq!(&s.to_string(), model);
                Ok(())
            },
            PString::new,
        )
    });
}

// ---- SIGKILL ----

crndm::pool!(string_kill_pool);
type KP = string_kill_pool::BuddyAlloc;

#[derive(Root)]
struct KillRoot<P: MemPool> {
    ops: PCell<u64, P>,
    s: PRefCell<PString<P>, P>,
}

fn kill_op(seed: u64, i: u64, len: usize) -> SOp {
    let mut r = OpRng::for_op(seed, i);
    let c = ['a', 'é', '€', '𝄞'][r.below(4) as usize];
    let t: String = (0..r.below(6))
        .map(|k| ['x', 'ü', '中'][(k % 3) as usize])
        .collect();
    match r.below(12) {
        0..=2 if len < 4000 => SOp::PushStr(t),
        3 if len < 4000 => SOp::Push(c),
        4 | 5 => SOp::Insert(r.next() as usize, c),
        6 => SOp::InsertStr(r.next() as usize, t),
        7 | 8 => SOp::Remove(r.next() as usize),
        9 => SOp::Truncate(len.saturating_sub(r.below(10) as usize)),
        10 if r.below(8) == 0 => SOp::Clear,
        10 => SOp::Shrink,
        _ => SOp::Pop,
    }
}

#[test]
#[ignore = "child process of a_killed_process_leaves_a_committed_prefix"]
fn string_child() {
    kill_child::<KP, KillRoot<KP>>(
        8,
        |r| &r.ops,
        |root, seed, range, j| {
            let mut s = root.s.borrow_mut(j);
            for i in range {
                let op = kill_op(seed, i, s.len());
                apply_pstring(&mut s, &op, j);
            }
        },
    );
}

#[test]
fn a_killed_process_leaves_a_committed_prefix() {
    kill_test::<KP, KillRoot<KP>>(
        "collections_string::string_child",
        5,
        |r| &r.ops,
        |root, seed, n| {
            let mut model = String::new();
            for i in 0..n {
                let op = kill_op(seed, i, model.len());
                apply_string(&mut model, &op);
            }
            assert_eq!(*root.s.borrow(), *model, "after {n} operations");
            let cap = root.s.borrow().capacity() as u64;
            assert_heap::<KP>(root_block::<KillRoot<KP>>() + cap, "after the kill");
        },
        |root, j| *root.s.borrow_mut(j) = PString::new(),
    );
}
