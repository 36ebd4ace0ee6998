//! `PRefCell`: a dynamically borrow-checked persistent cell, logged on `borrow_mut`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crate::clone::PClone;
use crate::marker::phantom::{NotSync, NotTxIn};
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;

/// A persistent `RefCell`: shared borrows with [`borrow`](Self::borrow), an exclusive
/// borrow with [`borrow_mut`](Self::borrow_mut), which needs a journal and logs the
/// value first. The borrow count is volatile (reset on every open, as a
/// [`VCell`](crate::VCell)), so a crash never leaves the cell borrowed.
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
pub struct PRefCell<T: ?Sized, P: PoolType> {
    /// The volatile borrow state, one word (see [`BorrowFlag`]).
    borrow: BorrowFlag,
    /// Not `Sync`: a single-thread cell.
    _pool: PhantomData<(P, NotSync)>,
    value: UnsafeCell<T>,
}

/// The borrow state of a [`PRefCell`]: one volatile 8-byte word in PM,
/// `tag << 32 | count`, never logged on its own and never flushed.
///
/// ```text
///   63            32 31             0
///  +----------------+----------------+
///  |      tag       |     count      |   count: 0 free, 1..=SHARED_MAX shared borrows,
///  +----------------+----------------+          FRESH: mutably borrowed, the guard has
///                                               not handed out `&mut` yet,
///                                               WRITING: mutably borrowed
/// ```
///
/// `tag` is the low 32 bits of the pool generation the count belongs to. A word whose
/// tag differs from the current generation's is stale (left by a crash, or by an older
/// open) and reads as free, so a crash never leaves the cell borrowed: this is
/// [`VCell`](crate::VCell)'s reset, in half the space, so that a `PRefCell<Option<Pbox>>`
/// link is 16 bytes, not 32.
///
/// # Invariants
/// - **B1** while a [`Ref`] or [`RefMut`] of the cell is alive, the tag is the current
///   generation's and the count counts them: the generation changes only when the pool
///   is reopened, which needs every handle, hence every borrow, to be gone (S2, S3 in
///   `stm/pool_type.rs`). So dropping a guard needs no generation check.
/// - **B2** a stale word is never trusted for *absence* of borrows: any borrow alive
///   now was registered in this generation, with this generation's tag (B1). A stale
///   word whose tag happens to match (the pool reopened a multiple of 2^32 times since
///   the cell was last borrowed, with a borrow left open by a crash) can only make the
///   cell look borrowed, a spurious `None`/panic, never an aliasing `RefMut`.
/// - **B3** while the count is `FRESH`, the one [`RefMut`] has never been dereferenced
///   mutably, so no `&mut` to the value exists and reading it is sound: that is what
///   lets `cell.pclone(j)` run while `cell.borrow_mut(j)` is held, as in
///   `*guard = Some(Prc::new(Node { next: cell.pclone(j), .. }, j))` (the right side
///   is evaluated before the guard's `deref_mut`).
#[derive(Debug)]
struct BorrowFlag {
    word: UnsafeCell<u64>,
}

/// Mask of the count half of a [`BorrowFlag`] word.
const COUNT: u64 = 0xFFFF_FFFF;
/// Count of a mutably borrowed cell whose guard has handed out `&mut`.
const WRITING: u64 = COUNT;
/// Count of a mutably borrowed cell whose guard has not handed out `&mut` yet (B3).
const FRESH: u64 = COUNT - 1;
/// Most shared borrows of one cell at a time.
const SHARED_MAX: u64 = COUNT - 2;

impl BorrowFlag {
    const fn new() -> Self {
        BorrowFlag {
            word: UnsafeCell::new(0),
        }
    }

    /// The word, with a stale one (another generation's tag) read as free in this one.
    #[inline]
    fn current<P: PoolType>(&self) -> u64 {
        let tag = P::__slot().generation() << 32;
        // The cell is `!Sync` (impls.rs), so no other thread writes the word.
        // SAFETY: the word is read and written only by `BorrowFlag`'s methods, which keep
        // no reference to it.
        let w = unsafe { *self.word.get() };
        if w & !COUNT == tag { w } else { tag }
    }

