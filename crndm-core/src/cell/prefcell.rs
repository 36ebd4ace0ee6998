//! `PRefCell`: a dynamically borrow-checked persistent cell, logged on `borrow_mut`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crate::cell::VCell;
use crate::clone::PClone;
use crate::stm::journal::Journal;
use crate::stm::pool_type::MemPool;

/// A persistent `RefCell`: shared borrows with [`borrow`](Self::borrow), an exclusive
/// borrow with [`borrow_mut`](Self::borrow_mut), which needs a journal and logs the
/// value first. The borrow count is volatile (a [`VCell`]), so a crash never leaves the
/// cell borrowed.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let root = BuddyAlloc::open::<PRefCell<[u8; 4]>>(dir.path().join("r.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| root.borrow_mut(j)[2] = 9)?;
/// assert_eq!(*root.borrow(), [0, 0, 9, 0]);
/// # Ok(())
/// # }
/// ```
pub struct PRefCell<T: ?Sized, P: MemPool> {
    /// > 0: that many shared borrows; -1: mutably borrowed; 0: free.
    borrow: VCell<isize, P>,
    _pool: PhantomData<P>,
    value: UnsafeCell<T>,
}

/// A shared borrow of a [`PRefCell`].
pub struct Ref<'a, T: ?Sized, P: MemPool> {
    cell: &'a PRefCell<T, P>,
}

/// An exclusive, logged borrow of a [`PRefCell`]; it cannot outlive its transaction.
pub struct RefMut<'a, T: ?Sized, P: MemPool> {
    cell: &'a PRefCell<T, P>,
}

impl<T, P: MemPool> PRefCell<T, P> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        PRefCell {
            borrow: VCell::new(),
            _pool: PhantomData,
            value: UnsafeCell::new(value),
        }
    }

    /// Replaces the value and returns the old one.
    ///
    /// # Panics
    /// If the cell is borrowed.
    pub fn replace(&self, value: T, j: &Journal<P>) -> T {
        std::mem::replace(&mut *self.borrow_mut(j), value)
    }

    /// Takes the value, leaving `Default::default()`.
    ///
    /// # Panics
    /// If the cell is borrowed.
    pub fn take(&self, j: &Journal<P>) -> T
    where
        T: Default,
    {
        self.replace(T::default(), j)
    }
}

impl<T: ?Sized, P: MemPool> PRefCell<T, P> {
    fn count(&self) -> isize {
        // SAFETY: the count is only written in this file, never while a reference to it
        // is alive (the cell is `!Sync`).
        unsafe { *self.borrow.current() }
    }

    fn set_count(&self, c: isize) {
        // SAFETY: as in `count`.
        unsafe { *self.borrow.current() = c };
    }

    /// Borrows the value immutably.
    ///
    /// # Panics
    /// If it is mutably borrowed.
    #[track_caller]
    pub fn borrow(&self) -> Ref<'_, T, P> {
        match self.try_borrow() {
            Some(r) => r,
            None => panic!("PRefCell already mutably borrowed"),
        }
    }

    /// Borrows the value immutably, or `None` if it is mutably borrowed.
    pub fn try_borrow(&self) -> Option<Ref<'_, T, P>> {
        let c = self.count();
        if c < 0 || c == isize::MAX {
            return None;
        }
        self.set_count(c + 1);
        Some(Ref { cell: self })
    }

    /// Borrows the value mutably for the rest of the transaction at most, logging it in
    /// `j` first (once per transaction).
    ///
    /// # Panics
    /// If it is already borrowed.
    #[track_caller]
    pub fn borrow_mut<'a>(&'a self, j: &'a Journal<P>) -> RefMut<'a, T, P> {
        match self.try_borrow_mut(j) {
            Some(r) => r,
            None => panic!("PRefCell already borrowed"),
        }
    }

    /// Like [`borrow_mut`](Self::borrow_mut), or `None` if the cell is borrowed.
    pub fn try_borrow_mut<'a>(&'a self, j: &'a Journal<P>) -> Option<RefMut<'a, T, P>> {
        if self.count() != 0 {
            return None;
        }
        let p = self.value.get();
        // SAFETY: no borrow is alive, so reading the value's bytes to log them is sound.
        let size = unsafe { size_of_val(&*p) };
        j.log_range(p.cast::<u8>(), size);
        self.set_count(-1);
        Some(RefMut { cell: self })
    }
}

impl<T: ?Sized, P: MemPool> Deref for Ref<'_, T, P> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a shared borrow is registered, so no `RefMut` exists.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T: ?Sized, P: MemPool> Drop for Ref<'_, T, P> {
    fn drop(&mut self) {
        self.cell.set_count(self.cell.count() - 1);
    }
}

impl<T: ?Sized, P: MemPool> Deref for RefMut<'_, T, P> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the exclusive borrow is registered (count -1): this guard is the only
        // access path.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T: ?Sized, P: MemPool> DerefMut for RefMut<'_, T, P> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as `deref`; the value was logged when the guard was made.
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T: ?Sized, P: MemPool> Drop for RefMut<'_, T, P> {
    fn drop(&mut self) {
        self.cell.set_count(0);
    }
}

impl<T: Default, P: MemPool> Default for PRefCell<T, P> {
    fn default() -> Self {
        PRefCell::new(T::default())
    }
}

impl<T: PClone<P>, P: MemPool> PClone<P> for PRefCell<T, P> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        PRefCell::new(self.borrow().pclone(j))
    }
}

impl<T: ?Sized + fmt::Debug, P: MemPool> fmt::Debug for PRefCell<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_borrow() {
            Some(r) => f.debug_tuple("PRefCell").field(&&*r).finish(),
            None => f.write_str("PRefCell(<borrowed>)"),
        }
    }
}

impl<T: ?Sized + fmt::Debug, P: MemPool> fmt::Debug for Ref<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug, P: MemPool> fmt::Debug for RefMut<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized, P: MemPool> std::panic::RefUnwindSafe for PRefCell<T, P> {}
