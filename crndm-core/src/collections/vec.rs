//! `PVec`: a growable array in persistent memory, a typed shell over [`RawVec`].

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, Index};
use std::slice::SliceIndex;

use super::raw::{Elem, RawVec, pool_base};
use crate::clone::PClone;
use crate::error::Result;
use crate::marker::PSafe;
use crate::marker::phantom::{NotSend, NotTxIn};
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;
use crate::stm::tx::with_current;

/// A contiguous growable array of `T` in pool `P`, like `Vec<T>`.
///
/// The elements live in one block of the pool; the `PVec` itself (24 bytes: buffer
/// offset, capacity, length) lives wherever it is put. Reading is free: `PVec` derefs
/// to `[T]`. Every change takes a journal and logs what it changes — the length, the
/// buffer pointer, and every element it overwrites or shifts — so a crash or panic
/// leaves the vector as it was when the transaction began. Growth copies into a new
/// block and frees the old one after commit.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let root = BuddyAlloc::open::<PRefCell<PVec<u32>>>(dir.path().join("v.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let mut v = root.borrow_mut(j);
///     v.extend_from_slice(&[3, 1, 2], j);
///     v.insert(0, 9, j);
/// })?;
/// assert_eq!(*root.borrow(), [9, 3, 1, 2]);
/// let aborted = BuddyAlloc::transaction(|j| -> () {
///     root.borrow_mut(j).clear(j);
///     panic!("changed my mind");
/// });
/// assert!(aborted.is_err());
/// assert_eq!(root.borrow().len(), 4);
/// # Ok(())
/// # }
/// ```
#[repr(C)]
pub struct PVec<T: PSafe, P: PoolType> {
    /// Holds `T`s of pool `P` (`Elem::of::<T>()`), with invariants V1–V3.
    raw: RawVec,
    /// Not `Send` (`Sync`), not `UnwindSafe` on stable: it owns pool blocks.
    _marker: PhantomData<(T, P, NotSend, NotTxIn)>,
}

impl<T: PSafe, P: PoolType> PVec<T, P> {
    const ELEM: Elem = Elem::of::<T>();

    /// An empty vector; it allocates nothing until an element is added.
    ///
    /// ```
    /// use crndm::default::*;
    /// let v: PVec<u8> = PVec::new();
    /// assert!(v.is_empty());
    /// ```
    pub const fn new() -> Self {
        PVec {
            raw: RawVec::new(),
            _marker: PhantomData,
        }
    }

