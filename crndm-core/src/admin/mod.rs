//! Safe, offline pool administration: what the `crndm-pool` command is built on.
//!
//! These functions work on a pool *file*, without the program that wrote it and without
//! its types. [`info`], [`check_report`] (and [`check`]) and [`PoolBytes`] open the file
//! read-only under a shared lock and never change it; [`recover`] opens it for writing
//! and runs recovery; [`create`] makes a new pool.
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
//!    walk of the heap from the root, without types (see [`Reachability`]); used blocks
//!    nothing reaches are one [`Severity::Leak`] finding ([`repair_leaks`] frees them),
//!    pointers into memory the map calls free are [`FindingKind::MapDamage`], corrupt.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

mod reach;

#[doc(hidden)]
pub use reach::repair_leaks_with;
pub use reach::{LeakRepair, repair_leaks};

use crate::alloc::buddy::{block_size, order_for};
use crate::alloc::map::{Cell, Scan, decode, max_order};
use crate::alloc::{AllocStats, Reachability};
use crate::error::{Error, Region, Result};
use crate::persist::{FlushInstr, Mode};
use crate::pool::header::Geometry;
use crate::pool::inspect::{Inspection, RawFileReader, check_work, inspect, inspect_with_progress};
use crate::pool::raw::{RawPool, regions};
use crate::pool::{O_CF, PoolOptions};
use crate::stm::lane::{
    COMMIT_REDO, Kind, LANE_HEADER, RawLane, Record, epoch_counter, lane_at, record_len,
};
use crate::stm::recovery::extension_resolver;
use crate::util::to_usize;

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
    /// The problems [`check`] finds in the allocator map and the journals (empty:
    /// healthy).
    pub problems: Vec<String>,
}

impl PoolInfo {
    /// How many journals are empty, active and committed.
    pub fn journal_summary(&self) -> JournalSummary {
        JournalSummary::new(self.journals, &self.journal_logs)
    }
}

/// What the log in a journal says about its transaction.
///
/// ```
/// use crndm::admin::JournalState;
/// assert_eq!(JournalState::Committed.to_string(), "committed-not-truncated");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JournalState {
    /// The transaction did not commit (no COMMIT record): recovery rolls it back.
    Active,
    /// The transaction committed (a COMMIT record) but its log was not truncated:
    /// recovery finishes its deferred frees.
    Committed,
}

impl JournalState {
    /// The state's name as printed by tools: `active` or `committed-not-truncated`.
    pub fn name(self) -> &'static str {
        match self {
            JournalState::Active => "active",
            JournalState::Committed => "committed-not-truncated",
        }
    }
}

impl fmt::Display for JournalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A journal that holds a log: the records an unfinished transaction left.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("j.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// // A pool closed cleanly has no logs: every journal is empty.
/// assert!(crndm::admin::info(&path)?.journal_logs.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalInfo {
    /// The journal's index (0-based).
    pub index: u32,
    /// Active or committed.
    pub state: JournalState,
    /// The epoch its records carry.
    pub epoch: u64,
    /// UNDO records (old bytes of a range).
    pub undo: usize,
    /// ALLOC records (blocks this transaction allocated).
    pub alloc: usize,
    /// FREE records (blocks to free after commit).
    pub free: usize,
    /// COMMIT records (0 or 1).
    pub commit: usize,
    /// REDO records (new bytes of a range, for a transaction that commits by rolling
    /// forward).
    pub redo: usize,
    /// EXTEND records: extension blocks the log continues in (a log larger than its
    /// journal).
    pub extensions: usize,
    /// Bytes the records occupy (after the journal's 64-byte header).
    pub bytes: u64,
}

impl JournalInfo {
    /// All records of the log.
    pub fn records(&self) -> usize {
        self.undo + self.alloc + self.free + self.commit + self.redo + self.extensions
    }
}

/// How many journals are in each state.
///
/// Displays as `16 (15 empty, 1 active)`; states with no journal are left out, except
/// `empty`.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("s.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// let s = crndm::admin::info(&path)?.journal_summary();
/// assert_eq!(s.to_string(), "16 (16 empty)");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalSummary {
    /// All journals of the pool.
    pub total: u32,
    /// Journals with no log.
    pub empty: u32,
    /// Journals of transactions that did not commit.
    pub active: u32,
    /// Journals of committed transactions whose log was not truncated.
    pub committed: u32,
}

impl JournalSummary {
    fn new(total: u32, logs: &[JournalInfo]) -> JournalSummary {
        let count =
            |s| u32::try_from(logs.iter().filter(|l| l.state == s).count()).unwrap_or(u32::MAX);
        let active = count(JournalState::Active);
        let committed = count(JournalState::Committed);
        JournalSummary {
            total,
            empty: total.saturating_sub(active + committed),
            active,
            committed,
        }
    }
}

impl fmt::Display for JournalSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} empty", self.total, self.empty)?;
        if self.active > 0 {
            write!(f, ", {} active", self.active)?;
        }
        if self.committed > 0 {
            write!(f, ", {} committed-not-truncated", self.committed)?;
        }
        f.write_str(")")
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
    let path = path.as_ref();
    drop(RawPool::open(path, O_CF, &PoolOptions::new().size(size))?);
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
/// The specific [`Error`] for a missing, locked, foreign or corrupt file.
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
            .map(|(region, off, len)| RegionInfo { region, off, len })
            .collect(),
        journals: i.geo.lanes,
        journal_size: i.geo.lane_size,
        journal_logs: checked.logs,
        root_off: i.header.root_off,
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

/// What [`recover`] did.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("x.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// let r = crndm::admin::recover(&path)?;
/// assert_eq!(r, crndm::admin::RecoveryReport::default());
/// for j in &r.journals {
///     println!("journal {}: {} blocks freed", j.index, j.freed);
/// }
/// # Ok(())
/// # }
/// ```
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
    /// Crash residue in the allocator map that opening the pool cleared: stale block
    /// heads zeroed and free buddies merged (counted by a read-only scan just before).
    pub map_repairs: usize,
    /// What was done in each journal that held a log, by index.
    pub journals: Vec<JournalRecovery>,
}

impl RecoveryReport {
    /// Whether recovery found nothing to do.
    pub fn is_noop(&self) -> bool {
        self.journals_with_logs == 0 && self.map_repairs == 0
    }
}

/// What recovery did in one journal.
///
/// ```
/// let j = crndm::admin::JournalRecovery { index: 3, committed: false, restored: 2, freed: 1 };
/// assert!(!j.committed, "rolled back");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalRecovery {
    /// The journal's index.
    pub index: u32,
    /// The transaction had committed: its deferred frees were finished. Otherwise it
    /// was rolled back.
    pub committed: bool,
    /// Undo records applied.
    pub restored: usize,
    /// Blocks freed.
    pub freed: usize,
}

