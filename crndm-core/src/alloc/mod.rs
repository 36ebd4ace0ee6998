//! The alloc layer (docs/ARCHITECTURE.md): the crash-consistent buddy allocator whose
//! whole state lives in the pool. It works on a heap slice and its map bytes and knows
//! no file, so it sits below the pool layer, which lays out and formats its map.
//!
//! [`map`] defines the persistent order map and its invariants (M1–M4); [`buddy`] the
//! allocator built on it (A1–A3, F1–F2) and the hooks that tie allocations and frees to
//! a journal; [`stats`] the numbers it reports; [`reach`] the type-free walk of what
//! is reachable from the root (leaks, map damage) and [`reachability`] its report.

pub(crate) mod buddy;
pub(crate) mod map;
pub(crate) mod reach;
mod reachability;
mod stats;

pub(crate) use buddy::Heap;
pub use reachability::Reachability;
pub use stats::{AllocStats, ClassStats};
