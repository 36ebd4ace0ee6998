//! The synchronisation primitives of the crate, swapped for loom's in model tests
//! (`RUSTFLAGS="--cfg crndm_loom"`), as crossbeam does with `crossbeam_loom`.

#[cfg(crndm_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(crndm_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
