//! `Parc`: the thread-safe reference-counted persistent pointer, and its weak pointers.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use crate::clone::PClone;
use crate::error::Result;
use crate::marker::phantom::{NotSendSync, NotTxIn};
use crate::marker::{PSafe, PSend};
use crate::offset::PoolOff;
use crate::prc::raw::{self, RcBox, Shared, Which, rc_box, vweak_identity};
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;

/// A reference-counted pointer to a `T` in pool `P` whose counts may be changed by
/// transactions on several threads at once, like `Arc<T>`.
///
/// A `Parc` itself stays on its thread and in its transaction; threads share the value
/// through a [`VWeak`] ([`Parc::demote`]), which each promotes in its own transaction.
/// Reading or changing the counts takes the allocation's object lock until the
/// transaction ends (see the [module docs](crate::sync)).
pub struct Parc<T: PSafe, P: PoolType> {
    /// Offset of an `RcBox<T>` of pool `P` whose strong count this pointer holds one of.
    off: PoolOff,
    /// Neither `Send` nor `Sync` (unsynchronised count), not `UnwindSafe` on stable.
    _marker: PhantomData<(T, P, NotSendSync, NotTxIn)>,
}

/// A persistent weak pointer to a [`Parc`] allocation.
pub struct PWeak<T: PSafe, P: PoolType> {
    /// Offset of an `RcBox<T>` of pool `P` whose weak count this pointer holds one of.
    off: PoolOff,
    /// Neither `Send` nor `Sync` (unsynchronised count), not `UnwindSafe` on stable.
    _marker: PhantomData<(T, P, NotSendSync, NotTxIn)>,
}

/// A volatile weak pointer to a [`Parc`] allocation: the handle that may cross threads
/// (when `T: PSend`) and leave transactions. [`promote`](VWeak::promote) gives `None`
/// once the pool was closed, or the value dropped, or its memory freed.
pub struct VWeak<T: PSafe, P: PoolType> {
    off: PoolOff,
    id: u64,
    generation: u64,
    _marker: PhantomData<(fn() -> T, P)>,
}

// SAFETY: a VWeak is only an offset and two numbers; what it gives access to (through a
// `Parc` promoted in a transaction of the receiving thread) is `T`, which `PSend` says
// may be reached from several threads; counts are changed under the object lock.
unsafe impl<T: PSafe + PSend, P: PoolType> Send for VWeak<T, P> {}
// SAFETY: as for Send; `&VWeak` only allows `promote` and `clone`.
unsafe impl<T: PSafe + PSend, P: PoolType> Sync for VWeak<T, P> {}

impl<T: PSafe, P: PoolType> Parc<T, P> {
    /// Moves `value` into a new allocation, in transaction `j`.
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts); see
    /// [`try_new`](Self::try_new).
    #[track_caller]
    pub fn new(value: T, j: &Journal<P>) -> Self {
        match Self::try_new(value, j) {
            Ok(p) => p,
            Err(e) => j.fail(&format_args!("Parc::new: {e}")),
        }
    }

    /// Moves `value` into a new allocation, in transaction `j`.
    ///
    /// # Errors
    /// The allocation errors.
    pub fn try_new(value: T, j: &Journal<P>) -> Result<Self> {
        Ok(Parc {
            off: raw::new_handle::<T, P, Shared>(value, j)?,
            _marker: PhantomData,
        })
    }

    fn inner(&self) -> &RcBox<T> {
        // SAFETY: we hold a strong count, so the block is allocated and initialised
        // (R1, R2); a Parc is reachable only while its pool is open.
        unsafe { rc_box::<T, P>(self.off) }
    }

    /// Another pointer to the same value.
    pub fn pclone(&self, j: &Journal<P>) -> Self {
        // SAFETY: we hold a strong count (R2).
        unsafe { raw::add_one::<T, P, Shared>(self.off, Which::Strong, j) };
        Parc {
            off: self.off,
            _marker: PhantomData,
        }
    }

    /// A persistent weak pointer to the same allocation.
    pub fn downgrade(this: &Self, j: &Journal<P>) -> PWeak<T, P> {
        // SAFETY: we hold a strong count (R2).
        unsafe { raw::add_one::<T, P, Shared>(this.off, Which::Weak, j) };
        PWeak {
            off: this.off,
            _marker: PhantomData,
        }
    }

    /// A volatile weak pointer to the same value: send it to other threads, keep it
    /// across transactions.
    pub fn demote(this: &Self) -> VWeak<T, P> {
        let (id, generation) = vweak_identity::<P>(this.off);
        VWeak {
            off: this.off,
            id,
            generation,
            _marker: PhantomData,
        }
    }

    /// The number of strong pointers (a snapshot: other threads may change it).
    pub fn strong_count(this: &Self) -> u64 {
        this.inner().counts.get(Which::Strong)
    }

    /// The number of persistent weak pointers (a snapshot).
    pub fn weak_count(this: &Self) -> u64 {
        this.inner().counts.get(Which::Weak) - 1
    }

    /// Whether two pointers point at the same allocation.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.off == b.off
    }
}

impl<T: PSafe, P: PoolType> Deref for Parc<T, P> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T: PSafe, P: PoolType> Drop for Parc<T, P> {
    fn drop(&mut self) {
        // SAFETY: we hold one strong count, given up here (under the lock, R3).
        unsafe { raw::release::<T, P, Shared>(self.off, Which::Strong) };
    }
}

impl<T: PSafe, P: PoolType> PClone<P> for Parc<T, P> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        Parc::pclone(self, j)
    }
}

impl<T: PSafe + fmt::Debug, P: PoolType> fmt::Debug for Parc<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: PSafe, P: PoolType> PWeak<T, P> {
    /// A strong pointer to the value, or `None` if it was dropped.
    pub fn upgrade(&self, j: &Journal<P>) -> Option<Parc<T, P>> {
        // SAFETY: we hold a weak count (R2).
        if !unsafe { raw::upgrade::<T, P, Shared>(self.off, j) } {
            return None;
        }
        Some(Parc {
            off: self.off,
            _marker: PhantomData,
        })
    }

    /// Another weak pointer to the same allocation.
    pub fn pclone(&self, j: &Journal<P>) -> Self {
        // SAFETY: we hold a weak count (R2).
        unsafe { raw::add_one::<T, P, Shared>(self.off, Which::Weak, j) };
        PWeak {
            off: self.off,
            _marker: PhantomData,
        }
    }
}

impl<T: PSafe, P: PoolType> Drop for PWeak<T, P> {
    fn drop(&mut self) {
        // SAFETY: we hold one weak count, given up here (under the lock, R3).
        unsafe { raw::release::<T, P, Shared>(self.off, Which::Weak) };
    }
}

impl<T: PSafe, P: PoolType> PClone<P> for PWeak<T, P> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        PWeak::pclone(self, j)
    }
}

impl<T: PSafe, P: PoolType> fmt::Debug for PWeak<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(sync::PWeak)")
    }
}

impl<T: PSafe, P: PoolType> VWeak<T, P> {
    /// A strong pointer to the value for transaction `j`, or `None` if the pool was
    /// closed since, or the value dropped, or its memory freed (even if reused).
    pub fn promote(&self, j: &Journal<P>) -> Option<Parc<T, P>> {
        // The object lock first (see `raw::promote`).
        if !raw::promote::<T, P, Shared>(self.off, self.id, self.generation, j) {
            return None;
        }
        Some(Parc {
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
        write!(f, "(sync::VWeak)")
    }
}

impl<T: PSafe, P: PoolType> Parc<T, P> {
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
