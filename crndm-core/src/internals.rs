//! What tests and benchmarks reach beneath the safe API (cargo feature `internals`, off
//! by default; not part of the stable API): raw allocation ([`alloc`], [`free`]: an
//! allocation made here is tied to no transaction, so a crash leaks it), the crash
//! points ([`crash_point`], [`CRASH_AT_ENV`]), and, with the feature `crash-sim`, the
//! power-failure simulator the crash tests run pools under ([`sim`]).

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
    // The public API speaks plain `u64` offsets.
    Ok(off.get())
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
    raw.raw
        .heap()
        .free_batch(&[(crate::offset::PoolOff::new(off), order)], true, || {})?;
    raw.raw.persister().fence();
    Ok(())
}

/// The environment variable naming the crash point at which [`crash_point`] aborts
/// the process.
pub const CRASH_AT_ENV: &str = crate::crash_point::CRASH_AT_ENV;

/// Aborts the process (as a power cut would stop it: no unwinding, no destructors) if
/// `CRNDM_CRASH_AT` names `point`. The library calls it at the steps of commit and
/// recovery that tests need to interrupt:
///
/// | point | where |
/// |---|---|
/// | `commit-before-frees` | a transaction with frees, after its changes are durable and its COMMIT record is written, before its blocks are freed |
/// | `commit-before-truncate` | a transaction with frees, after its commit point (COMMIT record and freed heads durable), before the log is truncated; in a transaction without frees, before the record (redo commit) or the truncation that commits it |
/// | `recovery-before-frees` | recovery, after restoring undo records |
pub fn crash_point(point: &str) {
    crate::crash_point::crash_point(point);
}

/// The power-failure simulator (cargo feature `crash-sim`): a persistence backend that
/// keeps a pool's persisted image, records every fence as a crash point, and can plant
/// bugs ([`Mutation`](sim::Mutation)) to show that the crash suite finds them.
///
/// A pool is put under a simulator with
/// [`PoolOptions::simulate`](crate::PoolOptions::simulate); see [`Sim`](sim::Sim).
#[cfg(feature = "crash-sim")]
pub mod sim {
    pub use crate::persist::sim::{CallSite, FenceEvent, LINE, Line, Mutation, Recording, Sim};
}