    /// An empty vector with room for at least `n` elements, allocated in `j`.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let v = PVec::<u64>::with_capacity(10, j);
    ///     assert!(v.capacity() >= 10 && v.is_empty());
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts).
    #[track_caller]
    pub fn with_capacity(n: usize, j: &Journal<P>) -> Self {
        let mut v = Self::new();
        v.reserve_exact(n, j);
        v
    }

    /// A vector holding a copy ([`PClone`]) of every element of `s`.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let v = PVec::from_slice(&[1, 2, 3], j);
    ///     assert_eq!(v, [1, 2, 3]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space, or a `pclone` panics (the transaction then aborts).
    #[track_caller]
    pub fn from_slice(s: &[T], j: &Journal<P>) -> Self
    where
        T: PClone<P>,
    {
        let _poison = j.poison_on_unwind();
        // On a panic in `pclone`, the half-built vector drops and frees what it holds.
        let mut v = Self::with_capacity(s.len(), j);
        v.extend_from_slice(s, j);
        v
    }

    /// The number of elements.
    ///
    /// ```
    /// use crndm::default::*;
    /// assert_eq!(PVec::<u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether there are no elements.
    ///
    /// ```
    /// use crndm::default::*;
    /// assert!(PVec::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of elements the buffer holds without growing.
    ///
    /// ```
    /// use crndm::default::*;
    /// assert_eq!(PVec::<u64>::new().capacity(), 0);
    /// ```
    pub fn capacity(&self) -> usize {
        if Self::ELEM.size == 0 {
            usize::MAX
        } else {
            self.raw.capacity(Self::ELEM)
        }
    }

    /// The elements as a slice.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let root = BuddyAlloc::open::<PRefCell<PVec<u8>>>(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| root.borrow_mut(j).push(7, j))?;
    /// assert_eq!(root.borrow().as_slice(), &[7]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn as_slice(&self) -> &[T] {
        // A vector with a buffer is reachable only while its pool is open (a handle or a
        // transaction keeps it, S2), and an empty one reads no memory.
        // SAFETY: (1) `raw` holds Ts of P (field invariant), at the open pool's base.
        unsafe { self.raw.as_slice::<T>(pool_base::<P>()) }
    }

    /// An iterator over references to the elements.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let v = PVec::from_slice(&[1, 2, 3], j);
    ///     assert_eq!(v.iter().sum::<i32>(), 6);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    /// A reference to element `i`, or `None` if out of bounds.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let v = PVec::from_slice(&[1, 2], j);
    ///     assert_eq!((v.get(1), v.get(2)), (Some(&2), None));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get(&self, i: usize) -> Option<&T> {
        self.as_slice().get(i)
    }

    /// The elements as a mutable slice, after logging all of them in `j`.
    ///
    /// This logs the whole vector; to change one element, [`get_mut`](Self::get_mut)
    /// logs less.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let root = BuddyAlloc::open::<PRefCell<PVec<u8>>>(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| root.borrow_mut(j).extend_from_slice(&[3, 1, 2], j))?;
    /// BuddyAlloc::transaction(|j| root.borrow_mut(j).as_mut_slice(j).sort())?;
    /// assert_eq!(*root.borrow(), [1, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn as_mut_slice<'a>(&'a mut self, j: &'a Journal<P>) -> &'a mut [T] {
        let len = self.len();
        // SAFETY: (1) field invariant; `j` is a transaction of P, so `j.base()` is the
        // base of the open pool.
        unsafe { self.raw.slice_mut_logged::<T>(0, len, j) }
    }

    /// A mutable reference to element `i` after logging it in `j`, or `None` if out of
    /// bounds.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let root = BuddyAlloc::open::<PRefCell<PVec<u8>>>(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| root.borrow_mut(j).extend_from_slice(&[1, 2], j))?;
    /// BuddyAlloc::transaction(|j| *root.borrow_mut(j).get_mut(1, j).unwrap() += 40)?;
    /// assert_eq!(*root.borrow(), [1, 42]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_mut<'a>(&'a mut self, i: usize, j: &'a Journal<P>) -> Option<&'a mut T> {
        if i >= self.len() {
            return None;
        }
        // SAFETY: (1) field invariant; `j` is a transaction of P.
        let s = unsafe { self.raw.slice_mut_logged::<T>(i, i + 1, j) };
        s.first_mut()
    }

    /// Appends `value` at the end, growing the buffer if it is full.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::new();
    ///     v.push(1, j);
    ///     v.push(2, j);
    ///     assert_eq!(v, [1, 2]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts).
    #[track_caller]
    pub fn push(&mut self, value: T, j: &Journal<P>) {
        self.reserve(1, j);
        // SAFETY: (1) field invariant; `j` is a transaction of P.
        unsafe { self.raw.push(value, j) };
    }

    /// Removes the last element and returns it, or `None` if empty.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::from_slice(&[1, 2], j);
    ///     assert_eq!(v.pop(j), Some(2));
    ///     assert_eq!(v, [1]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pop(&mut self, j: &Journal<P>) -> Option<T> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        // Its bytes stay, and an abort restores `len` with them; until then the vector
        // still owns the element (`ManuallyDrop`).
        // SAFETY: (1) field invariant; (2) slot `len - 1` becomes dead just below.
        let value = ManuallyDrop::new(unsafe { self.raw.read::<T>(j.base(), len - 1) });
        self.raw.set_len(len - 1, j);
        Some(ManuallyDrop::into_inner(value))
    }

    /// Inserts `value` at position `i`, shifting the elements after it up (each shifted
    /// element is logged).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::from_slice(&[1, 3], j);
    ///     v.insert(1, 2, j);
    ///     assert_eq!(v, [1, 2, 3]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `i > len`, or the pool is out of space (the transaction then aborts).
    #[track_caller]
    pub fn insert(&mut self, i: usize, value: T, j: &Journal<P>) {
        let len = self.len();
        assert!(
            i <= len,
            "PVec::insert: index {i} out of bounds (len {len})"
        );
        self.reserve(1, j);
        self.raw.shift_up(i, 1, Self::ELEM, j);
        // SAFETY: (1) field invariant; (2) slot `i` was logged (or noted) by `shift_up`
        // and its element was copied up, so nothing is lost or dropped twice.
        unsafe { self.raw.write_slot(i, value, j) };
        self.raw.set_len(len + 1, j);
    }

    /// Removes and returns the element at `i`, shifting the elements after it down (each
    /// shifted element is logged).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::from_slice(&[1, 2, 3], j);
    ///     assert_eq!(v.remove(0, j), 1);
    ///     assert_eq!(v, [2, 3]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `i >= len`.
    #[track_caller]
    pub fn remove(&mut self, i: usize, j: &Journal<P>) -> T {
        let len = self.len();
        assert!(i < len, "PVec::remove: index {i} out of bounds (len {len})");
        // Until both are done the pool still owns the element, so it is not dropped on an
        // unwind.
        // SAFETY: (1) field invariant; (2) the slot is overwritten by the shift or made
        // dead by the new length below.
        let value = ManuallyDrop::new(unsafe { self.raw.read::<T>(j.base(), i) });
        self.raw.shift_down(i, 1, Self::ELEM, j);
        self.raw.set_len(len - 1, j);
        ManuallyDrop::into_inner(value)
    }

    /// Removes and returns the element at `i`, moving the last element into its place
    /// (O(1); the order is not kept).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::from_slice(&[1, 2, 3], j);
    ///     assert_eq!(v.swap_remove(0, j), 1);
    ///     assert_eq!(v, [3, 2]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `i >= len`.
    #[track_caller]
    pub fn swap_remove(&mut self, i: usize, j: &Journal<P>) -> T {
        let len = self.len();
        assert!(
            i < len,
            "PVec::swap_remove: index {i} out of bounds (len {len})"
        );
        // SAFETY: (1) field invariant; (2) the slot is overwritten by the last element
        // (or made dead) below; `ManuallyDrop` as in `remove`.
        let value = ManuallyDrop::new(unsafe { self.raw.read::<T>(j.base(), i) });
        self.raw.copy_slot(len - 1, i, Self::ELEM, j);
        self.raw.set_len(len - 1, j);
        ManuallyDrop::into_inner(value)
    }

    /// Keeps the first `n` elements and drops the rest (no effect if `n >= len`). The
    /// capacity is unchanged.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::from_slice(&[1, 2, 3], j);
    ///     v.truncate(1, j);
    ///     assert_eq!(v, [1]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn truncate(&mut self, n: usize, j: &Journal<P>) {
        let _poison = j.poison_on_unwind();
        let len = self.len();
        if n >= len {
            return;
        }
        // SAFETY: (1) field invariant; (2) the slots become dead by the new length
        // below; until then the pool owns them (`ManuallyDrop`).
        let dead = ManuallyDrop::new(unsafe { self.raw.take_range::<T>(j.base(), n, len) });
        self.raw.set_len(n, j);
        // Dropped as volatile copies: a `Drop` cannot change pool bytes unlogged.
        drop(ManuallyDrop::into_inner(dead));
    }

    /// Drops every element. The capacity is unchanged ([`shrink_to_fit`] frees it).
    ///
    /// [`shrink_to_fit`]: Self::shrink_to_fit
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::from_slice(&[1, 2, 3], j);
    ///     v.clear(j);
    ///     assert!(v.is_empty());
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn clear(&mut self, j: &Journal<P>) {
        self.truncate(0, j);
    }

    /// Appends a copy ([`PClone`]) of every element of `s`.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::from_slice(&[1], j);
    ///     v.extend_from_slice(&[2, 3], j);
    ///     assert_eq!(v, [1, 2, 3]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space, or a `pclone` panics (the transaction then aborts;
    /// the elements copied so far are in the vector).
    #[track_caller]
    pub fn extend_from_slice(&mut self, s: &[T], j: &Journal<P>)
    where
        T: PClone<P>,
    {
        let _poison = j.poison_on_unwind();
        self.reserve(s.len(), j);
        for x in s {
            let copy = x.pclone(j);
            // SAFETY: (1) field invariant; room was reserved for all of `s`.
            unsafe { self.raw.push(copy, j) };
        }
    }

    /// Makes room for at least `additional` more elements (the buffer at least
    /// doubles when it grows, so pushes are amortised O(1)).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::<u32>::new();
    ///     v.reserve(100, j);
    ///     assert!(v.capacity() >= 100);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts); see
    /// [`try_reserve`](Self::try_reserve).
    #[track_caller]
    pub fn reserve(&mut self, additional: usize, j: &Journal<P>) {
        if let Err(e) = self.try_reserve(additional, j) {
            j.fail(&format_args!("PVec::reserve: {e}"));
        }
    }

    /// Like [`reserve`](Self::reserve), but returns the error instead of panicking.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::<u64>::new();
    ///     assert!(v.try_reserve(usize::MAX / 4, j).is_err());
    ///     assert!(v.try_reserve(4, j).is_ok());
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::OutOfSpace`](crate::Error::OutOfSpace) and the other allocation errors;
    /// the vector is unchanged.
    pub fn try_reserve(&mut self, additional: usize, j: &Journal<P>) -> Result<()> {
        self.raw.reserve(additional, Self::ELEM, j)
    }

    /// Makes room for exactly `additional` more elements.
    ///
    /// # Panics
    /// If the pool is out of space.
    #[track_caller]
    fn reserve_exact(&mut self, additional: usize, j: &Journal<P>) {
        if let Err(e) = self.raw.reserve_exact(additional, Self::ELEM, j) {
            j.fail(&format_args!("PVec::with_capacity: {e}"));
        }
    }

    /// Moves the elements to the smallest block that holds them, or frees the buffer
    /// of an empty vector.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::<u64>::with_capacity(1000, j);
    ///     v.push(1, j);
    ///     v.shrink_to_fit(j);
    ///     assert!(v.capacity() < 1000);
    ///     v.clear(j);
    ///     v.shrink_to_fit(j);
    ///     assert_eq!(v.capacity(), 0);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space for the smaller block (the transaction then aborts).
    #[track_caller]
    pub fn shrink_to_fit(&mut self, j: &Journal<P>) {
        if let Err(e) = self.raw.shrink_to_fit(Self::ELEM, j) {
            j.fail(&format_args!("PVec::shrink_to_fit: {e}"));
        }
    }

    /// Keeps only the elements for which `f` returns `true`, in order; drops the rest.
    ///
    /// `f` sees every element once, before anything changes, so a panic in it leaves
    /// the vector untouched.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("v.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut v = PVec::from_slice(&[1, 2, 3, 4], j);
    ///     v.retain(|x| x % 2 == 0, j);
    ///     assert_eq!(v, [2, 4]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn retain(&mut self, mut f: impl FnMut(&T) -> bool, j: &Journal<P>) {
        let _poison = j.poison_on_unwind();
        let keep: Vec<bool> = self.iter().map(&mut f).collect();
        let Some(first) = keep.iter().position(|k| !k) else {
            return;
        };
        let base = j.base();
        // SAFETY: (1) field invariant; (2) every slot read here is overwritten by the
        // compaction or made dead by the new length below; until then the pool owns
        // the elements (`ManuallyDrop`).
        let removed: ManuallyDrop<Vec<T>> = ManuallyDrop::new(
            (first..keep.len())
                .filter(|&i| !keep[i])
                // SAFETY: as above: each slot is read once, then overwritten or dead.
                .map(|i| unsafe { self.raw.read::<T>(base, i) })
                .collect(),
        );
        let kept = self.raw.compact(first, &keep, Self::ELEM, j);
        self.raw.set_len(kept, j);
        drop(ManuallyDrop::into_inner(removed));
    }
}

impl<T: PSafe, P: PoolType> Drop for PVec<T, P> {
    fn drop(&mut self) {
        // Outside a transaction a vector owning pool memory cannot be reached in safe
        // code (it cannot leave one, `TxOutSafe`); if it is dropped anyway, its blocks
        // are kept (leaked), never freed under a live pointer.
        with_current::<P, _>(|j| {
            let Some(j) = j else { return };
            // A panic of an element's `Drop` poisons the transaction.
            let _poison = j.poison_on_unwind();
            let len = self.len();
            // SAFETY: (1) field invariant; (2) the vector is going away: nothing reads
            // its slots again.
            let values = ManuallyDrop::new(unsafe { self.raw.take_range::<T>(j.base(), 0, len) });
            self.raw.free_buffer(Self::ELEM, j);
            drop(ManuallyDrop::into_inner(values));
        });
    }
}

impl<T: PSafe, P: PoolType> Default for PVec<T, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: PSafe, P: PoolType> Deref for PVec<T, P> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: PSafe, P: PoolType> AsRef<[T]> for PVec<T, P> {
    fn as_ref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: PSafe, P: PoolType, I: SliceIndex<[T]>> Index<I> for PVec<T, P> {
    type Output = I::Output;
    fn index(&self, index: I) -> &I::Output {
        &self.as_slice()[index]
    }
}

impl<'a, T: PSafe, P: PoolType> IntoIterator for &'a PVec<T, P> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: PSafe + PClone<P>, P: PoolType> PClone<P> for PVec<T, P> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        let _poison = j.poison_on_unwind();
        PVec::from_slice(self, j)
    }
}

impl<T: PSafe + fmt::Debug, P: PoolType> fmt::Debug for PVec<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PSafe + Hash, P: PoolType> Hash for PVec<T, P> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl<T: PSafe + PartialEq<U>, U: PSafe, P: PoolType> PartialEq<PVec<U, P>> for PVec<T, P> {
    fn eq(&self, other: &PVec<U, P>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: PSafe + Eq, P: PoolType> Eq for PVec<T, P> {}

impl<T: PSafe + PartialEq<U>, U, P: PoolType> PartialEq<[U]> for PVec<T, P> {
    fn eq(&self, other: &[U]) -> bool {
        self.as_slice() == other
    }
}

impl<T: PSafe + PartialEq<U>, U, P: PoolType> PartialEq<&[U]> for PVec<T, P> {
    fn eq(&self, other: &&[U]) -> bool {
        self.as_slice() == *other
    }
}

impl<T: PSafe + PartialEq<U>, U, P: PoolType, const N: usize> PartialEq<[U; N]> for PVec<T, P> {
    fn eq(&self, other: &[U; N]) -> bool {
        self.as_slice() == other
    }
}

impl<T: PSafe + PartialEq<U>, U, P: PoolType> PartialEq<Vec<U>> for PVec<T, P> {
    fn eq(&self, other: &Vec<U>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: PSafe + PartialOrd, P: PoolType> PartialOrd for PVec<T, P> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.as_slice().partial_cmp(other.as_slice())
    }
}

impl<T: PSafe + Ord, P: PoolType> Ord for PVec<T, P> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl<T: PSafe, P: PoolType> PVec<T, P> {
    /// Shows the root pointer check its buffer (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>) {
        self.raw.visit_stored(Self::ELEM, v);
    }
}
