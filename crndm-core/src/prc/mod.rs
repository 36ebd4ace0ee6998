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
use crate::marker::phantom::{NotSendSync, NotTxIn};
use crate::offset::PoolOff;
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;
use raw::{Local, RcBox, Which, rc_box, vweak_identity};

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
pub struct Prc<T: PSafe, P: PoolType> {
    /// Offset of an `RcBox<T>` of pool `P` whose strong count this pointer holds one of.
    off: PoolOff,
    /// Neither `Send` nor `Sync` (unsynchronised count), not `UnwindSafe` on stable.
    _marker: PhantomData<(T, P, NotSendSync, NotTxIn)>,
}

/// A persistent weak pointer to a [`Prc`] allocation: keeps the memory, not the value.
pub struct PWeak<T: PSafe, P: PoolType> {
    /// Offset of an `RcBox<T>` of pool `P` whose weak count this pointer holds one of.
    off: PoolOff,
    /// Neither `Send` nor `Sync` (unsynchronised count), not `UnwindSafe` on stable.
    _marker: PhantomData<(T, P, NotSendSync, NotTxIn)>,
}

/// A volatile weak pointer to a [`Prc`] allocation: may leave the transaction (not the
/// thread), and never dangles: [`promote`](VWeak::promote) gives `None` once the pool
/// was closed, or the object freed (and its memory perhaps reused).
pub struct VWeak<T: PSafe, P: PoolType> {
    off: PoolOff,
    /// The object's identity in the open pool (`OpenPool::vweak_id`).
    id: u64,
    /// The pool generation it was made in.
    generation: u64,
    /// Neither `Send` nor `Sync`: it stays on its thread.
    _marker: PhantomData<(T, P, NotSendSync)>,
}

impl<T: PSafe, P: PoolType> Prc<T, P> {
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
            off: raw::new_handle::<T, P, Local>(value, j)?,
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
        // SAFETY: we hold a strong count (R2).
        unsafe { raw::add_one::<T, P, Local>(self.off, Which::Strong, j) };
        Prc {
            off: self.off,
            _marker: PhantomData,
        }
    }

    /// A persistent weak pointer to the same allocation.
    pub fn downgrade(this: &Self, j: &Journal<P>) -> PWeak<T, P> {
        // SAFETY: we hold a strong count (R2).
        unsafe { raw::add_one::<T, P, Local>(this.off, Which::Weak, j) };
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

impl<T: PSafe, P: PoolType> Deref for Prc<T, P> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T: PSafe, P: PoolType> Drop for Prc<T, P> {
    fn drop(&mut self) {
        // SAFETY: we hold one strong count, given up here.
        unsafe { raw::release::<T, P, Local>(self.off, Which::Strong) };
    }
}

impl<T: PSafe, P: PoolType> PClone<P> for Prc<T, P> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        Prc::pclone(self, j)
    }
}

impl<T: PSafe + fmt::Debug, P: PoolType> fmt::Debug for Prc<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: PSafe + fmt::Display, P: PoolType> fmt::Display for Prc<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: PSafe, P: PoolType> PWeak<T, P> {
    fn counts(&self) -> &raw::Counts {
        // SAFETY: we hold a weak count, so the block is allocated (R2).
        unsafe { &rc_box::<T, P>(self.off).counts }
    }

    /// A strong pointer to the value, or `None` if it was dropped.
    pub fn upgrade(&self, j: &Journal<P>) -> Option<Prc<T, P>> {
        // SAFETY: we hold a weak count (R2).
        if !unsafe { raw::upgrade::<T, P, Local>(self.off, j) } {
            return None;
        }
        Some(Prc {
            off: self.off,
            _marker: PhantomData,
        })
    }

    /// Another weak pointer to the same allocation.
    pub fn pclone(&self, j: &Journal<P>) -> Self {
        // SAFETY: we hold a weak count (R2).
        unsafe { raw::add_one::<T, P, Local>(self.off, Which::Weak, j) };
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

impl<T: PSafe, P: PoolType> Drop for PWeak<T, P> {
    fn drop(&mut self) {
        // SAFETY: we hold one weak count, given up here.
        unsafe { raw::release::<T, P, Local>(self.off, Which::Weak) };
    }
}

impl<T: PSafe, P: PoolType> PClone<P> for PWeak<T, P> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        PWeak::pclone(self, j)
    }
}

impl<T: PSafe, P: PoolType> fmt::Debug for PWeak<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(PWeak)")
    }
}

impl<T: PSafe, P: PoolType> VWeak<T, P> {
    /// A strong pointer to the value, or `None` if the pool was closed since, or the
    /// value dropped, or its memory freed (even if reused since).
    pub fn promote(&self, j: &Journal<P>) -> Option<Prc<T, P>> {
        if !raw::promote::<T, P, Local>(self.off, self.id, self.generation, j) {
            return None;
        }
        Some(Prc {
            off: self.off,
            _marker: PhantomData,
        })
    }
}

impl<T: PSafe, P: PoolType> Clone for VWeak<T, P> {
    fn clone(&self) -> Self {
        VWeak {
            off: self.off,
            id: self.id,
            generation: self.generation,
            _marker: PhantomData,
        }
    }
}

impl<T: PSafe, P: PoolType> fmt::Debug for VWeak<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(VWeak)")
    }
}

impl<T: PSafe, P: PoolType> Prc<T, P> {
    /// Shows the root pointer check its stored offset (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>) {
        raw::visit_box::<T>(self.off, v);
    }
}

impl<T: PSafe, P: PoolType> PWeak<T, P> {
    /// Shows the root pointer check its stored offset (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>) {
        raw::visit_box::<T>(self.off, v);
    }
}
