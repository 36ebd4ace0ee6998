//! Safe, offline pool administration: what the `crndm-pool` command is built on.
//!
//! These functions work on a pool *file*, without the program that wrote it and without
//! its types. [`info`] and [`check`] open the file read-only and never change it.
//!
//! ```
//! # fn main() -> crndm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("a.pool");
//! crndm::admin::create(&path, 4 << 20)?;
//! let info = crndm::admin::info(&path)?;
//! assert_eq!(info.size, 4 << 20);
//! assert!(info.problems.is_empty());
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

use crate::alloc::AllocStats;
use crate::error::{Region, Result};
use crate::persist::{FlushInstr, Mode};
use crate::pool::inspect::inspect;
use crate::pool::raw::{RawPool, regions};
use crate::pool::{O_CF, PoolOptions};

/// One region of the pool file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// Which region.
    pub region: Region,
    /// Its file offset.
    pub off: u64,
    /// Its length in bytes.
    pub len: u64,
}

/// Everything `crndm-pool info` shows about a pool file.
#[derive(Clone, Debug)]
pub struct PoolInfo {
    /// The file.
    pub path: PathBuf,
    /// The format version.
    pub version: u32,
    /// The pool's UUID.
    pub uuid: [u8; 16],
    /// The file size in bytes.
    pub size: u64,
    /// The persistence mode a program opening this file would get.
    pub mode: Mode,
    /// The cache-flush instruction this machine uses.
    pub flush_instr: FlushInstr,
    /// How many times the pool has been opened.
    pub generation: u64,
    /// The regions, in file order.
    pub regions: Vec<RegionInfo>,
    /// Number of journals.
    pub journals: u32,
    /// Bytes per journal.
    pub journal_size: u64,
    /// Offset of the root object (0: none yet).
    pub root_off: u64,
    /// Size, alignment and name hash of the root type, as stored.
    pub root_layout: (u64, u64, u64),
    /// Heap usage.
    pub stats: AllocStats,
    /// Allocator problems found by a read-only scan (empty: healthy).
    pub problems: Vec<String>,
}

/// Formats a UUID in the usual 8-4-4-4-12 form.
pub fn format_uuid(id: &[u8; 16]) -> String {
    let h: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Creates (or overwrites) `path` as an empty pool of `size` bytes.
///
/// # Errors
/// Any error of [`PoolOptions::open_no_root`] with `O_CF`.
pub fn create(path: impl AsRef<Path>, size: u64) -> Result<PoolInfo> {
    let path = path.as_ref();
    drop(RawPool::open(path, O_CF, &PoolOptions::new().size(size))?);
    info(path)
}

/// Reads a pool file's header and allocator state without changing the file.
///
/// # Errors
/// The specific [`Error`](crate::Error) for a missing, locked, foreign or corrupt file.
pub fn info(path: impl AsRef<Path>) -> Result<PoolInfo> {
    let path = path.as_ref();
    let i = inspect(path)?;
    Ok(PoolInfo {
        path: path.to_path_buf(),
        version: i.header.version,
        uuid: i.header.uuid,
        size: i.geo.pool_size,
        mode: i.mode,
        flush_instr: FlushInstr::detect(),
        generation: i.header.generation,
        regions: regions(&i.geo)
            .into_iter()
            .map(|(region, off, len)| RegionInfo { region, off, len })
            .collect(),
        journals: i.geo.lanes,
        journal_size: i.geo.lane_size,
        root_off: i.header.root_off,
        root_layout: (i.header.root_size, i.header.root_align, i.header.root_hash),
        stats: i.stats,
        problems: i.problems,
    })
}

/// What [`recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Journals that held an unfinished transaction.
    pub journals_with_logs: usize,
    /// Of those, transactions that had committed (their deferred frees were finished).
    pub committed: usize,
    /// Of those, transactions rolled back.
    pub rolled_back: usize,
    /// Undo records applied.
    pub restored_ranges: usize,
    /// Blocks freed (allocations undone, or deferred frees finished).
    pub freed_blocks: usize,
}

/// Opens the pool file for writing and runs recovery only: every journal is brought to
/// a clean state (committed transactions finished, others rolled back).
///
/// # Errors
/// Every error of opening the pool ([`Error`](crate::Error)).
pub fn recover(path: impl AsRef<Path>) -> Result<RecoveryReport> {
    let pool = crate::stm::open::OpenPool::open(path.as_ref(), 0, &PoolOptions::new())?;
    let mut r = RecoveryReport::default();
    for l in pool.recovered.iter().filter(|l| l.had_log) {
        r.journals_with_logs += 1;
        if l.committed {
            r.committed += 1;
        } else {
            r.rolled_back += 1;
        }
        r.restored_ranges += l.restored;
        r.freed_blocks += l.freed;
    }
    Ok(r)
}

/// Checks a pool file read-only: returns every problem found (empty: healthy).
///
/// # Errors
/// A header that cannot be trusted is an error rather than a list entry, since nothing
/// behind it can be read.
pub fn check(path: impl AsRef<Path>) -> Result<Vec<String>> {
    Ok(inspect(path.as_ref())?.problems)
}
