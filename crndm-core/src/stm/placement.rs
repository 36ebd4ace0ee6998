//! Where an object lives: the run-time rule that keeps a cell's pool its *place*, not
//! only its type.
//!
//! A cell's pool type says which journal may change it, but safe code can put a cell
//! anywhere: on the stack, in a `Box`, or inside a block of another pool (a
//! `PCell<_, Q>` field of a `Pbox<_, P>`). A change through such a cell would be logged
//! nowhere (the journal logs only its own pool's bytes), so it would survive an abort,
//! and a persistent pointer stored in it would outlive the transaction that made it.
//!
//! **The rule (P1).** Every entry point that changes persistent state through `&self`
//! and a journal `j` of pool `P` (`PCell::set`/`replace`/`take`/`update`,
//! `PRefCell::borrow_mut` and the methods built on it, `PMutex::lock`) first checks that
//! the object lies wholly inside the heap of `j`'s pool, and otherwise panics with a
//! message naming the type: the transaction aborts and rolls back. Values the body owns
//! are not affected: they are changed through `&mut self` (a `PVec` built in a local,
//! then stored), which no other path can reach.
//!
//! The check is two compares against the heap bounds the journal keeps.
//!
//! **The allocation guard (P2).** An owned persistent pointer (`Pbox`, `Prc`, `Parc`,
//! their weak pointers) cannot leave its transaction in safe code (`TxOutSafe`), with
//! one known way around it: a `thread_local!` or `static` the body writes to needs no
//! capture, so a pointer parked there by a transaction that then aborts outlives it, and
//! its block is free again. Before such a pointer's block is dropped, freed, or changed
//! (`Pbox::drop`, `Pbox::get_mut`, `Pbox::into_inner`, every count change of a
//! `Prc`/`Parc`), the journal checks that a used block starts there (one map byte) or
//! that this transaction reserved it, and otherwise refuses as P1 does. A stale pointer
//! stored into the pool is thus refused at its first drop or change, before it can free
//! or overwrite anything, and `P::check()` reports it. Still open: a stale pointer whose
//! block was allocated again by someone else before it is used aliases that object.
//!
//! **Volatile cells in logged ranges (V1).** A `VCell`'s value is volatile (a heap
//! pointer of this process, say) but its bytes sit in PM among persistent ones: when a
//! transaction logs a range that holds a `VCell` (a `PRefCell::borrow_mut` of a struct
//! with one, a `PCell::set` of a value with one), its undo record holds the value's bytes
//! as they were, and an abort would put them back after the transaction changed or
//! dropped what they point to (a `Vec` reallocated: a dangling buffer). So when a
//! `VCell` whose value has drop glue is used inside a transaction that would restore
//! its bytes, the journal notes the cell's stamp; a rollback, after restoring the logged
//! bytes, resets each noted stamp that holds this open's volatile token to 0, so the
//! cell reads as `T::default()` (the stale value is forgotten, never dropped). The token
//! is random per open, so restored bytes that are not a `VCell` of this open (the range
//! held another value before) are never taken for a stamp and are left as restored. A
//! value without drop glue (a counter, a `Cell<u64>`) is valid in its old bytes and just
//! rolls back; a `VCell` in a block the transaction allocated is not restored at all.

use crate::offset::PoolOff;
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;

impl<P: PoolType> Journal<P> {
    /// Whether `[ptr, ptr + len)` lies inside the heap of this journal's pool.
    #[inline]
    pub(crate) fn in_heap(&self, ptr: *const u8, len: usize) -> bool {
        let (lo, hi) = self.heap_bounds();
        let addr = ptr as usize;
        addr >= lo && addr <= hi && len <= hi - addr
    }

    /// Refuses (P1) a `what` at `ptr` of `len` bytes that is about to be changed
    /// through `&self` with this journal but does not lie in this pool's heap.
    ///
    /// # Panics
    /// If it does not: the transaction aborts.
    #[inline]
    #[track_caller]
    pub(crate) fn require_in_heap<T: ?Sized>(&self, ptr: *const T, len: usize) {
        if !self.in_heap(ptr.cast(), len) {
            self.refuse_placement::<T>();
        }
    }

    /// The refusal of [`require_in_heap`](Self::require_in_heap): poisons the
    /// transaction (a caught panic cannot let it commit) and panics.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn refuse_placement<T: ?Sized>(&self) -> ! {
        self.fail(&format_args!(
            "refused to change a `{}` with a journal of `{}`: it does not live in that \
             pool's heap (a cell on the stack, in a Box, or in another pool is not logged)",
            std::any::type_name::<T>(),
            std::any::type_name::<P>()
        ))
    }

    /// Refuses (P2) to drop, free or change a `what` through an owned pointer to pool
    /// offset `off` unless a block allocated for this transaction starts there.
    ///
    /// # Panics
    /// If none does: the transaction aborts.
    #[inline]
    #[track_caller]
    pub(crate) fn require_live_block<T: ?Sized>(&self, off: PoolOff) {
        if !self.block_is_live(off) {
            self.refuse_dead_block::<T>(off);
        }
    }

    /// The refusal of [`require_live_block`](Self::require_live_block).
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn refuse_dead_block<T: ?Sized>(&self, off: PoolOff) -> ! {
        self.fail(&format_args!(
            "refused to use a persistent pointer to a `{}` at offset {off:#x} of `{}`: its \
             block is not allocated (the pointer outlived an aborted transaction, e.g. \
             parked in a thread_local or static)",
            std::any::type_name::<T>(),
            std::any::type_name::<P>()
        ))
    }
}
