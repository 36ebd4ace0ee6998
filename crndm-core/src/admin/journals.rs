//! The journals of a pool file: what the log in each says ([`JournalInfo`],
//! [`JournalState`], [`JournalSummary`]), reading them
//! ([`scan_journals`](crate::admin::journals::scan_journals)) and the checks of their
//! records ([`check_journal`](crate::admin::journals::check_journal)).

use std::collections::HashMap;
use std::fmt;

use super::findings::{Finding, FindingKind, Severity};
use super::map_view::{BlockAt, MapView};
use crate::alloc::buddy::block_size;
use crate::convert::to_usize;
use crate::error::Region;
use crate::offset::PoolOff;
use crate::pool::header::Geometry;
use crate::pool::inspect::{Inspection, check_work};
use crate::stm::lane::{
    COMMIT_REDO, Kind, LANE_HEADER, RawLane, Record, epoch_counter, lane_at, record_len,
};
use crate::stm::recovery::extension_resolver;

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
    pub(super) fn new(total: u32, logs: &[JournalInfo]) -> JournalSummary {
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

/// A journal with a log, kept for the cross-checks.
pub(super) struct Log {
    /// What the log holds, as [`info`](super::info()) reports it.
    pub(super) info: JournalInfo,
    /// The journal.
    lane: RawLane,
    /// Its records, in log order.
    pub(super) records: Vec<Record>,
}

/// Reads every journal of the pool; returns those holding a log.
pub(super) fn scan_journals(i: &Inspection, progress: &mut dyn FnMut(u64, u64)) -> Vec<Log> {
    let geo = &i.geo;
    let journals = geo.region(Region::Journals);
    let total = check_work(geo);
    let base = i.bytes()[journals.off.to_usize()..].as_ptr().cast_mut();
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
                // A SKIP record moves the log within the lane (R2); it counts as none.
                Kind::Skip => {}
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

/// The checks of one journal's log; appends to `findings`.
pub(super) fn check_journal(
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
            // Validated by the scan (forward, inside the lane).
            Kind::Skip => {}
            Kind::Undo | Kind::Redo => {
                // What recovery accepts (stm::recovery): the heap, or the header's
                // mutable line (the root slot).
                let end = r.off.checked_add(len);
                let in_heap =
                    r.off >= geo.heap_off.get() && end.is_some_and(|e| e <= geo.pool_size);
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
                match map.block_unit(PoolOff::new(r.off), r.aux) {
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
                let (u, k) = match map.block_unit(PoolOff::new(r.off), r.aux) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::helpers_for_tests::*;
    use crate::admin::{check, check_report, info};

    #[test]
    fn states_a_crash_leaves_are_repairable_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = pool(&dir, "legit.pool");
        let heap = geometry(&path).heap_off.get();
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
        let heap = geo.heap_off.get();
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
            geo.journals_off.add(3 * geo.lane_size).get(),
            &epoch.to_le_bytes(),
        );
        one_bad_record(&path, "reserved bound");
    }
}
