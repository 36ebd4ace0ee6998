//! `Pbox`: the owning pointer to a persistent allocation.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use crate::alloc::buddy::order_for;
use crate::clone::PClone;
use crate::convert::to_usize;
use crate::error::Result;
use crate::marker::PSafe;
use crate::marker::phantom::{NotSend, NotTxIn};
use crate::offset::NonZeroOff;
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;
use crate::stm::tx::with_current;

/// An owning pointer to a `T` in the persistent pool `P`, like `Box<T>`.
///
/// Made inside a transaction with [`Pbox::new`]; read through `Deref`; changed only
/// through a journal ([`Pbox::get_mut`]). Dropped inside a transaction, its memory is
/// freed when the transaction commits (never before: an abort brings it back).
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let root = BuddyAlloc::open::<PRefCell<Option<Pbox<u64>>>>(dir.path().join("b.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     *root.borrow_mut(j) = Some(Pbox::new(41, j));
/// })?;
/// BuddyAlloc::transaction(|j| {
///     let mut slot = root.borrow_mut(j);
///     let b = slot.as_mut().unwrap();
///     *b.get_mut(j) += 1;
/// })?;
/// assert_eq!(**root.borrow().as_ref().unwrap(), 42);
/// # Ok(())
/// # }
/// ```
///
/// # Layout
/// A `Pbox` is one non-zero `u64` (a [`NonZeroOff`]), the pool offset of its `T`, so
/// `Option<Pbox<T, P>>` is 8 bytes too, with `None` stored as offset 0 (no block starts
/// there: the pool header does). Both are guaranteed by the `Option` representation
/// rules for a `#[repr(transparent)]` wrapper (here two) of `NonZeroU64`
/// (<https://doc.rust-lang.org/1.97.0/core/option/index.html#representation>).
#[repr(transparent)]
pub struct Pbox<T: PSafe, P: PoolType> {
    /// Pool offset of the `T`: a used block of at least `size_of::<T>()` bytes, aligned
    /// for `T` (allocator invariant A2), in pool `P`. Never 0: the heap starts after the
    /// pool header and the allocation map (`pool/header.rs`, "Layout").
    off: NonZeroOff,
    /// Not `Send` (`Sync`), not `UnwindSafe` on stable: an owned persistent pointer.
    _marker: PhantomData<(T, P, NotSend, NotTxIn)>,
}

impl<T: PSafe, P: PoolType> Pbox<T, P> {
    /// Moves `x` into a new allocation of the pool, in transaction `j`.
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts); use
    /// [`try_new`](Self::try_new) to handle that.
    #[track_caller]
    pub fn new(x: T, j: &Journal<P>) -> Pbox<T, P> {
        match Self::try_new(x, j) {
            Ok(b) => b,
            Err(e) => j.fail(&format_args!("Pbox::new: {e}")),
        }
    }

    /// Moves `x` into a new allocation of the pool, in transaction `j`.
    ///
    /// # Errors
    /// [`Error::OutOfSpace`](crate::Error::OutOfSpace) and the other allocation errors;
    /// `x` is dropped.
    pub fn try_new(x: T, j: &Journal<P>) -> Result<Pbox<T, P>> {
        let size = size_of::<T>() as u64;
        let off = j.alloc(size, align_of::<T>() as u64)?;
        let Some(off) = NonZeroOff::new(off) else {
            unreachable!("broken pool layout: a block at offset 0, inside the pool header");
        };
        // SAFETY: `off` is a fresh block of at least `size` bytes, aligned for T (A2),
        // inside the mapping the journal keeps alive.
        let ptr = unsafe { j.base().add(off.off().to_usize()) }.cast::<T>();
        // SAFETY: the block is ours alone and large and aligned enough for a T.
        unsafe { ptr.write(x) };
        j.note_written(ptr.cast(), to_usize(size));
        Ok(Pbox {
            off,
            _marker: PhantomData,
        })
    }

    /// The address of the `T`: the pool base (one load from the pool type's slot) plus
    /// the offset. Callers that read several fields should deref once and keep the
    /// `&T`.
    #[inline]
    fn ptr(&self) -> *mut T {
        let base = P::__slot().base();
        debug_assert!(
            !base.is_null(),
            "a Pbox is only reachable while its pool is open"
        );
        // SAFETY: a Pbox is reachable only through an open pool (a root handle or a
        // transaction keeps it open, S2), and `off` is inside it (field invariant).
        unsafe { base.add(self.off.off().to_usize()) }.cast::<T>()
    }

    /// A mutable reference to the contents, after logging them in `j` (once per
    /// transaction).
    ///
    /// # Panics
    /// If the block is not allocated (a `Pbox` that outlived an aborted transaction,
    /// rule P2 of `stm::placement`); the transaction then aborts.
    pub fn get_mut<'a>(&'a mut self, j: &'a Journal<P>) -> &'a mut T {
        j.require_live_block::<T>(self.off.off());
        let p = self.ptr();
        j.log_range(p.cast(), size_of::<T>());
        // SAFETY: the object is live (field invariant) and `&mut self` makes this the only
        // access path; its old bytes are in the journal.
        unsafe { &mut *p }
    }

    /// Moves the value out of the box, whose memory is freed when the transaction
    /// commits: the persistent counterpart of moving out of a `Box`. Nothing is logged,
    /// since the block is not written again; an abort brings the box back as it was.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let root = BuddyAlloc::open::<PRefCell<Option<Pbox<(u64, u64)>>>>(dir.path().join("i.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| *root.borrow_mut(j) = Some(Pbox::new((1, 2), j)))?;
    /// let pair = BuddyAlloc::transaction(|j| {
    ///     let b = root.borrow_mut(j).take().unwrap();
    ///     Pbox::into_inner(b, j)
    /// })?;
    /// assert_eq!(pair, (1, 2));
    /// assert!(root.borrow().is_none());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the block is not allocated (rule P2, as [`get_mut`](Self::get_mut)).
    pub fn into_inner(b: Self, j: &Journal<P>) -> T {
        let b = std::mem::ManuallyDrop::new(b);
        j.require_live_block::<T>(b.off.off());
        // Its pool bytes stay intact until the deferred free runs after commit; an abort
        // keeps the block, and the box it came from.
        // SAFETY: the object is live (field invariant); `b` is never dropped, so this is
        // the only move out of it.
        let x = unsafe { std::ptr::read(b.ptr()) };
        if let Ok(order) = order_for(size_of::<T>() as u64, align_of::<T>() as u64) {
            j.defer_free(b.off.off(), order);
        }
        x
    }

    /// Whether two boxes point at the same allocation.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.off == b.off
    }
}

