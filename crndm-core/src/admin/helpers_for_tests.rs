//! Shared by the unit tests of `admin`: pools, raw blocks, forged journals and patched
//! bytes. Forged journals and root slots let each check be shown to fire on what it must
//! and to stay silent on every state a crash can leave.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{CheckReport, FindingKind, Severity, check_report, create};
use crate::alloc::buddy::order_for;
use crate::offset::PoolOff;
use crate::pool::PoolOptions;
use crate::pool::header::Geometry;
use crate::pool::inspect::inspect;
use crate::pool::raw::RawPool;
use crate::stm::lane::{Kind, LANE_HEADER, NewRecord, lane_at};

pub(super) const SIZE: u64 = 1 << 20;

/// A record to forge.
pub(super) enum Rec {
    Undo(u64, Vec<u8>),
    Plain(Kind, u32, u64),
}

pub(super) fn pool(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    let path = dir.path().join(name);
    create(&path, SIZE).unwrap();
    path
}

pub(super) fn patch(path: &Path, off: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, off).unwrap();
}

pub(super) fn geometry(path: &Path) -> Geometry {
    inspect(path).unwrap().geo
}

/// Opens the pool without recovery (raw), runs `f`, closes it.
pub(super) fn raw<T>(path: &Path, f: impl FnOnce(&RawPool) -> T) -> T {
    let raw = RawPool::open(path, 0, &PoolOptions::new()).unwrap();
    f(&raw)
}

/// Allocates blocks of `sizes` bytes outside any transaction; frees the ones marked
/// `true` again. Returns their offsets.
pub(super) fn blocks(path: &Path, sizes: &[(u64, bool)]) -> Vec<u64> {
    raw(path, |raw| {
        let offs: Vec<u64> = sizes
            .iter()
            .map(|&(s, _)| raw.heap().alloc(s, 1, |_, _| Ok(())).unwrap().get())
            .collect();
        raw.persister().fence();
        for (&off, &(s, free)) in offs.iter().zip(sizes) {
            if free {
                let k = order_for(s, 1).unwrap();
                raw.heap()
                    .free_batch(&[(PoolOff::new(off), k)], true, || {})
                    .unwrap();
            }
        }
        raw.persister().fence();
        offs
    })
}

/// Asserts that the check's only finding is one leaked block of `bytes` bytes.
pub(super) fn only_a_leak_of(path: &Path, bytes: u64) {
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
pub(super) fn forge(path: &Path, lane: u32, recs: &[Rec]) -> u64 {
    raw(path, |raw| {
        let geo = *raw.geometry();
        // SAFETY: the journals region is inside the live mapping (validated geometry).
        let journals = unsafe { raw.base().add(geo.journals_off.to_usize()) };
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
pub(super) fn of(r: &CheckReport, kind: FindingKind) -> Vec<(Severity, String)> {
    r.findings
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| (f.severity, f.message.clone()))
        .collect()
}

/// Asserts that the only findings are the unfinished journals and one corrupt
/// journal finding containing `needle`.
#[track_caller]
pub(super) fn one_bad_record(path: &Path, needle: &str) {
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
