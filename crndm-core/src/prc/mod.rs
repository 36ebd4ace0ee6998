//! [`Prc`]: single-thread reference-counted persistent pointers, with persistent
//! ([`PWeak`]) and volatile ([`VWeak`]) weak pointers.
//!
//! The layout and count rules shared with [`Parc`](crate::Parc) are in `raw`.

pub(crate) mod raw;

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use crate::clone::PClone;
use crate::error::Result;
use crate::marker::PSafe;
use crate::stm::journal::Journal;
use crate::stm::pool_type::MemPool;
use crate::stm::tx::with_current;
use raw::{RcBox, Which, drop_strong, drop_weak, new_box, rc_box};

/// A single-thread reference-counted pointer to a `T` in pool `P`, like `Rc<T>`.
///
/// Cloning ([`pclone`](Prc::pclone)) and dropping change the count inside a
/// transaction, logged; the value is dropped with the last strong pointer and its memory
/// freed (after commit) with the last weak one. Cycles leak unless broken with
/// [`PWeak`].
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let root = BuddyAlloc::open::<PRefCell<Option<Prc<u32>>>>(dir.path().join("p.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let a = Prc::new(7, j);
///     let b = a.pclone(j);
///     assert_eq!(Prc::strong_count(&a), 2);
///     *root.borrow_mut(j) = Some(b);
/// })?;
/// assert_eq!(Prc::strong_count(root.borrow().as_ref().unwrap()), 1);
/// # Ok(())
/// # }
/// ```
pub struct Prc<T: PSafe, P: MemPool> {
    /// Offset of an `RcBox<T>` of pool `P` whose strong count this pointer holds one of.
    off: u64,
    _marker: PhantomData<(T, P)>,
}

/// A persistent weak pointer to a [`Prc`] allocation: keeps the memory, not the value.
pub struct PWeak<T: PSafe, P: MemPool> {
    /// Offset of an `RcBox<T>` of pool `P` whose weak count this pointer holds one of.
    off: u64,
    _marker: PhantomData<(T, P)>,
}

/// A volatile weak pointer to a [`Prc`] allocation: may leave the transaction (not the
/// thread), and never dangles: [`promote`](VWeak::promote) gives `None` once the pool
/// was closed, or the object freed (and its memory perhaps reused).
pub struct VWeak<T: PSafe, P: MemPool> {
    off: u64,
    /// The object's identity in the open pool (`OpenPool::vweak_id`).
    id: u64,
    /// The pool generation it was made in.
    generation: u64,
    _marker: PhantomData<(T, P, *const ())>,
}

impl<T: PSafe, P: MemPool> Prc<T, P> {
    /// Moves `value` into a new allocation, in transaction `j`.
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts); see
    /// [`try_new`](Self::try_new).
    #[track_caller]
    pub fn new(value: T, j: &Journal<P>) -> Self {
        match Self::try_new(value, j) {
            Ok(p) => p,
            Err(e) => j.fail(&format_args!("Prc::new: {e}")),
        }
    }

    /// Moves `value` into a new allocation, in transaction `j`.
    ///
    /// # Errors
    /// The allocation errors.
    pub fn try_new(value: T, j: &Journal<P>) -> Result<Self> {
        Ok(Prc {
            off: new_box(value, j)?,
            _marker: PhantomData,
        })
    }

    fn inner(&self) -> &RcBox<T> {
        // SAFETY: we hold a strong count, so the block is allocated and initialised
        // (R1, R2); a Prc is reachable only while its pool is open.
        unsafe { rc_box::<T, P>(self.off) }
    }

    /// Another pointer to the same value (the strong count grows, logged in `j`).
    pub fn pclone(&self, j: &Journal<P>) -> Self {
        self.inner().counts.add(Which::Strong, 1, j);
        Prc {
            off: self.off,
            _marker: PhantomData,
        }
    }

    /// A persistent weak pointer to the same allocation.
    pub fn downgrade(this: &Self, j: &Journal<P>) -> PWeak<T, P> {
        this.inner().counts.add(Which::Weak, 1, j);
        PWeak {
            off: this.off,
            _marker: PhantomData,
        }
    }

    /// A volatile weak pointer to the same value, usable after this transaction (on
    /// this thread) as long as the pool stays open.
    pub fn demote(this: &Self) -> VWeak<T, P> {
        let (id, generation) = vweak_identity::<P>(this.off);
        VWeak {
            off: this.off,
            id,
            generation,
            _marker: PhantomData,
        }
    }

    /// The number of strong pointers to the value.
    pub fn strong_count(this: &Self) -> u64 {
        this.inner().counts.get(Which::Strong)
    }

    /// The number of persistent weak pointers to the value.
    pub fn weak_count(this: &Self) -> u64 {
        this.inner().counts.get(Which::Weak) - 1
    }

    /// Whether two pointers point at the same allocation.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.off == b.off
    }
}

