//! Rule R2's fallback (`end_previous_log` in `stm/journal.rs`): a transaction that has
//! not fenced yet is about to write a record past the lane's first line while the lane's
//! previous log may still be valid on the media (a redo commit or a commit with frees
//! left its truncation unflushed), and no SKIP record can move its log clear of that log,
//! so it makes the lane's first line durable first. Every operation is one transaction
//! on the lane of the one before, in a cycle of three kinds ([`Op`]):
//!
//! - **page**: sets the step counter, then rewrites a 1664-byte page: a redo commit whose
//!   log starts with a small record (the step's undo record, in the first line) and
//!   reaches past 3.4 KiB of the 4 KiB lane;
//! - **wide**, after a page: rewrites a 512-byte cell first. Its undo record starts the
//!   log and ends past the first line, and no SKIP target fits past the page's log, so
//!   the fallback flushes the first line (the page's truncation, not yet written back)
//!   and fences;
//! - **boxes**, after a page: allocates three `Pbox`es, then stores them in place of the
//!   old ones. The store's log writes the three ALLOC records first: two fill the first
//!   line (no room left there for a SKIP record) and the third would go past it, so the
//!   fallback fences the first line before the third overwrites the page's log.
//!
//! Without the fallback's flush or fence, a crash can keep the new record's second line
//! without the first: the page's log comes back with its first record (the step's undo
//! record) and without its COMMIT record, and recovery rolls a committed transaction
//! back. (A previous log whose first record reaches past the overwritten lines would
//! just vanish, its first record torn: that is why the page logs the step first.)

use std::marker::PhantomData;

use crndm::internals::sim::Mutation;
use crndm::{MemPool, PCell, PRefCell, Pbox, Root};

use crate::harness::{
    Budget, Observed, Workload, block, fill, record, root_block, run, scratch, uniform,
};
use crate::mutations::{assert_caught, site};

/// 1664 bytes: with its undo and redo records, the page's redo commit leaves a log that
/// ends at 3568 of the 4 KiB lane, too far for a SKIP record past it before the wide
/// cell's record.
type Page = [[u64; 26]; 8];
/// 512 bytes: an undo record (544 bytes) that ends past the lane's first line.
type Wide = [[u64; 32]; 2];

/// The three boxes the boxes operation replaces.
type Boxes<P> = [Option<Pbox<u64, P>>; 3];

#[derive(Root)]
pub(crate) struct R2Root<P: MemPool> {
    page: PRefCell<Page, P>,
    wide: PRefCell<Wide, P>,
    boxes: PRefCell<Boxes<P>, P>,
    step: PCell<u64, P>,
}

/// The kinds of operations (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Sets the step counter, then rewrites the page: a long log left pending.
    Page,
    /// Rewrites the wide cell first: R2's fallback at the log's first record.
    Wide,
    /// Stores three new boxes: R2's fallback at the third ALLOC record.
    Boxes,
}

/// The workload; `P` is its pool type.
pub(crate) struct R2Fallback<P> {
    pub(crate) ops: usize,
    /// The kinds of the operations, repeated.
    cycle: &'static [Op],
    _pool: PhantomData<P>,
}

impl<P> R2Fallback<P> {
    /// Both ways to the fallback: page, wide, page, boxes, page, ...
    pub(crate) fn new(ops: usize) -> Self {
        Self::with_cycle(ops, &[Op::Page, Op::Wide, Op::Page, Op::Boxes])
    }

    /// Operations of the kinds of `cycle`, in turn.
    pub(crate) fn with_cycle(ops: usize, cycle: &'static [Op]) -> Self {
        R2Fallback {
            ops,
            cycle,
            _pool: PhantomData,
        }
    }

    /// The kind of operation `op`.
    fn kind(&self, op: usize) -> Op {
        self.cycle[op % self.cycle.len()]
    }
}

impl<P: MemPool> Workload for R2Fallback<P> {
    type P = P;
    type R = R2Root<P>;

    fn name(&self) -> &'static str {
        "R2 fallback (the first line fenced first)"
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn run(&self, root: &R2Root<P>, op: usize) {
        let v = op as u64 + 1;
        P::transaction(|j| match self.kind(op) {
            Op::Page => {
                // The log's first record is the step's, which ends in the first line.
                root.step.set(v, j);
                fill(root.page.borrow_mut(j).iter_mut().flatten(), v);
            }
            Op::Wide => {
                fill(root.wide.borrow_mut(j).iter_mut().flatten(), v);
                root.step.set(v, j);
            }
            Op::Boxes => {
                // Only reserved: their ALLOC records wait for the transaction's first
                // log record, the store's.
                let new = [
                    Some(Pbox::new(v, j)),
                    Some(Pbox::new(v, j)),
                    Some(Pbox::new(v, j)),
                ];
                *root.boxes.borrow_mut(j) = new;
                root.step.set(v, j);
            }
        })
        .expect("the operation commits");
    }