/// Opens the pool file for writing and runs recovery only: every journal is brought to
/// a clean state (committed transactions finished, others rolled back), and crash
/// residue in the allocator map is cleared. Like every open, it increments the pool's
/// generation.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("r.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// let report = crndm::admin::recover(&path)?;
/// assert!(report.is_noop(), "a pool closed cleanly needs no recovery");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Every error of opening the pool ([`Error`]), including [`Error::CorruptJournal`] for
/// a journal recovery cannot apply and [`Error::CorruptAllocator`] for a broken map.
pub fn recover(path: impl AsRef<Path>) -> Result<RecoveryReport> {
    let path = path.as_ref();
    // What the allocator will repair at open; a file that cannot be inspected is
    // reported by the open below with its own error.
    let map_repairs = inspect(path)
        .ok()
        .and_then(|i| i.scan.ok())
        .map_or(0, |s| s.stale.len() + s.unmerged.len());
    let pool = crate::stm::open::OpenPool::open(path, 0, &PoolOptions::new())?;
    let mut r = RecoveryReport {
        map_repairs,
        ..RecoveryReport::default()
    };
    for (index, l) in (0u32..).zip(&pool.recovered).filter(|(_, l)| l.had_log) {
        r.journals_with_logs += 1;
        if l.committed {
            r.committed += 1;
        } else {
            r.rolled_back += 1;
        }
        r.restored_ranges += l.restored;
        r.freed_blocks += l.freed;
        r.journals.push(JournalRecovery {
            index,
            committed: l.committed,
            restored: l.restored,
            freed: l.freed,
        });
    }
    Ok(r)
}

/// How serious a [`Finding`] is.
///
/// ```
/// use crndm::admin::Severity;
/// assert!(Severity::Repairable < Severity::Corrupt);
/// assert_eq!(Severity::Corrupt.name(), "corrupt");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Used blocks that nothing reaches from the root: lost space, the data is intact.
    /// Recovery does not free them; [`repair_leaks`] (`crndm-pool check --repair
    /// --leaks`) does.
    Leak,
    /// A state a crash legitimately leaves (an unfinished transaction, allocator crash
    /// residue): recovery — [`recover`], `crndm-pool check --repair`, or any open —
    /// brings it to a clean state.
    Repairable,
    /// A state no crash of crndm leaves: damage, or a bug of the writer. Opening may
    /// refuse the pool, and recovery may not make it consistent.
    Corrupt,
}

impl Severity {
    /// The severity's name as printed by tools: `leak`, `repairable` or `corrupt`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Leak => "leak",
            Severity::Repairable => "repairable",
            Severity::Corrupt => "corrupt",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What part of the pool a [`Finding`] is about.
///
/// ```
/// use crndm::admin::FindingKind;
/// assert_eq!(FindingKind::UnfinishedJournal.to_string(), "unfinished-journal");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// The header (magic, version, checksum, fields, reserved bytes).
    Header,
    /// The region table of the header.
    Region,
    /// The allocator map's structure (invariants M1, M2).
    Allocator,
    /// Crash residue in the allocator map: stale heads, unmerged buddies (M3, M4).
    StaleMap,
    /// A journal holding the log of an unfinished transaction.
    UnfinishedJournal,
    /// A journal record that makes no sense.
    Journal,
    /// The root slot of the header.
    Root,
    /// Used blocks that nothing reaches from the root (the reachability scan).
    Leak,
    /// A pointer of a reachable block into memory the allocator map calls free.
    MapDamage,
}

impl FindingKind {
    /// The kind's name as printed by tools (`header`, `region`, `allocator`,
    /// `stale-map`, `unfinished-journal`, `journal`, `root`, `leak`, `map-damage`).
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Header => "header",
            FindingKind::Region => "region",
            FindingKind::Allocator => "allocator",
            FindingKind::StaleMap => "stale-map",
            FindingKind::UnfinishedJournal => "unfinished-journal",
            FindingKind::Journal => "journal",
            FindingKind::Root => "root",
            FindingKind::Leak => "leak",
            FindingKind::MapDamage => "map-damage",
        }
    }

    /// Whether [`check`] (and [`PoolInfo::problems`]) list findings of this kind: those
    /// about the allocator map and the journals, which opening the pool either repairs
    /// or refuses. Header and root findings are only in [`check_report`].
    fn is_listed_by_check(self) -> bool {
        matches!(
            self,
            FindingKind::Allocator
                | FindingKind::StaleMap
                | FindingKind::UnfinishedJournal
                | FindingKind::Journal
        )
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem [`check_report`] found.
///
/// Displays as `[severity] kind: message`.
///
/// ```
/// use crndm::admin::{Finding, FindingKind, Severity};
/// let f = Finding {
///     kind: FindingKind::StaleMap,
///     severity: Severity::Repairable,
///     message: "heap unit 7: stale block head inside a block".into(),
/// };
/// assert_eq!(f.to_string(), "[repairable] stale-map: heap unit 7: stale block head inside a block");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What it is about.
    pub kind: FindingKind,
    /// How serious it is.
    pub severity: Severity,
    /// What is wrong, for people (names the journal, unit or offset concerned).
    pub message: String,
}

impl Finding {
    fn new(kind: FindingKind, severity: Severity, message: String) -> Finding {
        Finding {
            kind,
            severity,
            message,
        }
    }

    /// The finding an error of [`check_report`] stands for, when the error is about the
    /// file's contents (a header that cannot be trusted, a broken allocator map or
    /// journal); `None` for errors that say nothing about the file (I/O, a lock held
    /// by another process, a missing file).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("notes.txt");
    /// std::fs::write(&path, b"plain text, not a pool").unwrap();
    /// let err = crndm::admin::check_report(&path).unwrap_err();
    /// let finding = crndm::admin::Finding::from_error(&err).expect("about the file");
    /// assert_eq!(finding.kind.name(), "header");
    /// assert_eq!(finding.severity, crndm::admin::Severity::Corrupt);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_error(e: &Error) -> Option<Finding> {
        let kind = match e {
            Error::EmptyFile(_)
            | Error::Truncated { .. }
            | Error::NotAPool { .. }
            | Error::UnsupportedVersion { .. }
            | Error::BadChecksum { .. }
            | Error::CorruptHeader { .. }
            | Error::SizeMismatch { .. } => FindingKind::Header,
            Error::RegionOutOfBounds { .. } => FindingKind::Region,
            Error::CorruptAllocator { .. } => FindingKind::Allocator,
            Error::CorruptJournal { .. } => FindingKind::Journal,
            _ => return None,
        };
        Some(Finding::new(kind, Severity::Corrupt, e.to_string()))
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.severity, self.kind, self.message)
    }
}

/// Everything [`check_report`] found in a pool file whose header could be trusted.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("x.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// let r = crndm::admin::check_report(&path)?;
/// assert!(r.is_clean() && r.is_repairable());
/// assert_eq!(r.journal_summary().to_string(), "16 (16 empty)");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// The file.
    pub path: PathBuf,
    /// Every problem found, in the order checked (allocator, journals, root, header).
    pub findings: Vec<Finding>,
    /// Number of journals.
    pub journals: u32,
    /// The journals that hold a log.
    pub journal_logs: Vec<JournalInfo>,
    /// Number of 64-byte heap units whose map bytes were checked.
    pub heap_units: u64,
    /// What the walk of the heap from the root found, if it ran (see
    /// [`reachability_skipped`](Self::reachability_skipped)).
    pub reachability: Option<Reachability>,
    /// Why the walk did not run: a corrupt map, or journals that still hold logs.
    pub reachability_skipped: Option<String>,
}