/// The identity and generation a new volatile weak pointer to `off` carries.
pub(crate) fn vweak_identity<P: MemPool>(off: u64) -> (u64, u64) {
    let slot = P::__slot();
    match slot.raw() {
        Ok(pool) => (pool.vweak_id(off), slot.generation()),
        // Unreachable in safe code (a live handle keeps the pool open); a dead pointer.
        Err(_) => (0, 0),
    }
}

impl<T: PSafe, P: MemPool> Deref for Prc<T, P> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T: PSafe, P: MemPool> Drop for Prc<T, P> {
    fn drop(&mut self) {
        // Outside a transaction a Prc cannot be reached in safe code; if it is dropped
        // anyway, the count stays (the object leaks, nothing dangles).
        with_current::<P, _>(|j| {
            if let Some(j) = j {
                // SAFETY: we hold one strong count, given up here.
                unsafe { drop_strong::<T, P>(self.off, j) };
            }
        });
    }
}

impl<T: PSafe, P: MemPool> PClone<P> for Prc<T, P> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        Prc::pclone(self, j)
    }
}

impl<T: PSafe + fmt::Debug, P: MemPool> fmt::Debug for Prc<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: PSafe + fmt::Display, P: MemPool> fmt::Display for Prc<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: PSafe, P: MemPool> PWeak<T, P> {
    fn counts(&self) -> &raw::Counts {
        // SAFETY: we hold a weak count, so the block is allocated (R2).
        unsafe { &rc_box::<T, P>(self.off).counts }
    }

    /// A strong pointer to the value, or `None` if it was dropped.
    pub fn upgrade(&self, j: &Journal<P>) -> Option<Prc<T, P>> {
        let c = self.counts();
        if c.get(Which::Strong) == 0 {
            return None;
        }
        c.add(Which::Strong, 1, j);
        Some(Prc {
            off: self.off,
            _marker: PhantomData,
        })
    }

    /// Another weak pointer to the same allocation.
    pub fn pclone(&self, j: &Journal<P>) -> Self {
        self.counts().add(Which::Weak, 1, j);
        PWeak {
            off: self.off,
            _marker: PhantomData,
        }
    }

    /// The number of strong pointers to the value (0 once it was dropped).
    pub fn strong_count(&self) -> u64 {
        self.counts().get(Which::Strong)
    }
}

impl<T: PSafe, P: MemPool> Drop for PWeak<T, P> {
    fn drop(&mut self) {
        with_current::<P, _>(|j| {
            if let Some(j) = j {
                // SAFETY: we hold one weak count, given up here.
                unsafe { drop_weak::<T, P>(self.off, j) };
            }
        });
    }
}

impl<T: PSafe, P: MemPool> PClone<P> for PWeak<T, P> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        PWeak::pclone(self, j)
    }
}

impl<T: PSafe, P: MemPool> fmt::Debug for PWeak<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(PWeak)")
    }
}

impl<T: PSafe, P: MemPool> VWeak<T, P> {
    /// A strong pointer to the value, or `None` if the pool was closed since, or the
    /// value dropped, or its memory freed (even if reused since).
    pub fn promote(&self, j: &Journal<P>) -> Option<Prc<T, P>> {
        if !vweak_valid::<P>(self.off, self.id, self.generation, j) {
            return None;
        }
        // SAFETY: the object is alive in this open pool (checked just above: its
        // block is still the one this pointer was made for).
        let c = unsafe { &rc_box::<T, P>(self.off).counts };
        if c.get(Which::Strong) == 0 {
            return None;
        }
        c.add(Which::Strong, 1, j);
        Some(Prc {
            off: self.off,
            _marker: PhantomData,
        })
    }
}

/// Whether a volatile weak pointer made with `(id, generation)` still names the live
/// object at `off`.
pub(crate) fn vweak_valid<P: MemPool>(off: u64, id: u64, generation: u64, j: &Journal<P>) -> bool {
    generation != 0 && generation == P::__slot().generation() && j.open_pool().vweak_alive(off, id)
}

impl<T: PSafe, P: MemPool> Clone for VWeak<T, P> {
    fn clone(&self) -> Self {
        VWeak {
            off: self.off,
            id: self.id,
            generation: self.generation,
            _marker: PhantomData,
        }
    }
}

impl<T: PSafe, P: MemPool> fmt::Debug for VWeak<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(VWeak)")
    }
}

impl<T: PSafe, P: MemPool> Prc<T, P> {
    /// Shows the root pointer check its stored offset (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>) {
        v.pointer(
            self.off,
            size_of::<RcBox<T>>() as u64,
            align_of::<RcBox<T>>() as u64,
        );
    }
}

impl<T: PSafe, P: MemPool> PWeak<T, P> {
    /// Shows the root pointer check its stored offset (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>) {
        v.pointer(
            self.off,
            size_of::<RcBox<T>>() as u64,
            align_of::<RcBox<T>>() as u64,
        );
    }
}
