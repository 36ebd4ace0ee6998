//! Pool offsets: the one type for "a byte position in a pool file".
//!
//! crndm never stores an address in a pool, only offsets from the pool's first byte
//! (DESIGN §4, "File format"), so a pool opens wherever it is mapped. [`PoolOff`] is
//! such an offset; [`NonZeroOff`] is one that is not the null offset 0, which the
//! pointers that cannot be null (`Pbox`) store so that `Option` of them stays 8 bytes.
//!
//! Both keep their field in the private module `_def` (as zerocopy's `_def` modules do),
//! so the invariants below hold wherever one exists: the only ways in are the
//! constructors, the only arithmetic the named methods.
//!
//! # Layout
//! Both are `#[repr(transparent)]` over a `u64` (a `NonZeroU64`): a stored offset is
//! the same 8 bytes, in the same place, as the `u64` it replaces, so pool files of
//! earlier versions open unchanged. `Option<NonZeroOff>` is 8 bytes with `None` stored
//! as 0; `Option<PoolOff>` is 16 (no niche), as `Option<u64>` was.

pub(crate) use _def::{NonZeroOff, PoolOff};

use crate::convert::to_usize;
use std::fmt;

mod _def {
    use std::num::NonZeroU64;

    /// A byte offset in a pool file, counted from its first byte (offset 0 is the
    /// header's magic, so 0 doubles as the null offset of a pointer: no block starts
    /// there).
    ///
    /// # Invariant
    /// It is an offset, never an address: turning it into a pointer needs the base of
    /// the mapping of *its* pool and a reason why `off..off + len` lies inside that
    /// mapping (a field invariant of the handle that stores it, or a check against the
    /// pool's geometry). The type itself does not bound it by a pool size (it is made
    /// before a pool is known, e.g. when a header is read), so holding one gives no
    /// access; code that dereferences one states its bound where it does so.
    #[repr(transparent)]
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
    pub(crate) struct PoolOff(u64);

    impl PoolOff {
        /// The null offset: "no block" in a stored pointer (no block starts at 0, the
        /// pool header does).
        pub(crate) const NULL: PoolOff = PoolOff(0);

        /// The offset `off` bytes from the pool's first byte.
        #[inline]
        pub(crate) const fn new(off: u64) -> PoolOff {
            PoolOff(off)
        }

        /// The offset as a number of bytes from the pool's first byte.
        #[inline]
        pub(crate) const fn get(self) -> u64 {
            self.0
        }
    }

    /// A pool offset that is not the null offset 0: where a non-null persistent
    /// pointer (`Pbox`) points.
    ///
    /// # Invariant
    /// Those of [`PoolOff`], and it is never 0, so `Option<NonZeroOff>` (and
    /// `Option<Pbox<T, P>>`) is 8 bytes with `None` stored as 0.
    #[repr(transparent)]
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub(crate) struct NonZeroOff(NonZeroU64);

    impl NonZeroOff {
        /// `off` if it is not the null offset.
        #[inline]
        pub(crate) const fn new(off: PoolOff) -> Option<NonZeroOff> {
            match NonZeroU64::new(off.get()) {
                Some(n) => Some(NonZeroOff(n)),
                None => None,
            }
        }

        /// The offset as a [`PoolOff`].
        #[inline]
        pub(crate) const fn off(self) -> PoolOff {
            PoolOff::new(self.0.get())
        }
    }
}

impl PoolOff {
    /// The offset `bytes` further on.
    ///
    /// # Panics
    /// In debug builds, if the sum overflows a `u64` (it cannot for an offset inside
    /// a mapped pool and a length inside the same pool).
    #[inline]
    #[must_use]
    pub(crate) const fn add(self, bytes: u64) -> PoolOff {
        PoolOff::new(self.get() + bytes)
    }