    #[inline]
    fn set(&self, w: u64) {
        // SAFETY: as in `current`.
        unsafe { *self.word.get() = w };
    }

    /// The word with one more shared borrow, or `None` if the cell is mutably borrowed
    /// or has `SHARED_MAX` shared borrows.
    #[inline]
    fn try_share<P: PoolType>(&self) -> Option<()> {
        let w = self.current::<P>();
        if w & COUNT >= SHARED_MAX {
            return None;
        }
        self.set(w + 1);
        Some(())
    }

    /// Releases one shared borrow (B1: the word is this generation's).
    #[inline]
    fn unshare(&self) {
        // SAFETY: as in `current`.
        let w = unsafe { *self.word.get() };
        debug_assert!(
            matches!(w & COUNT, 1..=SHARED_MAX),
            "B1: a live Ref is counted"
        );
        self.set(w - 1);
    }

    /// Whether the cell is free; if so, the current generation's free word.
    #[inline]
    fn free<P: PoolType>(&self) -> Option<u64> {
        let w = self.current::<P>();
        (w & COUNT == 0).then_some(w)
    }

    /// Releases the exclusive borrow (B1: the word is this generation's).
    #[inline]
    fn unwrite(&self) {
        // SAFETY: as in `current`.
        let w = unsafe { *self.word.get() };
        debug_assert!(
            matches!(w & COUNT, FRESH | WRITING),
            "B1: a live RefMut is counted"
        );
        self.set(w & !COUNT);
    }

    /// Records that the exclusive borrow's guard hands out `&mut` (ends B3's `FRESH`).
    #[inline]
    fn touch(&self) {
        // SAFETY: as in `current`.
        let w = unsafe { *self.word.get() };
        if w & COUNT == FRESH {
            self.set(w | WRITING);
        }
    }

    /// Whether the cell is mutably borrowed by a guard that has handed out no `&mut`
    /// yet (B3).
    #[inline]
    fn is_fresh<P: PoolType>(&self) -> bool {
        self.current::<P>() & COUNT == FRESH
    }
}

/// A shared borrow of a [`PRefCell`].
pub struct Ref<'a, T: ?Sized, P: PoolType> {
    cell: &'a PRefCell<T, P>,
}

/// An exclusive, logged borrow of a [`PRefCell`]; it cannot outlive its transaction.
pub struct RefMut<'a, T: ?Sized, P: PoolType> {
    cell: &'a PRefCell<T, P>,
    /// The transaction the borrow belongs to: poisoned if a panic unwinds through the
    /// guard (the change it guards may be half made).
    journal: &'a Journal<P>,
    /// Not `UnwindSafe` on stable: the guard cannot be moved into a transaction body.
    _marker: PhantomData<NotTxIn>,
}

impl<T, P: PoolType> PRefCell<T, P> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        PRefCell {
            borrow: BorrowFlag::new(),
            _pool: PhantomData,
            value: UnsafeCell::new(value),
        }
    }

    /// Consumes the cell, returning the value (no journal needed: the cell is owned,
    /// so it is not in the pool, or was moved out of it, as by [`Pbox::into_inner`]).
    ///
    /// [`Pbox::into_inner`]: crate::Pbox::into_inner
    pub fn into_inner(self) -> T {
        self.value.into_inner()
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
        let _poison = j.poison_on_unwind();
        self.replace(T::default(), j)
    }
}

