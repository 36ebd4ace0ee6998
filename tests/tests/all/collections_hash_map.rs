//! `PHashMap`: std-like behaviour, growth and shrinking, heavy collisions (backward-shift
//! deletion), drops of values, a model proptest with aborted transactions, and a
//! SIGKILL process test.

use std::collections::HashMap;

use crndm::{
    MemPool, O_CF, PCell, PClone, PHash, PHashMap, PHasher, PRefCell, PString, Pbox, Root,
    ToPString,
};
use crndm_tests::shm_dir;
use proptest::prelude::*;

use crate::collections_common::*;

/// A key whose hash takes only 37 values: long probe runs, many displaced entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, crndm::RootLayout)]
struct Crowded(u16);

impl PHash for Crowded {
    fn phash(&self, h: &mut PHasher) {
        h.write_u64(u64::from(self.0 % 37));
    }
}

#[test]
fn map_operations_behave_like_hash_map() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PHashMap<u64, u64, P>, P>>(d.path().join("m.pool"), O_CF);
    let mut model = HashMap::new();
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        for k in 0..1000u64 {
            assert_eq!(m.insert(k * 7, k, j), None);
        }
        for k in (0..1000u64).step_by(3) {
            assert_eq!(m.remove(&(k * 7), j), Some(k));
        }
        assert_eq!(m.insert(14, 99, j), Some(2));
        *m.get_mut(&28, j).unwrap() += 1000;
        *m.get_or_insert_with(5, || 50, j) += 1;
        *m.get_or_insert_with(14, || 0, j) += 1;
    })
    .unwrap();
    for k in 0..1000u64 {
        model.insert(k * 7, k);
    }
    for k in (0..1000u64).step_by(3) {
        model.remove(&(k * 7));
    }
    model.insert(14, 99);
    *model.get_mut(&28).unwrap() += 1000;
    *model.entry(5).or_insert(50) += 1;
    *model.entry(14).or_insert(0) += 1;
    let m = root.borrow();
    assert_eq!(m.len(), model.len());
    for (k, v) in &model {
        assert_eq!(m.get(k), Some(v), "key {k}");
        assert!(m.contains_key(k));
    }
    assert_eq!(m.get(&3), None);
    let mut all: Vec<(u64, u64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
    all.sort_unstable();
    let mut want: Vec<(u64, u64)> = model.into_iter().collect();
    want.sort_unstable();
    assert_eq!(all, want);
    assert_eq!(m.keys().count(), m.len());
    assert_eq!(
        m.values().copied().sum::<u64>(),
        want.iter().map(|e| e.1).sum::<u64>()
    );
    assert!(m.capacity() >= m.len());
}

#[test]
fn the_table_grows_and_shrinks_with_the_entries() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PHashMap<u32, u32, P>, P>>(d.path().join("m.pool"), O_CF);
    let base = used::<P>();
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        for k in 0..5000 {
            m.insert(k, k, j);
        }
    })
    .unwrap();
    let grown = used::<P>();
    assert!(grown > base + 5000 * 12, "a table for 5000 entries");
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        for k in 0..4990 {
            m.remove(&k, j);
        }
    })
    .unwrap();
    assert!(
        used::<P>() - base <= 1024,
        "the table shrank: {}",
        used::<P>() - base
    );
    assert_eq!(root.borrow().len(), 10);
    assert_eq!(root.borrow().get(&4995), Some(&4995));
    P::transaction(|j| root.borrow_mut(j).clear(j)).unwrap();
    assert_heap::<P>(base, "after clear");
}

#[test]
fn an_abort_restores_entries_and_the_old_table() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root =
        open_root::<P, PRefCell<PHashMap<Crowded, u64, P>, P>>(d.path().join("m.pool"), O_CF);
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        for k in 0..40 {
            m.insert(Crowded(k), u64::from(k), j);
        }
    })
    .unwrap();
    let snapshot = |m: &PHashMap<Crowded, u64, P>| {
        let mut v: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort();
        v
    };
    let ops: [Change<PHashMap<Crowded, u64, P>, P>; 5] = [
        |m, j| (100..400).for_each(|k| _ = m.insert(Crowded(k), 0, j)), // grows
        |m, j| (0..40).for_each(|k| _ = m.remove(&Crowded(k), j)),      // shrinks
        |m, j| {
            // Remove, then reuse the emptied slots in the same transaction.
            (0..20).for_each(|k| _ = m.remove(&Crowded(k), j));
            (500..520).for_each(|k| _ = m.insert(Crowded(k), 1, j));
        },
        |m, j| (0..40).for_each(|k| *m.get_mut(&Crowded(k), j).unwrap() += 1),
        |m, j| m.clear(j),
    ];
    assert_each_op_aborts(&root, &ops, snapshot);
}