    fn observe(&self, root: &R2Root<P>) -> Result<Observed, String> {
        let boxes = root.boxes.borrow();
        let mut state = vec![
            uniform("page", root.page.borrow().iter().flatten())?,
            uniform("wide cell", root.wide.borrow().iter().flatten())?,
        ];
        let mut used = root_block::<R2Root<P>>();
        for b in boxes.iter() {
            state.push(b.as_ref().map_or(0, |b| **b));
            if b.is_some() {
                used += block(size_of::<u64>(), align_of::<u64>());
            }
        }
        Ok(Observed {
            step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
            state,
            used,
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        let mut s = vec![0u64; 5];
        for op in 0..step {
            let v = op as u64 + 1;
            match self.kind(op) {
                Op::Page => s[0] = v,
                Op::Wide => s[1] = v,
                Op::Boxes => s[2..].fill(v),
            }
        }
        s
    }
}

crndm::pool!(r2_reach_pool);
crndm::pool!(r2_clean_pool);
crndm::pool!(r2_flush_pool);
crndm::pool!(r2_fence_wide_pool);
crndm::pool!(r2_fence_boxes_pool);

/// The call at or after the `// PERSIST:` tag of `end_previous_log` whose text contains
/// `call`.
fn end_previous_log_call(call: &str) -> Mutation {
    Mutation::SkipCall(site(
        "stm/journal.rs",
        "PERSIST: the lane's first line is durable before any other line of the previous",
        call,
    ))
}

#[test]
fn r2_fallback_is_reached_by_every_wide_and_boxes_operation() {
    // The fallback's fence, found in the recording by its call site: the workload
    // exercises what the mutation tests below remove.
    let w = R2Fallback::<r2_reach_pool::BuddyAlloc>::new(8);
    let dir = scratch();
    let rec = record(&w, dir.path(), None);
    let Mutation::SkipCall(fence) = end_previous_log_call(".fence()") else {
        unreachable!("end_previous_log_call returns a call site")
    };
    let mut labels: Vec<u64> = rec
        .events
        .iter()
        .filter(|e| e.site.line() == fence.line && e.site.file().ends_with(fence.file))
        .map(|e| e.label)
        .collect();
    labels.dedup();
    assert_eq!(
        labels,
        [1, 3, 5, 7],
        "the operations that took R2's fallback"
    );
}

#[test]
fn r2_fallback_every_crash_image_recovers() {
    run(
        &R2Fallback::<r2_clean_pool::BuddyAlloc>::new(8),
        &Budget::FULL,
        None,
    )
    .assert_clean();
}

#[test]
fn r2_fallback_removing_the_flush_of_the_first_line_is_caught() {
    // The wide operation: its first record overwrites the page's log, whose truncation
    // only the fallback's flush writes back (the fence alone makes nothing durable).
    // In the boxes operation the flush is redundant: the two ALLOC records in the first
    // line were flushed as they were written.
    assert_caught(
        &R2Fallback::<r2_flush_pool::BuddyAlloc>::with_cycle(2, &[Op::Page, Op::Wide]),
        end_previous_log_call(".flush("),
    );
}

#[test]
fn r2_fallback_removing_the_fence_of_the_first_line_is_caught_at_a_first_record() {
    // The wide operation: the next fence is its undo record's, after the record
    // overwrote the page's log.
    assert_caught(
        &R2Fallback::<r2_fence_wide_pool::BuddyAlloc>::with_cycle(2, &[Op::Page, Op::Wide]),
        end_previous_log_call(".fence()"),
    );
}

#[test]
fn r2_fallback_removing_the_fence_of_the_first_line_is_caught_at_an_alloc_record() {
    // The boxes operation: the next fence is the store's undo record's, after the third
    // ALLOC record overwrote the page's log.
    assert_caught(
        &R2Fallback::<r2_fence_boxes_pool::BuddyAlloc>::with_cycle(2, &[Op::Page, Op::Boxes]),
        end_previous_log_call(".fence()"),
    );
}
