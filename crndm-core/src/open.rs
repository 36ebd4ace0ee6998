//! Opening a pool file as a pool type: [`PoolOptions::open`] and
//! [`PoolOptions::open_no_root`], the one place that ties the pool layer (options, the
//! file), the transaction layer (the pool type's slot, recovery) and the root object
//! together. It sits above every layer it joins (docs/ARCHITECTURE.md); the options
//! themselves live in `pool::options`.

use std::path::Path;

use crate::error::Result;
use crate::marker::PSafe;
use crate::mem_pool::MemPool;
use crate::pool::raw::OpenCheck;
use crate::pool::{Flags, PoolOptions};
use crate::root::{RootCell, RootObj};
use crate::stm::pool_type::PoolGuard;

impl PoolOptions {
    /// Opens (per `flags`) the pool file at `path` as pool type `P`, without a root
    /// object; the pool stays open while the guard lives.
    ///
    /// # Errors
    /// Any [`Error`](crate::Error) describing why the file cannot be a pool of these
    /// options, and [`Error::AlreadyOpen`](crate::Error::AlreadyOpen) or
    /// [`Error::Locked`](crate::Error::Locked) if it is in use.
    pub fn open_no_root<P: MemPool>(
        &self,
        path: impl AsRef<Path>,
        flags: Flags,
    ) -> Result<PoolGuard<P>> {
        attach::<P>(path.as_ref(), flags, self, None)
    }

    /// Opens (per `flags`) the pool file at `path` as pool type `P` and returns its root
    /// object of type `R`, created with [`RootObj::init`] in a transaction on first open.
    ///
    /// # Errors
    /// Those of [`open_no_root`](Self::open_no_root), and
    /// [`Error::RootTypeMismatch`](crate::Error::RootTypeMismatch) if the pool's root
    /// was created as another type.
    pub fn open<P: MemPool, R: RootObj<P> + PSafe + crate::RootLayout>(
        &self,
        path: impl AsRef<Path>,
        flags: Flags,
    ) -> Result<RootCell<R, P>> {
        // Every refusal comes before the file is written (recovery, generation bump): the
        // root is checked inside the open, under the exclusive lock.
        let check: OpenCheck = crate::root::check_recovered_root::<R>;
        let guard = attach::<P>(path.as_ref(), flags, self, Some(check))?;
        crate::root::open_root(guard)
    }
}

/// Opens `path` into `P`'s slot (`stm::pool_type::open`), telling it whether this thread
/// runs a transaction of `P` (such an open must not wait for its own transaction).
///
/// # Errors
/// Those of `stm::pool_type::open`.
fn attach<P: MemPool>(
    path: &Path,
    flags: Flags,
    opts: &PoolOptions,
    check: Option<OpenCheck>,
) -> Result<PoolGuard<P>> {
    let in_tx = crate::stm::tx::with_current::<P, _>(|j| j.is_some());
    crate::stm::pool_type::open::<P>(path, flags, opts, check, in_tx)
}
