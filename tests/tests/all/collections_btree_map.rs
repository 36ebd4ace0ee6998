//! `PBTreeMap`: ordered behaviour (iteration both ways, ranges, first/last), splits
//! and merges over many levels, drops, a model proptest with aborted transactions, and
//! a SIGKILL process test.

use std::collections::BTreeMap;
use std::ops::Bound;

use crndm::{MemPool, O_CF, PBTreeMap, PCell, PClone, PRefCell, PString, Pbox, Root, ToPString};
use crndm_tests::shm_dir;
use proptest::prelude::*;

use crate::collections_common::*;

fn entries<K: Copy + crndm::PSafe, V: Copy + crndm::PSafe, P: MemPool>(
    m: &PBTreeMap<K, V, P>,
) -> Vec<(K, V)> {
    m.iter().map(|(k, v)| (*k, *v)).collect()
}

#[test]
fn ordered_operations_behave_like_btree_map() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PBTreeMap<u32, u32, P>, P>>(d.path().join("t.pool"), O_CF);
    let mut model = BTreeMap::new();
    // Pseudo-random keys: every kind of split, then removals: every kind of merge.
    let keys: Vec<u32> = (0..3000u32)
        .map(|i| i.wrapping_mul(2_654_435_761) % 10_000)
        .collect();
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        for &k in &keys {
            m.insert(k, k / 2, j);
        }
    })
    .unwrap();
    keys.iter().for_each(|&k| _ = model.insert(k, k / 2));
    assert_eq!(
        entries(&root.borrow()),
        model.clone().into_iter().collect::<Vec<_>>()
    );
    let got = P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        let mut out: Vec<Option<(u32, u32)>> = Vec::new();
        for &k in keys.iter().step_by(2) {
            out.push(m.remove(&k, j).map(|v| (k, v)));
        }
        *m.get_mut(&keys[1], j).unwrap() = 7;
        out.push(m.pop_first(j));
        out.push(m.pop_last(j));
        out
    })
    .unwrap();
    let mut want: Vec<Option<(u32, u32)>> = Vec::new();
    for &k in keys.iter().step_by(2) {
        want.push(model.remove(&k).map(|v| (k, v)));
    }
    *model.get_mut(&keys[1]).unwrap() = 7;
    want.push(model.pop_first());
    want.push(model.pop_last());
    assert_eq!(got, want);
    let m = root.borrow();
    assert_eq!(m.len(), model.len());
    assert_eq!(entries(&m), model.clone().into_iter().collect::<Vec<_>>());
    let rev: Vec<_> = m.iter().rev().map(|(k, _)| *k).collect();
    assert_eq!(rev, model.keys().rev().copied().collect::<Vec<_>>());
    assert_eq!(m.first_key_value(), model.first_key_value());
    assert_eq!(m.last_key_value(), model.last_key_value());
    assert_eq!(m.get(&keys[1]), Some(&7));
    for (a, b) in [
        (0, 10_000),
        (500, 600),
        (4999, 5001),
        (9000, 20_000),
        (3, 3),
    ] {
        let got: Vec<_> = m.range(a..b).map(|(k, _)| *k).collect();
        let want: Vec<_> = model.range(a..b).map(|(k, _)| *k).collect();
        assert_eq!(got, want, "{a}..{b}");
        let got: Vec<_> = m.range(a..=b).rev().map(|(k, _)| *k).collect();
        let want: Vec<_> = model.range(a..=b).rev().map(|(k, _)| *k).collect();
        assert_eq!(got, want, "{a}..={b}");
    }
    let b = (Bound::Excluded(keys[1]), Bound::Included(keys[1] + 100));
    assert!(
        m.range(b)
            .map(|(k, _)| *k)
            .eq(model.range(b).map(|(k, _)| *k))
    );
    let (hi, lo) = (10, 5);
    assert_eq!(m.range(hi..lo).count(), 0, "start after end: empty");
    assert_eq!(m.range(..).count(), m.len());
    let mut it = m.range(100..9000);
    let mut mi = model.range(100..9000);
    // Both ends at once, until they meet.
    loop {
        let (a, b) = (it.next(), mi.next());
        assert_eq!(a, b);
        let (c, d) = (it.next_back(), mi.next_back());
        assert_eq!(c, d);
        if a.is_none() || c.is_none() {
            break;
        }
    }
    assert_eq!(format!("{m:?}").len(), format!("{model:?}").len());
}

