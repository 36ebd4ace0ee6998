//! `PCell`: a logged copy-in/copy-out cell.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;

use crate::clone::PClone;
use crate::marker::phantom::NotSync;
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;

/// A mutable memory location in PM, changed only inside a transaction, like `Cell`.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let counter = BuddyAlloc::open::<PCell<u32>>(dir.path().join("c.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| counter.set(counter.get() + 1, j))?;
/// assert_eq!(counter.get(), 1);
/// # Ok(())
/// # }
/// ```
#[repr(transparent)]
pub struct PCell<T: ?Sized, P: PoolType> {
    /// Not `Sync`: a single-thread cell.
    _pool: PhantomData<(P, NotSync)>,
    value: UnsafeCell<T>,
}

impl<T, P: PoolType> PCell<T, P> {
    /// A cell holding `value` (to be moved into PM, e.g. by `Pbox::new`).
    pub const fn new(value: T) -> Self {
        PCell {
            _pool: PhantomData,
            value: UnsafeCell::new(value),
        }
    }

    /// Logs the current value in `j` (once per transaction) and returns its address.
    ///
    /// # Panics
    /// If the cell is not in the heap of `j`'s pool (P1, `stm::placement`).
    #[track_caller]
    fn logged(&self, j: &Journal<P>) -> *mut T {
        let p = self.value.get();
        j.require_in_heap(std::ptr::from_ref(self), size_of::<T>());
        j.log_range(p.cast(), size_of::<T>());
        p
    }

    /// Replaces the value, dropping the old one (in the transaction).
    ///
    /// # Panics
    /// If the cell does not live in the heap of `j`'s pool (on the stack, in a `Box`, in
    /// another pool): the transaction aborts, since such a change would be logged
    /// nowhere.
    #[track_caller]
    pub fn set(&self, value: T, j: &Journal<P>) {
        let _poison = j.poison_on_unwind();
        drop(self.replace(value, j));
    }

    /// Replaces the value and returns the old one.
    #[track_caller]
    pub fn replace(&self, value: T, j: &Journal<P>) -> T {
        let p = self.logged(j);
        // SAFETY: `PCell` is `!Sync` and hands out no references to its value, so no
        // other access to `*p` exists; the old bytes are logged.
        unsafe { std::ptr::replace(p, value) }
    }

    /// Takes the value, leaving `Default::default()`.
    #[track_caller]
    pub fn take(&self, j: &Journal<P>) -> T
    where
        T: Default,
    {
        let _poison = j.poison_on_unwind();
        self.replace(T::default(), j)
    }

    /// Applies `f` to the value and stores the result.
    #[track_caller]
    pub fn update(&self, f: impl FnOnce(T) -> T, j: &Journal<P>)
    where
        T: Copy,
    {
        let _poison = j.poison_on_unwind();
        self.set(f(self.get()), j);
    }

    /// A mutable reference to the value of a cell the caller holds exclusively, like
    /// `Cell::get_mut`: no journal, since `&mut` to a cell in the pool is only ever
    /// handed out by paths that logged the bytes around it (`PRefCell::borrow_mut`,
    /// `Pbox::get_mut`). Use it on a cell the transaction owns (a value being built):
    /// [`set`](Self::set) refuses a cell that is not in the pool's heap.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// A copy of the value.
    pub fn get(&self) -> T
    where
        T: Copy,
    {
        // SAFETY: no reference to the value is ever handed out and the cell is `!Sync`,
        // so nothing writes it during this read.
        unsafe { *self.value.get() }
    }
}

impl<T: Default, P: PoolType> Default for PCell<T, P> {
    fn default() -> Self {
        PCell::new(T::default())
    }
}

impl<T: Copy + fmt::Debug, P: PoolType> fmt::Debug for PCell<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PCell").field(&self.get()).finish()
    }
}

impl<T: Copy + PartialEq, P: PoolType> PartialEq for PCell<T, P> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl<T: Copy + PClone<P>, P: PoolType> PClone<P> for PCell<T, P> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        PCell::new(self.get().pclone(j))
    }
}

impl<T, P: PoolType> PCell<T, P> {
    /// Shows the root pointer check the pointers of its value, read in place without
    /// logging (`RootLayout::visit_pointers`). Only inside the root object being
    /// checked at open: no `&mut` into it exists then.
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>)
    where
        T: crate::RootLayout,
    {
        v.cell_value(self, &self.value);
    }
}
