//! Nested transactions: each operation is an outer transaction that calls inner ones
//! (which join it, flat nesting) two and three levels deep; every level changes something
//! (two cells whose sum is 0, the stack, its length), and all of it commits as one.

use std::marker::PhantomData;

use crndm::{MemPool, PCell, PRefCell, Root};

use crate::harness::{Observed, Workload, root_block};
use crate::stack::{Link, node_block, pop, values_bottom_up};

#[derive(Root)]
pub(crate) struct MixedRoot<P: MemPool> {
    pub(crate) a: PCell<i64, P>,
    _pad_a: [u64; 7],
    pub(crate) b: PCell<i64, P>,
    _pad_b: [u64; 7],
    pub(crate) head: Link<P>,
    pub(crate) len: PCell<u64, P>,
    pub(crate) step: PCell<u64, P>,
    /// Two cells whose sum is 0, changed one field first and then as a whole.
    pub(crate) pair: PRefCell<Pair<P>, P>,
}

/// Two cells behind one `PRefCell`: a field can be logged on its own (`PCell::set`
/// through a shared borrow) and then again inside the whole (`borrow_mut`).
#[derive(crndm::RootLayout)]
pub(crate) struct Pair<P: MemPool> {
    pub(crate) x: PCell<i64, P>,
    pub(crate) y: PCell<i64, P>,
}

impl<P: MemPool> Default for Pair<P> {
    fn default() -> Self {
        Pair {
            x: PCell::new(0),
            y: PCell::new(0),
        }
    }
}

/// Adds `d` to the pair's `x` and takes it from `y`: `x` is logged alone, then the
/// whole pair (with `x` already changed) is logged by `borrow_mut`. Rollback must
/// restore the newer record first, so that the older (`x` as it was) wins.
pub(crate) fn shift_pair<P: MemPool>(pair: &PRefCell<Pair<P>, P>, d: i64, j: &crndm::Journal<P>) {
    {
        let p = pair.borrow();
        p.x.set(p.x.get() + d, j);
    }
    let p = pair.borrow_mut(j);
    p.y.set(p.y.get() - d, j);
}

/// Reads a [`MixedRoot`]: `[a, b, pair x, stack values bottom to top...]`, checking
/// `a + b == 0`, `x + y == 0` and the length field.
pub(crate) fn observe_mixed<P: MemPool>(root: &MixedRoot<P>) -> Result<Observed, String> {
    let (a, b) = (root.a.get(), root.b.get());
    if a + b != 0 {
        return Err(format!("a + b = {} (a {a}, b {b})", a + b));
    }
    let vals = values_bottom_up(&root.head, root.len.get())?;
    let (x, y) = {
        let p = root.pair.borrow();
        (p.x.get(), p.y.get())
    };
    if x + y != 0 {
        return Err(format!("pair x + y = {} (x {x}, y {y})", x + y));
    }
    let used = root_block::<MixedRoot<P>>() + vals.len() as u64 * node_block::<P>();
    let mut state = vec![a as u64, b as u64, x as u64];
    state.extend(vals);
    Ok(Observed {
        step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
        state,
        used,
    })
}

/// The workload; `P` is its pool type.
pub(crate) struct Nested<P> {
    pub(crate) ops: usize,
    _pool: PhantomData<P>,
}

impl<P> Nested<P> {
    pub(crate) fn new(ops: usize) -> Self {
        Nested {
            ops,
            _pool: PhantomData,
        }
    }
}

impl<P: MemPool> Workload for Nested<P> {
    type P = P;
    type R = MixedRoot<P>;

    fn name(&self) -> &'static str {
        "nested transactions"
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn run(&self, root: &MixedRoot<P>, op: usize) {
        let x = op as i64 + 1;
        P::transaction(|j| {
            root.a.set(root.a.get() - x, j);
            P::transaction(|j2| {
                P::transaction(|j3| {
                    // A borrow held across other logged writes and an allocation (each
                    // fences while the cell's volatile borrow count says "borrowed").
                    let mut head = root.head.borrow_mut(j3);
                    root.len.set(root.len.get() + 1, j3);
                    let next = head.take();
                    *head = Some(crndm::Pbox::new(
                        crate::stack::Node {
                            value: op as u64,
                            next: PRefCell::new(next),
                        },
                        j3,
                    ));
                })
                .expect("joins");
                root.b.set(root.b.get() + x, j2);
            })
            .expect("joins");
            if op % 3 == 2 {
                P::transaction(|j2| {
                    for _ in 0..2 {
                        pop(&root.head, j2).expect("the stack has 3 nodes");
                    }
                    root.len.set(root.len.get() - 2, j2);
                })
                .expect("joins");
            }
            root.step.set(op as u64 + 1, j);
        })
        .expect("commits");
    }

    fn observe(&self, root: &MixedRoot<P>) -> Result<Observed, String> {
        observe_mixed(root)
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        let mut a = 0i64;
        let mut stack = Vec::new();
        for op in 0..step {
            a -= op as i64 + 1;
            stack.push(op as u64);
            if op % 3 == 2 {
                stack.truncate(stack.len() - 2);
            }
        }
        let mut v = vec![a as u64, (-a) as u64, 0];
        v.extend(stack);
        v
    }
}