#[test]
fn ascending_and_descending_runs_and_total_removal_free_every_node() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root =
        open_root::<P, PRefCell<PBTreeMap<u64, Pbox<u64, P>, P>, P>>(d.path().join("t.pool"), O_CF);
    let base = used::<P>();
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        for k in 0..2000 {
            m.insert(k, Pbox::new(k, j), j);
        }
        for k in (2000..4000).rev() {
            m.insert(k, Pbox::new(k, j), j);
        }
    })
    .unwrap();
    assert!(
        root.borrow()
            .iter()
            .map(|(k, v)| (*k, **v))
            .eq((0..4000).map(|k| (k, k)))
    );
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        for k in (0..4000).filter(|k| k % 3 != 0) {
            assert_eq!(m.remove(&k, j).map(|b| *b), Some(k));
        }
    })
    .unwrap();
    assert!(root.borrow().keys().copied().eq((0..4000).step_by(3)));
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        while let Some((k, v)) = m.pop_last(j) {
            assert_eq!(k, *v);
        }
        assert!(m.is_empty());
    })
    .unwrap();
    assert_heap::<P>(base, "every node and value freed");
}

#[test]
fn an_abort_restores_the_tree() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PBTreeMap<u32, u32, P>, P>>(d.path().join("t.pool"), O_CF);
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        for k in 0..500 {
            m.insert(k * 2, k, j);
        }
    })
    .unwrap();
    let ops: [Change<PBTreeMap<u32, u32, P>, P>; 5] = [
        |m, j| (0..500).for_each(|k| _ = m.insert(k * 2 + 1, 0, j)), // splits
        |m, j| (0..400).for_each(|k| _ = m.remove(&(k * 2), j)),     // merges
        |m, j| {
            // Remove, then insert into the same nodes in one transaction.
            (0..300).for_each(|k| _ = m.remove(&(k * 2), j));
            (0..300).for_each(|k| _ = m.insert(k * 2 + 1, 1, j));
        },
        |m, j| (0..500).for_each(|k| *m.get_mut(&(k * 2), j).unwrap() += 1),
        |m, j| m.clear(j),
    ];
    assert_each_op_aborts(&root, &ops, entries);
}

#[test]
fn string_keys_clones_and_equality() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PBTreeMap<PString<P>, PString<P>, P>, P>>(
        d.path().join("t.pool"),
        O_CF,
    );
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        for w in ["pear", "apple", "fig", "kiwi", "banana"] {
            m.insert(w.to_pstring(j), w.to_uppercase().to_pstring(j), j);
        }
        let c = m.pclone(j);
        assert!(c == *m);
        m.remove("fig", j);
        assert!(c != *m);
    })
    .unwrap();
    let m = root.borrow();
    assert_eq!(m.get("kiwi").unwrap(), "KIWI");
    let keys: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["apple", "banana", "kiwi", "pear"]);
    let from_b: Vec<&str> = m
        .range::<str, _>((Bound::Included("b"), Bound::Excluded("l")))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(from_b, ["banana", "kiwi"]);
}

// ---- model proptest ----

#[derive(Clone, Debug)]
enum TOp {
    Insert(u16, String),
    Remove(u16),
    InsertRange(u16, u16),
    RemoveRange(u16, u16),
    PopFirst,
    PopLast,
    Append(u16, String),
    Clear,
}