impl<T: ?Sized, P: PoolType> PRefCell<T, P> {
    /// Borrows the value immutably.
    ///
    /// # Panics
    /// If it is mutably borrowed.
    #[track_caller]
    #[inline]
    pub fn borrow(&self) -> Ref<'_, T, P> {
        match self.try_borrow() {
            Some(r) => r,
            None => panic!("PRefCell already mutably borrowed"),
        }
    }

    /// Borrows the value immutably, or `None` if it is mutably borrowed.
    #[inline]
    pub fn try_borrow(&self) -> Option<Ref<'_, T, P>> {
        self.borrow.try_share::<P>()?;
        Some(Ref { cell: self })
    }

    /// Borrows the value mutably for the rest of the transaction at most, logging it in
    /// `j` first (once per transaction).
    ///
    /// # Panics
    /// If it is already borrowed, or does not live in the heap of `j`'s pool (see
    /// [`try_borrow_mut`](Self::try_borrow_mut)).
    #[track_caller]
    pub fn borrow_mut<'a>(&'a self, j: &'a Journal<P>) -> RefMut<'a, T, P> {
        match self.try_borrow_mut(j) {
            Some(r) => r,
            None => j.fail(&"PRefCell already borrowed"),
        }
    }

    /// Like [`borrow_mut`](Self::borrow_mut), or `None` if the cell is borrowed.
    ///
    /// # Panics
    /// If the cell does not live in the heap of `j`'s pool (on the stack, in a `Box`, in
    /// another pool): the transaction aborts, since its changes would be logged nowhere
    /// (P1, `stm::placement`).
    #[track_caller]
    pub fn try_borrow_mut<'a>(&'a self, j: &'a Journal<P>) -> Option<RefMut<'a, T, P>> {
        let free = self.borrow.free::<P>()?;
        let p = self.value.get();
        // SAFETY: no borrow is alive, so reading the value's bytes to log them is sound.
        let size = unsafe { size_of_val(&*p) };
        j.require_in_heap(std::ptr::from_ref(self), size_of_val(self));
        j.log_range(p.cast::<u8>(), size);
        self.borrow.set(free | FRESH);
        Some(RefMut {
            cell: self,
            journal: j,
            _marker: PhantomData,
        })
    }
}

impl<T: ?Sized, P: PoolType> Deref for Ref<'_, T, P> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a shared borrow is registered, so no `RefMut` exists.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T: ?Sized, P: PoolType> Drop for Ref<'_, T, P> {
    #[inline]
    fn drop(&mut self) {
        self.cell.borrow.unshare();
    }
}

impl<T: ?Sized, P: PoolType> Deref for RefMut<'_, T, P> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the exclusive borrow is registered (count -1): this guard is the only
        // access path.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T: ?Sized, P: PoolType> DerefMut for RefMut<'_, T, P> {
    fn deref_mut(&mut self) -> &mut T {
        // From now on a `&mut` may be alive: no more reads beside the guard (B3).
        self.cell.borrow.touch();
        // SAFETY: as `deref`; the value was logged when the guard was made.
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T: ?Sized, P: PoolType> Drop for RefMut<'_, T, P> {
    fn drop(&mut self) {
        // A panic unwinding through a live guard may leave its change half made: the
        // transaction must not commit, even if the panic is caught inside its body.
        if std::thread::panicking() {
            self.journal.poison();
        }
        self.cell.borrow.unwrite();
    }
}

impl<T: Default, P: PoolType> Default for PRefCell<T, P> {
    fn default() -> Self {
        PRefCell::new(T::default())
    }
}

/// A deep copy of the current value. It works while this transaction holds the cell's
/// `borrow_mut` guard, as long as the guard has not handed out `&mut` yet (B3): the
/// pattern `*guard = Some(Prc::new(Node { next: cell.pclone(j), .. }, j))`.
///
/// # Panics
/// If the cell is mutably borrowed and its guard was dereferenced mutably.
impl<T: PClone<P>, P: PoolType> PClone<P> for PRefCell<T, P> {
    #[track_caller]
    fn pclone(&self, j: &Journal<P>) -> Self {
        let _poison = j.poison_on_unwind();
        if let Some(r) = self.try_borrow() {
            return PRefCell::new(r.pclone(j));
        }
        if !self.borrow.is_fresh::<P>() {
            j.fail(&"PRefCell already mutably borrowed");
        }
        // The cell is `!Sync`, so the guard lives on this thread, in the running
        // transaction of `P` (a `RefMut` cannot outlive it), and `pclone` cannot reach
        // it to dereference it while this read lasts.
        // SAFETY: B3: the guard has handed out no `&mut`, so this shared read aliases
        // nothing mutable.
        let value = unsafe { &*self.value.get() };
        PRefCell::new(value.pclone(j))
    }
}

