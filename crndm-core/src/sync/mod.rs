//! Thread-safe persistent types: [`Parc`] with its weak pointers [`PWeak`] and
//! [`VWeak`], and [`PMutex`].
//!
//! Threads share persistent data through a [`VWeak`], the only handle that may cross
//! threads: each thread promotes it to its own [`Parc`] inside its own transaction.
//! Count changes and [`PMutex`] locks take an object lock held until the transaction
//! ends (two-phase locking), so no transaction ever sees — or, by rolling back, erases —
//! another's uncommitted change.
//!
//! ```
//! # fn main() -> crndm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! use crndm::default::*;
//! let root = BuddyAlloc::open::<Parc<PMutex<u64>>>(dir.path().join("s.pool"), O_CF)?;
//! let shared = Parc::demote(&root);
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         let shared = shared.clone();
//!         s.spawn(move || {
//!             BuddyAlloc::transaction(|j| {
//!                 let counter = shared.promote(j).expect("the root lives");
//!                 *counter.lock(j) += 1;
//!             })
//!             .unwrap();
//!         });
//!     }
//! });
//! assert_eq!(BuddyAlloc::transaction(|j| *root.lock(j))?, 4);
//! # Ok(())
//! # }
//! ```

mod mutex;
mod parc;

pub use mutex::{PMutex, PMutexGuard};
pub use parc::{PWeak, Parc, VWeak};
