//! What `crndm-pool info` shows: [`create`], [`info`](info()) and the [`PoolInfo`] they
//! return.

use std::path::{Path, PathBuf};

use super::check::examine;
use super::journals::{JournalInfo, JournalSummary};
use crate::alloc::AllocStats;
use crate::error::{Region, Result};
use crate::persist::{FlushInstr, Mode};
use crate::pool::inspect::inspect;
use crate::pool::raw::{RawPool, regions};
use crate::pool::{O_CF, PoolOptions};

/// One region of the pool file.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("x.pool");
/// let info = crndm::admin::create(&path, 1 << 20)?;
/// let heap = info.regions.last().expect("four regions");
/// assert_eq!(heap.region, crndm::Region::Heap);
/// assert_eq!(heap.off + heap.len, info.size);
/// # Ok(())
/// # }
/// ```
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
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("x.pool");
/// let info = crndm::admin::create(&path, 1 << 20)?;
/// assert_eq!(info.stats.used + info.stats.free, info.stats.total);
/// assert_eq!(info.journals, 16);
/// # Ok(())
/// # }
/// ```
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
    /// The journals that hold a log (an unfinished transaction), by index; the others
    /// are empty.
    pub journal_logs: Vec<JournalInfo>,
    /// Offset of the root object (0: none yet).
    pub root_off: u64,
    /// Size, alignment and name hash of the root type, as stored.
    pub root_layout: (u64, u64, u64),
    /// Heap usage.
    pub stats: AllocStats,
    /// The problems [`check`](super::check()) finds in the allocator map and the journals (empty:
    /// healthy).
    pub problems: Vec<String>,
}

impl PoolInfo {
    /// How many journals are empty, active and committed.
    pub fn journal_summary(&self) -> JournalSummary {
        JournalSummary::new(self.journals, &self.journal_logs)
    }
}

/// Formats a UUID in the usual 8-4-4-4-12 form.
///
/// ```
/// let id = [0xab; 16];
/// assert_eq!(
///     crndm::admin::format_uuid(&id),
///     "abababab-abab-abab-abab-abababababab"
/// );
/// ```
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
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// let info = crndm::admin::create(dir.path().join("new.pool"), 2 << 20)?;
/// assert_eq!(info.stats.used, 0);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Any error of [`PoolOptions::open_no_root`] with `O_CF`.
pub fn create(path: impl AsRef<Path>, size: u64) -> Result<PoolInfo> {
    create_with(path, &PoolOptions::new().size(size))
}

/// Creates (or overwrites) `path` as an empty pool laid out by `options` (its size and
/// journals; a requested mode is checked as at open).
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::PoolOptions;
/// // 512 KiB: room for 4 journals of 16 KiB, not for the default 16 of 32 KiB.
/// let opts = PoolOptions::new().size(512 << 10).journals(4, 16 << 10);
/// let info = crndm::admin::create_with(dir.path().join("small.pool"), &opts)?;
/// assert_eq!((info.journals, info.journal_size), (4, 16 << 10));
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Any error of [`PoolOptions::open_no_root`] with `O_CF`.
pub fn create_with(path: impl AsRef<Path>, options: &PoolOptions) -> Result<PoolInfo> {
    let path = path.as_ref();
    drop(RawPool::open(path, O_CF, options)?);
    info(path)
}

/// Reads a pool file's header, allocator state and journals without changing the file.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("i.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// let info = crndm::admin::info(&path)?;
/// assert_eq!(info.generation, 1);
/// assert_eq!(info.root_off, 0);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// The specific [`Error`](crate::Error) for a missing, locked, foreign or corrupt file.
pub fn info(path: impl AsRef<Path>) -> Result<PoolInfo> {
    let path = path.as_ref();
    let i = inspect(path)?;
    let checked = examine(&i, &mut |_, _| {});
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
            .map(|(region, off, len)| RegionInfo {
                region,
                off: off.get(),
                len,
            })
            .collect(),
        journals: i.geo.lanes,
        journal_size: i.geo.lane_size,
        journal_logs: checked.logs,
        root_off: i.header.root_off.get(),
        root_layout: (i.header.root_size, i.header.root_align, i.header.root_hash),
        problems: checked
            .findings
            .iter()
            .filter(|f| f.kind.is_listed_by_check())
            .map(|f| f.message.clone())
            .collect(),
        stats: i.stats,
    })
}