    /// The offset `bytes` further on, or `None` if that overflows a `u64`.
    #[inline]
    #[must_use]
    pub(crate) const fn checked_add(self, bytes: u64) -> Option<PoolOff> {
        match self.get().checked_add(bytes) {
            Some(o) => Some(PoolOff::new(o)),
            None => None,
        }
    }

    /// How many bytes `self` lies after `start`, or `None` if it lies before it.
    #[inline]
    #[must_use]
    pub(crate) const fn checked_since(self, start: PoolOff) -> Option<u64> {
        self.get().checked_sub(start.get())
    }

    /// Whether the offset is a multiple of `align` (a power of two or any non-zero
    /// number).
    #[inline]
    pub(crate) const fn is_multiple_of(self, align: u64) -> bool {
        self.get().is_multiple_of(align)
    }

    /// Whether this is the null offset 0.
    #[inline]
    pub(crate) const fn is_null(self) -> bool {
        self.get() == 0
    }

    /// The offset as a `usize`, to add to the base of the pool's mapping.
    #[inline]
    pub(crate) fn to_usize(self) -> usize {
        to_usize(self.get())
    }
}

impl NonZeroOff {
    /// The offset as a number of bytes from the pool's first byte (never 0).
    #[inline]
    pub(crate) const fn get(self) -> u64 {
        self.off().get()
    }
}

impl fmt::Debug for PoolOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoolOff({:#x})", self.get())
    }
}

/// Formats the offset as its `u64` does (`{off:#x}` in messages).
impl fmt::LowerHex for PoolOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.get(), f)
    }
}

/// Formats the offset as its `u64` does.
impl fmt::Display for PoolOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

impl fmt::Debug for NonZeroOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NonZeroOff({:#x})", self.get())
    }
}

/// Formats the offset as its `u64` does (`{off:#x}` in messages).
impl fmt::LowerHex for NonZeroOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.get(), f)
    }
}

// The on-media layout: a stored offset is exactly the `u64` it replaced.
const _: () = assert!(size_of::<PoolOff>() == 8 && align_of::<PoolOff>() == 8);
const _: () = assert!(size_of::<NonZeroOff>() == 8 && align_of::<NonZeroOff>() == 8);
const _: () = assert!(size_of::<Option<NonZeroOff>>() == 8);
const _: () = assert!(size_of::<Option<PoolOff>>() == 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_bytes_are_the_u64s() {
        let off = PoolOff::new(0x1234_5678_9abc);
        // SAFETY: PoolOff is repr(transparent) over u64: same size, same bytes.
        let raw: u64 = unsafe { std::mem::transmute(off) };
        assert_eq!(raw, 0x1234_5678_9abc);
        let nz = NonZeroOff::new(off).unwrap();
        // SAFETY: NonZeroOff is repr(transparent) over NonZeroU64, itself over u64.
        let raw: u64 = unsafe { std::mem::transmute(nz) };
        assert_eq!(raw, 0x1234_5678_9abc);
        // `None` of an `Option<NonZeroOff>` is stored as 0, as `Option<Pbox>`'s was.
        // SAFETY: Option<NonZeroOff> is 8 bytes (asserted above) with None as 0.
        let none: u64 = unsafe { std::mem::transmute(None::<NonZeroOff>) };
        assert_eq!(none, 0);
    }

    #[test]
    fn arithmetic_and_formatting() {
        let a = PoolOff::new(4096);
        assert_eq!(a.add(64).get(), 4160);
        assert_eq!(a.checked_add(u64::MAX), None);
        assert_eq!(a.add(64).checked_since(a), Some(64));
        assert_eq!(a.checked_since(a.add(1)), None);
        assert!(a.is_multiple_of(64) && !a.add(8).is_multiple_of(64));
        assert!(PoolOff::NULL.is_null() && NonZeroOff::new(PoolOff::NULL).is_none());
        assert_eq!(format!("{a:#x} {a}"), "0x1000 4096");
        assert_eq!(format!("{:#x}", NonZeroOff::new(a).unwrap()), "0x1000");
    }
}
