//! `crndm-pool`: create and inspect crndm pool files from the shell.
//!
//! ```text
//! crndm-pool create app.pool --size 64M
//! crndm-pool info app.pool [--json]
//! ```
//!
//! Every subcommand works on the pool *file* through [`crndm::admin`], without the program
//! that wrote it and without its types. Errors print `crndm-pool: <error>` on stderr and
//! exit with code 1; usage errors exit with code 2.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod create;
mod error;
mod info;
mod size;

use error::CliError;

/// Create and inspect crndm persistent-memory pool files.
#[derive(Debug, Parser)]
#[command(name = "crndm-pool", version, propagate_version = true)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands; each lives in its own module with its `Args` and `run`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Create an empty pool file.
    Create(create::Args),
    /// Show what a pool file holds: header, regions, heap usage, root (read-only).
    Info(info::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = io::stdout().lock();
    let result = match &cli.command {
        Command::Create(args) => create::run(args, &mut out),
        Command::Info(args) => info::run(args, &mut out),
    }
    .and_then(|()| out.flush().map_err(CliError::Output));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `crndm-pool info x | head`: the reader left; nothing is wrong with the pool.
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crndm-pool: {e}");
            ExitCode::FAILURE
        }
    }
}