#[test]
fn values_are_dropped_and_freed_after_commit() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root =
        open_root::<P, PRefCell<PHashMap<u8, Pbox<u64, P>, P>, P>>(d.path().join("m.pool"), O_CF);
    let base = used::<P>();
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        for k in 0..10 {
            m.insert(k, Pbox::new(u64::from(k), j), j);
        }
    })
    .unwrap();
    let full = used::<P>();
    P::transaction(|j| {
        let mut m = root.borrow_mut(j);
        drop(m.remove(&0, j));
        drop(m.insert(1, Pbox::new(100, j), j)); // the old box is returned and dropped
    })
    .unwrap();
    assert_heap::<P>(full - 64, "one box fewer");
    assert_eq!(**root.borrow().get(&1).unwrap(), 100);
    P::transaction(|j| *root.borrow_mut(j) = PHashMap::new()).unwrap();
    assert_heap::<P>(base, "after drop");
}

#[test]
fn clones_and_equality() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<Option<PHashMap<(u8, char), PString<P>, P>>, P>>(
        d.path().join("m.pool"),
        O_CF,
    );
    P::transaction(|j| {
        let mut m = PHashMap::new();
        m.insert((1, 'a'), "one".to_pstring(j), j);
        m.insert((2, 'b'), "two".to_pstring(j), j);
        let mut c = m.pclone(j);
        assert!(c == m);
        c.get_mut(&(1, 'a'), j).unwrap().push('!', j);
        assert!(c != m);
        assert_eq!(m.get(&(1, 'a')).unwrap(), "one");
        assert!(format!("{c:?}").contains("\"one!\""));
        *root.borrow_mut(j) = Some(c);
    })
    .unwrap();
}

// ---- model proptest ----

#[derive(Clone, Debug)]
enum MOp {
    Insert(u16, String),
    Remove(u16),
    GetMut(u16, String),
    GetOrInsert(u16, String),
    InsertMany(u16, u16),
    RemoveMany(u16, u16),
    /// Removes `n` keys from `a`, then inserts `n` new ones: slots emptied and reused in
    /// one transaction.
    Churn(u16, u16),
    Clear,
    Shrink,
    Reserve(u16),
}

fn mop() -> impl Strategy<Value = MOp> {
    let k = 0u16..300;
    let v = "[a-zé]{0,6}";
    prop_oneof![
        4 => (k.clone(), v).prop_map(|(k, v)| MOp::Insert(k, v)),
        3 => k.clone().prop_map(MOp::Remove),
        2 => (k.clone(), v).prop_map(|(k, v)| MOp::GetMut(k, v)),
        2 => (k.clone(), v).prop_map(|(k, v)| MOp::GetOrInsert(k, v)),
        1 => (k.clone(), 0u16..120).prop_map(|(a, n)| MOp::InsertMany(a, n)),
        1 => (k.clone(), 0u16..200).prop_map(|(a, n)| MOp::RemoveMany(a, n)),
        2 => (k, 0u16..60).prop_map(|(a, n)| MOp::Churn(a, n)),
        1 => Just(MOp::Clear),
        1 => Just(MOp::Shrink),
        1 => (0u16..300).prop_map(MOp::Reserve),
    ]
}

fn apply_pmap<P: MemPool>(
    m: &mut PHashMap<Crowded, PString<P>, P>,
    op: &MOp,
    j: &crndm::Journal<P>,
) {
    match op {
        MOp::Insert(k, v) => drop(m.insert(Crowded(*k), v.to_pstring(j), j)),
        MOp::Remove(k) => drop(m.remove(&Crowded(*k), j)),
        MOp::GetMut(k, v) => {
            if let Some(s) = m.get_mut(&Crowded(*k), j) {
                s.push_str(v, j);
            }
        }
        MOp::GetOrInsert(k, v) => m
            .get_or_insert_with(Crowded(*k), PString::new, j)
            .push_str(v, j),
        MOp::InsertMany(a, n) => {
            (*a..a.saturating_add(*n)).for_each(|k| drop(m.insert(Crowded(k), k.to_pstring(j), j)))
        }
        MOp::RemoveMany(a, n) => {
            (*a..a.saturating_add(*n)).for_each(|k| drop(m.remove(&Crowded(k), j)))
        }
        MOp::Churn(a, n) => {
            (*a..a + n).for_each(|k| drop(m.remove(&Crowded(k), j)));
            (*a..a + n).for_each(|k| drop(m.insert(Crowded(k + 1000), "c".to_pstring(j), j)));
        }
        MOp::Clear => m.clear(j),
        MOp::Shrink => m.shrink_to_fit(j),
        MOp::Reserve(n) => m.reserve(usize::from(*n), j),
    }
}

fn apply_model(m: &mut HashMap<u16, String>, op: &MOp) {
    match op {
        MOp::Insert(k, v) => drop(m.insert(*k, v.clone())),
        MOp::Remove(k) => drop(m.remove(k)),
        MOp::GetMut(k, v) => {
            if let Some(s) = m.get_mut(k) {
                s.push_str(v);
            }
        }
        MOp::GetOrInsert(k, v) => m.entry(*k).or_default().push_str(v),
        MOp::InsertMany(a, n) => {
            (*a..a.saturating_add(*n)).for_each(|k| drop(m.insert(k, k.to_string())))
        }
        MOp::RemoveMany(a, n) => (*a..a.saturating_add(*n)).for_each(|k| drop(m.remove(&k))),
        MOp::Churn(a, n) => {
            (*a..a + n).for_each(|k| drop(m.remove(&k)));
            (*a..a + n).for_each(|k| drop(m.insert(k + 1000, "c".to_string())));
        }
        MOp::Clear => m.clear(),
        MOp::Shrink | MOp::Reserve(_) => {}
    }
}

