//! `crndm-pool info FILE [--json]`: everything the header, the allocator map and the
//! journals say, read without changing the file.

use std::io::{self, Write};
use std::path::PathBuf;

use crndm::admin::{JournalInfo, JournalSummary, PoolInfo, format_uuid};
use serde_json::{Value, json};

use crate::error::CliError;
use crate::size::format_size;

/// Arguments of `info`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The pool file to inspect (opened read-only).
    pub(crate) file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Reads the pool file and prints its description.
///
/// # Errors
/// Whatever [`crndm::admin::info`] reports for a missing, locked, foreign or corrupt file,
/// or a failed write of the output.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<(), CliError> {
    let info = crndm::admin::info(&args.file).map_err(CliError::pool(&args.file))?;
    if args.json {
        writeln!(out, "{:#}", to_json(&info))?;
    } else {
        write_text(&info, out)?;
    }
    Ok(())
}

/// Width of the size-class histogram bars, in characters, for the whole heap.
const BAR: u64 = 32;

/// Writes the human-readable description of `info`.
///
/// # Errors
/// Only those of `out`.
pub(crate) fn write_text(info: &PoolInfo, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "pool          {}", info.path.display())?;
    writeln!(out, "format        version {}", info.version)?;
    writeln!(out, "uuid          {}", format_uuid(&info.uuid))?;
    writeln!(
        out,
        "mode          {} (what a program opening this file would get)",
        info.mode
    )?;
    writeln!(out, "flush instr   {}", info.flush_instr.name())?;
    writeln!(
        out,
        "size          {} ({} bytes)",
        format_size(info.size),
        info.size
    )?;
    writeln!(out, "generation    {} (times opened)", info.generation)?;
    writeln!(
        out,
        "journals      {} × {}",
        info.journals,
        format_size(info.journal_size)
    )?;

    writeln!(out)?;
    writeln!(out, "regions       {:<12} {:<12} length", "offset", "end")?;
    for r in &info.regions {
        writeln!(
            out,
            "  {:<11} {:<12} {:<12} {}",
            r.region.name(),
            format!("{:#x}", r.off),
            format!("{:#x}", r.off.saturating_add(r.len)),
            format_size(r.len)
        )?;
    }

    let s = &info.stats;
    writeln!(out)?;
    writeln!(out, "heap")?;
    writeln!(out, "  total       {}", format_size(s.total))?;
    writeln!(
        out,
        "  used        {} ({:.1}%)",
        format_size(s.used),
        percent(s.used, s.total)
    )?;
    writeln!(out, "  free        {}", format_size(s.free))?;
    writeln!(
        out,
        "  largest     {} (largest free block)",
        format_size(s.largest_free)
    )?;
    writeln!(
        out,
        "  fragmented  {:.1}% (of free bytes outside the largest free block)",
        s.fragmentation() * 100.0
    )?;

    writeln!(out)?;
    writeln!(
        out,
        "size classes  {:>10} {:>10}   share of heap (# used, . free)",
        "used", "free"
    )?;
    for c in s
        .classes
        .iter()
        .filter(|c| c.used_blocks + c.free_blocks > 0)
    {
        let used = bar(c.used_blocks.saturating_mul(c.block_size), s.total);
        let free = bar(c.free_blocks.saturating_mul(c.block_size), s.total);
        writeln!(
            out,
            "  {:<11} {:>10} {:>10}   {}{}",
            format_size(c.block_size),
            c.used_blocks,
            c.free_blocks,
            "#".repeat(used),
            ".".repeat(free)
        )?;
    }

    writeln!(out)?;
    let (size, align, hash) = info.root_layout;
    if info.root_off == 0 {
        writeln!(out, "root          none")?;
    } else {
        writeln!(out, "root          offset {:#x}", info.root_off)?;
    }
    writeln!(
        out,
        "root layout   size {size}, align {align}, hash {hash:#018x}"
    )?;

    writeln!(out)?;
    write_journals(&info.journal_summary(), &info.journal_logs, out)?;

    if info.problems.is_empty() {
        writeln!(out, "problems      none")?;
    } else {
        writeln!(out, "problems      {}", info.problems.len())?;
        for p in &info.problems {
            writeln!(out, "  - {p}")?;
        }
    }
    Ok(())
}

