//! The errors a subcommand reports, and how they read on the terminal.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a subcommand failed; printed as `crndm-pool: <this>`.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The library refused or failed on the pool file at `path`.
    Pool {
        /// The file the subcommand was given.
        path: PathBuf,
        /// What the library reported.
        source: crndm::Error,
    },
    /// `create` would overwrite a non-empty file and `--force` was not given.
    Exists(PathBuf),
    /// Writing the output failed.
    Output(io::Error),
}

impl CliError {
    /// Wraps a library error about `path`.
    pub(crate) fn pool(path: impl Into<PathBuf>) -> impl FnOnce(crndm::Error) -> CliError {
        let path = path.into();
        move |source| CliError::Pool { path, source }
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> CliError {
        CliError::Output(e)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crndm::Error;
        match self {
            // The library's own messages suggest open flags; say what to run instead.
            CliError::Pool {
                source: Error::NotFound(p),
                ..
            } => write!(f, "{}: no such file", p.display()),
            CliError::Pool {
                source: Error::EmptyFile(p),
                ..
            } => write!(
                f,
                "{}: the file is empty, not a pool (make one with `crndm-pool create`)",
                p.display()
            ),
            // These already name the file.
            CliError::Pool {
                source: source @ (Error::Io { .. } | Error::Locked(_)),
                ..
            } => write!(f, "{source}"),
            CliError::Pool { path, source } => write!(f, "{}: {source}", path.display()),
            CliError::Exists(p) => write!(
                f,
                "{} already exists; pass --force to overwrite it with an empty pool",
                p.display()
            ),
            CliError::Output(e) => write!(f, "writing the output: {e}"),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Pool { source, .. } => Some(source),
            CliError::Exists(_) => None,
            CliError::Output(e) => Some(e),
        }
    }
}
