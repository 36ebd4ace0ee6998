//! The shared core of `Prc` and `Parc`: the allocation layout and its counts.
//!
//! # Memory layout
//! ```text
//! block (pool offset `off`, 64-byte aligned)
//! +0   strong: u64   handles (`Prc`/`Parc`) alive
//! +8   weak:   u64   `PWeak`s alive, plus 1 held by all strong handles together
//! +16  value:  T     (at its alignment)
//! ```
//!
//! # Invariants
//! - **R1** `strong > 0` ⇒ the value is initialised; `strong == 0` ⇒ it was dropped.
//! - **R2** `weak > 0` ⇔ the block is allocated; the block is freed (after commit) when
//!   `weak` reaches 0.
//! - **R3** counts change only inside a transaction, logged first (undo), by one
//!   transaction at a time: a `Prc` is confined to one thread, and a `Parc` takes its
//!   object lock (two-phase, until the transaction ends) before reading or changing
//!   them, so a rollback or recovery restoring the old bytes never erases another
//!   transaction's change.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::alloc::buddy::order_for;
use crate::error::Result;
use crate::stm::journal::Journal;
use crate::stm::pool_type::MemPool;
use crate::util::to_usize;

/// The counts at the start of every `Prc`/`Parc` allocation.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Counts {
    strong: AtomicU64,
    weak: AtomicU64,
}

/// A `Prc`/`Parc` allocation holding a `T`.
#[repr(C)]
pub(crate) struct RcBox<T> {
    pub(crate) counts: Counts,
    pub(crate) value: T,
}

/// Which count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Which {
    Strong,
    Weak,
}

impl Counts {
    fn cell(&self, w: Which) -> &AtomicU64 {
        match w {
            Which::Strong => &self.strong,
            Which::Weak => &self.weak,
        }
    }

    /// The current value (for a `Parc`, meaningful under its object lock, or as a
    /// snapshot outside a transaction).
    pub(crate) fn get(&self, w: Which) -> u64 {
        self.cell(w).load(Ordering::Acquire)
    }

    /// Adds `delta` to a count in transaction `j`, logging it first (R3); returns the
    /// new value. The caller has the right to change it (R3).
    ///
    /// # Panics
    /// If no allocated block starts at these counts (a handle that outlived an aborted
    /// transaction, rule P2 of `stm::placement`); the transaction then aborts.
    pub(crate) fn add<P: MemPool>(&self, w: Which, delta: i64, j: &Journal<P>) -> u64 {
        // The counts start their block (`RcBox` is `repr(C)`, counts first).
        let off = (std::ptr::from_ref(self) as usize).wrapping_sub(j.base() as usize);
        j.require_live_block::<RcBox<()>>(off as u64);
        let cell = self.cell(w);
        j.log_range(cell.as_ptr().cast::<u8>(), 8);
        let new = cell.load(Ordering::Acquire).wrapping_add_signed(delta);
        cell.store(new, Ordering::Release);
        new
    }
}

/// Allocates an `RcBox<T>` holding `value` with strong = weak = 1; returns its offset.
///
/// # Errors
/// The allocation errors; `value` is dropped.
pub(crate) fn new_box<T, P: MemPool>(value: T, j: &Journal<P>) -> Result<u64> {
    let size = size_of::<RcBox<T>>() as u64;
    let off = j.alloc(size, align_of::<RcBox<T>>() as u64)?;
    // SAFETY: `off` is a fresh block of at least `size` bytes aligned for RcBox<T> (A2),
    // inside the mapping the journal keeps alive.
    let ptr = unsafe { j.base().add(to_usize(off)) }.cast::<RcBox<T>>();
    let b = RcBox {
        counts: Counts {
            strong: AtomicU64::new(1),
            weak: AtomicU64::new(1),
        },
        value,
    };
    // SAFETY: the block is ours alone, large and aligned enough.
    unsafe { ptr.write(b) };
    j.note_written(ptr.cast(), to_usize(size));
    Ok(off)
}

/// The allocation at `off` of pool `P`.
///
/// # Safety
/// 1. `P` is open (a handle or a transaction keeps it so) and `off` is an `RcBox<T>`
///    block of it whose weak count is not 0 (R2).
pub(crate) unsafe fn rc_box<'a, T, P: MemPool>(off: u64) -> &'a RcBox<T> {
    let base = P::__slot().base();
    // SAFETY: (1) the block is inside the open pool.
    let p = unsafe { base.add(to_usize(off)) }.cast::<RcBox<T>>();
    // SAFETY: (1) the block holds an RcBox<T>; shared access only (counts are atomics,
    // the value is changed only through logged cells).
    unsafe { &*p }
}

/// The order of an `RcBox<T>` block.
pub(crate) fn box_order<T>() -> Option<u8> {
    order_for(size_of::<RcBox<T>>() as u64, align_of::<RcBox<T>>() as u64).ok()
}

/// Drops one strong handle in transaction `j` (its right to change the counts is the
/// caller's, R3): drops the value when the last strong handle goes (R1), and frees the
/// block after commit when the last weak reference goes (R2). Returns whether the
/// block was freed.
///
/// # Safety
/// 1. As [`rc_box`] (1), and the caller owns one strong handle, which it gives up.
pub(crate) unsafe fn drop_strong<T, P: MemPool>(off: u64, j: &Journal<P>) -> bool {
    // A panic of the value's `Drop` poisons the transaction (issue 15, item 4).
    let _poison = j.poison_on_unwind();
    // SAFETY: (1).
    let b = unsafe { rc_box::<T, P>(off) };
    if b.counts.add(Which::Strong, -1, j) != 0 {
        return false;
    }
    let value = std::ptr::from_ref(&b.value).cast_mut();
    // It is dropped in DRAM, so a user `Drop` cannot change pool bytes without logging;
    // its bytes stay intact until the deferred free (a rollback brings it back).
    // SAFETY: the last strong handle is gone (R1): nobody reads the value any more.
    drop(unsafe { std::ptr::read(value) });
    // SAFETY: the block is still allocated: the strong handles' weak reference is ours.
    unsafe { drop_weak::<T, P>(off, j) }
}

/// Drops one weak reference in transaction `j`; frees the block after commit when it
/// was the last (R2). Returns whether the block was freed.
///
/// # Safety
/// 1. As [`rc_box`] (1), and the caller owns one weak reference, which it gives up.
pub(crate) unsafe fn drop_weak<T, P: MemPool>(off: u64, j: &Journal<P>) -> bool {
    // SAFETY: (1).
    let b = unsafe { rc_box::<T, P>(off) };
    if b.counts.add(Which::Weak, -1, j) != 0 {
        return false;
    }
    if let Some(order) = box_order::<T>() {
        j.defer_free(off, order);
    }
    j.forget_vweaks_on_commit(off);
    true
}
