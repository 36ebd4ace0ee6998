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

use crate::stm::journal::Journal;
use crate::stm::pool_type::MemPool;

impl<P: MemPool> Journal<P> {
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
}