impl CheckReport {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// Whether no finding is [`Severity::Corrupt`]: recovery repairs the rest, and
    /// [`repair_leaks`] frees leaks (also true when there are none).
    pub fn is_repairable(&self) -> bool {
        self.findings
            .iter()
            .all(|f| f.severity != Severity::Corrupt)
    }

    /// How many journals are empty, active and committed.
    pub fn journal_summary(&self) -> JournalSummary {
        JournalSummary::new(self.journals, &self.journal_logs)
    }
}

/// Checks a pool file read-only and reports every problem found, with its kind and
/// severity (see the [module docs](self) for what is checked). Never writes the file.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("c.pool");
/// use crndm::admin::{FindingKind, Severity};
/// crndm::admin::create(&path, 1 << 20)?;
/// let report = crndm::admin::check_report(&path)?;
/// assert!(report.is_clean());
/// for f in &report.findings {
///     // e.g. "[repairable] unfinished-journal: journal 3: ..."
///     println!("{f}");
/// }
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// A header that cannot be trusted is an error rather than a finding, since nothing
/// behind it can be read ([`Finding::from_error`] turns it into one); so are a missing
/// file, a file locked by a program that has it open, and I/O errors.
pub fn check_report(path: impl AsRef<Path>) -> Result<CheckReport> {
    check_report_with_progress(path, |_, _| {})
}

/// [`check_report`], calling `progress(done, total)` as it goes, for a progress bar on
/// large pools: in bytes of the allocator map and journal regions, then in bytes of the
/// heap walked by the reachability scan.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("p.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// let mut last = (0, 0);
/// crndm::admin::check_report_with_progress(&path, |done, total| last = (done, total))?;
/// assert_eq!(last.0, last.1, "the last call reports everything done");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`check_report`].
pub fn check_report_with_progress(
    path: impl AsRef<Path>,
    mut progress: impl FnMut(u64, u64),
) -> Result<CheckReport> {
    let path = path.as_ref();
    let i = inspect_with_progress(path, &mut progress)?;
    let mut checked = examine(&i, &mut progress);
    let (reachability, reachability_skipped) =
        match reach::scan(&i, checked.logs.len(), &mut progress) {
            Ok(r) => {
                reach::findings(&r, &mut checked.findings);
                (Some(r), None)
            }
            Err(why) => (None, Some(why)),
        };
    Ok(CheckReport {
        path: path.to_path_buf(),
        findings: checked.findings,
        journals: i.geo.lanes,
        journal_logs: checked.logs,
        heap_units: i.geo.heap_units,
        reachability,
        reachability_skipped,
    })
}

/// Checks a pool file read-only: returns the problems found in its allocator map and
/// journals, as messages (empty: healthy). A thin wrapper of [`check_report`], which
/// also checks the header's root slot and reserved bytes and says how serious each
/// problem is.
///
/// This list is exactly [`PoolInfo::problems`], and it is what opening the pool deals
/// with: after a successful open and close (which recovers every journal and clears
/// allocator residue) it is empty.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("k.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// assert!(crndm::admin::check(&path)?.is_empty());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`check_report`].
pub fn check(path: impl AsRef<Path>) -> Result<Vec<String>> {
    Ok(check_report(path)?
        .findings
        .into_iter()
        .filter(|f| f.kind.is_listed_by_check())
        .map(|f| f.message)
        .collect())
}

/// The root slot of a pool's header: where the root object is and its stored layout.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("x.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// let slot = crndm::admin::PoolBytes::open(&path)?.root()?;
/// assert_eq!(slot, None, "a new pool has no root object");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RootSlot {
    /// Pool offset of the root object.
    pub off: u64,
    /// Size of the root type in bytes.
    pub size: u64,
    /// Alignment of the root type.
    pub align: u64,
    /// Stable hash of the root type's name.
    pub hash: u64,
}

/// A file opened read-only under the pool lock (shared), for reading raw bytes: what
/// `crndm-pool dump` shows. Works on any file, a valid pool or not, except
/// [`root`](Self::root), which needs a valid header. Never writes.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("d.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// let file = crndm::admin::PoolBytes::open(&path)?;
/// assert_eq!(file.len(), 1 << 20);
/// assert_eq!(file.read(0, 8)?, b"CRNDMPL\0");
/// assert!(file.read(file.len() - 4, 8).is_err(), "past the end");
/// assert_eq!(file.root()?, None, "no root object yet");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PoolBytes {
    reader: RawFileReader,
    path: PathBuf,
}

impl PoolBytes {
    /// Opens `path` read-only and takes its lock shared (a program holding the pool
    /// open excludes readers).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Locked`] and I/O errors.
    pub fn open(path: impl AsRef<Path>) -> Result<PoolBytes> {
        let path = path.as_ref();
        Ok(PoolBytes {
            reader: RawFileReader::open(path)?,
            path: path.to_path_buf(),
        })
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.reader.len()
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks that the `len` bytes at file offset `off` lie inside the file.
    ///
    /// # Errors
    /// [`Error::Io`] of kind `InvalidInput`, saying which bytes are outside the file.
    pub fn check_range(&self, off: u64, len: u64) -> Result<()> {
        let end = off.checked_add(len);
        if end.is_some_and(|e| e <= self.len()) {
            return Ok(());
        }
        Err(Error::io(
            "read",
            &self.path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "bytes {off:#x}..{} are outside the file ({} bytes)",
                    end.map_or_else(|| "overflow".into(), |e| format!("{e:#x}")),
                    self.len()
                ),
            ),
        ))
    }

    /// Reads the `len` bytes at file offset `off`.
    ///
    /// # Errors
    /// [`Error::Io`] of kind `InvalidInput` if the range is not inside the file
    /// ([`check_range`](Self::check_range)); other I/O errors.
    pub fn read(&self, off: u64, len: u64) -> Result<Vec<u8>> {
        self.check_range(off, len)?;
        let n = usize::try_from(len).map_err(|_| {
            Error::io(
                "read",
                &self.path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "length too large"),
            )
        })?;
        self.reader.read(off, n)
    }

    /// The header's root slot, or `None` if the pool has no root object. The range
    /// `off..off + size` is checked to lie inside the heap.
    ///
    /// # Errors
    /// Every error of a header that cannot be trusted; [`Error::CorruptHeader`] (field
    /// `root_size`) if the root object would run past the heap.
    pub fn root(&self) -> Result<Option<RootSlot>> {
        let (geo, h) = self.reader.header()?;
        if h.root_off == 0 {
            return Ok(None);
        }
        let heap = geo.region(Region::Heap);
        if h.root_off
            .checked_add(h.root_size)
            .is_none_or(|end| end > heap.off + heap.len)
        {
            return Err(Error::CorruptHeader {
                field: "root_size",
                reason: format!(
                    "{} bytes at {:#x} run past the end of the heap",
                    h.root_size, h.root_off
                ),
            });
        }
        Ok(Some(RootSlot {
            off: h.root_off,
            size: h.root_size,
            align: h.root_align,
            hash: h.root_hash,
        }))
    }
}

// ---------------------------------------------------------------------------------------
// The checks.

