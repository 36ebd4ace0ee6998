//! Pool types: the `MemPool` trait, the per-type slot that knows which file is open, and
//! the guard that keeps it open.
//!
//! # Invariants
//! - **S1** a slot maps at most one file at a time; `open` on an occupied slot fails with
//!   [`Error::AlreadyOpen`] at once.
//! - **S2** while a slot's handle count is non-zero its pool stays mapped; the pool is
//!   closed when the last handle ([`PoolGuard`], `RootCell`) is dropped. Transactions
//!   hold an `Arc` of the pool for as long as they run, so a pool closed by another
//!   thread stays mapped until they end.
//! - **S3** the slot's `base` and `generation` name the pool opened last; a new open
//!   waits (fails with `AlreadyOpen`) until that pool is fully gone.

use std::panic::UnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::alloc::AllocStats;
use crate::error::{Error, Result};
use crate::marker::{PSafe, PSend, TxInSafe, TxOutSafe, VSafe};
use crate::persist::Mode;
use crate::pool::{Flags, PoolOptions};
use crate::root::{RootCell, RootObj};
use crate::stm::journal::Journal;
use crate::stm::open::OpenPool;

#[derive(Debug, Default)]
struct SlotState {
    pool: Option<Arc<OpenPool>>,
    /// The last pool opened: alive until its last transaction ends, even after close.
    last: Weak<OpenPool>,
    handles: usize,
}

/// The private state behind one pool type: which file it has open, if any.
///
/// Made by [`pool!`](crate::pool!) as a `static`; not for direct use.
#[doc(hidden)]
#[derive(Debug)]
pub struct PoolSlot {
    state: Mutex<SlotState>,
    /// Address of offset 0 of the pool opened last; read on every dereference of a
    /// persistent pointer. Valid while a handle or a transaction of that pool exists
    /// (S2, S3); replaced only by the next open, which waits for both to be gone.
    base: AtomicPtr<u8>,
    /// Generation of the pool opened last; volatile cells compare against it.
    generation: AtomicU64,
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
                last: Weak::new(),
                handles: 0,
            }),
            base: AtomicPtr::new(std::ptr::null_mut()),
            generation: AtomicU64::new(0),
        }
    }

    /// Address of offset 0 of the pool opened last (null before the first open).
    #[inline]
    pub(crate) fn base(&self) -> *mut u8 {
        self.base.load(Ordering::Acquire)
    }

    /// Generation of the pool opened last (0 before the first open).
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open pool, kept alive by the returned `Arc`.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    pub(crate) fn raw(&self) -> Result<Arc<OpenPool>> {
        self.lock().pool.clone().ok_or(Error::NotOpen)
    }
}

/// A pool type: a zero-sized type naming one pool file at a time.
///
/// Every persistent pointer and cell is generic over its pool type, so pointers of two
/// pools can never mix. Declare pool types with [`pool!`](crate::pool!); the ready-made
/// one is [`crate::default::BuddyAlloc`].
///
/// A pool type is a zero-sized marker, so it has every marker trait: generic code over
/// `P: MemPool` may rely on that.
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
pub unsafe trait MemPool:
    'static
    + Sized
    + Send
    + Sync
    + PSafe
    + TxInSafe
    + crate::marker::TxRefSafe
    + TxOutSafe
    + VSafe
    + PSend
    + UnwindSafe
    + std::panic::RefUnwindSafe
{
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

    /// Opens (per `flags`) the pool file at `path` with default [`PoolOptions`] and
    /// returns its root object, created with [`RootObj::init`] on first open. The pool
    /// stays open while the root handle lives.
    ///
    /// # Errors
    /// Those of [`PoolOptions::open_no_root`], and [`Error::RootTypeMismatch`] if the
    /// pool's root was created as another type.
    fn open<R: RootObj<Self> + PSafe>(
        path: impl AsRef<Path>,
        flags: Flags,
    ) -> Result<RootCell<R, Self>> {
        PoolOptions::new().open(path, flags)
    }

    /// Runs `body` as a failure-atomic transaction: either all of its changes to the
    /// pool persist, or (on a panic, or a crash before it returns) none do.
    ///
    /// Calls nested inside a transaction of the same pool join it (flat nesting): a panic
    /// anywhere aborts the outermost transaction.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let root = BuddyAlloc::open::<PCell<u64>>(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| root.set(root.get() + 1, j))?;
    /// let r = BuddyAlloc::transaction(|j| {
    ///     root.set(100, j);
    ///     panic!("changed my mind");
    /// });
    /// assert!(matches!(r, Err(Error::Aborted(_))));
    /// assert_eq!(root.get(), 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Aborted`] with the panic message if the body panicked (everything was
    /// rolled back); [`Error::NotOpen`] if no pool is open.
    fn transaction<F, R>(body: F) -> Result<R>
    where
        F: for<'j> FnOnce(&'j Journal<Self>) -> R + TxInSafe + UnwindSafe,
        R: TxOutSafe,
    {
        crate::stm::tx::run::<Self, F, R>(body)
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
        Ok(Self::__slot().raw()?.raw.mode())
    }

    /// The open pool's UUID, fixed when it was formatted.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    fn uuid() -> Result<[u8; 16]> {
        Ok(Self::__slot().raw()?.raw.uuid())
    }

    /// The open pool's generation: incremented each time the file is opened.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    fn generation() -> Result<u64> {
        Ok(Self::__slot().raw()?.raw.generation())
    }

    /// The path the open pool was opened from.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    fn path() -> Result<PathBuf> {
        Ok(Self::__slot().raw()?.raw.path().to_path_buf())
    }

    /// Heap usage of the open pool.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    fn stats() -> Result<AllocStats> {
        Ok(Self::__slot().raw()?.raw.stats())
    }

    /// Verifies the allocator's invariants on the open pool: one line per problem, empty
    /// when healthy.
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open.
    fn check() -> Result<Vec<String>> {
        Ok(Self::__slot().raw()?.raw.heap().check())
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

/// Opens `path` into `P`'s slot (S1), recovering its journals.
///
/// # Errors
/// [`Error::AlreadyOpen`], and every error of [`OpenPool::open`].
pub(crate) fn open<P: MemPool>(
    path: &Path,
    flags: Flags,
    opts: &PoolOptions,
) -> Result<PoolGuard<P>> {
    let slot = P::__slot();
    let mut st = slot.lock();
    // S3: a closed pool whose last transaction still runs on another thread is still
    // mapped and still named by `base`; it counts as open.
    if st.pool.is_some() || st.last.strong_count() > 0 {
        return Err(Error::AlreadyOpen);
    }
    let pool = OpenPool::open(path, flags, opts)?;
    slot.base.store(pool.raw.base(), Ordering::Release);
    slot.generation
        .store(pool.raw.generation(), Ordering::Release);
    let pool = Arc::new(pool);
    st.last = Arc::downgrade(&pool);
    st.pool = Some(pool);
    st.handles = 1;
    Ok(PoolGuard {
        _pool: std::marker::PhantomData,
    })
}
