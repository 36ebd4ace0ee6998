//! `crndm-pool create FILE [--size SIZE] [--force]`.

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
    /// Overwrite FILE if it exists and is not empty (its contents are lost).
    #[arg(long)]
    pub(crate) force: bool,
}

/// Creates the pool and prints a one-paragraph summary of it.
///
/// # Errors
/// [`CliError::Exists`] if the file holds data and `--force` was not given; otherwise
/// whatever [`crndm::admin::create`] reports (bad size, I/O, locked file).
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<(), CliError> {
    let existing = std::fs::metadata(&args.file).ok();
    if existing.as_ref().is_some_and(|m| m.len() > 0) && !args.force {
        return Err(CliError::Exists(args.file.clone()));
    }
    let info = match crndm::admin::create(&args.file, args.size) {
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