/// What [`examine`] found.
struct Examined {
    findings: Vec<Finding>,
    logs: Vec<JournalInfo>,
}

/// A journal with a log, kept for the cross-checks.
struct Log {
    info: JournalInfo,
    lane: RawLane,
    records: Vec<Record>,
}

/// Runs every check behind a trusted header on an inspection; never panics.
fn examine(i: &Inspection, progress: &mut dyn FnMut(u64, u64)) -> Examined {
    let geo = &i.geo;
    let mut findings = Vec::new();
    let map = match &i.scan {
        Ok(scan) => {
            for u in &scan.stale {
                findings.push(Finding::new(
                    FindingKind::StaleMap,
                    Severity::Repairable,
                    format!("heap unit {u}: stale block head inside a block"),
                ));
            }
            for (u, k) in &scan.unmerged {
                findings.push(Finding::new(
                    FindingKind::StaleMap,
                    Severity::Repairable,
                    format!("heap unit {u}: free buddies of order {k} not merged"),
                ));
            }
            Some(MapView {
                map: i.map_bytes(),
                scan,
                geo,
            })
        }
        Err((u, why)) => {
            findings.push(Finding::new(
                FindingKind::Allocator,
                Severity::Corrupt,
                format!("heap unit {u}: {why}"),
            ));
            None
        }
    };
    let logs = scan_journals(i, progress);
    let mut allocs: HashMap<u64, u32> = HashMap::new();
    for log in &logs {
        check_journal(log, geo, map.as_ref(), &mut allocs, &mut findings);
    }
    check_root(i, &logs, map.as_ref(), &mut findings);
    if i.header.reserved2 != [0; 3] {
        findings.push(Finding::new(
            FindingKind::Header,
            Severity::Corrupt,
            "reserved bytes 232..256 of the header's mutable line are not zero".into(),
        ));
    }
    Examined {
        findings,
        logs: logs.into_iter().map(|l| l.info).collect(),
    }
}

/// Reads every journal of the pool; returns those holding a log.
fn scan_journals(i: &Inspection, progress: &mut dyn FnMut(u64, u64)) -> Vec<Log> {
    let geo = &i.geo;
    let journals = geo.region(Region::Journals);
    let total = check_work(geo);
    let base = i.bytes()[to_usize(journals.off)..].as_ptr().cast_mut();
    let mut logs = Vec::new();
    for index in 0..geo.lanes {
        // `base` is the journals region of the inspection's mapping, which holds `lanes`
        // lanes of `lane_size` bytes (validated geometry, I3 of pool::inspect) and outlives
        // the lanes made here (they do not leave `examine`'s borrow of `i`). The mapping is
        // read-only and the shared lock excludes writers (I1, I2); only the reading methods
        // of `RawLane` (`scan`, `payload`, `epoch_reserved`) are called on the lane.
        // SAFETY: (1) lane `index` lies in that live region; (2) nobody writes it.
        let lane = unsafe { lane_at(base, index, geo.lane_size) };
        progress(geo.map_len + (u64::from(index) + 1) * geo.lane_size, total);
        let pool_base = i.bytes().as_ptr().cast_mut();
        let Some((epoch, records)) = lane.scan_with(extension_resolver(pool_base, geo)) else {
            continue;
        };
        let mut info = JournalInfo {
            index,
            state: JournalState::Active,
            epoch,
            undo: 0,
            alloc: 0,
            free: 0,
            commit: 0,
            redo: 0,
            extensions: 0,
            bytes: 0,
        };
        let mut end = LANE_HEADER;
        for r in &records {
            match r.kind {
                Kind::Undo => info.undo += 1,
                Kind::Alloc => info.alloc += 1,
                Kind::Free => info.free += 1,
                Kind::Commit => info.commit += 1,
                Kind::Extend => info.extensions += 1,
                Kind::Redo => info.redo += 1,
            }
            let payload = if r.kind.has_payload() {
                to_usize(u64::from(r.aux))
            } else {
                0
            };
            end += record_len(payload);
        }
        info.bytes = (end - LANE_HEADER) as u64;
        if info.commit > 0 {
            info.state = JournalState::Committed;
        }
        logs.push(Log {
            info,
            lane,
            records,
        });
    }
    logs
}

/// The allocator map, once its scan passed M1 and M2: what block covers a heap unit.
struct MapView<'a> {
    map: &'a [u8],
    scan: &'a Scan,
    geo: &'a Geometry,
}

/// The state of the block a heap unit belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockAt {
    /// The unit is the head of a used block of this order.
    UsedHead(u8),
    /// The unit lies in a free block (head unit, order).
    Free(u64, u8),
    /// The unit lies inside a used block whose head is elsewhere (head unit, order).
    InsideUsed(u64, u8),
}

impl MapView<'_> {
    /// Number of block orders this heap has.
    fn orders(&self) -> u8 {
        max_order(self.geo.heap_units) + 1
    }

    /// The block that covers unit `u` (< heap units). Heads are found through the true
    /// tiling: the first non-zero byte at `u` rounded down to 2^j, j = 0, 1, ..., that is
    /// not stale residue is the head of the block covering `u` (M1, M2, M3).
    fn block_at(&self, u: u64) -> Option<BlockAt> {
        for j in 0..self.orders() {
            let h = u & !((1u64 << j) - 1);
            let b = *self.map.get(to_usize(h))?;
            if b == 0 || self.scan.stale.binary_search(&h).is_ok() {
                continue;
            }
            return match decode(b) {
                Cell::Used(k) if h == u => Some(BlockAt::UsedHead(k)),
                Cell::Used(k) => Some(BlockAt::InsideUsed(h, k)),
                Cell::Free(k) => Some(BlockAt::Free(h, k)),
                Cell::Interior | Cell::Invalid(_) => None,
            };
        }
        None
    }

    /// The unit and order of the block of `order` at pool offset `off`.
    ///
    /// # Errors
    /// Why there is no such block: an order too large, an offset outside the heap or
    /// not aligned to the block size.
    fn block_unit(&self, off: u64, order: u32) -> std::result::Result<(u64, u8), String> {
        let orders = self.orders();
        let k = match u8::try_from(order) {
            Ok(k) if k < orders => k,
            _ => {
                return Err(format!(
                    "order {order} is larger than this heap's largest ({})",
                    orders - 1
                ));
            }
        };
        let Some(rel) = off.checked_sub(self.geo.heap_off) else {
            return Err(format!("offset {off:#x} is before the heap"));
        };
        let u = rel / 64;
        let size = 1u64 << k;
        if !rel.is_multiple_of(64) || !u.is_multiple_of(size) {
            return Err(format!(
                "offset {off:#x} is not aligned to a block of {} B",
                block_size(k)
            ));
        }
        if u.checked_add(size).is_none_or(|e| e > self.geo.heap_units) {
            return Err(format!("the block at {off:#x} runs past the heap"));
        }
        Ok((u, k))
    }

    fn off_of(&self, u: u64) -> u64 {
        self.geo.heap_off + u * 64
    }

    /// `at` in words, for messages.
    fn describe(&self, at: Option<BlockAt>) -> String {
        match at {
            Some(BlockAt::UsedHead(k)) => format!("a used block of {} B", block_size(k)),
            Some(BlockAt::Free(h, k)) => {
                format!(
                    "in the free {} B block at {:#x}",
                    block_size(k),
                    self.off_of(h)
                )
            }
            Some(BlockAt::InsideUsed(h, k)) => format!(
                "inside the used {} B block at {:#x}",
                block_size(k),
                self.off_of(h)
            ),
            None => "no block head".into(),
        }
    }
}

