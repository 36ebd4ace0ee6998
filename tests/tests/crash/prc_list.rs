//! A list of `Prc` nodes with sharing: a second root pointer (`alias`) shares a node of
//! the list (strong count 2), a persistent weak pointer may outlive its node's value, and
//! pops drop shared and unshared nodes. The check compares every node's strong count with
//! the pointers that reach it.

use std::collections::HashMap;
use std::marker::PhantomData;

use crndm::prc::PWeak;
use crndm::{Journal, MemPool, PCell, PRefCell, Prc, Root};

use crate::harness::{Observed, Workload, block, root_block};

#[derive(crndm::RootLayout)]
pub(crate) struct RcNode<P: MemPool> {
    value: u64,
    next: PRefCell<Option<Prc<RcNode<P>, P>>, P>,
}

type Strong<P> = PRefCell<Option<Prc<RcNode<P>, P>>, P>;

#[derive(Root)]
pub(crate) struct RcRoot<P: MemPool> {
    head: Strong<P>,
    alias: Strong<P>,
    weak: PRefCell<Option<PWeak<RcNode<P>, P>>, P>,
    step: PCell<u64, P>,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Push,
    Share,
    Pop,
    Weak,
    Unshare,
}

const SCRIPT: [Op; 10] = [
    Op::Push,
    Op::Push,
    Op::Share,
    Op::Pop,
    Op::Weak,
    Op::Push,
    Op::Pop,
    Op::Unshare,
    Op::Pop,
    Op::Push,
];

/// The workload; `P` is its pool type.
pub(crate) struct PrcList<P> {
    pub(crate) ops: usize,
    _pool: PhantomData<P>,
}

impl<P> PrcList<P> {
    pub(crate) fn new(ops: usize) -> Self {
        PrcList {
            ops,
            _pool: PhantomData,
        }
    }
}

/// Heap bytes of one node: the counts (two words) and the node.
fn node_bytes<P: MemPool>() -> u64 {
    block(16 + size_of::<RcNode<P>>(), 8)
}

const SEP: u64 = u64::MAX;

fn op_on<P: MemPool>(root: &RcRoot<P>, op: usize, j: &Journal<P>) {
    match SCRIPT[op % SCRIPT.len()] {
        Op::Push => {
            let next = root.head.take(j);
            let node = Prc::new(
                RcNode {
                    value: op as u64,
                    next: PRefCell::new(next),
                },
                j,
            );
            *root.head.borrow_mut(j) = Some(node);
        }
        Op::Share => {
            let shared = root.head.borrow().as_ref().map(|n| n.pclone(j));
            *root.alias.borrow_mut(j) = shared;
        }
        Op::Pop => {
            if let Some(top) = root.head.take(j) {
                let next = top.next.borrow().as_ref().map(|n| n.pclone(j));
                *root.head.borrow_mut(j) = next;
                drop(top);
            }
        }
        Op::Weak => {
            let w = root.head.borrow().as_ref().map(|n| Prc::downgrade(n, j));
            *root.weak.borrow_mut(j) = w;
        }
        Op::Unshare => drop(root.alias.take(j)),
    }
}

/// The model: node values by creation op; `next` links; the three root slots.
#[derive(Default)]
struct Model {
    next: HashMap<u64, Option<u64>>,
    head: Option<u64>,
    alias: Option<u64>,
    weak: Option<u64>,
}

impl Model {
    fn chain(&self, mut at: Option<u64>) -> Vec<u64> {
        let mut v = Vec::new();
        while let Some(n) = at {
            v.push(n);
            at = self.next[&n];
        }
        v
    }
}

impl<P: MemPool> Workload for PrcList<P> {
    type P = P;
    type R = RcRoot<P>;

    fn name(&self) -> &'static str {
        "list of Prc nodes with sharing"
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn run(&self, root: &RcRoot<P>, op: usize) {
        P::transaction(|j| {
            op_on(root, op, j);
            root.step.set(op as u64 + 1, j);
        })
        .expect("commits");
    }

