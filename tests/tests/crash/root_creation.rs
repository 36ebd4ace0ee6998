//! Root creation on first open: the run starts with `open(O_CF)` under the simulator, so
//! the crash points cover formatting the file, the root transaction (which allocates the
//! root and, through `Pbox`'s `RootObj`, a second object), and a few updates after it.
//!
//! A crash image whose header never became durable is not a pool yet ("not yet a pool"
//! in the report); every other image must open with the root either absent (then the open
//! creates it) or complete.

use std::marker::PhantomData;

use crndm::{MemPool, PCell, Pbox, Root};

use crate::harness::{Observed, Workload, block, root_block};

#[derive(Root)]
pub(crate) struct Inner<P: MemPool> {
    x: PCell<u64, P>,
    _pad: [u64; 15],
}

#[derive(Root)]
pub(crate) struct FirstRoot<P: MemPool> {
    count: PCell<u64, P>,
    inner: Pbox<Inner<P>, P>,
}

/// The workload; `P` is its pool type.
pub(crate) struct RootCreation<P> {
    pub(crate) ops: usize,
    _pool: PhantomData<P>,
}

impl<P> RootCreation<P> {
    pub(crate) fn new(ops: usize) -> Self {
        RootCreation {
            ops,
            _pool: PhantomData,
        }
    }
}

impl<P: MemPool> Workload for RootCreation<P> {
    type P = P;
    type R = FirstRoot<P>;

    fn name(&self) -> &'static str {
        "root creation on first open"
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn creates_pool(&self) -> bool {
        true
    }

    fn run(&self, root: &FirstRoot<P>, op: usize) {
        P::transaction(|j| {
            root.count.set(op as u64 + 1, j);
            root.inner.x.set(root.inner.x.get() + 10, j);
        })
        .expect("commits");
    }

    fn observe(&self, root: &FirstRoot<P>) -> Result<Observed, String> {
        Ok(Observed {
            step: usize::try_from(root.count.get()).map_err(|e| e.to_string())?,
            state: vec![root.inner.x.get()],
            used: root_block::<FirstRoot<P>>()
                + block(size_of::<Inner<P>>(), align_of::<Inner<P>>()),
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        vec![step as u64 * 10]
    }
}
