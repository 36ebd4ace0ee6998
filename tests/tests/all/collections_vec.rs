//! `PVec`: std-like behaviour, logging of every change (aborts restore shifted
//! elements), drops of removed elements, a model proptest with aborted transactions,
//! and a SIGKILL process test.

use crndm::{MemPool, O_CF, PCell, PClone, PRefCell, PVec, Pbox, Root};
use crndm_tests::shm_dir;
use proptest::prelude::*;

use crate::collections_common::*;

// ---- behaviour ----

#[test]
fn push_insert_remove_and_reads_behave_like_vec() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PVec<u32, P>, P>>(d.path().join("v.pool"), O_CF);
    P::transaction(|j| {
        let mut v = root.borrow_mut(j);
        for i in 0..100 {
            v.push(i, j);
        }
        v.insert(0, 1000, j);
        v.insert(50, 2000, j);
        assert_eq!(v.remove(1, j), 0);
        assert_eq!(v.swap_remove(0, j), 1000);
        v.retain(|x| x % 3 != 0, j);
    })
    .unwrap();
    let mut model: Vec<u32> = (0..100).collect();
    model.insert(0, 1000);
    model.insert(50, 2000);
    model.remove(1);
    model.swap_remove(0);
    model.retain(|x| x % 3 != 0);
    let v = root.borrow();
    assert_eq!(*v, model);
    assert_eq!(v.len(), model.len());
    assert_eq!(v[3], model[3]);
    assert_eq!(&v[2..5], &model[2..5]);
    assert_eq!(v.get(model.len()), None);
    assert_eq!(v.iter().copied().max(), model.iter().copied().max());
    assert_eq!(format!("{v:?}"), format!("{model:?}"));
    assert!(v.capacity() >= v.len());
}

#[test]
fn an_abort_restores_shifted_elements_length_and_buffer() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PVec<u64, P>, P>>(d.path().join("v.pool"), O_CF);
    P::transaction(|j| {
        root.borrow_mut(j)
            .extend_from_slice(&[1, 2, 3, 4, 5, 6, 7], j)
    })
    .unwrap();
    let ops: [Change<PVec<u64, P>, P>; 9] = [
        |v, j| v.insert(0, 99, j),
        |v, j| _ = v.remove(0, j),
        |v, j| _ = v.swap_remove(1, j),
        |v, j| v.truncate(2, j),
        |v, j| v.retain(|x| x % 2 == 0, j),
        |v, j| v.as_mut_slice(j).reverse(),
        |v, j| *v.get_mut(3, j).unwrap() = 0,
        |v, j| (0..100).for_each(|i| v.push(i, j)), // grows: a new buffer
        |v, j| {
            v.clear(j);
            v.shrink_to_fit(j); // frees the buffer
        },
    ];
    assert_each_op_aborts(&root, &ops, |v| (v.to_vec(), v.capacity()));
}

#[test]
fn removed_elements_are_dropped_and_their_memory_freed_after_commit() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PVec<Pbox<u64, P>, P>, P>>(d.path().join("v.pool"), O_CF);
    let base = used::<P>();
    P::transaction(|j| {
        let mut v = root.borrow_mut(j);
        for i in 0..20 {
            v.push(Pbox::new(i, j), j);
        }
    })
    .unwrap();
    let full = used::<P>();
    assert!(full >= base + 20 * 64);
    P::transaction(|j| {
        let mut v = root.borrow_mut(j);
        drop(v.remove(0, j));
        drop(v.pop(j));
        v.truncate(10, j);
        v.retain(|b| **b % 2 == 0, j);
        // Inside the transaction nothing is freed yet: an abort could bring it back.
        assert_eq!(used::<P>(), full);
    })
    .unwrap();
    assert_eq!(
        root.borrow().iter().map(|b| **b).collect::<Vec<_>>(),
        [2, 4, 6, 8, 10]
    );
    assert_heap::<P>(full - 15 * 64, "after removals");
    // Dropping the vector (replacing it) frees the elements and the buffer.
    P::transaction(|j| *root.borrow_mut(j) = PVec::new()).unwrap();
    assert_heap::<P>(base, "after drop");
}

#[test]
fn clones_are_deep_and_independent() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root =
        open_root::<P, PRefCell<PVec<PVec<Pbox<u8, P>, P>, P>, P>>(d.path().join("v.pool"), O_CF);
    P::transaction(|j| {
        let inner = PVec::from_slice(&[Pbox::new(1, j), Pbox::new(2, j)], j);
        let copy = inner.pclone(j);
        let mut outer = root.borrow_mut(j);
        outer.push(inner, j);
        outer.push(copy, j);
        *outer
            .get_mut(1, j)
            .unwrap()
            .get_mut(0, j)
            .unwrap()
            .get_mut(j) = 9;
    })
    .unwrap();
    let outer = root.borrow();
    assert_eq!(*outer[0][0], 1);
    assert_eq!(*outer[1][0], 9);
    assert!(!Pbox::ptr_eq(&outer[0][1], &outer[1][1]));
}