    fn observe(&self, root: &RcRoot<P>) -> Result<Observed, String> {
        // Walk both chains; count the strong pointers reaching each node.
        let mut incoming: HashMap<usize, (u64, u64)> = HashMap::new(); // addr -> (refs, count)
        let mut chains = Vec::new();
        for slot in [&root.head, &root.alias] {
            let mut values = Vec::new();
            walk(slot, &mut values, &mut incoming)?;
            chains.push(values);
        }
        for (addr, (refs, count)) in &incoming {
            if refs != count {
                return Err(format!(
                    "node at {addr:#x}: strong count {count}, reached by {refs} pointers"
                ));
            }
        }
        let weak = root.weak.borrow();
        let (weak_strong, weak_dead) = match weak.as_ref() {
            None => (0, false),
            Some(w) => (w.strong_count(), w.strong_count() == 0),
        };
        let mut state = chains[0].clone();
        state.push(SEP);
        state.extend(&chains[1]);
        state.push(SEP);
        state.push(weak_strong);
        let nodes = incoming.len() as u64 + u64::from(weak_dead);
        Ok(Observed {
            step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
            state,
            used: root_block::<RcRoot<P>>() + nodes * node_bytes::<P>(),
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        let mut m = Model::default();
        for op in 0..step {
            match SCRIPT[op % SCRIPT.len()] {
                Op::Push => {
                    m.next.insert(op as u64, m.head);
                    m.head = Some(op as u64);
                }
                Op::Share => m.alias = m.head,
                Op::Pop => {
                    if let Some(h) = m.head {
                        m.head = m.next[&h];
                    }
                }
                Op::Weak => m.weak = m.head,
                Op::Unshare => m.alias = None,
            }
        }
        let head = m.chain(m.head);
        let alias = m.chain(m.alias);
        let strong_refs = |n: u64| {
            let mut live: Vec<u64> = head.clone();
            live.extend(alias.iter().filter(|a| !head.contains(a)));
            u64::from(m.head == Some(n))
                + u64::from(m.alias == Some(n))
                + live.iter().filter(|&&x| m.next[&x] == Some(n)).count() as u64
        };
        let mut v = head.clone();
        v.push(SEP);
        v.extend(&alias);
        v.push(SEP);
        v.push(m.weak.map_or(0, strong_refs));
        v
    }
}

/// Walks the chain from `slot`, appending values and counting, per node address, the
/// pointers that reach it (each node's own count is recorded once).
fn walk<P: MemPool>(
    slot: &Strong<P>,
    values: &mut Vec<u64>,
    incoming: &mut HashMap<usize, (u64, u64)>,
) -> Result<(), String> {
    let g = slot
        .try_borrow()
        .ok_or("a link is borrowed after recovery")?;
    let Some(node) = g.as_ref() else {
        return Ok(());
    };
    if values.len() > 10_000 {
        return Err("the list does not end".into());
    }
    let addr = std::ptr::from_ref::<RcNode<P>>(node) as usize;
    let seen = incoming.contains_key(&addr);
    let e = incoming.entry(addr).or_insert((0, Prc::strong_count(node)));
    e.0 += 1;
    values.push(node.value);
    if seen {
        // Already walked from here (the alias chain joins the head chain): its pointers
        // were counted; only the values are needed.
        return walk_values(&node.next, values);
    }
    walk(&node.next, values, incoming)
}

fn walk_values<P: MemPool>(slot: &Strong<P>, values: &mut Vec<u64>) -> Result<(), String> {
    let g = slot
        .try_borrow()
        .ok_or("a link is borrowed after recovery")?;
    match g.as_ref() {
        None => Ok(()),
        Some(n) => {
            values.push(n.value);
            walk_values(&n.next, values)
        }
    }
}
