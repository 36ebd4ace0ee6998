//! Reserving a pool file's blocks, so that a pool that opened never takes SIGBUS for
//! lack of space.
//!
//! A mapped file whose pages have no blocks behind them (a sparse file, or one made with
//! `set_len`) is filled on first write; on a full filesystem that write is a SIGBUS,
//! which no `Result` can report. So every byte of a pool file has its blocks before the
//! file is mapped: `posix_fallocate` at create, and at open for a file with holes (a
//! sparse copy, a file made by hand). Where the filesystem cannot allocate ahead
//! (`EOPNOTSUPP`), the holes are written with zeros instead, which reserves the same
//! way; writing zeros never changes a byte of a pool, since only holes read as zeros
//! are written.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Gives every byte of the first `len` bytes of `file` its blocks.
///
/// # Errors
/// [`Error::NoSpaceForPool`] if the filesystem has too little free space (the file may
/// then have grown: the caller removes or truncates what it made); I/O errors.
pub(crate) fn reserve(file: &File, path: &Path, len: u64) -> Result<()> {
    let Ok(off_len) = libc::off_t::try_from(len) else {
        return Err(Error::io(
            "reserve",
            path,
            std::io::Error::from_raw_os_error(libc::EFBIG),
        ));
    };
    // SAFETY: a plain system call on a descriptor `file` owns; no memory is passed.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, off_len) };
    match rc {
        0 => Ok(()),
        libc::ENOSPC => Err(no_space(file, path, len)),
        libc::EOPNOTSUPP | libc::EINVAL => fill_holes(file, path, len),
        e => Err(Error::io(
            "reserve",
            path,
            std::io::Error::from_raw_os_error(e),
        )),
    }
}

/// Refuses, before anything is written, to make `file` a pool of `len` bytes when its
/// filesystem's free space plus the blocks the file holds already fall short: an
/// existing file then stays as it was.
///
/// # Errors
/// [`Error::NoSpaceForPool`]; a filesystem that does not report its free space passes
/// (the reservation catches it).
pub(crate) fn check_room(file: &File, path: &Path, len: u64) -> Result<()> {
    let held = file
        .metadata()
        .map_or(0, |m| m.blocks().saturating_mul(512));
    match free_space(file) {
        Some(free) if free.saturating_add(held) < len => Err(Error::NoSpaceForPool {
            path: path.to_path_buf(),
            requested: len,
            available: free,
        }),
        _ => Ok(()),
    }
}

/// Whether `file` has fewer blocks than its `len` bytes need (it has holes).
///
/// # Errors
/// I/O errors of `fstat`.
pub(crate) fn has_holes(file: &File, path: &Path, len: u64) -> Result<bool> {
    let m = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    Ok(m.blocks().saturating_mul(512) < len)
}

/// The fallback of [`reserve`]: writes zeros over every hole (found with `SEEK_HOLE`),
/// leaving data as it is.
///
/// # Errors
/// As [`reserve`].
fn fill_holes(file: &File, path: &Path, len: u64) -> Result<()> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; crate::convert::to_usize(CHUNK)];
    let fd = file.as_raw_fd();
    let mut pos = 0u64;
    while pos < len {
        let at = libc::off_t::try_from(pos).unwrap_or(libc::off_t::MAX);
        // SAFETY: a plain system call on a descriptor `file` owns.
        let hole = unsafe { libc::lseek(fd, at, libc::SEEK_HOLE) };
        let hole = u64::try_from(hole).unwrap_or(len).min(len);
        if hole >= len {
            break;
        }
        let hole_at = libc::off_t::try_from(hole).unwrap_or(libc::off_t::MAX);
        // SAFETY: as above.
        let data = unsafe { libc::lseek(fd, hole_at, libc::SEEK_DATA) };
        let end = u64::try_from(data).unwrap_or(len).min(len);
        let mut w = hole;
        while w < end {
            let n = (end - w).min(CHUNK);
            if let Err(e) = file.write_all_at(&zeros[..crate::convert::to_usize(n)], w) {
                return Err(if e.raw_os_error() == Some(libc::ENOSPC) {
                    no_space(file, path, len)
                } else {
                    Error::io("reserve", path, e)
                });
            }
            w += n;
        }
        pos = end;
    }
    Ok(())
}

/// The error for a pool file of `len` bytes that does not fit, with the free space of
/// its filesystem.
fn no_space(file: &File, path: &Path, len: u64) -> Error {
    Error::NoSpaceForPool {
        path: path.to_path_buf(),
        requested: len,
        available: free_space(file).unwrap_or(0),
    }
}

/// Free bytes of `file`'s filesystem for unprivileged users, if it reports them.
fn free_space(file: &File) -> Option<u64> {
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `fstatvfs` writes a `statvfs` into the buffer on success.
    let rc = unsafe { libc::fstatvfs(file.as_raw_fd(), s.as_mut_ptr()) };
    (rc == 0).then(|| {
        // SAFETY: initialised by the successful call.
        let s = unsafe { s.assume_init() };
        s.f_bavail.saturating_mul(s.f_frsize)
    })
}
