//! # crndm: safe persistent-memory programming
//!
//! A program keeps its data structures in a *pool*: a file mapped into memory (on an
//! ext4-dax or xfs-dax filesystem, on emulated pmem such as tmpfs, or on an ordinary
//! file). crndm makes the pool's contents survive crashes and makes the classic
//! persistent-memory bugs compile errors.
//!
//! ## Pools are types
//! A pool is a zero-sized *type* ([`MemPool`]), declared with [`pool!`] or taken ready
//! from [`default`]. Everything persistent is generic over its pool type (bounded by
//! [`PoolType`], the lower half of `MemPool` that `pool!` implements; every `PoolType` is
//! a `MemPool`), so pointers of two pools cannot mix. A pool type maps at most one file
//! at a time:
//!
//! ```
//! # fn main() -> crndm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! use crndm::default::*;
//! let path = dir.path().join("app.pool");
//! let pool = BuddyAlloc::open_no_root(&path, O_CFNE)?;      // create + format if missing
//! assert!(matches!(BuddyAlloc::open_no_root(&path, 0), Err(Error::AlreadyOpen)));
//! drop(pool);                                               // last handle: closed
//! let again = BuddyAlloc::open_no_root(&path, 0)?;          // the same pool again
//! assert_eq!(BuddyAlloc::generation()?, 2);
//! # drop(again);
//! # Ok(())
//! # }
//! ```
//!
//! ## Persistence
//! How stores become durable depends on the file: see [`Mode`]. Every flush and fence
//! the library issues is counted per thread in [`PersistCounters`].
//!
//! ## Allocation
//! Memory comes from a buddy allocator whose whole state is one byte per 64-byte unit in
//! the pool, changed by single-byte commits, so it is consistent after a crash at any
//! instruction. [`MemPool::stats`] and [`MemPool::check`] report on it.
//!
//! ## Transactions
//! Persistent data changes only inside [`MemPool::transaction`]; every change is
//! undo-logged first, and a panic (or a crash) rolls the transaction back. Objects live
//! behind [`Pbox`] and in [`PCell`], [`PRefCell`] and [`VCell`] cells; the marker traits
//! ([`PSafe`], [`TxInSafe`], [`TxOutSafe`], [`VSafe`], [`PSend`]) reject at compile time
//! what would break that.
//!
//! ## Errors
//! Everything fallible returns [`Result`] with the crate's one [`Error`]; a corrupt or
//! foreign file gives a specific error, never a panic.
//!
//! ## Stable Rust and the `nightly` feature
//! crndm builds on stable Rust: the marker traits are `unsafe trait`s implemented for
//! the std types that qualify and the crate's own, and a type of yours gets them from its
//! derive (`#[derive(PSafe)]`, `#[derive(TxOutSafe)]`, `#[derive(VSafe)]`,
//! `#[derive(PSend)]`; `#[derive(Root)]` and `#[derive(RootLayout)]` imply `PSafe`),
//! which checks every field. What a transaction body may capture is what std's
//! `UnwindSafe` says, and the crate's owned persistent pointers are not. The `nightly`
//! feature (on a nightly compiler) makes the traits auto traits instead; the derives
//! still compile there. The README's Guarantees say where the two differ.
//!
//! ## Collections
//! [`PVec`], [`PString`], [`PHashMap`] (keys hashed with the stable [`PHash`]) and
//! [`PBTreeMap`] look like their std counterparts; every method that changes one takes
//! the journal and logs what it changes, down to the shifted element, so a crash or a
//! panic leaves it as it was when the transaction began. `#[derive(PClone)]` copies
//! structures of them.
//!
//! ```
//! # fn main() -> crndm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! use crndm::default::*;
//!
//! #[derive(Root)]
//! struct Shop {
//!     stock: PRefCell<PHashMap<PString, u32>>,
//!     log: PRefCell<PVec<PString>>,
//! }
//!
//! let root = BuddyAlloc::open::<Shop>(dir.path().join("shop.pool"), O_CFNE)?;
//! BuddyAlloc::transaction(|j| {
//!     *root.stock.borrow_mut(j).get_or_insert_with("apple".to_pstring(j), || 0, j) += 3;
//!     root.log.borrow_mut(j).push("3 apples in".to_pstring(j), j);
//! })?;
//! assert_eq!(root.stock.borrow().get("apple"), Some(&3));
//! # Ok(())
//! # }
//! ```
#![cfg_attr(feature = "nightly", feature(auto_traits, negative_impls))]
#![warn(
    missing_docs,
    clippy::missing_errors_doc,
    clippy::missing_panics_doc,
    clippy::unwrap_used,
    clippy::cast_possible_truncation
)]
#![cfg_attr(
    test,
    allow(
        clippy::missing_panics_doc,
        reason = "unit tests panic to report failure"
    )
)]

extern crate self as crndm;

pub mod admin;
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "the raw allocator API serves the transaction layer, which builds on it"
    )
)]
mod alloc;
mod boxed;
mod cell;
mod clone;
mod collections;
mod convert;
mod crash_point;
pub mod default;
mod error;
mod hashers;
mod impls;
#[cfg(feature = "internals")]
pub mod internals;
mod layout;
mod marker;
mod mem_pool;
mod offset;
mod open;
mod persist;
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "raw accessors serve the transaction layer, which builds on them"
    )
)]
mod pool;
pub mod prc;
mod primitive;
mod root;
mod stm;
pub mod sync;

pub use alloc::{AllocStats, ClassStats, Reachability};
pub use boxed::Pbox;
pub use cell::{LogCell, LogRefCell, PCell, PRefCell, Ref, RefMut, VCell};
pub use clone::PClone;
pub use collections::{
    PBTreeMap, PHash, PHashMap, PHasher, PString, PVec, ToPString, btree_map, hash_map,
};
pub use crndm_derive::{PClone, PSafe, PSend, Root, RootLayout, TxOutSafe, VSafe, pool};
pub use error::{Error, Region, Result};
pub use layout::{LayoutHasher, PointerVisitor, RootLayout};
pub use marker::{AssertTxInSafe, PSafe, PSend, TxInSafe, TxOutSafe, TxRefSafe, VSafe};
pub use mem_pool::MemPool;
pub use persist::{FlushInstr, Mode, PersistCounters};
pub use pool::{Flags, O_C, O_CF, O_CFNE, O_CNE, O_F, PoolOptions};
pub use prc::Prc;
pub use root::{RootCell, RootObj};
pub use stm::journal::Journal;
pub use stm::pool_type::{PoolGuard, PoolType};
pub use sync::{PMutex, Parc};

/// Runs `body` as a transaction of the pool type `P` its journal belongs to; the same as
/// [`MemPool::transaction`], for when `P` is clear from the body.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let root = BuddyAlloc::open::<PCell<i64>>(dir.path().join("f.pool"), O_CF)?;
/// crndm::transaction(|j| root.set(-1, j))?;
/// assert_eq!(root.get(), -1);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`MemPool::transaction`].
pub fn transaction<P, F, R>(body: F) -> Result<R>
where
    P: MemPool,
    F: for<'j> FnOnce(&'j Journal<P>) -> R + TxInSafe + std::panic::UnwindSafe,
    R: TxOutSafe,
{
    P::transaction(body)
}

/// Items the macros' generated code names; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::stm::pool_type::PoolSlot;
}
