//! Layer 3: the crash-consistent buddy allocator whose whole state lives in the pool.
//!
//! [`map`] defines the persistent order map and its invariants (M1–M4); [`buddy`] the
//! allocator built on it (A1–A3, F1–F2) and the hooks that tie allocations and frees to
//! a journal; [`stats`] the numbers it reports.

pub(crate) mod buddy;
pub(crate) mod map;
// Not yet wired into admin::check (issue 17, in progress): only its unit tests use it.
#[cfg_attr(
    not(test),
    allow(dead_code, reason = "not yet wired into admin::check")
)]
pub(crate) mod reach;
mod stats;

pub(crate) use buddy::Heap;
pub use stats::{AllocStats, ClassStats};
