//! The root object: `RootObj` (how it is first made), `RootCell` (the handle that keeps
//! the pool open), and opening a pool with a root.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use crate::alloc::buddy::order_for;
use crate::boxed::Pbox;
use crate::error::{Error, Result};
use crate::marker::PSafe;
use crate::pool::header::Header;
use crate::stm::journal::Journal;
use crate::stm::pool_type::{MemPool, PoolGuard};
use crate::util::to_usize;

/// A type that can be the root of a pool of `P`: made by [`init`](Self::init) in the
/// transaction that creates the pool's root.
///
/// Every `Default` type is a `RootObj`; `#[derive(Root)]` makes a struct one by
/// initialising each field with its own `RootObj::init`.
pub trait RootObj<P: MemPool>: Sized {
    /// The initial root value, made in transaction `j`.
    fn init(j: &Journal<P>) -> Self;
}

impl<T: Default, P: MemPool> RootObj<P> for T {
    fn init(_: &Journal<P>) -> Self {
        T::default()
    }
}

impl<T: RootObj<P> + PSafe, P: MemPool> RootObj<P> for Pbox<T, P> {
    fn init(j: &Journal<P>) -> Self {
        Pbox::new(T::init(j), j)
    }
}

/// The volatile handle to a pool's root object: `Deref`s to it and keeps the pool open
/// until dropped.
pub struct RootCell<T, P: MemPool> {
    /// Pool offset of the root: a used block holding a `T` (checked at open).
    off: u64,
    _guard: PoolGuard<P>,
    _marker: PhantomData<T>,
}

impl<T, P: MemPool> Deref for RootCell<T, P> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard keeps the pool open (S2), so the base is the live mapping and
        // `off` is inside it.
        let p = unsafe { P::__slot().base().add(to_usize(self.off)) }.cast::<T>();
        // SAFETY: `off` holds a T (checked at open; changed only through logged cells).
        unsafe { &*p }
    }
}

impl<T: fmt::Debug, P: MemPool> fmt::Debug for RootCell<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RootCell").field(&**self).finish()
    }
}

/// The fingerprint of a root type as the header stores it: size, alignment, and the
/// structural hash of [`RootLayout`](crate::RootLayout) (independent of module paths,
/// including the pool module's).
pub(crate) fn fingerprint<R: crate::RootLayout>() -> (u64, u64, u64) {
    (
        size_of::<R>() as u64,
        align_of::<R>() as u64,
        crate::layout::fingerprint::<R>(),
    )
}

/// Finds or creates the root of the pool `guard` keeps open.
///
/// # Errors
/// [`Error::RootTypeMismatch`] if the stored root has another fingerprint;
/// [`Error::CorruptHeader`] if the root slot names no live block; the transaction's
/// errors when the root is created.
///
/// # Panics
/// Never: a failure to allocate the root panics inside the root transaction, which turns
/// it into [`Error::Aborted`].
pub(crate) fn open_root<P: MemPool, R: RootObj<P> + PSafe + crate::RootLayout>(
    guard: PoolGuard<P>,
) -> Result<RootCell<R, P>> {
    let pool = P::__slot().raw()?;
    #[expect(clippy::cast_ptr_alignment, reason = "the mapping is page-aligned")]
    let header = pool.raw.base().cast::<Header>();
    let (size, align, hash) = fingerprint::<R>();
    // The root slot is read while no transaction of this pool runs (it was just opened
    // and the slot's handle is ours alone).
    // SAFETY: the header is at the start of the live mapping (kept by `pool`).
    let h = unsafe { header.read() };
    let off = if h.root_off == 0 {
        let base = pool.raw.base() as usize;
        P::transaction(move |j| {
            let off = match j.alloc(size, align) {
                Ok(off) => off,
                Err(e) => panic!("cannot allocate the root: {e}"),
            };
            let value = R::init(j);
            let ptr = (base + to_usize(off)) as *mut R;
            // SAFETY: a fresh block of the pool, large and aligned enough for R (A2).
            unsafe { ptr.write(value) };
            j.note_written(ptr.cast(), to_usize(size));
            let slot = (base + std::mem::offset_of!(Header, root_off)) as *mut [u64; 4];
            j.log_range(slot.cast(), 32);
            // SAFETY: the root slot is in the header's mutable line, logged just above;
            // it is 8-aligned (header at a page boundary).
            unsafe { slot.write([off, size, align, hash]) };
            off
        })?
    } else {
        if (h.root_size, h.root_align, h.root_hash) != (size, align, hash) {
            return Err(Error::RootTypeMismatch {
                requested: std::any::type_name::<R>(),
                stored_size: h.root_size,
                stored_align: h.root_align,
                stored_hash: h.root_hash,
            });
        }
        let order = order_for(size, align)?;
        if !pool.raw.heap().is_used(h.root_off, order) {
            return Err(Error::CorruptHeader {
                field: "root_off",
                reason: format!("{:#x} is not a used block of {size} bytes", h.root_off),
            });
        }
        h.root_off
    };
    Ok(RootCell {
        off,
        _guard: guard,
        _marker: PhantomData,
    })
}
