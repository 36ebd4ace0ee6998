//! The collections under power failure: a `PVec` (pushes, and removals from the front
//! that shift every element) and a `PHashMap` (inserts, overwrites, removals, growth and
//! shrinking), changed together in each transaction; every fifth transaction aborts.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use crndm::{MemPool, PCell, PHashMap, PRefCell, PVec, Root};

use crate::harness::{Observed, Workload, block, root_block};

#[derive(Root)]
pub(crate) struct CollRoot<P: MemPool> {
    vec: PRefCell<PVec<u64, P>, P>,
    map: PRefCell<PHashMap<u64, u64, P>, P>,
    step: PCell<u64, P>,
}

/// The workload; `P` is its pool type.
pub(crate) struct Collections<P> {
    pub(crate) ops: usize,
    _pool: PhantomData<P>,
}

impl<P> Collections<P> {
    pub(crate) fn new(ops: usize) -> Self {
        Collections {
            ops,
            _pool: PhantomData,
        }
    }
}

const SEP: u64 = u64::MAX;

impl<P: MemPool> Workload for Collections<P> {
    type P = P;
    type R = CollRoot<P>;

    fn name(&self) -> &'static str {
        "PVec and PHashMap"
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn commits(&self, op: usize) -> bool {
        op % 5 != 4
    }

    fn run(&self, root: &CollRoot<P>, op: usize) {
        let aborts = !self.commits(op);
        let r = P::transaction(|j| {
            let mut v = root.vec.borrow_mut(j);
            v.push(op as u64, j);
            if op % 3 == 2 {
                v.remove(0, j);
            }
            drop(v);
            let mut m = root.map.borrow_mut(j);
            m.insert((op as u64 * 7) % 13, op as u64, j);
            if op % 4 == 3 {
                m.remove(&((op as u64 * 5) % 13), j);
            }
            drop(m);
            root.step.set(op as u64 + 1, j);
            assert!(!aborts, "abort on purpose");
        });
        assert_eq!(r.is_err(), aborts);
    }

    fn observe(&self, root: &CollRoot<P>) -> Result<Observed, String> {
        let v = root.vec.borrow();
        let m = root.map.borrow();
        let mut state: Vec<u64> = v.as_slice().to_vec();
        state.push(SEP);
        let mut pairs: Vec<(u64, u64)> = m.iter().map(|(k, x)| (*k, *x)).collect();
        pairs.sort_unstable();
        if pairs.len() != m.len() {
            return Err(format!("map len {} but {} entries", m.len(), pairs.len()));
        }
        for (k, x) in pairs {
            state.extend([k, x]);
        }
        let vec_bytes = if v.capacity() > 0 {
            block(v.capacity() * 8, 8)
        } else {
            0
        };
        let map_bytes = if m.capacity() > 0 {
            block(m.capacity() * 24, 8)
        } else {
            0
        };
        Ok(Observed {
            step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
            state,
            used: root_block::<CollRoot<P>>() + vec_bytes + map_bytes,
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        let mut v = Vec::new();
        let mut m = BTreeMap::new();
        for op in (0..step).filter(|&op| self.commits(op)) {
            v.push(op as u64);
            if op % 3 == 2 {
                v.remove(0);
            }
            m.insert((op as u64 * 7) % 13, op as u64);
            if op % 4 == 3 {
                m.remove(&((op as u64 * 5) % 13));
            }
        }
        let mut state = v;
        state.push(SEP);
        for (k, x) in m {
            state.extend([k, x]);
        }
        state
    }
}