/// The checks of one journal's log; appends to `findings`.
fn check_journal(
    log: &Log,
    geo: &Geometry,
    map: Option<&MapView<'_>>,
    allocs: &mut HashMap<u64, u32>,
    findings: &mut Vec<Finding>,
) {
    let JournalInfo { index, state, .. } = log.info;
    let info = &log.info;
    let (what, then) = match state {
        JournalState::Active => ("holds an unfinished transaction", "recovery rolls it back"),
        JournalState::Committed => (
            "holds a committed transaction whose log was not truncated",
            "recovery finishes it",
        ),
    };
    findings.push(Finding::new(
        FindingKind::UnfinishedJournal,
        Severity::Repairable,
        format!(
            "journal {index}: {what} ({} undo, {} alloc, {} free, {} commit records{}, {} bytes); {then}",
            info.undo,
            info.alloc,
            info.free,
            info.commit,
            if info.redo > 0 {
                format!(", {} redo records", info.redo)
            } else {
                String::new()
            },
            info.bytes
        ),
    ));
    let mut bad = |message: String| {
        findings.push(Finding::new(
            FindingKind::Journal,
            Severity::Corrupt,
            format!("journal {index}: {message}"),
        ));
    };

    // L1: the epoch is inside the lane's reserved range, or a later transaction could
    // reuse it and find these records appended to its own log.
    if !log.lane.epoch_reserved(epoch_counter(info.epoch)) {
        bad(format!(
            "epoch {} is not below the journal's reserved bound",
            info.epoch
        ));
    }
    if let Some(pos) = log.records.iter().position(|r| r.kind == Kind::Commit)
        && pos + 1 != log.records.len()
    {
        bad(format!(
            "record {pos} is a COMMIT but {} records follow it",
            log.records.len() - pos - 1
        ));
    }

    let committed = state == JournalState::Committed;
    let blocks_of = |kind| {
        log.records
            .iter()
            .filter(move |r| r.kind == kind)
            .map(|r| (r.off, r.aux))
            .collect::<Vec<_>>()
    };
    let alloced = blocks_of(Kind::Alloc);
    let freed = blocks_of(Kind::Free);
    // A redo commit: its used heads became durable with its COMMIT record, so a crash
    // can leave them free (recovery marks them used).
    let redo = log
        .records
        .iter()
        .any(|r| r.kind == Kind::Commit && r.aux == COMMIT_REDO);
    for (n, r) in log.records.iter().enumerate() {
        let len = u64::from(r.aux);
        match r.kind {
            Kind::Undo | Kind::Redo => {
                // What recovery accepts (stm::recovery): the heap, or the header's
                // mutable line (the root slot).
                let end = r.off.checked_add(len);
                let in_heap = r.off >= geo.heap_off && end.is_some_and(|e| e <= geo.pool_size);
                let in_line = r.off >= 192 && end.is_some_and(|e| e <= 256);
                if !(in_heap || in_line) {
                    bad(format!(
                        "record {n}: {} of {len} bytes at {:#x} is outside the heap and the header's mutable line{}",
                        if r.kind == Kind::Undo { "UNDO" } else { "REDO" },
                        r.off,
                        if committed {
                            ""
                        } else {
                            "; recovery will refuse this journal"
                        }
                    ));
                }
            }
            Kind::Extend => {
                // An extension block: allocated by this transaction before its records
                // went there; used, or free if the crash came before its head byte
                // (recovery frees it either way).
                let Some(map) = map else { continue };
                match map.block_unit(r.off, r.aux) {
                    Ok((u, k)) => {
                        let at = map.block_at(u);
                        if at != Some(BlockAt::UsedHead(k))
                            && !matches!(at, Some(BlockAt::Free(..)))
                        {
                            bad(format!(
                                "record {n}: EXTEND names the block at {:#x}, but the map has {} there",
                                r.off,
                                map.describe(at)
                            ));
                        }
                    }
                    Err(why) => bad(format!("record {n}: EXTEND: {why}")),
                }
            }
            Kind::Alloc | Kind::Free => {
                let name = if r.kind == Kind::Alloc {
                    "ALLOC"
                } else {
                    "FREE"
                };
                let Some(map) = map else { continue };
                let (u, k) = match map.block_unit(r.off, r.aux) {
                    Ok(uk) => uk,
                    Err(why) => {
                        bad(format!("record {n}: {name}: {why}"));
                        continue;
                    }
                };
                if r.kind == Kind::Alloc
                    && let Some(other) = allocs.insert(r.off, index)
                {
                    bad(format!(
                        "record {n}: the block at {:#x} is also allocated by journal {other}",
                        r.off
                    ));
                }
                let at = map.block_at(u);
                let used = at == Some(BlockAt::UsedHead(k));
                let free = matches!(at, Some(BlockAt::Free(..)));
                let pair = |list: &[(u64, u32)]| list.contains(&(r.off, r.aux));
                let ok = used
                    || (free
                        && match (r.kind, committed) {
                            // Allocated, but the crash came before the head byte.
                            (Kind::Alloc, false) => true,
                            // Freed again after commit by this same transaction, or
                            // a redo commit's head not yet durable.
                            (Kind::Alloc, true) => {
                                pair(&freed) || (redo && at == Some(BlockAt::Free(u, k)))
                            }
                            // The deferred free already happened.
                            (Kind::Free, true) => true,
                            // Freed in place by a commit that did not reach its
                            // commit point (recovery makes it used again), or a block
                            // whose own allocation (in this log) never reached the map.
                            (Kind::Free, false) => {
                                at == Some(BlockAt::Free(u, k)) || pair(&alloced)
                            }
                            _ => false,
                        });
                if !ok {
                    bad(format!(
                        "record {n}: {name} of the {} B block at {:#x}, but the map has {} there{}",
                        block_size(k),
                        r.off,
                        map.describe(at),
                        match (r.kind, committed) {
                            (Kind::Free, false) if free =>
                                " (a free before commit must still be its own block)",
                            (Kind::Alloc, true) if free => " (a committed allocation must be used)",
                            _ => "",
                        }
                    ));
                }
            }
            Kind::Commit if r.off != 0 || (r.aux != 0 && r.aux != COMMIT_REDO) => bad(format!(
                "record {n}: COMMIT with operands {:#x}, {}",
                r.off, r.aux
            )),
            Kind::Commit => {}
        }
    }
}