/// Writes the journal summary line (`journals: 16 (15 empty, 1 active)`) and a table of
/// the journals that hold a log.
///
/// # Errors
/// Only those of `out`.
pub(crate) fn write_journals(
    summary: &JournalSummary,
    logs: &[JournalInfo],
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "journals: {summary}")?;
    if logs.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "  {:<9} {:<24} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8}",
        "journal", "state", "undo", "alloc", "free", "commit", "redo", "bytes"
    )?;
    for l in logs {
        writeln!(
            out,
            "  {:<9} {:<24} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8}",
            l.index,
            l.state.name(),
            l.undo,
            l.alloc,
            l.free,
            l.commit,
            l.redo,
            l.bytes
        )?;
    }
    Ok(())
}

/// The journals as JSON: `count`, `empty`, `active`, `committed`, and `logs`, one object
/// per journal holding a log (`index`, `state`, `epoch`, `records` by kind, `bytes`).
pub(crate) fn journals_json(summary: &JournalSummary, logs: &[JournalInfo]) -> Value {
    json!({
        "count": summary.total,
        "empty": summary.empty,
        "active": summary.active,
        "committed": summary.committed,
        "logs": logs.iter().map(|l| json!({
            "index": l.index,
            "state": l.state.name(),
            "epoch": l.epoch,
            "records": {
                "undo": l.undo,
                "alloc": l.alloc,
                "free": l.free,
                "commit": l.commit,
                "redo": l.redo,
            },
            "bytes": l.bytes,
        })).collect::<Vec<_>>(),
    })
}

/// The same description as one JSON object.
///
/// `root.off` is 0 when the pool has no root object yet; `root.hash` is a hex string, since
/// a 64-bit hash does not survive JSON readers that use doubles. `journals` holds `size`
/// (bytes per journal) and everything of [`journals_json`].
pub(crate) fn to_json(info: &PoolInfo) -> Value {
    let s = &info.stats;
    let (size, align, hash) = info.root_layout;
    let mut journals = journals_json(&info.journal_summary(), &info.journal_logs);
    journals["size"] = json!(info.journal_size);
    json!({
        "path": info.path.display().to_string(),
        "version": info.version,
        "uuid": format_uuid(&info.uuid),
        "mode": info.mode.name(),
        "flush_instr": info.flush_instr.name(),
        "size": info.size,
        "generation": info.generation,
        "journals": journals,
        "regions": info.regions.iter().map(|r| json!({
            "name": r.region.name(),
            "off": r.off,
            "len": r.len,
        })).collect::<Vec<_>>(),
        "heap": {
            "total": s.total,
            "used": s.used,
            "free": s.free,
            "largest_free": s.largest_free,
            "fragmentation": s.fragmentation(),
            "classes": s.classes.iter()
                .filter(|c| c.used_blocks + c.free_blocks > 0)
                .map(|c| json!({
                    "block_size": c.block_size,
                    "used_blocks": c.used_blocks,
                    "free_blocks": c.free_blocks,
                })).collect::<Vec<_>>(),
        },
        "root": { "off": info.root_off, "size": size, "align": align, "hash": format!("{hash:#018x}") },
        "problems": info.problems,
    })
}

/// `part` as a percentage of `whole` (0 for an empty whole).
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Bar length for `bytes` of a `total`-byte heap: proportional, at least 1 when non-zero.
fn bar(bytes: u64, total: u64) -> usize {
    if bytes == 0 || total == 0 {
        return 0;
    }
    let len = (u128::from(bytes) * u128::from(BAR) / u128::from(total)).max(1);
    usize::try_from(len).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_proportional_and_visible() {
        assert_eq!(bar(0, 100), 0);
        assert_eq!(bar(1, 0), 0);
        assert_eq!(bar(1, 1 << 30), 1);
        assert_eq!(bar(50, 100), 16);
        assert_eq!(bar(100, 100), 32);
    }

    #[test]
    fn percent_of_empty_heap_is_zero() {
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(1, 4), 25.0);
    }
}
