//! `crndm-pool create FILE [--size SIZE] [--journals COUNTxSIZE] [--force]`.

use std::io::Write;
use std::path::PathBuf;

use crate::error::CliError;
use crate::size::{format_size, parse_size};

/// Arguments of `create`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The pool file to create.
    pub(crate) file: PathBuf,
    /// Pool size in bytes, with an optional binary unit: 4096, 512K, 64M, 1G.
    #[arg(long, short, default_value = "8M", value_parser = parse_size)]
    pub(crate) size: u64,
    /// Journals: how many (at most this many threads run transactions at once) and the
    /// bytes of each, as COUNTxSIZE (e.g. 4x16K) [default: 16x32K].
    #[arg(long, value_parser = parse_journals)]
    pub(crate) journals: Option<(u32, u64)>,
    /// Overwrite FILE if it exists and is not empty (its contents are lost).
    #[arg(long)]
    pub(crate) force: bool,
}

/// Parses `COUNTxSIZE` (`16x32K`): a journal count and a size [`parse_size`] accepts.
///
/// # Errors
/// A message saying what is wrong.
fn parse_journals(text: &str) -> Result<(u32, u64), String> {
    let shape = || format!("`{text}` is not COUNTxSIZE (e.g. 4x16K)");
    let (count, size) = text.trim().split_once(['x', 'X']).ok_or_else(shape)?;
    let count = count.trim().parse().map_err(|_| shape())?;
    Ok((count, parse_size(size)?))
}

/// Creates the pool and prints a one-paragraph summary of it.
///
/// # Errors
/// [`CliError::Exists`] if the file holds data and `--force` was not given; otherwise
/// whatever [`crndm::admin::create_with`] reports (bad size or journals, I/O, locked
/// file).
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<(), CliError> {
    let existing = std::fs::metadata(&args.file).ok();
    if existing.as_ref().is_some_and(|m| m.len() > 0) && !args.force {
        return Err(CliError::Exists(args.file.clone()));
    }
    let mut options = crndm::PoolOptions::new().size(args.size);
    if let Some((count, bytes)) = args.journals {
        options = options.journals(count, bytes);
    }
    let info = match crndm::admin::create_with(&args.file, &options) {
        Ok(info) => info,
        Err(e) => {
            if existing.is_none() {
                // Do not leave behind an empty file that was not there before (a refused
                // size is only detected after the file was created).
                let _ = std::fs::remove_file(&args.file);
            }
            return Err(CliError::pool(&args.file)(e));
        }
    };
    writeln!(out, "created {}", info.path.display())?;
    writeln!(out, "  size      {}", format_size(info.size))?;
    writeln!(out, "  uuid      {}", crndm::admin::format_uuid(&info.uuid))?;
    writeln!(out, "  mode      {}", info.mode)?;
    writeln!(
        out,
        "  heap      {} free, largest block {}",
        format_size(info.stats.free),
        format_size(info.stats.largest_free)
    )?;
    Ok(())
}
