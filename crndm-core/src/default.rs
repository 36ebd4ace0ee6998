//! The ready-made pool module: `use crndm::default::*;` brings the pool type
//! [`BuddyAlloc`], the open flags, [`PoolOptions`] and the aliases into scope.
//!
//! It is exactly what `crndm::pool!(pub default)` declares, so it behaves like any pool
//! module a user declares.
//!
//! ```
//! # fn main() -> crndm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! use crndm::default::*;
//! let pool = BuddyAlloc::open_no_root(dir.path().join("d.pool"), O_CFNE)?;
//! assert!(BuddyAlloc::is_open());
//! drop(pool);
//! assert!(!BuddyAlloc::is_open());
//! # Ok(())
//! # }
//! ```

crate::pool!(pub pool_default_impl);

pub use pool_default_impl::BuddyAlloc;
pub use pool_default_impl::*;

// `Option<Pbox>` is one word, `None` = offset 0 (see "Layout" on `Pbox`); checked here,
// where a pool type exists, because `boxed` sits below the pool modules.
const _: () = assert!(size_of::<Option<crate::Pbox<u64, BuddyAlloc>>>() == 8);
