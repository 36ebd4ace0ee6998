//! `crndm-pool check FILE [--repair [--leaks]] [--json]`: every problem of a pool file,
//! read-only unless `--repair` is given.
//!
//! Exit status: 0 if the pool is clean (after the repair, with `--repair`), 1 if any
//! problem is found, or the file cannot be read.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crndm::Reachability;
use crndm::admin::{CheckReport, Finding, LeakRepair, RecoveryReport, Severity};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::error::CliError;
use crate::info::{journals_json, write_journals};
use crate::recover::{recovery_json, write_recovery};

/// Pools at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_SIZE: u64 = 256 << 20;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Checks, in order: the header (magic, version, checksum, fields, region table); the \
allocator map (block tiling and alignment, crash residue); every journal (unfinished \
transactions, records in bounds, ALLOC/FREE records naming blocks of their order in a \
state a crash can leave, COMMIT last); the root slot (0, or a used block of the stored \
root size); then, when the map is sound and no journal holds a log, a walk of the heap \
from the root that needs no types: used blocks nothing reaches are leaks, pointers into \
memory the map calls free are map damage. The walk is conservative: a number that looks \
like a pointer can hide a leak, but a reachable block is never called a leak. Each \
problem is printed with its severity: `leak` (lost space; --repair --leaks frees it), \
`repairable` (what a crash leaves; --repair or `crndm-pool recover` fixes it) or \
`corrupt` (damage, never repaired).

Exit status: 0 if no problem was found (after the repair, with --repair), 1 otherwise.

JSON keys: path, clean, findings [{kind, severity, message}], journals (as in `info \
--json`, or null if the header cannot be trusted), heap_units, reachability \
({reachable_blocks, reachable_bytes, leaked_blocks, leaked_bytes, leak_sizes [{size, \
blocks}], first_leaks [offset], damaged_pointers} or null), reachability_skipped (why \
not, or null); with --repair also repair (what recovery did, as `recover --json`, or \
null), repair_error (string or null), leaks_freed ({blocks, bytes} with --leaks, or \
null) and after ({clean, findings}: the check after the repair).")]
pub(crate) struct Args {
    /// The pool file to check (opened read-only unless --repair is given).
    pub(crate) file: PathBuf,
    /// Run recovery if problems are found (opens the file for writing), report what it
    /// did, and check again.
    #[arg(long)]
    pub(crate) repair: bool,
    /// With --repair: also free the leaks the walk found (used blocks nothing reaches
    /// from the root). Never frees anything if the walk found map damage.
    #[arg(long, requires = "repair")]
    pub(crate) leaks: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The outcome of one check: a report, or the finding that the header cannot be trusted.
enum Outcome {
    Report(CheckReport),
    Untrusted(Finding),
}

impl Outcome {
    fn findings(&self) -> &[Finding] {
        match self {
            Outcome::Report(r) => &r.findings,
            Outcome::Untrusted(f) => std::slice::from_ref(f),
        }
    }

    fn is_clean(&self) -> bool {
        self.findings().is_empty()
    }

    fn has(&self, severity: Severity) -> bool {
        self.findings().iter().any(|f| f.severity == severity)
    }
}

/// Checks the pool (and repairs it with `--repair`); returns whether it ends up clean.
///
/// # Errors
/// Errors that say nothing about the file's contents: a missing or locked file, I/O
/// errors, a failed write of the output. Untrusted headers are findings, not errors.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<bool, CliError> {
    let path = &args.file;
    let first = check_once(path, true)?;
    if !args.repair {
        if args.json {
            writeln!(out, "{:#}", outcome_json(path, &first))?;
        } else {
            write_outcome(path, &first, out)?;
        }
        return Ok(first.is_clean());
    }

