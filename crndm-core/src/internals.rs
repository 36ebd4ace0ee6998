//! Raw allocator access for benchmarks and tests (cargo feature `internals`, off by
//! default). Not part of the stable API: an allocation made here is tied to no
//! transaction, so a crash leaks it.

use crate::MemPool;
use crate::error::Result;

/// Allocates a block of at least `size` bytes in `P`'s open pool; returns its offset.
///
/// # Errors
/// [`Error::NotOpen`](crate::Error::NotOpen), or
/// [`Error::OutOfSpace`](crate::Error::OutOfSpace) when no block is large enough.
pub fn alloc<P: MemPool>(size: u64) -> Result<u64> {
    let raw = P::__slot().raw()?;
    let off = raw.raw.heap().alloc(size, 1, |_, _| Ok(()))?;
    raw.raw.persister().fence();
    Ok(off)
}

/// Frees a block returned by [`alloc`] with the same `size`.
///
/// # Safety
/// 1. Nothing will read or write the block through a persistent pointer after this.
///
/// The allocator checks that `off` is a used block of that size, so a wrong offset is an
/// error, not corruption of the allocator.
///
/// # Errors
/// [`Error::InvalidFree`](crate::Error::InvalidFree) if `off` is not such a block.
pub unsafe fn free<P: MemPool>(off: u64, size: u64) -> Result<()> {
    let raw = P::__slot().raw()?;
    let order = crate::alloc::buddy::order_for(size, 1)?;
    raw.raw.heap().free_batch(&[(off, order)], true, || {})?;
    raw.raw.persister().fence();
    Ok(())
}