fn top() -> impl Strategy<Value = TOp> {
    let k = 0u16..600;
    let v = "[a-z]{0,4}";
    prop_oneof![
        4 => (k.clone(), v).prop_map(|(k, v)| TOp::Insert(k, v)),
        3 => k.clone().prop_map(TOp::Remove),
        2 => (k.clone(), 0u16..200).prop_map(|(a, n)| TOp::InsertRange(a, n)),
        2 => (k.clone(), 0u16..200).prop_map(|(a, n)| TOp::RemoveRange(a, n)),
        1 => Just(TOp::PopFirst),
        1 => Just(TOp::PopLast),
        2 => (k, v).prop_map(|(k, v)| TOp::Append(k, v)),
        1 => Just(TOp::Clear),
    ]
}

fn apply_ptree<P: MemPool>(m: &mut PBTreeMap<u16, PString<P>, P>, op: &TOp, j: &crndm::Journal<P>) {
    match op {
        TOp::Insert(k, v) => drop(m.insert(*k, v.to_pstring(j), j)),
        TOp::Remove(k) => drop(m.remove(k, j)),
        TOp::InsertRange(a, n) => {
            (*a..a.saturating_add(*n)).for_each(|k| drop(m.insert(k, k.to_pstring(j), j)))
        }
        TOp::RemoveRange(a, n) => (*a..a.saturating_add(*n)).for_each(|k| drop(m.remove(&k, j))),
        TOp::PopFirst => drop(m.pop_first(j)),
        TOp::PopLast => drop(m.pop_last(j)),
        TOp::Append(k, v) => {
            if let Some(s) = m.get_mut(k, j) {
                s.push_str(v, j);
            }
        }
        TOp::Clear => m.clear(j),
    }
}

fn apply_model(m: &mut BTreeMap<u16, String>, op: &TOp) {
    match op {
        TOp::Insert(k, v) => drop(m.insert(*k, v.clone())),
        TOp::Remove(k) => drop(m.remove(k)),
        TOp::InsertRange(a, n) => {
            (*a..a.saturating_add(*n)).for_each(|k| drop(m.insert(k, k.to_string())))
        }
        TOp::RemoveRange(a, n) => (*a..a.saturating_add(*n)).for_each(|k| drop(m.remove(&k))),
        TOp::PopFirst => drop(m.pop_first()),
        TOp::PopLast => drop(m.pop_last()),
        TOp::Append(k, v) => {
            if let Some(s) = m.get_mut(k) {
                s.push_str(v);
            }
        }
        TOp::Clear => m.clear(),
    }
}

fn same<P: MemPool>(
    m: &PBTreeMap<u16, PString<P>, P>,
    model: &BTreeMap<u16, String>,
    (a, b): (u16, u16),
) -> Result<(), TestCaseError> {
    let (a, b) = (a.min(b), a.max(b));
    prop_assert_eq!(m.len(), model.len());
    prop_assert!(
        m.iter()
            .map(|(k, v)| (*k, v.as_str()))
            .eq(model.iter().map(|(k, v)| (*k, v.as_str())))
    );
    prop_assert!(
        m.iter()
            .rev()
            .map(|(k, _)| *k)
            .eq(model.keys().rev().copied())
    );
    prop_assert!(
        m.range(a..b)
            .map(|(k, _)| *k)
            .eq(model.range(a..b).map(|(k, _)| *k))
    );
    prop_assert!(
        m.range(a..=b)
            .rev()
            .map(|(k, _)| *k)
            .eq(model.range(a..=b).rev().map(|(k, _)| *k))
    );
    prop_assert_eq!(
        m.first_key_value().map(|(k, _)| *k),
        model.keys().next().copied()
    );
    prop_assert_eq!(
        m.last_key_value().map(|(k, _)| *k),
        model.keys().next_back().copied()
    );
    prop_assert_eq!(
        m.get(&a).map(|s| s.as_str()),
        model.get(&a).map(String::as_str)
    );
    Ok(())
}