fn same<P: MemPool>(
    m: &PHashMap<Crowded, PString<P>, P>,
    model: &HashMap<u16, String>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(m.len(), model.len());
    for (k, v) in model {
        prop_assert_eq!(
            m.get(&Crowded(*k)).map(|s| s.as_str()),
            Some(v.as_str()),
            "key {}",
            k
        );
    }
    for k in [500u16, 501, 999, 2000] {
        prop_assert!(!m.contains_key(&Crowded(k)));
    }
    prop_assert_eq!(m.iter().count(), model.len());
    for (k, v) in m {
        prop_assert_eq!(model.get(&k.0).map(String::as_str), Some(v.as_str()));
    }
    Ok(())
}

#[test]
fn random_operations_match_hash_map_and_aborts_change_nothing() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let steps = proptest::collection::vec((proptest::collection::vec(mop(), 1..5), 0u8..5), 1..30);
    run_cases(48, steps, |steps| {
        // A fresh pool per case: a failing case leaves nothing behind for the
        // next one, and shrinking finds the smallest failing case itself.
        let root = open_root::<P, PRefCell<PHashMap<Crowded, PString<P>, P>, P>>(
            d.path().join("m.pool"),
            O_CF,
        );
        check_steps(
            &root,
            steps.iter().map(|(ops, abort)| (&ops[..], *abort == 0)),
            HashMap::new(),
            apply_pmap,
            apply_model,
            |m, model, _| same(m, model),
            PHashMap::new,
        )
    });
}

// ---- SIGKILL ----

crndm::pool!(hash_kill_pool);
type KP = hash_kill_pool::BuddyAlloc;

#[derive(Root)]
struct KillRoot<P: MemPool> {
    ops: PCell<u64, P>,
    m: PRefCell<PHashMap<u64, u64, P>, P>,
}

#[derive(Clone, Copy, Debug)]
enum KOp {
    Insert(u64, u64),
    Remove(u64),
    Add(u64, u64),
    Clear,
}

fn kill_op(seed: u64, i: u64, len: usize) -> KOp {
    let mut r = OpRng::for_op(seed, i);
    let range = if len > 3000 { 500 } else { 5000 };
    let k = r.below(range);
    match r.below(16) {
        0..=6 => KOp::Insert(k, r.next()),
        7..=12 => KOp::Remove(k),
        13 | 14 => KOp::Add(k, r.below(100)),
        _ if r.below(50) == 0 => KOp::Clear,
        _ => KOp::Remove(k + 1),
    }
}

fn apply_kill<P: MemPool>(m: &mut PHashMap<u64, u64, P>, op: KOp, j: &crndm::Journal<P>) {
    match op {
        KOp::Insert(k, v) => drop(m.insert(k, v, j)),
        KOp::Remove(k) => drop(m.remove(&k, j)),
        KOp::Add(k, d) => *m.get_or_insert_with(k, || 0, j) += d,
        KOp::Clear => m.clear(j),
    }
}

fn apply_kill_model(m: &mut HashMap<u64, u64>, op: KOp) {
    match op {
        KOp::Insert(k, v) => drop(m.insert(k, v)),
        KOp::Remove(k) => drop(m.remove(&k)),
        KOp::Add(k, d) => *m.entry(k).or_insert(0) += d,
        KOp::Clear => m.clear(),
    }
}

#[test]
#[ignore = "child process of a_killed_process_leaves_a_committed_prefix"]
fn hash_map_child() {
    kill_child::<KP, KillRoot<KP>>(
        12,
        |r| &r.ops,
        |root, seed, range, j| {
            let mut m = root.m.borrow_mut(j);
            for i in range {
                let op = kill_op(seed, i, m.len());
                apply_kill(&mut m, op, j);
            }
        },
    );
}

#[test]
fn a_killed_process_leaves_a_committed_prefix() {
    kill_test::<KP, KillRoot<KP>>(
        "collections_hash_map::hash_map_child",
        5,
        |r| &r.ops,
        |root, seed, n| {
            let mut model = HashMap::new();
            for i in 0..n {
                let op = kill_op(seed, i, model.len());
                apply_kill_model(&mut model, op);
            }
            let m = root.m.borrow();
            assert_eq!(m.len(), model.len(), "after {n} operations");
            for (k, v) in &model {
                assert_eq!(m.get(k), Some(v), "key {k} after {n} operations");
            }
            // The table: `capacity()` is 3/4 of its slots, 24 bytes each.
            let slots = m.capacity() as u64 / 3 * 4;
            let table = if slots == 0 {
                0
            } else {
                (slots * 24).next_power_of_two()
            };
            assert_heap::<KP>(root_block::<KillRoot<KP>>() + table, "after the kill");
        },
        |root, j| *root.m.borrow_mut(j) = PHashMap::new(),
    );
}
