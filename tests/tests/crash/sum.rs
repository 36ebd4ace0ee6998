//! Single-field updates: three `PCell`s in three cache lines whose sum is constant; each
//! operation moves amounts between them (one cell twice, so it is logged once and written
//! twice) and advances the step counter, which sits in a fourth line. Its locked variant
//! also counts the operations in a `PMutex`, so that every transaction holds an object
//! lock and takes the classic commit instead of the redo commit.

use std::marker::PhantomData;

use crndm::{MemPool, PCell, PMutex, Root};

use crate::harness::{Observed, Workload, root_block};

#[derive(Root)]
pub(crate) struct SumRoot<P: MemPool> {
    a: PCell<i64, P>,
    _pad_a: [u64; 7],
    b: PCell<i64, P>,
    _pad_b: [u64; 7],
    c: PCell<i64, P>,
    _pad_c: [u64; 7],
    step: PCell<u64, P>,
    /// Operations run by the locked variant (0 otherwise).
    locked_ops: PMutex<u64, P>,
}

/// The workload; `P` is its pool type.
pub(crate) struct Sum<P> {
    pub(crate) ops: usize,
    locked: bool,
    _pool: PhantomData<P>,
}

impl<P> Sum<P> {
    pub(crate) fn new(ops: usize) -> Self {
        Sum {
            ops,
            locked: false,
            _pool: PhantomData,
        }
    }

    /// The variant whose transactions hold an object lock (the classic commit).
    pub(crate) fn locked(ops: usize) -> Self {
        Sum {
            locked: true,
            ..Sum::new(ops)
        }
    }
}

fn amount(op: usize) -> i64 {
    (op as i64 * 7919) % 101 - 50
}

impl<P: MemPool> Workload for Sum<P> {
    type P = P;
    type R = SumRoot<P>;

    fn name(&self) -> &'static str {
        if self.locked {
            "single-field updates under a lock"
        } else {
            "single-field updates"
        }
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn run(&self, root: &SumRoot<P>, op: usize) {
        let x = amount(op);
        let locked = self.locked;
        P::transaction(|j| {
            if locked {
                *root.locked_ops.lock(j) += 1;
            }
            root.a.set(root.a.get() - x, j);
            root.b.set(root.b.get() + x / 2, j);
            root.a.set(root.a.get() + 1, j);
            root.c.set(root.c.get() + (x - x / 2) - 1, j);
            root.step.set(op as u64 + 1, j);
        })
        .expect("commits");
    }

    fn observe(&self, root: &SumRoot<P>) -> Result<Observed, String> {
        let (a, b, c) = (root.a.get(), root.b.get(), root.c.get());
        if a + b + c != 0 {
            return Err(format!("a + b + c = {} (a {a}, b {b}, c {c})", a + b + c));
        }
        let step = root.step.get();
        let counted = P::transaction(|j| *root.locked_ops.lock(j)).map_err(|e| e.to_string())?;
        if counted != if self.locked { step } else { 0 } {
            return Err(format!(
                "{counted} operations counted under the lock at step {step}"
            ));
        }
        Ok(Observed {
            step: usize::try_from(step).map_err(|e| e.to_string())?,
            state: vec![a as u64, b as u64, c as u64],
            used: root_block::<SumRoot<P>>(),
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        let (mut a, mut b, mut c) = (0i64, 0i64, 0i64);
        for op in 0..step {
            let x = amount(op);
            a -= x - 1;
            b += x / 2;
            c += (x - x / 2) - 1;
        }
        vec![a as u64, b as u64, c as u64]
    }
}
