//! The shared core of `Prc` and `Parc`: the allocation layout, its counts, and the
//! count changes behind every handle operation (new, clone, downgrade, upgrade,
//! promote, drop). The typed shells (`prc/mod.rs`, `sync/parc.rs`) differ only in their
//! [`Sharing`]: how a handle gets the right to change the counts (R3).
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
use crate::convert::to_usize;
use crate::error::Result;
use crate::offset::PoolOff;
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;
use crate::stm::tx::with_current;

/// How a kind of handle gets the right to change its allocation's counts (R3).
pub(crate) trait Sharing {
    /// Takes that right for the allocation at `off` in transaction `j`.
    fn claim<P: PoolType>(off: PoolOff, j: &Journal<P>);
}

/// `Prc`: confined to one thread, so the transaction holding the handle has the right.
pub(crate) enum Local {}

impl Sharing for Local {
    fn claim<P: PoolType>(_off: PoolOff, _j: &Journal<P>) {}
}

/// `Parc`: the allocation's object lock, held until the transaction ends (two-phase).
pub(crate) enum Shared {}

impl Sharing for Shared {
    #[track_caller]
    fn claim<P: PoolType>(off: PoolOff, j: &Journal<P>) {
        j.lock_object(off);
    }
}

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
    pub(crate) fn add<P: PoolType>(&self, w: Which, delta: i64, j: &Journal<P>) -> u64 {
        // The counts start their block (`RcBox` is `repr(C)`, counts first).
        let off = (std::ptr::from_ref(self) as usize).wrapping_sub(j.base() as usize);
        j.require_live_block::<RcBox<()>>(PoolOff::new(off as u64));
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
pub(crate) fn new_box<T, P: PoolType>(value: T, j: &Journal<P>) -> Result<PoolOff> {
    let size = size_of::<RcBox<T>>() as u64;
    let off = j.alloc(size, align_of::<RcBox<T>>() as u64)?;
    // SAFETY: `off` is a fresh block of at least `size` bytes aligned for RcBox<T> (A2),
    // inside the mapping the journal keeps alive.
    let ptr = unsafe { j.base().add(off.to_usize()) }.cast::<RcBox<T>>();
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
pub(crate) unsafe fn rc_box<'a, T, P: PoolType>(off: PoolOff) -> &'a RcBox<T> {
    let base = P::__slot().base();
    // SAFETY: (1) the block is inside the open pool.
    let p = unsafe { base.add(off.to_usize()) }.cast::<RcBox<T>>();
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
pub(crate) unsafe fn drop_strong<T, P: PoolType>(off: PoolOff, j: &Journal<P>) -> bool {
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
pub(crate) unsafe fn drop_weak<T, P: PoolType>(off: PoolOff, j: &Journal<P>) -> bool {
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

/// Allocates the `RcBox<T>` of a new handle of kind `S` (strong = weak = 1) and takes
/// the right to change its counts (for a `Parc` nobody else can know the block yet;
/// taking it keeps R3 uniform); returns its offset.
///
/// # Errors
/// The allocation errors; `value` is dropped.
#[track_caller]
pub(crate) fn new_handle<T, P: PoolType, S: Sharing>(value: T, j: &Journal<P>) -> Result<PoolOff> {
    let off = new_box(value, j)?;
    S::claim(off, j);
    Ok(off)
}

/// Adds one to count `w` of the allocation at `off` for a new handle of kind `S`
/// (clone, downgrade), in transaction `j`.
///
/// # Safety
/// 1. As [`rc_box`] (1): the caller holds a strong or weak count of the allocation.
#[track_caller]
pub(crate) unsafe fn add_one<T, P: PoolType, S: Sharing>(off: PoolOff, w: Which, j: &Journal<P>) {
    S::claim(off, j);
    // SAFETY: (1).
    unsafe { rc_box::<T, P>(off) }.counts.add(w, 1, j);
}

/// Adds one strong count to the allocation at `off` for a handle of kind `S` upgraded
/// from a weak reference, in transaction `j`; `false` if the value was dropped.
///
/// # Safety
/// 1. As [`rc_box`] (1): the caller holds a weak count of the allocation.
#[track_caller]
pub(crate) unsafe fn upgrade<T, P: PoolType, S: Sharing>(off: PoolOff, j: &Journal<P>) -> bool {
    S::claim(off, j);
    // SAFETY: (1).
    let c = unsafe { &rc_box::<T, P>(off).counts };
    if c.get(Which::Strong) == 0 {
        return false;
    }
    c.add(Which::Strong, 1, j);
    true
}

/// Adds one strong count to the allocation at `off` for a handle of kind `S` promoted
/// from a volatile weak pointer made with `(id, generation)`, in transaction `j`;
/// `false` if the pool was closed since, or the value dropped, or its memory freed
/// (even if reused since).
#[track_caller]
pub(crate) fn promote<T, P: PoolType, S: Sharing>(
    off: PoolOff,
    id: u64,
    generation: u64,
    j: &Journal<P>,
) -> bool {
    // The right first: a transaction freeing a `Parc`'s object holds its lock until its
    // commit, after which the identity check below fails.
    S::claim(off, j);
    if !vweak_valid::<P>(off, id, generation, j) {
        return false;
    }
    // SAFETY: the identity check proves the block is still this object's: allocated
    // (R2) in this open pool.
    let c = unsafe { &rc_box::<T, P>(off).counts };
    if c.get(Which::Strong) == 0 {
        return false;
    }
    c.add(Which::Strong, 1, j);
    true
}

/// Gives up count `w` of the allocation at `off` held by a dropped handle of kind `S`,
/// in the current transaction of pool `P` (see [`drop_strong`], [`drop_weak`]). Outside
/// a transaction a handle cannot be reached in safe code; if it is dropped anyway, the
/// count stays (the object leaks, nothing dangles).
///
/// # Safety
/// 1. As [`rc_box`] (1), and the caller owns one count `w`, which it gives up.
pub(crate) unsafe fn release<T, P: PoolType, S: Sharing>(off: PoolOff, w: Which) {
    with_current::<P, _>(|j| {
        if let Some(j) = j {
            S::claim(off, j);
            match w {
                // SAFETY: (1), under the right to change the counts (R3).
                Which::Strong => unsafe { drop_strong::<T, P>(off, j) },
                // SAFETY: (1), under the right to change the counts (R3).
                Which::Weak => unsafe { drop_weak::<T, P>(off, j) },
            };
        }
    });
}

/// The identity and generation a new volatile weak pointer to `off` carries.
pub(crate) fn vweak_identity<P: PoolType>(off: PoolOff) -> (u64, u64) {
    let slot = P::__slot();
    match slot.raw() {
        Ok(pool) => (pool.vweak_id(off), slot.generation()),
        // Unreachable in safe code (a live handle keeps the pool open); a dead pointer.
        Err(_) => (0, 0),
    }
}

/// Whether a volatile weak pointer made with `(id, generation)` still names the live
/// object at `off`.
pub(crate) fn vweak_valid<P: PoolType>(
    off: PoolOff,
    id: u64,
    generation: u64,
    j: &Journal<P>,
) -> bool {
    generation != 0 && generation == P::__slot().generation() && j.open_pool().vweak_alive(off, id)
}

/// Shows the root pointer check the stored offset `off` of an `RcBox<T>` handle
/// (`RootLayout::visit_pointers`).
pub(crate) fn visit_box<T>(off: PoolOff, v: &mut crate::layout::PointerVisitor<'_>) {
    v.pointer(
        off,
        size_of::<RcBox<T>>() as u64,
        align_of::<RcBox<T>>() as u64,
    );
}