    // --repair: recovery if something other than a leak was found; with --leaks, then
    // the leak repair if leaks were found or the walk could not run before recovery.
    let recover = first
        .findings()
        .iter()
        .any(|f| f.severity != Severity::Leak);
    let repaired = recover.then(|| recover_once(path, &first));
    let walk_skipped = matches!(&first, Outcome::Report(r) if r.reachability_skipped.is_some());
    let leaks = (args.leaks && (first.has(Severity::Leak) || walk_skipped))
        .then(|| crndm::admin::repair_leaks(path).map_err(|e| refusal("the leak repair", path, e)));
    let after = if repaired.is_some() || leaks.is_some() {
        Some(check_once(path, false)?)
    } else {
        None
    };
    let clean = after.as_ref().unwrap_or(&first).is_clean();
    if args.json {
        let mut v = outcome_json(path, &first);
        let (report, error) = match &repaired {
            Some(Ok(r)) => (recovery_json(path, r), Value::Null),
            Some(Err(e)) => (Value::Null, json!(e)),
            None => (Value::Null, Value::Null),
        };
        v["repair"] = report;
        v["repair_error"] = error;
        v["leaks_freed"] = match &leaks {
            Some(Ok(l)) => json!({ "blocks": l.freed_blocks, "bytes": l.freed_bytes }),
            Some(Err(e)) => json!({ "error": e }),
            None => Value::Null,
        };
        v["after"] = after.as_ref().map_or(
            Value::Null,
            |a| json!({ "clean": a.is_clean(), "findings": findings_json(a.findings()) }),
        );
        writeln!(out, "{v:#}")?;
    } else {
        write_outcome(path, &first, out)?;
        writeln!(out)?;
        match &repaired {
            None if leaks.is_none() => writeln!(out, "repair        nothing to repair")?,
            None => writeln!(out, "repair        no recovery needed")?,
            Some(Err(e)) => writeln!(out, "repair        failed: {e}")?,
            Some(Ok(r)) => write_repair(r, out)?,
        }
        match &leaks {
            None if args.leaks => writeln!(out, "leaks         none to free")?,
            None => {}
            Some(Ok(l)) => write_leak_repair(l, out)?,
            Some(Err(e)) => writeln!(out, "leaks         not freed: {e}")?,
        }
        if let Some(after) = &after {
            writeln!(out)?;
            writeln!(out, "after repair")?;
            write_findings(after.findings(), out)?;
        }
    }
    Ok(clean)
}

/// Runs recovery on the checked file (not on an untrusted header).
fn recover_once(path: &Path, first: &Outcome) -> Result<RecoveryReport, String> {
    match first {
        Outcome::Untrusted(_) => Err("the header cannot be trusted; nothing was changed".into()),
        Outcome::Report(_) => crndm::admin::recover(path).map_err(|e| refusal("recovery", path, e)),
    }
}

/// An error of a repair, in words: why the library refused the pool, as check would.
fn refusal(what: &str, path: &Path, e: crndm::Error) -> String {
    match Finding::from_error(&e) {
        Some(f) => format!("{what} refused the pool: {}", f.message),
        None => CliError::pool(path)(e).to_string(),
    }
}

fn write_leak_repair(l: &LeakRepair, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "leaks         freed {} blocks ({} bytes)",
        l.freed_blocks, l.freed_bytes
    )
}

/// Runs the library check, with a progress bar if `progress` and the pool is large.
///
/// # Errors
/// Errors that are not findings (see [`run`]).
fn check_once(path: &Path, progress: bool) -> Result<Outcome, CliError> {
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    let bar = if progress && size >= PROGRESS_MIN_SIZE && io::stderr().is_terminal() {
        let style =
            ProgressStyle::with_template("checking [{bar:30}] {bytes}/{total_bytes} ({eta})")
                .map_or_else(
                    |_| ProgressStyle::default_bar(),
                    |s| s.progress_chars("=> "),
                );
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(style);
        bar
    } else {
        ProgressBar::hidden()
    };
    let result = crndm::admin::check_report_with_progress(path, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    match result {
        Ok(r) => Ok(Outcome::Report(r)),
        Err(e) => match Finding::from_error(&e) {
            Some(f) => Ok(Outcome::Untrusted(f)),
            None => Err(CliError::pool(path)(e)),
        },
    }
}

/// Writes what was checked and every finding.
fn write_outcome(path: &Path, outcome: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "pool          {}", path.display())?;
    match outcome {
        Outcome::Report(r) => {
            writeln!(
                out,
                "checked       header, regions, allocator map ({} units), {} journals, root slot",
                r.heap_units, r.journals
            )?;
            write_journals(&r.journal_summary(), &r.journal_logs, out)?;
            match (&r.reachability, &r.reachability_skipped) {
                (Some(reach), _) => write_reachability(reach, out)?,
                (None, Some(why)) => writeln!(out, "reachability  not walked: {why}")?,
                (None, None) => {}
            }
        }
        Outcome::Untrusted(_) => {
            writeln!(
                out,
                "checked       header (it cannot be trusted, so nothing behind it was read)"
            )?;
        }
    }
    write_findings(outcome.findings(), out)
}

