//! Large logged updates and frees (issue 20): four pages of 1, 4, 16 and 64 KiB; each
//! operation rewrites one of them whole (its undo record is streamed into the log with
//! non-temporal stores; in the 4 KiB journals of the crash pools every page but the 1 KiB
//! one continues in an extension block), and on two operations of three also replaces a
//! 64 B box (a free and an allocation in the same transaction). Odd operations log an
//! 8-byte cell first, so the page's undo record starts off a 32-byte boundary of its
//! line (the seal's piecewise path); every fifth operation aborts after its writes
//! (rollback restores a streamed record).

use std::marker::PhantomData;

use crndm::{MemPool, PCell, PRefCell, Pbox, Root};

use crate::harness::{Observed, Workload, block, fill, root_block, uniform};

/// 1 KiB, 4 KiB, 16 KiB and 64 KiB of words (nested: `Default` stops at 32 elements).
type Page1k = [[u64; 32]; 4];
type Page4k = [[u64; 32]; 16];
type Page16k = [[[u64; 32]; 8]; 8];
type Page64k = [[[u64; 32]; 32]; 8];

#[derive(Root)]
pub(crate) struct UpdatesRoot<P: MemPool> {
    small: PCell<u64, P>,
    p1k: PRefCell<Page1k, P>,
    p4k: PRefCell<Page4k, P>,
    p16k: PRefCell<Page16k, P>,
    p64k: PRefCell<Page64k, P>,
    boxed: PRefCell<Option<Pbox<[u64; 8], P>>, P>,
    step: PCell<u64, P>,
}

/// The workload; `P` is its pool type.
pub(crate) struct Updates<P> {
    pub(crate) ops: usize,
    _pool: PhantomData<P>,
}

impl<P> Updates<P> {
    pub(crate) fn new(ops: usize) -> Self {
        Updates {
            ops,
            _pool: PhantomData,
        }
    }
}

impl<P: MemPool> Workload for Updates<P> {
    type P = P;
    type R = UpdatesRoot<P>;

    fn name(&self) -> &'static str {
        "large updates (1-64 KiB) and frees"
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn commits(&self, op: usize) -> bool {
        op % 5 != 4
    }

    fn run(&self, root: &UpdatesRoot<P>, op: usize) {
        let aborts = !self.commits(op);
        let v = op as u64 + 1;
        let r = P::transaction(|j| {
            if op % 2 == 1 {
                root.small.set(v, j);
            }
            match op % 4 {
                0 => fill(root.p1k.borrow_mut(j).iter_mut().flatten(), v),
                1 => fill(root.p4k.borrow_mut(j).iter_mut().flatten(), v),
                2 => fill(root.p16k.borrow_mut(j).iter_mut().flatten().flatten(), v),
                _ => fill(root.p64k.borrow_mut(j).iter_mut().flatten().flatten(), v),
            }
            if op % 3 != 2 {
                // Frees the old box (if any) and allocates its successor.
                *root.boxed.borrow_mut(j) = Some(Pbox::new([v; 8], j));
            }
            root.step.set(v, j);
            assert!(!aborts, "abort on purpose");
        });
        assert_eq!(r.is_err(), aborts);
    }

    fn observe(&self, root: &UpdatesRoot<P>) -> Result<Observed, String> {
        let boxed = root.boxed.borrow();
        let b = match &*boxed {
            None => 0,
            Some(b) => uniform("boxed value", b.iter())?,
        };
        let state = vec![
            uniform("1 KiB page", root.p1k.borrow().iter().flatten())?,
            uniform("4 KiB page", root.p4k.borrow().iter().flatten())?,
            uniform("16 KiB page", root.p16k.borrow().iter().flatten().flatten())?,
            uniform("64 KiB page", root.p64k.borrow().iter().flatten().flatten())?,
            b,
            root.small.get(),
        ];
        Ok(Observed {
            step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
            state,
            used: root_block::<UpdatesRoot<P>>() + if boxed.is_some() { block(64, 8) } else { 0 },
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        let mut s = vec![0u64; 6];
        for op in (0..step).filter(|&op| self.commits(op)) {
            let v = op as u64 + 1;
            s[op % 4] = v;
            if op % 3 != 2 {
                s[4] = v;
            }
            if op % 2 == 1 {
                s[5] = v;
            }
        }
        s
    }
}
