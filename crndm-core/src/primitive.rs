//! The synchronisation primitives of the crate, swapped for loom's in model tests
//! (`RUSTFLAGS="--cfg crndm_loom"`), as crossbeam does with `crossbeam_loom`.

#[cfg(crndm_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(crndm_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// The atomic word of the journal lane set (`stm::open`), modelled by loom's there.
#[cfg(crndm_loom)]
pub(crate) use loom::sync::atomic::AtomicU64 as LaneWord;
/// The atomic word of the journal lane set (`stm::open`), modelled by loom's there.
#[cfg(not(crndm_loom))]
pub(crate) use std::sync::atomic::AtomicU64 as LaneWord;