impl<T: ?Sized + fmt::Debug, P: PoolType> fmt::Debug for PRefCell<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_borrow() {
            Some(r) => f.debug_tuple("PRefCell").field(&&*r).finish(),
            None => f.write_str("PRefCell(<borrowed>)"),
        }
    }
}

impl<T: ?Sized + fmt::Debug, P: PoolType> fmt::Debug for Ref<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug, P: PoolType> fmt::Debug for RefMut<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T, P: PoolType> PRefCell<T, P> {
    /// Shows the root pointer check the pointers of its value, read in place without
    /// borrowing (`RootLayout::visit_pointers`). Only inside the root object being
    /// checked at open: no `&mut` into it exists then.
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>)
    where
        T: crate::RootLayout,
    {
        v.cell_value(self, &self.value);
    }
}

#[cfg(test)]
mod tests {
    use std::mem::ManuallyDrop;

    use super::*;
    use crate::{MemPool, Pbox};
    use crate::{O_CF, PoolOptions};

    // One pool type per test: tests run in parallel and a slot holds one pool (S1).
    crate::pool!(prefcell_unit_pool);
    crate::pool!(prefcell_leak_pool);
    type P = prefcell_unit_pool::BuddyAlloc;
    type Q = prefcell_leak_pool::BuddyAlloc;

    // The flag is one word, so a link is two (see `BorrowFlag`).
    const _: () = assert!(size_of::<PRefCell<Option<Pbox<u64, P>>, P>>() == 16);

    /// Shared borrows are counted and keep `borrow_mut` out; a `RefMut` keeps every
    /// other borrow out; dropping the guards frees the cell.
    #[test]
    fn borrows_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flag.pool");
        let root = PoolOptions::new()
            .size(1 << 20)
            .open::<P, PRefCell<u64, P>>(&path, O_CF)
            .unwrap();
        let (a, b) = (root.borrow(), root.borrow());
        P::transaction(|j| assert!(root.try_borrow_mut(j).is_none())).unwrap();
        drop(a);
        P::transaction(|j| assert!(root.try_borrow_mut(j).is_none())).unwrap();
        drop(b);
        P::transaction(|j| {
            let mut m = root.borrow_mut(j);
            assert!(root.try_borrow().is_none());
            assert!(root.try_borrow_mut(j).is_none());
            *m = 7;
        })
        .unwrap();
        assert_eq!(*root.borrow(), 7);
        P::transaction(|j| *root.borrow_mut(j) += 1).unwrap();
        assert_eq!(*root.borrow(), 8);
    }

    /// A borrow that is never released (as after a crash) holds only until the pool is
    /// opened again: the new generation reads the stale word as free (B2).
    #[test]
    fn a_leaked_borrow_ends_with_its_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leak.pool");
        let opts = PoolOptions::new().size(1 << 20);
        let root = opts.open::<Q, PRefCell<u64, Q>>(&path, O_CF).unwrap();
        {
            let _leaked = ManuallyDrop::new(root.borrow());
        }
        Q::transaction(|j| assert!(root.try_borrow_mut(j).is_none())).unwrap();
        drop(root);

        let root = opts.open::<Q, PRefCell<u64, Q>>(&path, 0).unwrap();
        Q::transaction(|j| *root.borrow_mut(j) = 3).unwrap();
        assert_eq!(*root.borrow(), 3);
    }
}