impl<T: PSafe, P: PoolType> Deref for Pbox<T, P> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the object is live (field invariant) and is changed only through
        // `get_mut`, which needs `&mut self`.
        unsafe { &*self.ptr() }
    }
}

impl<T: PSafe, P: PoolType> Drop for Pbox<T, P> {
    fn drop(&mut self) {
        // Outside a transaction a Pbox cannot be reached in safe code (it cannot leave
        // one, `TxOutSafe`); if it is dropped anyway, the data is kept (leaked).
        with_current::<P, _>(|j| {
            if let Some(j) = j {
                // A panic of the contents' `Drop` poisons the transaction.
                let _poison = j.poison_on_unwind();
                // P2: a box that outlived an aborted transaction must not drop or free
                // a block it does not own.
                j.require_live_block::<T>(self.off.off());
                let order = order_for(size_of::<T>() as u64, align_of::<T>() as u64);
                // The object is dropped in DRAM, so a user `Drop` changing its own fields
                // cannot change pool bytes without logging; the pool bytes stay intact
                // until the deferred free runs after commit (a rollback brings the object
                // back as it was).
                // SAFETY: the object is live and this is its only drop (we are in the
                // Pbox's Drop).
                drop(unsafe { std::ptr::read(self.ptr()) });
                if let Ok(order) = order {
                    j.defer_free(self.off.off(), order);
                }
            }
        });
    }
}

impl<T: PSafe + PClone<P>, P: PoolType> PClone<P> for Pbox<T, P> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        let _poison = j.poison_on_unwind();
        Pbox::new((**self).pclone(j), j)
    }
}

impl<T: PSafe + fmt::Debug, P: PoolType> fmt::Debug for Pbox<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: PSafe + fmt::Display, P: PoolType> fmt::Display for Pbox<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: PSafe + PartialEq, P: PoolType> PartialEq for Pbox<T, P> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: PSafe + Eq, P: PoolType> Eq for Pbox<T, P> {}

impl<T: PSafe, P: PoolType> Pbox<T, P> {
    /// Shows the root pointer check its stored offset (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>) {
        v.pointer(
            self.off.off(),
            size_of::<T>() as u64,
            align_of::<T>() as u64,
        );
    }
}
