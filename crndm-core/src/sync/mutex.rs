//! `PMutex`: a persistent mutex whose lock is held until the transaction ends.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crate::marker::PSafe;
use crate::marker::phantom::{NotSendSync, NotTxIn};
use crate::offset::PoolOff;
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;

/// A mutual-exclusion lock around a `T` in pool `P`.
///
/// [`lock`](Self::lock) takes the lock for the rest of the transaction (two-phase
/// locking): dropping the guard does not release it, the end of the transaction does,
/// after its commit point or rollback, so no other transaction can see uncommitted data.
/// Locking it again in the same transaction is fine (once the earlier guard is gone).
/// The lock state is volatile: a crash never leaves a `PMutex` locked.
///
/// Changes through the guard are logged (on the first mutable access of a transaction).
pub struct PMutex<T: PSafe, P: PoolType> {
    _pool: PhantomData<P>,
    value: UnsafeCell<T>,
}

/// Access to the value of a locked [`PMutex`]; the lock itself lasts until the end of
/// the transaction.
pub struct PMutexGuard<'a, T: PSafe, P: PoolType> {
    mutex: &'a PMutex<T, P>,
    journal: &'a Journal<P>,
    off: PoolOff,
    /// Neither `Send` nor `Sync`, and not `UnwindSafe` on stable: the guard stays in its
    /// transaction.
    _marker: PhantomData<(NotSendSync, NotTxIn)>,
}

impl<T: PSafe, P: PoolType> PMutex<T, P> {
    /// A mutex holding `value`.
    pub const fn new(value: T) -> Self {
        PMutex {
            _pool: PhantomData,
            value: UnsafeCell::new(value),
        }
    }

    /// The mutex's pool offset, which names its lock.
    ///
    /// # Panics
    /// If the mutex is not in the pool of `j`.
    #[track_caller]
    fn offset(&self, j: &Journal<P>) -> PoolOff {
        // A PMutex outside its pool's heap protects nothing persistent; refusing it also
        // keeps persistent pointers from being parked in a volatile one (P1,
        // `stm::placement`).
        j.require_in_heap(std::ptr::from_ref(self), size_of::<Self>());
        match j.offset_of(std::ptr::from_ref(self).cast(), size_of::<Self>()) {
            Some(off) => PoolOff::new(off),
            None => unreachable!("P1: inside the heap, hence inside the pool"),
        }
    }

    /// Locks the mutex for the rest of transaction `j`, waiting while another
    /// transaction holds it.
    ///
    /// # Panics
    /// If a guard of this transaction on this mutex is still alive, or the mutex is not
    /// in the pool of `j`.
    #[track_caller]
    pub fn lock<'a>(&'a self, j: &'a Journal<P>) -> PMutexGuard<'a, T, P> {
        let off = self.offset(j);
        j.lock_object(off);
        self.guard(off, j)
    }

    /// Locks the mutex if no other transaction holds it.
    ///
    /// # Panics
    /// As [`lock`](Self::lock).
    #[track_caller]
    pub fn try_lock<'a>(&'a self, j: &'a Journal<P>) -> Option<PMutexGuard<'a, T, P>> {
        let off = self.offset(j);
        j.try_lock_object(off).then(|| self.guard(off, j))
    }

    /// Registers the one guard of this transaction on the mutex.
    ///
    /// # Panics
    /// If a guard of this transaction on this mutex is still alive.
    #[track_caller]
    fn guard<'a>(&'a self, off: PoolOff, j: &'a Journal<P>) -> PMutexGuard<'a, T, P> {
        assert!(
            j.enter_guard(off),
            "PMutex locked twice at once in one transaction (drop the first guard)"
        );
        PMutexGuard {
            mutex: self,
            journal: j,
            off,
            _marker: PhantomData,
        }
    }
}

impl<T: PSafe, P: PoolType> Deref for PMutexGuard<'_, T, P> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this transaction holds the lock and this is its only guard
        // (enter_guard), so no other access to the value exists.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: PSafe, P: PoolType> DerefMut for PMutexGuard<'_, T, P> {
    fn deref_mut(&mut self) -> &mut T {
        let p = self.mutex.value.get();
        self.journal.log_range(p.cast::<u8>(), size_of::<T>());
        // SAFETY: as `deref`, and `&mut self` is exclusive; the old value is logged.
        unsafe { &mut *p }
    }
}

impl<T: PSafe, P: PoolType> Drop for PMutexGuard<'_, T, P> {
    fn drop(&mut self) {
        // As `RefMut`: a panic through a live guard poisons its transaction.
        if std::thread::panicking() {
            self.journal.poison();
        }
        self.journal.exit_guard(self.off);
    }
}

impl<T: PSafe + Default, P: PoolType> Default for PMutex<T, P> {
    fn default() -> Self {
        PMutex::new(T::default())
    }
}

impl<T: PSafe, P: PoolType> fmt::Debug for PMutex<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PMutex { .. }")
    }
}

impl<T: PSafe + fmt::Debug, P: PoolType> fmt::Debug for PMutexGuard<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: PSafe, P: PoolType> PMutex<T, P> {
    /// Shows the root pointer check the pointers of its value, read in place without
    /// locking (`RootLayout::visit_pointers`). Only inside the root object being
    /// checked at open: no `&mut` into it exists then.
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>)
    where
        T: crate::RootLayout,
    {
        v.cell_value(self, &self.value);
    }
}
