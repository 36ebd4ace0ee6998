//! Bugs the crash suite found, each reduced to its smallest reproduction.

use std::marker::PhantomData;

use crndm::internals::sim::Sim;
use crndm::{MemPool, PCell, PRefCell, Pbox, Root};

use crate::harness::{
    Budget, Observed, Workload, block, check_image, fill, options, root_block, run, scratch,
    uniform,
};

crndm::pool!(two_frees_pool);
crndm::pool!(two_frees_image_pool);

type Slot<P> = PRefCell<Option<Pbox<u64, P>>, P>;

#[derive(Root)]
pub(crate) struct FourSlots<P: MemPool> {
    a: Slot<P>,
    b: Slot<P>,
    c: Slot<P>,
    d: Slot<P>,
    step: PCell<u64, P>,
}

/// Two operations on a fresh pool: fill four slots with 64-byte boxes (four neighbouring
/// heap units, whose head bytes share one line of the allocator map), then free the
/// first and the third in one transaction (not buddies of each other, and their buddies
/// stay used, so nothing merges).
pub(crate) struct TwoFrees<P>(PhantomData<P>);

impl<P: MemPool> Workload for TwoFrees<P> {
    type P = P;
    type R = FourSlots<P>;

    fn name(&self) -> &'static str {
        "two frees in one map line"
    }

    fn ops(&self) -> usize {
        2
    }

    fn run(&self, root: &FourSlots<P>, op: usize) {
        P::transaction(|j| {
            if op == 0 {
                for (v, s) in [&root.a, &root.b, &root.c, &root.d].into_iter().enumerate() {
                    *s.borrow_mut(j) = Some(Pbox::new(v as u64 + 1, j));
                }
            } else {
                drop(root.a.take(j));
                drop(root.c.take(j));
            }
            root.step.set(op as u64 + 1, j);
        })
        .expect("commits");
    }

    fn observe(&self, root: &FourSlots<P>) -> Result<Observed, String> {
        let mut state = Vec::new();
        for s in [&root.a, &root.b, &root.c, &root.d] {
            state.push(s.borrow().as_ref().map_or(0, |b| **b));
        }
        let boxes = state.iter().filter(|&&v| v != 0).count() as u64;
        Ok(Observed {
            step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
            state,
            used: root_block::<FourSlots<P>>() + boxes * block(8, 8),
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        match step {
            0 => vec![0; 4],
            1 => vec![1, 2, 3, 4],
            _ => vec![0, 2, 0, 4],
        }
    }
}

/// Issue 7, bug 1: `Heap::write` (alloc/buddy.rs) flushes a map line at the first store
/// of a batch to it and skips the flush for later stores to the same line, but a flush
/// only writes back the stores issued before it. So the head byte of the second block
/// freed by one transaction is never flushed: the log is truncated (F2) while the free
/// is not durable, and a crash leaks the block. The harness names the crash point.
#[test]
fn issue_7_two_frees_in_one_map_line_survive_a_crash_after_commit() {
    let r = run(
        &TwoFrees::<two_frees_pool::BuddyAlloc>(PhantomData),
        &Budget::FULL,
        None,
    );
    r.assert_clean();
}

/// The same bug without any subset: the persisted image when the pool has been closed
/// cleanly (every fence done, nothing unflushed that the library meant to persist)
/// still holds the freed block as used. A power failure at any time after the commit,
/// until another allocation touches that map line, leaks it for good.
#[test]
fn issue_7_the_persisted_image_after_a_clean_close_has_no_leak() {
    type P = two_frees_image_pool::BuddyAlloc;
    let w = TwoFrees::<P>(PhantomData);
    let dir = scratch();
    let path = dir.path().join("run.pool");
    drop(
        options()
            .open::<P, FourSlots<P>>(&path, crndm::O_CF)
            .unwrap(),
    );
    let sim = Sim::new();
    let root = options()
        .simulate(&sim)
        .open::<P, FourSlots<P>>(&path, 0)
        .unwrap();
    w.run(&root, 0);
    w.run(&root, 1);
    drop(root);
    let image = sim.image().unwrap();
    let r = check_image(&w, &dir.path().join("image.pool"), &image, &[2], None);
    assert!(r.is_ok(), "{r:?}");
}

crndm::pool!(straddling_header_pool);

/// 256 bytes: a record of it is copied by `stm/lane.rs`'s loop (128 bytes and more).
type Page = [u64; 32];

#[derive(Root)]
pub(crate) struct TwoPages<P: MemPool> {
    small: PCell<u64, P>,
    a: PRefCell<Page, P>,
    b: PRefCell<Page, P>,
    step: PCell<u64, P>,
}

/// Four transactions, each logging the 8-byte `small` first (a 40-byte record at lane
/// position 64) and then a whole page, `a` on even operations and `b` on odd ones, so the
/// page's record header lies at 104..136, across the line boundary at 128, and its last
/// word (the page's offset) differs from what the previous transaction left there.
pub(crate) struct StraddlingHeader<P>(PhantomData<P>);

/// The value of the last operation before `step` that wrote the page of parity `parity`.
fn last_write(step: usize, parity: usize) -> u64 {
    (0..step)
        .rev()
        .find(|k| k % 2 == parity)
        .map_or(0, |k| k as u64 + 1)
}

impl<P: MemPool> Workload for StraddlingHeader<P> {
    type P = P;
    type R = TwoPages<P>;

    fn name(&self) -> &'static str {
        "a copied record whose header straddles two lines"
    }

    fn ops(&self) -> usize {
        4
    }

    fn run(&self, root: &TwoPages<P>, op: usize) {
        let v = op as u64 + 1;
        P::transaction(|j| {
            root.small.set(v, j);
            let page = if op.is_multiple_of(2) {
                &root.a
            } else {
                &root.b
            };
            fill(page.borrow_mut(j).iter_mut(), v);
            root.step.set(v, j);
        })
        .expect("commits");
    }

    fn observe(&self, root: &TwoPages<P>) -> Result<Observed, String> {
        let state = vec![
            root.small.get(),
            uniform("page a", root.a.borrow().iter())?,
            uniform("page b", root.b.borrow().iter())?,
        ];
        Ok(Observed {
            step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
            state,
            used: root_block::<TwoPages<P>>(),
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        vec![step as u64, last_write(step, 0), last_write(step, 1)]
    }
}

/// Issue 20: the first version of the copy loop (`RawLane::append_copied`) flushed the
/// lines after the header's first line before writing the header, so a header across a
/// line boundary had its last word in a line flushed too early; the fence then made a
/// record durable whose seal did not match, and a crash after the page was written
/// could not roll it back (the suite's ordered-collections workload found it).
#[test]
fn issue_20_a_copied_record_whose_header_straddles_two_lines_is_durable_whole() {
    let r = run(
        &StraddlingHeader::<straddling_header_pool::BuddyAlloc>(PhantomData),
        &Budget::FULL,
        None,
    );
    r.assert_clean();
}
