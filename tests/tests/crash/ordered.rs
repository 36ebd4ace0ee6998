//! A `PBTreeMap` (inserts, overwrites, removals: node splits and merges) and a `PString`
//! (appends, truncations, growth) changed together; every fifth transaction aborts.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use crndm::{MemPool, PBTreeMap, PCell, PRefCell, PString, Root};

use crate::harness::{Observed, Workload, block, root_block};

#[derive(Root)]
pub(crate) struct OrderedRoot<P: MemPool> {
    map: PRefCell<PBTreeMap<u64, u64, P>, P>,
    text: PRefCell<PString<P>, P>,
    step: PCell<u64, P>,
}

/// The workload; `P` is its pool type.
pub(crate) struct Ordered<P> {
    pub(crate) ops: usize,
    _pool: PhantomData<P>,
}

impl<P> Ordered<P> {
    pub(crate) fn new(ops: usize) -> Self {
        Ordered {
            ops,
            _pool: PhantomData,
        }
    }
}

const SEP: u64 = u64::MAX;

/// The model's changes for operation `op`, applied to std types.
fn apply(op: usize, m: &mut BTreeMap<u64, u64>, s: &mut String) {
    for i in 0..3 {
        m.insert((op as u64 * 7 + i * 13) % 61, op as u64);
    }
    if op % 3 == 2 {
        for i in 0..4 {
            m.remove(&((op as u64 * 11 + i * 5) % 61));
        }
    }
    s.push_str(&format!("{op};"));
    if op % 4 == 3 {
        s.truncate(s.len() / 2);
    }
}

impl<P: MemPool> Workload for Ordered<P> {
    type P = P;
    type R = OrderedRoot<P>;

    fn name(&self) -> &'static str {
        "PBTreeMap and PString"
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn commits(&self, op: usize) -> bool {
        op % 5 != 4
    }

    fn run(&self, root: &OrderedRoot<P>, op: usize) {
        let aborts = !self.commits(op);
        let r = P::transaction(|j| {
            let mut m = root.map.borrow_mut(j);
            for i in 0..3 {
                m.insert((op as u64 * 7 + i * 13) % 61, op as u64, j);
            }
            if op % 3 == 2 {
                for i in 0..4 {
                    m.remove(&((op as u64 * 11 + i * 5) % 61), j);
                }
            }
            drop(m);
            let mut s = root.text.borrow_mut(j);
            s.push_str(&format!("{op};"), j);
            if op % 4 == 3 {
                let half = s.len() / 2;
                s.truncate(half, j);
            }
            drop(s);
            root.step.set(op as u64 + 1, j);
            assert!(!aborts, "abort on purpose");
        });
        assert_eq!(r.is_err(), aborts);
    }

    fn observe(&self, root: &OrderedRoot<P>) -> Result<Observed, String> {
        let m = root.map.borrow();
        let s = root.text.borrow();
        let mut state: Vec<u64> = Vec::new();
        let mut last = None;
        for (k, v) in m.iter() {
            if last.is_some_and(|l| l >= *k) {
                return Err(format!("keys out of order at {k}"));
            }
            last = Some(*k);
            state.extend([*k, *v]);
        }
        if state.len() / 2 != m.len() {
            return Err(format!(
                "map len {} but {} entries",
                m.len(),
                state.len() / 2
            ));
        }
        state.push(SEP);
        state.extend(s.as_bytes().iter().map(|&b| u64::from(b)));
        let text_bytes = if s.capacity() > 0 {
            block(s.capacity(), 1)
        } else {
            0
        };
        Ok(Observed {
            step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
            state,
            used: root_block::<OrderedRoot<P>>() + m.heap_bytes() + text_bytes,
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        let mut m = BTreeMap::new();
        let mut s = String::new();
        for op in (0..step).filter(|&op| self.commits(op)) {
            apply(op, &mut m, &mut s);
        }
        let mut state: Vec<u64> = m.into_iter().flat_map(|(k, v)| [k, v]).collect();
        state.push(SEP);
        state.extend(s.bytes().map(u64::from));
        state
    }
}
