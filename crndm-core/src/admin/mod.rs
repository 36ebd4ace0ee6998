//! Safe, offline pool administration: what the `crndm-pool` command is built on.
//!
//! These functions work on a pool *file*, without the program that wrote it and without its
//! types. [`info`](info()), [`check_report`] (and [`check`](check())) and [`PoolBytes`]
//! open the file read-only under a shared lock and never change it; [`recover`](recover())
//! opens it for writing and runs recovery; [`create`] makes a new pool.
//!
//! ```
//! # fn main() -> crndm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("a.pool");
//! crndm::admin::create(&path, 4 << 20)?;
//! let info = crndm::admin::info(&path)?;
//! assert_eq!(info.size, 4 << 20);
//! assert!(info.problems.is_empty());
//! assert_eq!(info.journal_summary().empty, info.journals);
//! let report = crndm::admin::check_report(&path)?;
//! assert!(report.is_clean());
//! # Ok(())
//! # }
//! ```
//!
//! # What `check` looks at
//! In order, each step only if the ones before it could be trusted:
//! 1. the header: magic, version, checksum, every field, the region table (an
//!    [`Err`] from [`check_report`]: nothing behind an untrusted header can be read),
//!    then the reserved bytes of its mutable line;
//! 2. the allocator map: tiling and alignment (invariants M1 and M2 of the map; a
//!    violation is [`Severity::Corrupt`]: opening refuses the pool), then crash residue
//!    (M3 stale heads, M4 unmerged buddies: [`Severity::Repairable`]);
//! 3. every journal: a log left by an unfinished transaction is a repairable finding;
//!    its records must make sense: UNDO ranges inside the heap or the header's mutable
//!    line, ALLOC/FREE records naming aligned blocks of their order whose state in the
//!    map is one a crash can leave, COMMIT last, epochs below the lane's reserved bound;
//! 4. the root slot: 0, or a used block of the order the stored root layout needs;
//! 5. reachability (only when the map passed step 2 and no journal holds a log): a
//!    walk of the heap from the root, without types (see
//!    [`Reachability`](crate::Reachability)); used blocks nothing reaches are one
//!    [`Severity::Leak`] finding ([`repair_leaks`] frees them), pointers into memory the
//!    map calls free are [`FindingKind::MapDamage`], corrupt.

/// Raw reads of a pool file ([`PoolBytes`], [`RootSlot`]): `crndm-pool dump`.
mod bytes;
/// [`check_report`], [`check`](check()) and [`CheckReport`]: every check behind a trusted
/// header.
mod check;
/// What a check reports: [`Finding`], [`FindingKind`], [`Severity`].
mod findings;
/// Pools, forged journals and patched bytes for the unit tests of this module (a name
/// ending in `tests.rs`, so the crash suite's sweep of flush and fence call sites skips
/// it as test code).
#[cfg(test)]
mod helpers_for_tests;
/// [`create`], [`info`](info()) and [`PoolInfo`]: `crndm-pool info`.
mod info;
/// The journals: what their logs hold ([`JournalInfo`]) and the checks of their records.
mod journals;
/// Which block of the allocator map covers a heap unit, for the checks.
mod map_view;
/// Reachability: leaks and map damage, and [`repair_leaks`].
mod reach;
/// [`recover`](recover()) and [`RecoveryReport`]: `crndm-pool recover`.
mod recover;

pub use bytes::{PoolBytes, RootSlot};
pub use check::{CheckReport, check, check_report, check_report_with_progress};
pub use findings::{Finding, FindingKind, Severity};
pub use info::{PoolInfo, RegionInfo, create, create_with, format_uuid, info};
pub use journals::{JournalInfo, JournalState, JournalSummary};
#[doc(hidden)]
pub use reach::repair_leaks_with;
pub use reach::{LeakRepair, repair_leaks};
pub use recover::{JournalRecovery, RecoveryReport, recover};
