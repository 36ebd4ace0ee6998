//! The stack: a linked list of `Pbox` nodes; operations push and pop one or two nodes,
//! or pop one and push one in the same transaction (an allocation and a deferred free in
//! one commit).

use std::marker::PhantomData;

use crndm::{Journal, MemPool, PCell, PRefCell, Pbox, Root};

use crate::harness::{Observed, Workload, block, root_block};

/// A stack node (also used by the nested and abort workloads).
#[derive(crndm::RootLayout)]
pub(crate) struct Node<P: MemPool> {
    pub(crate) value: u64,
    pub(crate) next: PRefCell<Option<Pbox<Node<P>, P>>, P>,
}

/// Heap bytes of one node.
pub(crate) fn node_block<P: MemPool>() -> u64 {
    block(size_of::<Node<P>>(), align_of::<Node<P>>())
}

pub(crate) type Link<P> = PRefCell<Option<Pbox<Node<P>, P>>, P>;

/// Pushes `value` on the stack at `head`.
pub(crate) fn push<P: MemPool>(head: &Link<P>, value: u64, j: &Journal<P>) {
    let mut head = head.borrow_mut(j);
    let next = head.take();
    *head = Some(Pbox::new(
        Node {
            value,
            next: PRefCell::new(next),
        },
        j,
    ));
}

/// Pops the top of the stack at `head` (its block is freed when `j` commits).
pub(crate) fn pop<P: MemPool>(head: &Link<P>, j: &Journal<P>) -> Option<u64> {
    let top = head.take(j)?;
    *head.borrow_mut(j) = top.next.take(j);
    Some(top.value)
}

/// The values from the top of the stack at `head` down, at most `limit` of them.
pub(crate) fn values<P: MemPool>(head: &Link<P>, limit: usize) -> Result<Vec<u64>, String> {
    fn walk<P: MemPool>(link: &Link<P>, out: &mut Vec<u64>, limit: usize) -> Result<(), String> {
        let guard = link
            .try_borrow()
            .ok_or("a link is still borrowed after recovery")?;
        let Some(node) = guard.as_ref() else {
            return Ok(());
        };
        if out.len() >= limit {
            return Err(format!("the list is longer than {limit} nodes (a cycle?)"));
        }
        out.push(node.value);
        walk(&node.next, out, limit)
    }
    let mut out = Vec::new();
    walk(head, &mut out, limit)?;
    Ok(out)
}

/// The values of the stack at `head` from the bottom up, checked against its length
/// field `len`.
pub(crate) fn values_bottom_up<P: MemPool>(head: &Link<P>, len: u64) -> Result<Vec<u64>, String> {
    let mut vals = values(head, 10_000)?;
    if vals.len() as u64 != len {
        return Err(format!("{} nodes, the length field says {len}", vals.len()));
    }
    vals.reverse();
    Ok(vals)
}

#[derive(Root)]
pub(crate) struct StackRoot<P: MemPool> {
    head: Link<P>,
    _pad: [u64; 8],
    len: PCell<u64, P>,
    step: PCell<u64, P>,
}

/// Reads a [`StackRoot`]: the values bottom to top, checking the length field.
pub(crate) fn observe_stack<P: MemPool>(root: &StackRoot<P>) -> Result<Observed, String> {
    let vals = values_bottom_up(&root.head, root.len.get())?;
    Ok(Observed {
        step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
        used: root_block::<StackRoot<P>>() + vals.len() as u64 * node_block::<P>(),
        state: vals,
    })
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Push(u8),
    Pop(u8),
    PopPush,
}

const SCRIPT: [Op; 8] = [
    Op::Push(1),
    Op::Push(2),
    Op::Pop(1),
    Op::PopPush,
    Op::Push(1),
    Op::Pop(2),
    Op::Push(2),
    Op::PopPush,
];