/// The root slot: 0, or a used block of the order its stored layout needs.
fn check_root(i: &Inspection, logs: &[Log], map: Option<&MapView<'_>>, out: &mut Vec<Finding>) {
    let h = &i.header;
    if h.root_off == 0 {
        return;
    }
    // An unfinished transaction that logged the root slot (it was creating the root)
    // explains a slot that does not match the map yet: recovery restores it.
    let slot = 200..232u64;
    // Likewise a redo commit that wrote it: recovery marks the root block used.
    let touches_slot =
        |r: &Record| r.off < slot.end && r.off.saturating_add(u64::from(r.aux)) > slot.start;
    let restored = logs.iter().any(|l| match l.info.state {
        JournalState::Active => l
            .records
            .iter()
            .any(|r| r.kind == Kind::Undo && touches_slot(r)),
        JournalState::Committed => l
            .records
            .iter()
            .any(|r| r.kind == Kind::Redo && touches_slot(r)),
    });
    let (severity, note) = if restored {
        (
            Severity::Repairable,
            "; an unfinished transaction changed the root slot, and recovery restores it \
             (or finishes the transaction that set it)",
        )
    } else {
        (Severity::Corrupt, "")
    };
    let order = match order_for(h.root_size, h.root_align) {
        Ok(k) => k,
        Err(e) => {
            out.push(Finding::new(
                FindingKind::Root,
                severity,
                format!(
                    "the root at {:#x} has a layout no block can hold (size {}, align {}): {e}{note}",
                    h.root_off, h.root_size, h.root_align
                ),
            ));
            return;
        }
    };
    // The map could not be read: its own finding says why.
    let Some(map) = map else { return };
    let at = map
        .block_unit(h.root_off, u32::from(order))
        .ok()
        .and_then(|(u, _)| map.block_at(u));
    if at != Some(BlockAt::UsedHead(order)) {
        let what = map
            .block_unit(h.root_off, 0)
            .ok()
            .and_then(|(u, _)| map.block_at(u));
        out.push(Finding::new(
            FindingKind::Root,
            severity,
            format!(
                "the root at {:#x} ({} bytes, align {}) should be a used block of {} B, but the map has {} there{note}",
                h.root_off,
                h.root_size,
                h.root_align,
                block_size(order),
                map.describe(what)
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    //! Forged journals and root slots: each check fires on what it must, and stays
    //! silent on every state a crash can leave.

    use std::os::unix::fs::FileExt;

    use super::*;
    use crate::stm::lane::NewRecord;

    const SIZE: u64 = 1 << 20;

    /// A record to forge.
    enum Rec {
        Undo(u64, Vec<u8>),
        Plain(Kind, u32, u64),
    }

    fn pool(dir: &tempfile::TempDir, name: &str) -> PathBuf {
        let path = dir.path().join(name);
        create(&path, SIZE).unwrap();
        path
    }

    fn patch(path: &Path, off: u64, bytes: &[u8]) {
        let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.write_all_at(bytes, off).unwrap();
    }

    fn geometry(path: &Path) -> Geometry {
        inspect(path).unwrap().geo
    }

    /// Opens the pool without recovery (raw), runs `f`, closes it.
    fn raw<T>(path: &Path, f: impl FnOnce(&RawPool) -> T) -> T {
        let raw = RawPool::open(path, 0, &PoolOptions::new()).unwrap();
        f(&raw)
    }

    /// Allocates blocks of `sizes` bytes outside any transaction; frees the ones marked
    /// `true` again. Returns their offsets.
    fn blocks(path: &Path, sizes: &[(u64, bool)]) -> Vec<u64> {
        raw(path, |raw| {
            let offs: Vec<u64> = sizes
                .iter()
                .map(|&(s, _)| raw.heap().alloc(s, 1, |_, _| Ok(())).unwrap())
                .collect();
            raw.persister().fence();
            for (&off, &(s, free)) in offs.iter().zip(sizes) {
                if free {
                    let k = order_for(s, 1).unwrap();
                    raw.heap().free_batch(&[(off, k)], true, || {}).unwrap();
                }
            }
            raw.persister().fence();
            offs
        })
    }

    /// Asserts that the check's only finding is one leaked block of `bytes` bytes.
    fn only_a_leak_of(path: &Path, bytes: u64) {
        let r = check_report(path).unwrap();
        assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
        assert_eq!(
            (r.findings[0].kind, r.findings[0].severity),
            (FindingKind::Leak, Severity::Leak)
        );
        let reach = r.reachability.unwrap();
        assert_eq!((reach.leaked_blocks, reach.leaked_bytes), (1, bytes));
    }

    /// Writes `recs` as the log of journal `lane` (a fresh epoch); returns the epoch.
    fn forge(path: &Path, lane: u32, recs: &[Rec]) -> u64 {
        raw(path, |raw| {
            let geo = *raw.geometry();
            // SAFETY: the journals region is inside the live mapping (validated geometry).
            let journals = unsafe { raw.base().add(to_usize(geo.journals_off)) };
            // SAFETY: (1) lane `lane` < `lanes` is inside the region; (2) no transaction
            // runs on this raw pool, so the lane is ours.
            let l = unsafe { lane_at(journals, lane, geo.lane_size) };
            let ps = raw.persister();
            let epoch = l.reserve_epochs(ps);
            let mut at = LANE_HEADER;
            for r in recs {
                let rec = match r {
                    Rec::Undo(off, bytes) => NewRecord {
                        kind: Kind::Undo,
                        aux: u32::try_from(bytes.len()).unwrap(),
                        off: *off,
                        payload: bytes.as_ptr(),
                    },
                    Rec::Plain(kind, aux, off) => NewRecord::plain(*kind, *aux, *off),
                };
                // SAFETY: (1) an UNDO payload is `bytes`, `aux` readable bytes in DRAM.
                at = unsafe { l.append(at, epoch, rec, ps) }.unwrap();
            }
            ps.fence();
            epoch
        })
    }

    /// The findings of `kind`, as (severity, message).
    fn of(r: &CheckReport, kind: FindingKind) -> Vec<(Severity, String)> {
        r.findings
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| (f.severity, f.message.clone()))
            .collect()
    }

    /// Asserts that the only findings are the unfinished journals and one corrupt
    /// journal finding containing `needle`.
    #[track_caller]
    fn one_bad_record(path: &Path, needle: &str) {
        let r = check_report(path).unwrap();
        let bad = of(&r, FindingKind::Journal);
        assert_eq!(bad.len(), 1, "{needle}: {:#?}", r.findings);
        assert_eq!(bad[0].0, Severity::Corrupt);
        assert!(bad[0].1.contains(needle), "{needle}: {}", bad[0].1);
        assert!(!r.is_repairable());
        let others = r
            .findings
            .iter()
            .filter(|f| f.kind != FindingKind::Journal)
            .all(|f| f.kind == FindingKind::UnfinishedJournal);
        assert!(others, "{:#?}", r.findings);
    }

    #[test]
    fn a_fresh_pool_is_clean() {
        let dir = tempfile::tempdir().unwrap();
        let path = pool(&dir, "a.pool");
        let r = check_report(&path).unwrap();
        assert!(r.is_clean() && r.is_repairable(), "{:?}", r.findings);
        assert!(r.journal_logs.is_empty());
        assert_eq!(
            r.journal_summary(),
            JournalSummary {
                total: 16,
                empty: 16,
                active: 0,
                committed: 0
            }
        );
        assert_eq!(r.heap_units, geometry(&path).heap_units);
        assert!(check(&path).unwrap().is_empty());
    }

    #[test]
    fn states_a_crash_leaves_are_repairable_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = pool(&dir, "legit.pool");
        let heap = geometry(&path).heap_off;
        let b = blocks(&path, &[(64, false), (64, true), (64, true)]);
        let (used, free, free2) = (b[0], b[1], b[2]);
        // Active: undo in the heap and in the root slot; an allocation whose head byte
        // is written and one whose is not; a free of a used block; a free of a block
        // this log allocated whose head byte never reached the map.
        let before = std::fs::read(&path).unwrap();
        forge(
            &path,
            2,
            &[
                Rec::Undo(heap + 64, vec![7; 16]),
                Rec::Plain(Kind::Alloc, 0, used),
                Rec::Plain(Kind::Alloc, 0, free),
                Rec::Undo(200, vec![0; 32]),
                Rec::Plain(Kind::Free, 0, used),
                Rec::Plain(Kind::Alloc, 0, free2),
                Rec::Plain(Kind::Free, 0, free2),
            ],
        );
        // Committed: a deferred free done and one not yet; a block allocated and freed
        // by the same transaction.
        forge(
            &path,
            5,
            &[
                Rec::Plain(Kind::Free, 0, free),
                Rec::Plain(Kind::Free, 0, used),
                Rec::Plain(Kind::Commit, 0, 0),
            ],
        );
        let r = check_report(&path).unwrap();
        assert_eq!(r.findings.len(), 2, "{:#?}", r.findings);
        assert!(r.is_repairable());
        let unfinished = of(&r, FindingKind::UnfinishedJournal);
        assert!(
            unfinished[0]
                .1
                .starts_with("journal 2: holds an unfinished")
        );
        assert!(unfinished[1].1.starts_with("journal 5: holds a committed"));
        assert_eq!(r.journal_logs.len(), 2);
        let a = &r.journal_logs[0];
        assert_eq!(
            (a.index, a.state, a.undo, a.alloc, a.free, a.commit),
            (2, JournalState::Active, 2, 3, 2, 0)
        );
        assert_eq!(a.bytes, (32 + 16) + 32 + 32 + (32 + 32) + 32 + 32 + 32);
        assert_eq!(a.records(), 7);
        let c = &r.journal_logs[1];
        assert_eq!(
            (c.index, c.state, c.free, c.commit),
            (5, JournalState::Committed, 2, 1)
        );
        assert_eq!(c.bytes, 3 * 32);
        assert_eq!(
            r.journal_summary().to_string(),
            "16 (14 empty, 1 active, 1 committed-not-truncated)"
        );
        // `check` and `info` list the same two problems.
        let listed = check(&path).unwrap();
        assert_eq!(listed.len(), 2);
        let i = info(&path).unwrap();
        assert_eq!(i.problems, listed);
        assert_eq!(i.journal_logs, r.journal_logs);
        assert_eq!(i.journal_summary(), r.journal_summary());
        // Reading changed nothing but what `forge` wrote.
        let after = std::fs::read(&path).unwrap();
        assert_eq!(before.len(), after.len());
    }

    #[test]
    fn each_malformed_record_is_one_corrupt_finding() {
        let dir = tempfile::tempdir().unwrap();
        let geo = geometry(&pool(&dir, "geo.pool"));
        let heap = geo.heap_off;
        // Each case: a fresh pool, its blocks (used 64 B, free 64 B, used 128 B), and
        // the log to forge from them.
        type Case = (&'static str, fn(u64, u64, u64, u64) -> Vec<(u32, Vec<Rec>)>);
        let cases: [Case; 10] = [
            (
                "is outside the heap and the header's mutable line; recovery will refuse",
                |_, _, _, _| vec![(0, vec![Rec::Undo(4096, vec![1; 8])])],
            ),
            ("not aligned to a block of 128 B", |heap, _, _, _| {
                vec![(0, vec![Rec::Plain(Kind::Alloc, 1, heap + 64)])]
            }),
            ("is larger than this heap's largest", |heap, _, _, _| {
                vec![(0, vec![Rec::Plain(Kind::Alloc, 60, heap)])]
            }),
            ("is before the heap", |_, _, _, _| {
                vec![(0, vec![Rec::Plain(Kind::Free, 0, 0x40)])]
            }),
            // Inside the free block that follows the 128 B one: not a block a commit
            // could have freed in place.
            (
                "a free before commit must still be its own block",
                |_, _, _, big| vec![(0, vec![Rec::Plain(Kind::Free, 0, big + 192)])],
            ),
            ("a committed allocation must be used", |_, _, free, _| {
                vec![(
                    0,
                    vec![
                        Rec::Plain(Kind::Alloc, 0, free),
                        Rec::Plain(Kind::Commit, 0, 0),
                    ],
                )]
            }),
            ("is a COMMIT but 1 records follow", |heap, _, _, _| {
                vec![(
                    0,
                    vec![Rec::Plain(Kind::Commit, 0, 0), Rec::Undo(heap, vec![0; 8])],
                )]
            }),
            ("is also allocated by journal 0", |_, used, _, _| {
                vec![
                    (0, vec![Rec::Plain(Kind::Alloc, 0, used)]),
                    (1, vec![Rec::Plain(Kind::Alloc, 0, used)]),
                ]
            }),
            (
                "but the map has a used block of 128 B there",
                |_, _, _, big| vec![(0, vec![Rec::Plain(Kind::Alloc, 0, big)])],
            ),
            ("COMMIT with operands", |_, _, _, _| {
                vec![(0, vec![Rec::Plain(Kind::Commit, 3, 0)])]
            }),
        ];
        for (n, (needle, make)) in cases.into_iter().enumerate() {
            let path = pool(&dir, &format!("case{n}.pool"));
            let b = blocks(&path, &[(64, false), (64, true), (128, false)]);
            for (lane, recs) in make(heap, b[0], b[1], b[2]) {
                forge(&path, lane, &recs);
            }
            one_bad_record(&path, needle);
        }
    }

    #[test]
    fn an_epoch_outside_the_reserved_range_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = pool(&dir, "epoch.pool");
        let geo = geometry(&path);
        let used = blocks(&path, &[(64, false)])[0];
        let epoch = forge(&path, 3, &[Rec::Plain(Kind::Alloc, 0, used)]);
        assert!(check_report(&path).unwrap().is_repairable());
        patch(
            &path,
            geo.journals_off + 3 * geo.lane_size,
            &epoch.to_le_bytes(),
        );
        one_bad_record(&path, "reserved bound");
    }

    #[test]
    fn the_root_slot_names_a_used_block_of_its_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = pool(&dir, "root.pool");
        let b = blocks(&path, &[(64, false), (64, true)]);
        let slot = |off: u64, size: u64, align: u64| {
            let mut s = Vec::new();
            for w in [off, size, align, 0x1234] {
                s.extend_from_slice(&w.to_le_bytes());
            }
            patch(&path, 200, &s);
        };
        let roots = |path: &Path| of(&check_report(path).unwrap(), FindingKind::Root);

        slot(b[0], 48, 8);
        assert!(check_report(&path).unwrap().is_clean());
        slot(b[0], 100, 8);
        let r = roots(&path);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, Severity::Corrupt);
        assert!(
            r[0].1
                .contains("should be a used block of 128 B, but the map has a used block of 64 B"),
            "{}",
            r[0].1
        );
        slot(b[1], 48, 8);
        let r = roots(&path);
        assert!(r[0].1.contains("but the map has in the free"), "{}", r[0].1);
        // The root findings are not problems `check` (or `info`) lists: an open without a
        // root type does not look at the slot.
        assert!(check(&path).unwrap().is_empty());
        assert!(info(&path).unwrap().problems.is_empty());
        slot(b[0], 0, 0);
        assert!(roots(&path)[0].1.contains("a layout no block can hold"));
        // An unfinished transaction that logged the slot explains it.
        slot(b[1], 48, 8);
        forge(
            &path,
            0,
            &[
                Rec::Undo(200, vec![0; 32]),
                Rec::Plain(Kind::Alloc, 0, b[1]),
            ],
        );
        let r = roots(&path);
        assert_eq!(r[0].0, Severity::Repairable, "{}", r[0].1);
        assert!(check_report(&path).unwrap().is_repairable());
        // Recovery restores the slot (to zeros) and frees nothing that is free.
        let rep = recover(&path).unwrap();
        assert_eq!(
            (rep.rolled_back, rep.restored_ranges, rep.freed_blocks),
            (1, 1, 0)
        );
        // With the slot back at zero, nothing reaches `b[0]`: its one finding is a leak.
        only_a_leak_of(&path, 64);
        assert_eq!(PoolBytes::open(&path).unwrap().root().unwrap(), None);
    }

    #[test]
    fn reserved_header_bytes_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = pool(&dir, "reserved.pool");
        patch(&path, 240, &[1]);
        let r = check_report(&path).unwrap();
        assert_eq!(of(&r, FindingKind::Header).len(), 1, "{:?}", r.findings);
        assert!(check(&path).unwrap().is_empty());
    }

    #[test]
    fn recover_reports_per_journal_and_map_repairs() {
        let dir = tempfile::tempdir().unwrap();
        let path = pool(&dir, "rec.pool");
        let geo = geometry(&path);
        let b = blocks(&path, &[(64, false), (64, false)]);
        forge(
            &path,
            4,
            &[
                Rec::Undo(b[1], vec![9; 24]),
                Rec::Plain(Kind::Alloc, 0, b[0]),
            ],
        );
        // A stale head inside the largest free block (crash residue of a split).
        let map = PoolBytes::open(&path)
            .unwrap()
            .read(geo.map_off, geo.heap_units)
            .unwrap();
        let head = map
            .iter()
            .rposition(|&x| x & 0xc0 == 0x80 && x & 0x3f > 0)
            .unwrap();
        patch(&path, geo.map_off + head as u64 + 1, &[0x40]);
        let r = check_report(&path).unwrap();
        assert_eq!(of(&r, FindingKind::StaleMap).len(), 1);
        assert_eq!(of(&r, FindingKind::UnfinishedJournal).len(), 1);
        assert!(r.is_repairable());

        let rep = recover(&path).unwrap();
        assert_eq!(
            rep,
            RecoveryReport {
                journals_with_logs: 1,
                committed: 0,
                rolled_back: 1,
                restored_ranges: 1,
                freed_blocks: 1,
                map_repairs: 1,
                journals: vec![JournalRecovery {
                    index: 4,
                    committed: false,
                    restored: 1,
                    freed: 1
                }],
            }
        );
        assert!(!rep.is_noop());
        // `b[1]` stays allocated, and the pool has no root to reach it.
        only_a_leak_of(&path, 64);
        let bytes = PoolBytes::open(&path).unwrap();
        assert_eq!(bytes.read(b[1], 24).unwrap(), vec![9; 24], "undo applied");
        drop(bytes);
        assert!(recover(&path).unwrap().is_noop());
    }

    #[test]
    fn pool_bytes_are_bounds_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = pool(&dir, "bytes.pool");
        let f = PoolBytes::open(&path).unwrap();
        assert_eq!(f.len(), SIZE);
        assert!(!f.is_empty());
        assert_eq!(f.read(SIZE - 2, 2).unwrap().len(), 2);
        assert_eq!(f.read(SIZE, 0).unwrap(), Vec::<u8>::new());
        for (off, len) in [(SIZE - 1, 2), (SIZE, 1), (u64::MAX, 2), (0, u64::MAX)] {
            let e = f.read(off, len).unwrap_err();
            assert!(
                matches!(&e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput),
                "{e:?}"
            );
            assert!(e.to_string().contains("outside the file"), "{e}");
        }
        drop(f);
        let used = blocks(&path, &[(64, false)])[0];
        let mut s = Vec::new();
        for w in [used, 40, 8, 5] {
            s.extend_from_slice(&w.to_le_bytes());
        }
        patch(&path, 200, &s);
        let f = PoolBytes::open(&path).unwrap();
        assert_eq!(
            f.root().unwrap(),
            Some(RootSlot {
                off: used,
                size: 40,
                align: 8,
                hash: 5
            })
        );
        patch(&path, 208, &u64::MAX.to_le_bytes());
        assert!(matches!(
            f.root(),
            Err(Error::CorruptHeader {
                field: "root_size",
                ..
            })
        ));
        // Raw reads work on any file; the root needs a pool.
        let txt = dir.path().join("notes.txt");
        std::fs::write(&txt, b"hello").unwrap();
        let f = PoolBytes::open(&txt).unwrap();
        assert_eq!(f.read(1, 3).unwrap(), b"ell");
        assert!(matches!(f.root(), Err(Error::NotAPool { .. })));
    }

    #[test]
    fn errors_about_the_file_are_findings() {
        let bad = Error::BadChecksum {
            stored: 1,
            computed: 2,
        };
        let f = Finding::from_error(&bad).unwrap();
        assert_eq!(
            (f.kind, f.severity),
            (FindingKind::Header, Severity::Corrupt)
        );
        assert_eq!(f.message, bad.to_string());
        assert_eq!(f.to_string(), format!("[corrupt] header: {bad}"));
        let region = Error::RegionOutOfBounds {
            region: Region::Heap,
            off: 0,
            len: 0,
        };
        assert_eq!(
            Finding::from_error(&region).unwrap().kind,
            FindingKind::Region
        );
        assert!(Finding::from_error(&Error::Locked("x".into())).is_none());
        assert!(Finding::from_error(&Error::NotFound("x".into())).is_none());
    }

    #[test]
    fn progress_counts_up_to_the_total() {
        let dir = tempfile::tempdir().unwrap();
        let path = pool(&dir, "progress.pool");
        let geo = geometry(&path);
        let mut calls = Vec::new();
        check_report_with_progress(&path, |d, t| calls.push((d, t))).unwrap();
        // One total for the whole check: map, journals, then the heap's walk.
        let total = geo.map_len + u64::from(geo.lanes) * geo.lane_size + geo.heap_units * 64;
        assert!(calls.iter().all(|&(_, t)| t == total));
        assert!(calls.iter().any(|&(d, _)| d == total - geo.heap_units * 64));
        assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(calls.last(), Some(&(total, total)));
    }
}
