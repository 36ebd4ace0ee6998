//! `VCell`: a volatile value inside a persistent object.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};

use crate::marker::VSafe;
use crate::stm::pool_type::PoolType;

/// A volatile value stored inside a persistent object: reset to `T::default()` on the
/// first access after each open of the pool, never logged, never flushed.
///
/// Use it for state that must not survive a restart: a lock word, a cache, a borrow
/// count. (The old value is overwritten without being dropped, so `T` should own no
/// volatile resources that need dropping.)
///
/// A `VCell` is read only where it lives in its own pool `P` (its reset follows `P`'s
/// generation): dereferencing one on the stack, in a `Box` or in another pool panics.
/// Its value is volatile, not transactional: if `T` owns resources (a `Vec`, a `Box`)
/// and a transaction that logged the range holding the cell (a `borrow_mut` of the
/// struct it is in) used it and then aborts, the cell is reset to `T::default()` (the
/// rollback's old bytes could point to what the transaction freed; rule V1 of
/// `stm::placement`). A `VCell` of a plain value (`u64`, `Cell<u64>`) just rolls back.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("v.pool");
/// use crndm::default::*;
/// let root = BuddyAlloc::open::<VCell<u32>>(&path, O_CF)?;
/// assert_eq!(**root, 0); // a fresh value in every generation of the pool
/// # Ok(())
/// # }
/// ```
pub struct VCell<T, P: PoolType> {
    /// The volatile token of the open the value belongs to (`PoolSlot::volatile_token`,
    /// random, nonzero); 0 = never set, or reset by an abort (V1).
    generation: UnsafeCell<u64>,
    value: UnsafeCell<MaybeUninit<T>>,
    _pool: PhantomData<P>,
}

impl<T: Default + VSafe, P: PoolType> VCell<T, P> {
    /// A cell whose value is `T::default()` when first read.
    pub const fn new() -> Self {
        VCell {
            generation: UnsafeCell::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            _pool: PhantomData,
        }
    }

    /// The value's address, after resetting it if it belongs to an older generation.
    /// Writing through it is sound only while no reference from `Deref` is alive.
    ///
    /// # Panics
    /// If the cell does not live in the pool `P` has open: its generation stamp would
    /// be compared with the wrong pool's, and a value of an older process (a heap
    /// pointer) could be read as current (P1, `stm::placement`).
    #[track_caller]
    pub(crate) fn current(&self) -> *mut T {
        let slot = P::__slot();
        if !slot.contains(std::ptr::from_ref(self) as usize, size_of::<Self>()) {
            panic!(
                "crndm: a `VCell` of `{}` used outside that pool (on the stack, in a Box, or \
                 in another pool): its reset would follow the wrong pool",
                std::any::type_name::<P>()
            );
        }
        let now = slot.volatile_token();
        let g = self.generation.get();
        // V1 (`stm::placement`): a value that owns resources, in a range this
        // transaction logged, is reset if the transaction aborts (its restored old
        // bytes may point to what the transaction freed).
        if std::mem::needs_drop::<T>() {
            crate::stm::tx::with_current::<P, _>(|j| {
                if let Some(j) = j {
                    let p = std::ptr::from_ref(self).cast::<u8>();
                    if j.would_restore(p, size_of::<Self>()) {
                        j.reset_on_abort(g.cast_const());
                    }
                }
            });
        }
        let v = self.value.get().cast::<T>();
        // SAFETY (the three blocks): `VCell` is `!Sync` and the only writes happen here
        // or through `&mut self`; no reference to the value is alive across a generation
        // change (a generation changes only when the pool reopens, which needs every
        // handle, hence every borrow, to be gone).
        // SAFETY: see above.
        if unsafe { *g } != now {
            // SAFETY: see above; the old value is overwritten without being dropped.
            unsafe { v.write(T::default()) };
            // SAFETY: see above.
            unsafe { *g = now };
        }
        v
    }
}

impl<T: Default + VSafe, P: PoolType> Default for VCell<T, P> {
    fn default() -> Self {
        VCell::new()
    }
}

/// # Panics
/// Dereferencing a `VCell` that does not live in its pool's mapping panics (see the
/// type's docs).
impl<T: Default + VSafe, P: PoolType> Deref for VCell<T, P> {
    type Target = T;
    #[track_caller]
    fn deref(&self) -> &T {
        // SAFETY: `current` returns an initialised value of this generation.
        unsafe { &*self.current() }
    }
}

impl<T: Default + VSafe, P: PoolType> DerefMut for VCell<T, P> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as `deref`, and `&mut self` is exclusive.
        unsafe { &mut *self.current() }
    }
}

impl<T: Default + VSafe + fmt::Debug, P: PoolType> fmt::Debug for VCell<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VCell").field(&**self).finish()
    }
}
