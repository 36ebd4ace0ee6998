//! Single-field updates: three `PCell`s in three cache lines whose sum is constant; each
//! operation moves amounts between them (one cell twice, so it is logged once and written
//! twice) and advances the step counter, which sits in a fourth line. Its classic variant
//! also rewrites a 2 KiB block of filler each operation, so that every transaction is
//! too large for the redo commit and takes the classic one.

use std::marker::PhantomData;

use crndm::{MemPool, PCell, Root};

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
    /// The classic variant's filler: the step number, 256 times (zero otherwise).
    filler: PCell<[[u64; 32]; 8], P>,
}

/// The workload; `P` is its pool type.
pub(crate) struct Sum<P> {
    pub(crate) ops: usize,
    classic: bool,
    _pool: PhantomData<P>,
}

impl<P> Sum<P> {
    pub(crate) fn new(ops: usize) -> Self {
        Sum {
            ops,
            classic: false,
            _pool: PhantomData,
        }
    }

    /// The variant whose transactions are too large for a redo commit.
    pub(crate) fn classic(ops: usize) -> Self {
        Sum {
            classic: true,
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
        if self.classic {
            "single-field updates, classic commit"
        } else {
            "single-field updates"
        }
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn run(&self, root: &SumRoot<P>, op: usize) {
        let x = amount(op);
        let classic = self.classic;
        P::transaction(|j| {
            if classic {
                root.filler.set([[op as u64 + 1; 32]; 8], j);
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
        let filler = root.filler.get();
        let want = if self.classic { step } else { 0 };
        if filler.iter().flatten().any(|&x| x != want) {
            return Err(format!("filler not all {want} at step {step}"));
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
