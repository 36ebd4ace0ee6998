//! The pool layer (docs/ARCHITECTURE.md): the mapped pool file (DESIGN §4).
//!
//! [`header`] defines the on-media header and validates untrusted bytes; [`file`] opens,
//! locks and maps files and detects the persistence mode; [`raw`] is an open pool
//! (header + mapping + allocator);
//! [`space`] reserves the file's blocks (no SIGBUS for lack of space);
//! [`options`] holds the open flags and the options builder; [`inspect`] reads a pool
//! file without opening it for writing.

pub(crate) mod file;
pub(crate) mod header;
pub(crate) mod inspect;
pub(crate) mod lock;
pub(crate) mod options;
pub(crate) mod raw;
pub(crate) mod space;

pub use options::{Flags, O_C, O_CF, O_CFNE, O_CNE, O_F, PoolOptions};
#[cfg(test)]
mod kill_tests;
