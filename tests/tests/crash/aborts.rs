//! Aborts: every third operation writes both cells and a pair of cells (one field
//! logged, then the whole pair: overlapping undo records), pushes a node and pops one
//! (a deferred free), then panics; the rollback must undo all of it (and a crash during the rollback
//! must too). The other operations commit similar changes.

use std::marker::PhantomData;

use crndm::MemPool;

use crate::harness::{Observed, Workload};
use crate::nested::{MixedRoot, observe_mixed, shift_pair};
use crate::stack::{pop, push};

/// The workload; `P` is its pool type.
pub(crate) struct Aborts<P> {
    pub(crate) ops: usize,
    _pool: PhantomData<P>,
}

impl<P> Aborts<P> {
    pub(crate) fn new(ops: usize) -> Self {
        quiet_planted_panics();
        Aborts {
            ops,
            _pool: PhantomData,
        }
    }
}

/// The message of the workload's own panics.
const PLANTED: &str = "abort on purpose (crash suite)";

/// Keeps the planted panics out of the output (the transaction turns them into
/// `Err(Aborted)`, which `run` checks); every other panic is reported as before.
fn quiet_planted_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&PLANTED) {
                previous(info);
            }
        }));
    });
}

/// Whether operation `op` pops (otherwise it pushes), given the stack's length.
fn pops(op: usize, len: u64) -> bool {
    op % 4 == 3 && len > 0
}

impl<P: MemPool> Workload for Aborts<P> {
    type P = P;
    type R = MixedRoot<P>;

    fn name(&self) -> &'static str {
        "aborted transactions"
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn commits(&self, op: usize) -> bool {
        op % 3 != 1
    }

    fn run(&self, root: &MixedRoot<P>, op: usize) {
        let x = op as i64 + 3;
        let aborts = !self.commits(op);
        let r = P::transaction(|j| {
            root.a.set(root.a.get() - x, j);
            root.b.set(root.b.get() + x, j);
            shift_pair(&root.pair, x, j);
            let len = root.len.get();
            if aborts {
                // Both a free and an allocation that the rollback must undo.
                if pop(&root.head, j).is_some() {
                    push(&root.head, 1000 + op as u64, j);
                } else {
                    push(&root.head, 1000 + op as u64, j);
                    root.len.set(len + 1, j);
                }
                std::panic::panic_any(PLANTED);
            }
            if pops(op, len) {
                pop(&root.head, j);
                root.len.set(len - 1, j);
            } else {
                push(&root.head, op as u64, j);
                root.len.set(len + 1, j);
            }
            root.step.set(op as u64 + 1, j);
        });
        assert_eq!(r.is_ok(), !aborts, "op {op}: {r:?}");
    }

    fn observe(&self, root: &MixedRoot<P>) -> Result<Observed, String> {
        observe_mixed(root)
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        let mut a = 0i64;
        let mut stack: Vec<u64> = Vec::new();
        for op in (0..step).filter(|&op| self.commits(op)) {
            a -= op as i64 + 3;
            if pops(op, stack.len() as u64) {
                stack.pop();
            } else {
                stack.push(op as u64);
            }
        }
        // The pair's x moves with b.
        let mut v = vec![a as u64, (-a) as u64, (-a) as u64];
        v.extend(stack);
        v
    }
}
