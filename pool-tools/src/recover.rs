//! `crndm-pool recover FILE [--json]`: run recovery only, as the next open of the pool
//! would, and say what it did.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crndm::admin::RecoveryReport;
use serde_json::{Value, json};

use crate::error::CliError;

/// Arguments of `recover`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Opens the pool for writing (no program may hold it open), rolls back every unfinished \
transaction, finishes the deferred frees of committed ones, clears crash residue in the \
allocator map, and closes it again. Like every open, it increments the generation.

JSON keys: path, journals_with_logs, committed, rolled_back, restored_ranges, \
freed_blocks, map_repairs, journals [{index, outcome (rolled-back | committed), \
restored, freed}].")]
pub(crate) struct Args {
    /// The pool file to recover (opened for writing).
    pub(crate) file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Recovers the pool and prints what recovery did.
///
/// # Errors
/// Whatever [`crndm::admin::recover`] reports (missing, locked or corrupt file, a
/// journal recovery cannot apply), or a failed write of the output.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<(), CliError> {
    let report = crndm::admin::recover(&args.file).map_err(CliError::pool(&args.file))?;
    if args.json {
        writeln!(out, "{:#}", recovery_json(&args.file, &report))?;
    } else {
        writeln!(out, "pool          {}", args.file.display())?;
        write_recovery(&report, out)?;
    }
    Ok(())
}

/// Writes a recovery report as text.
///
/// # Errors
/// Only those of `out`.
pub(crate) fn write_recovery(r: &RecoveryReport, out: &mut dyn Write) -> io::Result<()> {
    if r.is_noop() {
        return writeln!(
            out,
            "recovered     nothing to do: every journal was empty and the allocator map clean"
        );
    }
    writeln!(
        out,
        "recovered     {} journal{} ({} rolled back, {} committed and finished)",
        r.journals_with_logs,
        if r.journals_with_logs == 1 { "" } else { "s" },
        r.rolled_back,
        r.committed
    )?;
    writeln!(out, "  restored    {} undo ranges", r.restored_ranges)?;
    writeln!(out, "  freed       {} blocks", r.freed_blocks)?;
    writeln!(
        out,
        "  map         {} stale heads or unmerged buddies cleared",
        r.map_repairs
    )?;
    for j in &r.journals {
        writeln!(
            out,
            "  journal {:<3} {}: {} ranges restored, {} blocks freed",
            j.index,
            outcome(j.committed),
            j.restored,
            j.freed
        )?;
    }
    Ok(())
}

fn outcome(committed: bool) -> &'static str {
    if committed {
        "committed"
    } else {
        "rolled-back"
    }
}

/// A recovery report as JSON (the keys listed in `recover --help`).
pub(crate) fn recovery_json(path: &Path, r: &RecoveryReport) -> Value {
    json!({
        "path": path.display().to_string(),
        "journals_with_logs": r.journals_with_logs,
        "committed": r.committed,
        "rolled_back": r.rolled_back,
        "restored_ranges": r.restored_ranges,
        "freed_blocks": r.freed_blocks,
        "map_repairs": r.map_repairs,
        "journals": r.journals.iter().map(|j| json!({
            "index": j.index,
            "outcome": outcome(j.committed),
            "restored": j.restored,
            "freed": j.freed,
        })).collect::<Vec<_>>(),
    })
}
