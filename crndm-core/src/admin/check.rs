//! [`check_report`] (and its thin wrapper [`check`](crate::admin::check())): every check
//! behind a trusted header, in the order the [module docs](crate::admin) give, and the
//! [`CheckReport`]. The allocator map's scan comes from the inspection, the journals'
//! checks from [`journals`](crate::admin::journals), reachability from
//! [`reach`](crate::admin::reach); the root slot is checked here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::findings::{Finding, FindingKind, Severity};
use super::journals::{
    JournalInfo, JournalState, JournalSummary, Log, check_journal, scan_journals,
};
use super::map_view::{BlockAt, MapView};
use super::reach;
use crate::alloc::Reachability;
use crate::alloc::buddy::{block_size, order_for};
use crate::error::Result;
use crate::pool::inspect::{Inspection, inspect_with_progress};
use crate::stm::lane::{Kind, Record};

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
    /// [`repair_leaks`](super::repair_leaks) frees leaks (also true when there are none).
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
/// severity (see the [module docs](super) for what is checked). Never writes the file.
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
/// This list is exactly [`PoolInfo::problems`](super::PoolInfo::problems), and it is what opening the pool deals
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

/// What [`examine`] found.
pub(super) struct Examined {
    /// Every problem found, in the order checked.
    pub(super) findings: Vec<Finding>,
    /// The journals that hold a log.
    pub(super) logs: Vec<JournalInfo>,
}

/// Runs every check behind a trusted header on an inspection; never panics.
pub(super) fn examine(i: &Inspection, progress: &mut dyn FnMut(u64, u64)) -> Examined {
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

/// The root slot: 0, or a used block of the order its stored layout needs.
fn check_root(i: &Inspection, logs: &[Log], map: Option<&MapView<'_>>, out: &mut Vec<Finding>) {
    let h = &i.header;
    if h.root_off.is_null() {
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
    use super::*;
    use crate::admin::helpers_for_tests::*;
    use crate::admin::{PoolBytes, info, recover};

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
