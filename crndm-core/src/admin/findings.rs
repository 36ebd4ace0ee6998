//! What a check reports: a [`Finding`], what it is about ([`FindingKind`]) and how
//! serious it is ([`Severity`]).

use std::fmt;

use crate::error::Error;

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
    /// Recovery does not free them; [`repair_leaks`](super::repair_leaks) (`crndm-pool check --repair
    /// --leaks`) does.
    Leak,
    /// A state a crash legitimately leaves (an unfinished transaction, allocator crash
    /// residue): recovery — [`recover`](super::recover()), `crndm-pool check --repair`, or any open —
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

    /// Whether [`check`](super::check()) (and [`PoolInfo::problems`](super::PoolInfo::problems)) list findings of this kind: those
    /// about the allocator map and the journals, which opening the pool either repairs
    /// or refuses. Header and root findings are only in [`check_report`](super::check_report).
    pub(super) fn is_listed_by_check(self) -> bool {
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

/// One problem [`check_report`](super::check_report) found.
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
    pub(super) fn new(kind: FindingKind, severity: Severity, message: String) -> Finding {
        Finding {
            kind,
            severity,
            message,
        }
    }

    /// The finding an error of [`check_report`](super::check_report) stands for, when the error is about the
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Region;

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
}