#[test]
fn zero_sized_elements_need_no_buffer() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PVec<(), P>, P>>(d.path().join("v.pool"), O_CF);
    let base = used::<P>();
    P::transaction(|j| {
        let mut v = root.borrow_mut(j);
        for _ in 0..1000 {
            v.push((), j);
        }
        v.insert(10, (), j);
        v.remove(0, j);
    })
    .unwrap();
    assert_eq!(root.borrow().len(), 1000);
    assert_heap::<P>(base, "no buffer");
}

#[test]
fn reserve_reports_an_impossible_size() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    let root = open_root::<P, PRefCell<PVec<u64, P>, P>>(d.path().join("v.pool"), O_CF);
    let r = P::transaction(|j| root.borrow_mut(j).try_reserve(usize::MAX / 2, j).is_err());
    assert!(r.unwrap());
    let r = P::transaction(|j| root.borrow_mut(j).try_reserve(1 << 40, j).is_err());
    assert!(r.unwrap());
    assert!(P::transaction(|j| root.borrow_mut(j).reserve(1 << 40, j)).is_err());
}

// ---- model proptest ----

#[derive(Clone, Debug)]
enum VOp {
    Push(u64),
    Pop,
    Insert(usize, u64),
    Remove(usize),
    SwapRemove(usize),
    Truncate(usize),
    Clear,
    Extend(Vec<u64>),
    Reserve(usize),
    Shrink,
    Retain(u64),
    Set(usize, u64),
    Reverse,
}

fn vop() -> impl Strategy<Value = VOp> {
    prop_oneof![
        4 => any::<u64>().prop_map(VOp::Push),
        1 => Just(VOp::Pop),
        2 => (any::<usize>(), any::<u64>()).prop_map(|(i, v)| VOp::Insert(i, v)),
        2 => any::<usize>().prop_map(VOp::Remove),
        1 => any::<usize>().prop_map(VOp::SwapRemove),
        1 => any::<usize>().prop_map(VOp::Truncate),
        1 => Just(VOp::Clear),
        2 => proptest::collection::vec(any::<u64>(), 0..40).prop_map(VOp::Extend),
        1 => (0usize..200).prop_map(VOp::Reserve),
        1 => Just(VOp::Shrink),
        1 => (2u64..5).prop_map(VOp::Retain),
        2 => (any::<usize>(), any::<u64>()).prop_map(|(i, v)| VOp::Set(i, v)),
        1 => Just(VOp::Reverse),
    ]
}

fn apply_pvec<P: MemPool>(v: &mut PVec<Pbox<u64, P>, P>, op: &VOp, j: &crndm::Journal<P>) {
    let len = v.len();
    match *op {
        VOp::Push(x) => v.push(Pbox::new(x, j), j),
        VOp::Pop => drop(v.pop(j)),
        VOp::Insert(i, x) => v.insert(i % (len + 1), Pbox::new(x, j), j),
        VOp::Remove(i) if len > 0 => drop(v.remove(i % len, j)),
        VOp::SwapRemove(i) if len > 0 => drop(v.swap_remove(i % len, j)),
        VOp::Truncate(n) => v.truncate(n % (len + 1), j),
        VOp::Clear => v.clear(j),
        VOp::Extend(ref xs) => {
            let boxes: Vec<Pbox<u64, P>> = xs.iter().map(|&x| Pbox::new(x, j)).collect();
            v.extend_from_slice(&boxes, j);
        }
        VOp::Reserve(n) => v.reserve(n, j),
        VOp::Shrink => v.shrink_to_fit(j),
        VOp::Retain(m) => v.retain(|b| **b % m != 0, j),
        VOp::Set(i, x) if len > 0 => *v.get_mut(i % len, j).unwrap() = Pbox::new(x, j),
        VOp::Reverse => v.as_mut_slice(j).reverse(),
        _ => {}
    }
}

fn apply_model(v: &mut Vec<u64>, op: &VOp) {
    let len = v.len();
    match *op {
        VOp::Push(x) => v.push(x),
        VOp::Pop => drop(v.pop()),
        VOp::Insert(i, x) => v.insert(i % (len + 1), x),
        VOp::Remove(i) if len > 0 => drop(v.remove(i % len)),
        VOp::SwapRemove(i) if len > 0 => drop(v.swap_remove(i % len)),
        VOp::Truncate(n) => v.truncate(n % (len + 1)),
        VOp::Clear => v.clear(),
        VOp::Extend(ref xs) => v.extend_from_slice(xs),
        VOp::Retain(m) => v.retain(|x| x % m != 0),
        VOp::Set(i, x) if len > 0 => v[i % len] = x,
        VOp::Reverse => v.reverse(),
        _ => {}
    }
}

