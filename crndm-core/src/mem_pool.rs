//! The public face of a pool type: [`MemPool`], with the methods a program calls on its
//! pool types (`open`, `transaction`, `stats`, ...). Every [`PoolType`] (what `pool!`
//! declares) is a `MemPool` through the blanket impl below, so `P::open`, `P::transaction`
//! and `fn f<P: MemPool>` work on any pool type.
//!
//! It sits in the facade (docs/ARCHITECTURE.md) because `open` returns a [`RootCell`]:
//! the lower trait [`PoolType`] (the slot and the marker supertraits), which every
//! persistent type is bounded by, stays in the stm layer without naming the root.

use std::panic::UnwindSafe;
use std::path::{Path, PathBuf};

use crate::alloc::{AllocStats, Reachability};
use crate::error::{Error, Result};
use crate::layout::RootLayout;
use crate::marker::{PSafe, TxInSafe, TxOutSafe};
use crate::persist::Mode;
use crate::pool::{Flags, PoolOptions};
use crate::root::{RootCell, RootObj};
use crate::stm::journal::Journal;
use crate::stm::pool_type::{PoolGuard, PoolType};

/// A pool type: a zero-sized type naming one pool file at a time, and the operations on
/// that file.
///
/// Every persistent pointer and cell is generic over its pool type, so pointers of two
/// pools can never mix. Declare pool types with [`pool!`](crate::pool!); the ready-made
/// one is [`crate::default::BuddyAlloc`].
///
/// `MemPool` is the public face of the lower trait [`PoolType`], which `pool!`
/// implements and every persistent type is bounded by; each `PoolType` is a `MemPool`
/// (a blanket impl), so no other type can be one.
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
pub trait MemPool: PoolType {
    /// Opens (per `flags`) the pool file at `path` with default [`PoolOptions`],
    /// without a root object; the pool stays open while the guard lives.
    ///
    /// Closing (dropping the last handle) while other threads hold `VWeak`s or run
    /// transactions: transactions already running finish on the closed pool (commit
    /// or abort as usual); new ones, and `VWeak::promote`, fail from then on
    /// (`NotOpen`, or `None`), also after a reopen (a `VWeak` names one open). An open
    /// of a closed pool whose last transactions still run waits for them to end; it
    /// never returns `AlreadyOpen` for that (only for a pool that is open, or when the
    /// calling thread itself runs a transaction of this pool type).
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
    fn open<R: RootObj<Self> + PSafe + RootLayout>(
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
    /// **Poisoning.** Once a panic has crossed a crndm frame of a transaction, the
    /// transaction is poisoned: it rolls back and returns `Err(Error::Aborted)` whatever
    /// its body returns, even if the body caught the panic with `catch_unwind`. Covered:
    /// a nested transaction of the same pool whose body panicked; crndm's own panics
    /// inside the transaction (journal or heap full, and the other crndm panic sites
    /// that go through the journal's failure helper); user code that crndm calls from
    /// a guarded entry point (today the collection inserts: `Ord`/`Hash`/`Eq` of keys and
    /// `get_or_insert_with`'s closure) unwinding through it. Not covered: a panic raised
    /// and caught entirely inside user code that never entered crndm — that transaction
    /// commits normally. The check needs no panic hook.
    ///
    /// **Two pools.** A transaction of one pool type started while a transaction of
    /// another pool type runs on the same thread is refused with
    /// [`Error::NestedPools`] before it writes anything (the two could not commit
    /// atomically together); the outer transaction is unaffected and may go on. Run
    /// transactions of different pools one after the other.
    ///
    /// **A body that always panics** has the return type `!` (the never type fallback of
    /// edition 2024), which is `TxOutSafe` only with the `nightly` feature: on stable,
    /// write its return type, `|j| -> () { ... }`, as below.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let root = BuddyAlloc::open::<PCell<u64>>(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| root.set(root.get() + 1, j))?;
    /// let r = BuddyAlloc::transaction(|j| -> () {
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
    /// rolled back) or the transaction was poisoned; [`Error::NestedPools`] inside a
    /// transaction of another pool type; [`Error::NotOpen`] if no pool is open.
    fn transaction<F, R>(body: F) -> Result<R>
    where
        F: for<'j> FnOnce(&'j Journal<Self>) -> R + TxInSafe + UnwindSafe,
        R: TxOutSafe,
    {
        crate::stm::tx::run::<Self, F, R>(body)
    }

    /// Whether this pool type has a file open.
    fn is_open() -> bool {
        Self::__slot().is_open()
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

    /// Walks the open pool's heap from its root and reports the used blocks nothing
    /// reaches (leaks: a `mem::forget`, a `ManuallyDrop`, a `Prc` or `Parc` cycle) and
    /// pointers into memory the allocator calls free (damage). Waits for every running
    /// transaction of the pool to end and keeps new ones waiting while it scans. The
    /// scan is conservative and needs no types: see [`Reachability`]. `crndm-pool check`
    /// runs the same scan on a closed pool file, and `--repair --leaks` frees the leaks.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let root = BuddyAlloc::open::<PCell<u64>>(dir.path().join("k.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| root.set(5, j))?;
    /// assert!(BuddyAlloc::leaks()?.is_clean(), "a workload without leaks");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::NotOpen`] if no pool is open; [`Error::InTransaction`] inside a
    /// transaction of this pool (it would wait for itself); I/O errors reading the file.
    fn leaks() -> Result<Reachability> {
        if crate::stm::tx::with_current::<Self, _>(|j| j.is_some()) {
            return Err(Error::InTransaction("leaks"));
        }
        let pool = Self::__slot().raw()?;
        crate::stm::leaks::reachability(&pool)
    }
}

/// Every pool type is a `MemPool`: the face adds only provided methods.
impl<P: PoolType> MemPool for P {}
