//! [`recover`](recover()): recovery only, and the [`RecoveryReport`] of what it did.

use std::path::Path;

use crate::error::Result;
use crate::pool::PoolOptions;
use crate::pool::inspect::inspect;

/// What [`recover`](recover()) did.
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
/// Every error of opening the pool ([`Error`](crate::Error)), including
/// [`Error::CorruptJournal`](crate::Error::CorruptJournal) for a journal recovery cannot
/// apply and [`Error::CorruptAllocator`](crate::Error::CorruptAllocator) for a broken map.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::helpers_for_tests::*;
    use crate::admin::{FindingKind, PoolBytes, check_report};
    use crate::stm::lane::Kind;

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
            .read(geo.map_off.get(), geo.heap_units)
            .unwrap();
        let head = map
            .iter()
            .rposition(|&x| x & 0xc0 == 0x80 && x & 0x3f > 0)
            .unwrap();
        patch(&path, geo.map_off.add(head as u64 + 1).get(), &[0x40]);
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
}