/// The workload; `P` is its pool type.
pub(crate) struct Stack<P> {
    pub(crate) ops: usize,
    /// Run every odd operation on a thread of its own (one at a time, never two at
    /// once), so that a block one thread frees is reused by another thread's
    /// allocation, and each thread's flushes wait for that thread's fences.
    pub(crate) two_threads: bool,
    _pool: PhantomData<P>,
}

impl<P> Stack<P> {
    pub(crate) fn new(ops: usize) -> Self {
        Stack {
            ops,
            two_threads: false,
            _pool: PhantomData,
        }
    }

    /// The same operations, odd ones on other threads.
    pub(crate) fn on_two_threads(ops: usize) -> Self {
        Stack {
            two_threads: true,
            ..Stack::new(ops)
        }
    }
}

/// A root reference handed to a helper thread that runs while its creator waits.
struct Handoff<T>(*const T);

// SAFETY: the helper thread is joined before the creating thread touches the root
// again, so the root is never used by two threads at once (no data race on its cells);
// the pool stays open (the creator holds the root handle) for the helper's whole life.
unsafe impl<T> Send for Handoff<T> {}

impl<T> Handoff<T> {
    /// The root.
    ///
    /// # Safety
    /// 1. The creator of the handoff waits (holding the pool open) until the caller's
    ///    thread is done with the reference.
    unsafe fn get(&self) -> &T {
        // SAFETY: (1) the pointer came from a live reference whose referent outlives
        // this thread's use, and no other thread uses it meanwhile.
        unsafe { &*self.0 }
    }
}

fn model(step: usize) -> Vec<u64> {
    let mut s = Vec::new();
    for op in 0..step {
        let v = op as u64 * 10;
        match SCRIPT[op % SCRIPT.len()] {
            Op::Push(n) => s.extend((0..u64::from(n)).map(|k| v + k)),
            Op::Pop(n) => s.truncate(s.len().saturating_sub(usize::from(n))),
            Op::PopPush => {
                s.pop();
                s.push(v);
            }
        }
    }
    s
}

impl<P: MemPool> Workload for Stack<P> {
    type P = P;
    type R = StackRoot<P>;

    fn name(&self) -> &'static str {
        if self.two_threads {
            "stack, odd ops on another thread"
        } else {
            "stack of Pbox nodes"
        }
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn run(&self, root: &StackRoot<P>, op: usize) {
        if self.two_threads && op % 2 == 1 {
            let root = Handoff(std::ptr::from_ref(root));
            std::thread::scope(|s| {
                s.spawn(move || {
                    // SAFETY: (1) this scope joins the thread before `run` returns.
                    let root = unsafe { root.get() };
                    stack_op(root, op);
                });
            });
        } else {
            stack_op(root, op);
        }
    }

    fn observe(&self, root: &StackRoot<P>) -> Result<Observed, String> {
        observe_stack(root)
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        model(step)
    }
}

/// Operation `op` of the script, as one transaction.
///
/// The length and step cells are logged before the stack changes, so the nodes' ALLOC
/// records come after the transaction's last undo record and only the commit's own
/// fence makes them durable before the nodes' head bytes (A1).
fn stack_op<P: MemPool>(root: &StackRoot<P>, op: usize) {
    P::transaction(|j| {
        let v = op as u64 * 10;
        let len = root.len.get();
        let script = SCRIPT[op % SCRIPT.len()];
        root.len.set(
            match script {
                Op::Push(n) => len + u64::from(n),
                Op::Pop(n) => len.saturating_sub(u64::from(n)),
                Op::PopPush => len.max(1),
            },
            j,
        );
        root.step.set(op as u64 + 1, j);
        match script {
            Op::Push(n) => {
                for k in 0..u64::from(n) {
                    push(&root.head, v + k, j);
                }
            }
            Op::Pop(n) => {
                for _ in 0..n {
                    pop(&root.head, j);
                }
            }
            Op::PopPush => {
                pop(&root.head, j);
                push(&root.head, v, j);
            }
        }
    })
    .expect("commits");
}
