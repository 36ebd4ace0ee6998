//! A binary search tree of `Prc` nodes with `PWeak` parent links: inserts, and removal
//! of the largest key (its left subtree moves up and gets a new parent link). The check
//! walks the tree: keys in order, every parent link pointing at the parent, every strong
//! count 1, and the heap holding exactly the nodes.

use std::collections::BTreeSet;
use std::marker::PhantomData;

use crndm::prc::PWeak;
use crndm::{Journal, MemPool, PCell, PRefCell, Prc, Root};

use crate::harness::{Observed, Workload, block, root_block};

#[derive(crndm::RootLayout)]
pub(crate) struct TreeNode<P: MemPool> {
    key: u64,
    left: Link<P>,
    right: Link<P>,
    parent: PRefCell<Option<PWeak<TreeNode<P>, P>>, P>,
}

type Link<P> = PRefCell<Option<Prc<TreeNode<P>, P>>, P>;

#[derive(Root)]
pub(crate) struct TreeRoot<P: MemPool> {
    top: Link<P>,
    step: PCell<u64, P>,
}

/// The workload; `P` is its pool type.
pub(crate) struct PrcTree<P> {
    pub(crate) ops: usize,
    _pool: PhantomData<P>,
}

impl<P> PrcTree<P> {
    pub(crate) fn new(ops: usize) -> Self {
        PrcTree {
            ops,
            _pool: PhantomData,
        }
    }
}

/// Operation `op`: insert a key, or (every fourth) remove the largest.
fn key_of(op: usize) -> Option<u64> {
    (op % 4 != 3).then(|| (op as u64 * 37) % 29)
}

fn node_bytes<P: MemPool>() -> u64 {
    block(16 + size_of::<TreeNode<P>>(), 8)
}

fn insert<P: MemPool>(
    link: &Link<P>,
    parent: Option<&Prc<TreeNode<P>, P>>,
    key: u64,
    j: &Journal<P>,
) {
    let next = match link.borrow().as_ref() {
        Some(n) if n.key == key => return,
        Some(n) => Some(n.pclone(j)),
        None => None,
    };
    match next {
        Some(n) => {
            let side = if key < n.key { &n.left } else { &n.right };
            insert(side, Some(&n), key, j);
        }
        None => {
            let node = Prc::new(
                TreeNode {
                    key,
                    left: PRefCell::new(None),
                    right: PRefCell::new(None),
                    parent: PRefCell::new(parent.map(|p| Prc::downgrade(p, j))),
                },
                j,
            );
            *link.borrow_mut(j) = Some(node);
        }
    }
}

fn remove_max<P: MemPool>(link: &Link<P>, j: &Journal<P>) {
    let Some(n) = link.borrow().as_ref().map(|n| n.pclone(j)) else {
        return;
    };
    if n.right.borrow().is_some() {
        return remove_max(&n.right, j);
    }
    let parent = n.parent.take(j);
    let left = n.left.take(j);
    if let Some(l) = &left {
        *l.parent.borrow_mut(j) = parent.as_ref().map(|p| p.pclone(j));
    }
    *link.borrow_mut(j) = left;
}

fn walk<P: MemPool>(
    link: &Link<P>,
    parent: Option<&Prc<TreeNode<P>, P>>,
    keys: &mut Vec<u64>,
) -> Result<(), String> {
    let guard = link.borrow();
    let Some(n) = guard.as_ref() else {
        return Ok(());
    };
    if Prc::strong_count(n) != 1 {
        return Err(format!(
            "node {}: strong count {}",
            n.key,
            Prc::strong_count(n)
        ));
    }
    let up = n.parent.borrow();
    let ok = match (up.as_ref(), parent) {
        (None, None) => true,
        (Some(w), Some(p)) => w.strong_count() == 1 && Prc::weak_count(p) >= 1,
        _ => false,
    };
    if !ok {
        return Err(format!("node {}: wrong parent link", n.key));
    }
    walk(&n.left, Some(n), keys)?;
    keys.push(n.key);
    walk(&n.right, Some(n), keys)
}

impl<P: MemPool> Workload for PrcTree<P> {
    type P = P;
    type R = TreeRoot<P>;

    fn name(&self) -> &'static str {
        "tree of Prc nodes, PWeak parents"
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn run(&self, root: &TreeRoot<P>, op: usize) {
        P::transaction(|j| {
            match key_of(op) {
                Some(k) => insert(&root.top, None, k, j),
                None => remove_max(&root.top, j),
            }
            root.step.set(op as u64 + 1, j);
        })
        .expect("commits");
    }

    fn observe(&self, root: &TreeRoot<P>) -> Result<Observed, String> {
        let mut keys = Vec::new();
        walk(&root.top, None, &mut keys)?;
        if keys.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("keys out of order: {keys:?}"));
        }
        Ok(Observed {
            step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
            used: root_block::<TreeRoot<P>>() + keys.len() as u64 * node_bytes::<P>(),
            state: keys,
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        let mut set = BTreeSet::new();
        for op in 0..step {
            match key_of(op) {
                Some(k) => {
                    set.insert(k);
                }
                None => {
                    set.pop_last();
                }
            }
        }
        set.into_iter().collect()
    }
}
