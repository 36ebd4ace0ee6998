//! Pool types: the `MemPool` trait, the per-type slot that knows which file is open, and
//! the guard that keeps it open.
//!
//! # Invariants
//! - **S1** a slot maps at most one file at a time; `open` on an occupied slot fails with
//!   [`Error::AlreadyOpen`] at once.
//! - **S2** while a slot's handle count is non-zero its pool stays mapped; the pool is
//!   closed when the last handle ([`PoolGuard`], later `RootCell`) is dropped. Internal
//!   users (transactions) hold an `Arc` of the pool for as long as they touch it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::alloc::AllocStats;
use crate::error::{Error, Result};
use crate::persist::Mode;
use crate::pool::options::{Flags, PoolOptions};
use crate::pool::raw::RawPool;

#[derive(Debug, Default)]
struct SlotState {
    pool: Option<Arc<RawPool>>,
    handles: usize,
}

/// The private state behind one pool type: which file it has open, if any.
///
/// Made by [`pool!`](crate::pool!) as a `static`; not for direct use.
#[doc(hidden)]
#[derive(Debug)]
pub struct PoolSlot {
    state: Mutex<SlotState>,
}

impl PoolSlot {
    /// An empty slot (no pool open).
    #[allow(
        clippy::new_without_default,
        reason = "only the pool! macro makes slots, in a const context"
    )]
    pub const fn new() -> PoolSlot {
        PoolSlot {
            state: Mutex::new(SlotState {
                pool: None,
                handles: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open pool, kept alive by the returned `Arc`.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    pub(crate) fn raw(&self) -> Result<Arc<RawPool>> {
        self.lock().pool.clone().ok_or(Error::NotOpen)
    }
}

/// A pool type: a zero-sized type naming one pool file at a time.
///
/// Every persistent pointer and cell is generic over its pool type, so pointers of two
/// pools can never mix. Declare pool types with [`pool!`](crate::pool!); the ready-made
/// one is [`crate::default::BuddyAlloc`].
///
/// # Safety
/// Implemented only by [`pool!`](crate::pool!), which guarantees:
/// 1. `__slot` returns the same `'static` slot on every call;
/// 2. no other type's `__slot` returns that slot.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// crndm::pool!(inventory);
/// crndm::pool!(audit);
/// use crndm::{MemPool, O_CF};
/// let _a = inventory::BuddyAlloc::open_no_root(dir.path().join("a.pool"), O_CF)?;
/// let _b = audit::BuddyAlloc::open_no_root(dir.path().join("b.pool"), O_CF)?;
/// assert_ne!(inventory::BuddyAlloc::uuid()?, audit::BuddyAlloc::uuid()?);
/// # Ok(())
/// # }
/// ```
pub unsafe trait MemPool: 'static + Sized + Send + Sync {
    /// The slot of this pool type; for the crate's internal use.
    #[doc(hidden)]
    fn __slot() -> &'static PoolSlot;

    /// Opens (per `flags`) the pool file at `path` with default [`PoolOptions`],
    /// without a root object; the pool stays open while the guard lives.
    ///
    /// # Errors
    /// See [`PoolOptions::open_no_root`].
    fn open_no_root(path: impl AsRef<Path>, flags: Flags) -> Result<PoolGuard<Self>> {
        PoolOptions::new().open_no_root(path, flags)
    }

    /// Whether this pool type has a file open.
    fn is_open() -> bool {
        Self::__slot().raw().is_ok()
    }

    /// How stores to the open pool are made durable.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    fn mode() -> Result<Mode> {
        Ok(Self::__slot().raw()?.mode())
    }

    /// The open pool's UUID, fixed when it was formatted.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    fn uuid() -> Result<[u8; 16]> {
        Ok(Self::__slot().raw()?.uuid())
    }

    /// The open pool's generation: incremented each time the file is opened.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    fn generation() -> Result<u64> {
        Ok(Self::__slot().raw()?.generation())
    }

    /// The path the open pool was opened from.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    fn path() -> Result<PathBuf> {
        Ok(Self::__slot().raw()?.path().to_path_buf())
    }

    /// Heap usage of the open pool.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    fn stats() -> Result<AllocStats> {
        Ok(Self::__slot().raw()?.stats())
    }

    /// Verifies the allocator's invariants on the open pool: one line per problem, empty
    /// when healthy.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    fn check() -> Result<Vec<String>> {
        Ok(Self::__slot().raw()?.heap().check())
    }
}

/// Keeps pool type `P`'s file open; the pool closes when the last guard (or root handle)
/// is dropped.
#[must_use = "the pool closes as soon as the guard is dropped"]
pub struct PoolGuard<P: MemPool> {
    _pool: std::marker::PhantomData<P>,
}

impl<P: MemPool> std::fmt::Debug for PoolGuard<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolGuard")
            .field("pool", &std::any::type_name::<P>())
            .finish()
    }
}

impl<P: MemPool> Clone for PoolGuard<P> {
    fn clone(&self) -> Self {
        P::__slot().lock().handles += 1;
        PoolGuard {
            _pool: std::marker::PhantomData,
        }
    }
}

impl<P: MemPool> Drop for PoolGuard<P> {
    fn drop(&mut self) {
        let closing = {
            let mut st = P::__slot().lock();
            st.handles -= 1;
            if st.handles == 0 {
                st.pool.take()
            } else {
                None
            }
        };
        // The RawPool (mapping, lock) goes away here, outside the slot lock, once any
        // transaction still holding an Arc of it is done.
        drop(closing);
    }
}

/// Opens `path` into `P`'s slot (S1).
///
/// # Errors
/// [`Error::AlreadyOpen`], and every error of [`RawPool::open`].
pub(crate) fn open<P: MemPool>(
    path: &Path,
    flags: Flags,
    opts: &PoolOptions,
) -> Result<PoolGuard<P>> {
    let mut st = P::__slot().lock();
    if st.pool.is_some() {
        return Err(Error::AlreadyOpen);
    }
    let raw = RawPool::open(path, flags, opts)?;
    st.pool = Some(Arc::new(raw));
    st.handles = 1;
    Ok(PoolGuard {
        _pool: std::marker::PhantomData,
    })
}