#[test]
fn random_operations_match_vec_and_aborts_change_nothing() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let d = shm_dir();
    // Each step is a transaction of a few operations; one in five aborts at its end.
    let steps = proptest::collection::vec((proptest::collection::vec(vop(), 1..5), 0u8..5), 1..40);
    run_cases(64, steps, |steps| {
        // A fresh pool per case: a failing case leaves nothing behind for the
        // next one, and shrinking finds the smallest failing case itself.
        let root =
            open_root::<P, PRefCell<PVec<Pbox<u64, P>, P>, P>>(d.path().join("v.pool"), O_CF);
        check_steps(
            &root,
            steps.iter().map(|(ops, abort)| (&ops[..], *abort == 0)),
            Vec::new(),
            apply_pvec,
            apply_model,
            |v, model, _| {
                let got: Vec<u64> = v.iter().map(|b| **b).collect();
                prop_assert_eq!(&got, model);
                Ok(())
            },
            PVec::new,
        )
    });
}

// ---- SIGKILL ----

crndm::pool!(vec_kill_pool);
type KP = vec_kill_pool::BuddyAlloc;

#[derive(Root)]
struct KillRoot<P: MemPool> {
    ops: PCell<u64, P>,
    v: PRefCell<PVec<u64, P>, P>,
}

/// Operation `i` of sequence `seed` on a vector of `len` elements.
fn kill_op(seed: u64, i: u64, len: usize) -> VOp {
    let mut r = OpRng::for_op(seed, i);
    let x = r.next();
    let big = len > 3000;
    match r.below(20) {
        0..=7 if !big => VOp::Push(x),
        0..=7 => VOp::Pop,
        8 | 9 => VOp::Insert(r.next() as usize, x),
        10 | 11 => VOp::Remove(r.next() as usize),
        12 => VOp::SwapRemove(r.next() as usize),
        13 => VOp::Set(r.next() as usize, x),
        14 if !big => VOp::Extend((0..r.below(30)).map(|k| x ^ k).collect()),
        15 => VOp::Truncate(len.saturating_sub(r.below(20) as usize) + 1),
        16 => VOp::Retain(2 + r.below(30)),
        17 => VOp::Shrink,
        18 if r.below(10) == 0 => VOp::Clear,
        _ => VOp::Pop,
    }
}

fn apply_plain<P: MemPool>(v: &mut PVec<u64, P>, op: &VOp, j: &crndm::Journal<P>) {
    let len = v.len();
    match *op {
        VOp::Push(x) => v.push(x, j),
        VOp::Pop => drop(v.pop(j)),
        VOp::Insert(i, x) => v.insert(i % (len + 1), x, j),
        VOp::Remove(i) if len > 0 => drop(v.remove(i % len, j)),
        VOp::SwapRemove(i) if len > 0 => drop(v.swap_remove(i % len, j)),
        VOp::Truncate(n) => v.truncate(n % (len + 1), j),
        VOp::Clear => v.clear(j),
        VOp::Extend(ref xs) => v.extend_from_slice(xs, j),
        VOp::Shrink => v.shrink_to_fit(j),
        VOp::Retain(m) => v.retain(|x| x % m != 0, j),
        VOp::Set(i, x) if len > 0 => *v.get_mut(i % len, j).unwrap() = x,
        _ => {}
    }
}

#[test]
#[ignore = "child process of a_killed_process_leaves_a_committed_prefix"]
fn vec_child() {
    kill_child::<KP, KillRoot<KP>>(
        8,
        |r| &r.ops,
        |root, seed, range, j| {
            let mut v = root.v.borrow_mut(j);
            for i in range {
                let op = kill_op(seed, i, v.len());
                apply_plain(&mut v, &op, j);
            }
        },
    );
}

#[test]
fn a_killed_process_leaves_a_committed_prefix() {
    kill_test::<KP, KillRoot<KP>>(
        "collections_vec::vec_child",
        6,
        |r| &r.ops,
        |root, seed, n| {
            let mut model = Vec::new();
            for i in 0..n {
                let op = kill_op(seed, i, model.len());
                apply_model(&mut model, &op);
            }
            assert_eq!(*root.v.borrow(), model, "after {n} operations");
            let cap = root.v.borrow().capacity() as u64;
            let buffer = if cap == 0 { 0 } else { cap * 8 };
            assert_heap::<KP>(root_block::<KillRoot<KP>>() + buffer, "after the kill");
        },
        |root, j| *root.v.borrow_mut(j) = PVec::new(),
    );
}