/// Writes what the walk of the heap from the root found.
fn write_reachability(r: &Reachability, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "reachability  {} blocks ({} bytes) reachable from the root, {} leaked ({} bytes), {} damaged pointers",
        r.reachable_blocks, r.reachable_bytes, r.leaked_blocks, r.leaked_bytes, r.damaged_pointers
    )?;
    if !r.leak_sizes.is_empty() {
        let sizes: Vec<String> = r
            .leak_sizes
            .iter()
            .map(|&(size, n)| format!("{n} x {size} B"))
            .collect();
        writeln!(out, "leak sizes    {}", sizes.join(", "))?;
    }
    Ok(())
}

/// Writes the findings: a count line, then one line per finding.
fn write_findings(findings: &[Finding], out: &mut dyn Write) -> io::Result<()> {
    if findings.is_empty() {
        return writeln!(out, "problems      none");
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let (leaks, repairable, corrupt) = (
        count(Severity::Leak),
        count(Severity::Repairable),
        count(Severity::Corrupt),
    );
    let mut parts = Vec::new();
    if leaks > 0 {
        parts.push(format!(
            "{leaks} leak, freed by `crndm-pool check --repair --leaks`"
        ));
    }
    if repairable > 0 {
        parts.push(format!(
            "{repairable} repairable with `crndm-pool check --repair` or `crndm-pool recover`"
        ));
    }
    if corrupt > 0 {
        parts.push(format!("{corrupt} corrupt"));
    }
    writeln!(
        out,
        "problems      {} ({})",
        findings.len(),
        parts.join(", ")
    )?;
    for f in findings {
        writeln!(
            out,
            "  {:<10}  {:<18}  {}",
            f.severity.name(),
            f.kind.name(),
            f.message
        )?;
    }
    Ok(())
}

/// Writes what recovery did.
fn write_repair(r: &RecoveryReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "repair        ran recovery")?;
    write_recovery(r, out)
}

fn findings_json(findings: &[Finding]) -> Value {
    findings
        .iter()
        .map(|f| {
            json!({
                "kind": f.kind.name(),
                "severity": f.severity.name(),
                "message": f.message,
            })
        })
        .collect()
}

fn reachability_json(r: &Reachability) -> Value {
    json!({
        "reachable_blocks": r.reachable_blocks,
        "reachable_bytes": r.reachable_bytes,
        "leaked_blocks": r.leaked_blocks,
        "leaked_bytes": r.leaked_bytes,
        "leak_sizes": r.leak_sizes.iter().map(|&(size, blocks)| json!({"size": size, "blocks": blocks})).collect::<Vec<_>>(),
        "first_leaks": r.first_leaks.iter().map(|&(off, _)| off).collect::<Vec<_>>(),
        "damaged_pointers": r.damaged_pointers,
    })
}

/// The outcome of one check as JSON (the keys listed in `check --help`).
fn outcome_json(path: &Path, outcome: &Outcome) -> Value {
    let (journals, units) = match outcome {
        Outcome::Report(r) => (
            journals_json(&r.journal_summary(), &r.journal_logs),
            json!(r.heap_units),
        ),
        Outcome::Untrusted(_) => (Value::Null, Value::Null),
    };
    let (reach, skipped) = match outcome {
        Outcome::Report(r) => (
            r.reachability
                .as_ref()
                .map_or(Value::Null, reachability_json),
            r.reachability_skipped
                .as_ref()
                .map_or(Value::Null, |w| json!(w)),
        ),
        Outcome::Untrusted(_) => (Value::Null, json!("the header cannot be trusted")),
    };
    json!({
        "path": path.display().to_string(),
        "clean": outcome.is_clean(),
        "findings": findings_json(outcome.findings()),
        "journals": journals,
        "heap_units": units,
        "reachability": reach,
        "reachability_skipped": skipped,
    })
}
