//! Transactions larger than their journal: each operation rewrites eight 512-byte chunks
//! (4 KiB of undo records in 4 KiB journals), so its log continues in extension blocks;
//! every third operation aborts after the writes. Checks that extension blocks are freed
//! on commit, rollback and recovery, and that undo records in them are restored.

use std::marker::PhantomData;

use crndm::{MemPool, PCell, PRefCell, Pbox, Root};

use crate::harness::{Observed, Workload, block, root_block};

const CHUNKS: usize = 8;
type Chunk<P> = Option<Pbox<[u64; 64], P>>;

#[derive(Root)]
pub(crate) struct LargeRoot<P: MemPool> {
    chunks: PRefCell<[Chunk<P>; CHUNKS], P>,
    step: PCell<u64, P>,
}

/// The workload; `P` is its pool type.
pub(crate) struct Large<P> {
    pub(crate) ops: usize,
    _pool: PhantomData<P>,
}

impl<P> Large<P> {
    pub(crate) fn new(ops: usize) -> Self {
        Large {
            ops,
            _pool: PhantomData,
        }
    }
}

impl<P: MemPool> Workload for Large<P> {
    type P = P;
    type R = LargeRoot<P>;

    fn name(&self) -> &'static str {
        "transactions larger than the journal"
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn commits(&self, op: usize) -> bool {
        op % 3 != 2
    }

    fn run(&self, root: &LargeRoot<P>, op: usize) {
        let aborts = !self.commits(op);
        let r = P::transaction(|j| {
            let mut chunks = root.chunks.borrow_mut(j);
            for c in chunks.iter_mut() {
                match c {
                    Some(c) => *c.get_mut(j) = [op as u64 + 1; 64],
                    None => *c = Some(Pbox::new([op as u64 + 1; 64], j)),
                }
            }
            drop(chunks);
            root.step.set(op as u64 + 1, j);
            assert!(!aborts, "abort on purpose");
        });
        assert_eq!(r.is_err(), aborts);
    }

    fn observe(&self, root: &LargeRoot<P>) -> Result<Observed, String> {
        let chunks = root.chunks.borrow();
        let mut state = Vec::new();
        let mut live = 0;
        for c in chunks.iter() {
            match c {
                None => state.push(0),
                Some(c) => {
                    live += 1;
                    if c.iter().any(|&x| x != c[0]) {
                        return Err(format!("a chunk is torn: {:?}", &c[..4]));
                    }
                    state.push(c[0]);
                }
            }
        }
        Ok(Observed {
            step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
            state,
            used: root_block::<LargeRoot<P>>() + live * block(512, 8),
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        let last = (0..step).rev().find(|&op| self.commits(op));
        vec![last.map_or(0, |op| op as u64 + 1); CHUNKS]
    }
}
