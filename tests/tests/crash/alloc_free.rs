//! Allocation and free: three slots holding `Pbox`es of three size classes (64 B, 512 B,
//! and a pair of 8 KiB blocks); each operation fills an empty slot, replaces its boxes
//! (free and allocate in one transaction) or empties it. Every box carries its creator's
//! tag in every word, so a torn or stale block is caught. The two 8 KiB boxes of the pair
//! are allocated and freed together: the second is cut from a larger block whose other
//! half stays free, so freeing the pair merges blocks (the merge fence of the
//! allocator's publish step).

use std::marker::PhantomData;

use crndm::{Journal, MemPool, PCell, PRefCell, PSafe, Pbox, Root};

use crate::harness::{Observed, Workload, block, root_block};

/// A block of `N` words: `[tag, tag * 1000 + 1, tag * 1000 + 2, ...]`.
#[derive(crndm::RootLayout)]
pub(crate) struct Blob<const N: usize> {
    words: [u64; N],
}

impl<const N: usize> Blob<N> {
    pub(crate) fn new(tag: u64) -> Self {
        let mut words = [0u64; N];
        for (k, w) in words.iter_mut().enumerate() {
            *w = if k == 0 { tag } else { tag * 1000 + k as u64 };
        }
        Blob { words }
    }

    /// The tag, if every word agrees with it.
    pub(crate) fn tag(&self) -> Result<u64, String> {
        let t = self.words[0];
        match (1..N).find(|&k| self.words[k] != t.wrapping_mul(1000) + k as u64) {
            None => Ok(t),
            Some(k) => Err(format!(
                "a {N}-word box tagged {t} has word {k} = {}",
                self.words[k]
            )),
        }
    }
}

type Slot<const N: usize, P> = PRefCell<Option<Pbox<Blob<N>, P>>, P>;

#[derive(Root)]
pub(crate) struct AllocRoot<P: MemPool> {
    small: Slot<4, P>,
    mid: Slot<40, P>,
    big: Slot<600, P>,
    big_twin: Slot<600, P>,
    step: PCell<u64, P>,
}

/// The workload; `P` is its pool type.
pub(crate) struct AllocFree<P> {
    pub(crate) ops: usize,
    _pool: PhantomData<P>,
}

impl<P> AllocFree<P> {
    pub(crate) fn new(ops: usize) -> Self {
        AllocFree {
            ops,
            _pool: PhantomData,
        }
    }
}

/// What operation `op` does to its slot (`op % 3`), given whether the slot is full.
fn action(op: usize, full: bool) -> (bool, bool) {
    // (free the old box, allocate a new one)
    match (full, (op / 3) % 2) {
        (false, _) => (false, true),
        (true, 0) => (true, true),
        (true, _) => (true, false),
    }
}

fn step_slot<const N: usize, P: MemPool>(slot: &Slot<N, P>, op: usize, j: &Journal<P>)
where
    Blob<N>: PSafe,
{
    let full = slot.borrow().is_some();
    let (free, alloc) = action(op, full);
    // The slot is logged first, so a new box is allocated after the transaction's last
    // undo record and its ALLOC record needs the commit's own fence (A1).
    let mut slot = slot.borrow_mut(j);
    if free {
        drop(slot.take());
    }
    if alloc {
        *slot = Some(Pbox::new(Blob::new(op as u64 + 1), j));
    }
}

fn read_slot<const N: usize, P: MemPool>(slot: &Slot<N, P>) -> Result<(u64, u64), String> {
    let g = slot
        .try_borrow()
        .ok_or("a slot is borrowed after recovery")?;
    match g.as_ref() {
        None => Ok((0, 0)),
        Some(b) => Ok((b.tag()?, block(size_of::<Blob<N>>(), align_of::<Blob<N>>()))),
    }
}

impl<P: MemPool> Workload for AllocFree<P> {
    type P = P;
    type R = AllocRoot<P>;

    fn name(&self) -> &'static str {
        "allocation and free"
    }

    fn ops(&self) -> usize {
        self.ops
    }

    fn run(&self, root: &AllocRoot<P>, op: usize) {
        P::transaction(|j| {
            root.step.set(op as u64 + 1, j);
            match op % 3 {
                0 => step_slot(&root.small, op, j),
                1 => step_slot(&root.mid, op, j),
                _ => {
                    step_slot(&root.big, op, j);
                    step_slot(&root.big_twin, op, j);
                }
            }
        })
        .expect("commits");
    }

    fn observe(&self, root: &AllocRoot<P>) -> Result<Observed, String> {
        let s = read_slot(&root.small)?;
        let m = read_slot(&root.mid)?;
        let b = read_slot(&root.big)?;
        let t = read_slot(&root.big_twin)?;
        if t.0 != b.0 {
            return Err(format!("the 8 KiB pair has tags {} and {}", b.0, t.0));
        }
        Ok(Observed {
            step: usize::try_from(root.step.get()).map_err(|e| e.to_string())?,
            state: vec![s.0, m.0, b.0],
            used: root_block::<AllocRoot<P>>() + s.1 + m.1 + b.1 + t.1,
        })
    }

    fn expected(&self, step: usize) -> Vec<u64> {
        let mut slots = [0u64; 3];
        for op in 0..step {
            let slot = &mut slots[op % 3];
            let (free, alloc) = action(op, *slot != 0);
            if free {
                *slot = 0;
            }
            if alloc {
                *slot = op as u64 + 1;
            }
        }
        slots.to_vec()
    }
}
