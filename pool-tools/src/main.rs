//! `crndm-pool`: create, inspect, check, recover and dump crndm pool files from the shell.
//!
//! ```text
//! crndm-pool create app.pool --size 64M
//! crndm-pool info app.pool [--json]
//! crndm-pool check app.pool [--repair] [--json]
//! crndm-pool recover app.pool [--json]
//! crndm-pool dump app.pool --offset 0x1000 --len 64
//! crndm-pool dump app.pool --root
//! ```
//!
//! Every subcommand works on the pool *file* through [`crndm::admin`], without the program
//! that wrote it and without its types. Errors print `crndm-pool: <error>` on stderr and
//! exit with code 1; usage errors exit with code 2. `check` exits with 1 when it finds a
//! problem.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod create;
mod dump;
mod error;
mod info;
mod recover;
mod size;

use error::CliError;

/// Create, inspect, check, recover and dump crndm persistent-memory pool files.
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
    /// Show what a pool file holds: header, regions, heap usage, journals, root
    /// (read-only).
    Info(info::Args),
    /// Check a pool file for every problem (read-only unless --repair); exit 1 if any.
    Check(check::Args),
    /// Run recovery only: roll back unfinished transactions, finish committed ones.
    Recover(recover::Args),
    /// Show raw bytes of the file (or the root object) as hex and ASCII.
    Dump(dump::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = io::stdout().lock();
    // `Ok(false)`: the command ran, and its verdict is a failure (check found problems).
    let result = match &cli.command {
        Command::Create(args) => create::run(args, &mut out).map(|()| true),
        Command::Info(args) => info::run(args, &mut out).map(|()| true),
        Command::Check(args) => check::run(args, &mut out),
        Command::Recover(args) => recover::run(args, &mut out).map(|()| true),
        Command::Dump(args) => dump::run(args, &mut out).map(|()| true),
    }
    .and_then(|ok| out.flush().map(|()| ok).map_err(CliError::Output));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // `crndm-pool info x | head`: the reader left; nothing is wrong with the pool.
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crndm-pool: {e}");
            ExitCode::FAILURE
        }
    }
}