#[test]
fn random_operations_match_btree_map_and_aborts_change_nothing() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let steps = proptest::collection::vec(
        (
            proptest::collection::vec(top(), 1..5),
            0u8..5,
            (0u16..700, 0u16..700),
        ),
        1..30,
    );
    run_cases(48, steps, |steps| {
        // A fresh pool per case: a failing case leaves nothing behind for the
        // next one, and shrinking finds the smallest failing case itself.
        let root = open_root::<P, PRefCell<PBTreeMap<u16, PString<P>, P>, P>>(
            d.path().join("t.pool"),
            O_CF,
        );
        check_steps(
            &root,
            steps.iter().map(|(ops, abort, _)| (&ops[..], *abort == 0)),
            BTreeMap::new(),
            apply_ptree,
            apply_model,
            |m, model, n| same(m, model, steps[n].2),
            PBTreeMap::new,
        )
    });
}

// ---- SIGKILL ----

crndm::pool!(btree_kill_pool);
type KP = btree_kill_pool::BuddyAlloc;

#[derive(Root)]
struct KillRoot<P: MemPool> {
    ops: PCell<u64, P>,
    /// Entries the tree holds, counted by the children alongside it.
    len: PCell<u64, P>,
    m: PRefCell<PBTreeMap<u64, u64, P>, P>,
}

#[derive(Clone, Copy, Debug)]
enum KOp {
    Insert(u64, u64),
    Remove(u64),
    PopFirst,
    Add(u64, u64),
}

fn kill_op(seed: u64, i: u64, len: usize) -> KOp {
    let mut r = OpRng::for_op(seed, i);
    let k = r.below(if len > 3000 { 600 } else { 6000 });
    match r.below(16) {
        0..=7 => KOp::Insert(k, r.next()),
        8..=12 => KOp::Remove(k),
        13 => KOp::PopFirst,
        _ => KOp::Add(k, r.below(10)),
    }
}

fn apply_kill<P: MemPool>(m: &mut PBTreeMap<u64, u64, P>, op: KOp, j: &crndm::Journal<P>) {
    match op {
        KOp::Insert(k, v) => drop(m.insert(k, v, j)),
        KOp::Remove(k) => drop(m.remove(&k, j)),
        KOp::PopFirst => drop(m.pop_first(j)),
        KOp::Add(k, d) => {
            if let Some(v) = m.get_mut(&k, j) {
                *v += d;
            }
        }
    }
}

fn apply_kill_model(m: &mut BTreeMap<u64, u64>, op: KOp) {
    match op {
        KOp::Insert(k, v) => drop(m.insert(k, v)),
        KOp::Remove(k) => drop(m.remove(&k)),
        KOp::PopFirst => drop(m.pop_first()),
        KOp::Add(k, d) => {
            if let Some(v) = m.get_mut(&k) {
                *v += d;
            }
        }
    }
}

#[test]
#[ignore = "child process of a_killed_process_leaves_a_committed_prefix"]
fn btree_map_child() {
    kill_child::<KP, KillRoot<KP>>(
        12,
        |r| &r.ops,
        |root, seed, range, j| {
            let mut m = root.m.borrow_mut(j);
            for i in range {
                let op = kill_op(seed, i, m.len());
                apply_kill(&mut m, op, j);
            }
            root.len.set(m.len() as u64, j);
        },
    );
}

#[test]
fn a_killed_process_leaves_a_committed_prefix() {
    kill_test::<KP, KillRoot<KP>>(
        "collections_btree_map::btree_map_child",
        5,
        |r| &r.ops,
        |root, seed, n| {
            let mut model = BTreeMap::new();
            for i in 0..n {
                let op = kill_op(seed, i, model.len());
                apply_kill_model(&mut model, op);
            }
            assert!(
                root.m
                    .borrow()
                    .iter()
                    .map(|(k, v)| (*k, *v))
                    .eq(model.clone()),
                "after {n} operations"
            );
            assert_eq!(root.len.get(), model.len() as u64);
            assert_eq!(KP::check().unwrap(), Vec::<String>::new());
            // The heap is checked after the reset: every node was reachable from the
            // root, so dropping the tree freed them all.
        },
        |root, j| {
            *root.m.borrow_mut(j) = PBTreeMap::new();
            root.len.set(0, j);
        },
    );
}
