//! The process lock on a pool file: an exclusive `flock` for a program that opens the
//! pool, a shared one for readers (`crndm-pool info`, `check`, `dump`).
//!
//! # Why waiting is sometimes right
//! A `flock` belongs to the open file description, and a child process holds a copy of
//! every descriptor of its parent from its `fork` until its `exec` closes them (pool
//! files are `O_CLOEXEC`). So while any thread of a program spawns a process, a pool the
//! program has just closed still looks locked, for as long as the child takes to reach
//! `exec` (on a loaded machine that can be long). POSIX record locks are not copied by
//! `fork`, but any `close` of the file anywhere in the process silently drops them,
//! letting a second writer in: the worse failure.
//!
//! So a conflicting lock is retried for [`PATIENCE`]. If it is still held then, the
//! kernel's lock table (`/proc/locks`) says who took it: a lock that this process took
//! and that no live [`LockedFile`] of this process holds any more can only be a copy in
//! a child on its way to `exec`, and it is waited for up to [`CHILD_PATIENCE`]. A lock
//! taken by another process, or held by a live handle of this one (the same file opened
//! twice), is [`Error::Locked`] after [`PATIENCE`].
//!
//! # Invariant
//! - **K1** a key `(device, inode)` is in [`HELD`] (once per handle) exactly while a
//!   [`LockedFile`] of that file is alive in this process; it leaves before the
//!   descriptor closes.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a conflicting lock is retried before the lock table is consulted.
const PATIENCE: Duration = Duration::from_millis(200);

/// How long a lock that only a child's inherited copy can hold is waited for.
const CHILD_PATIENCE: Duration = Duration::from_secs(10);

/// The files that live [`LockedFile`]s of this process hold (K1), one entry per handle.
static HELD: Mutex<Vec<FileKey>> = Mutex::new(Vec::new());

/// A file's identity: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileKey {
    dev: u64,
    ino: u64,
}

fn held() -> std::sync::MutexGuard<'static, Vec<FileKey>> {
    // The list is valid after any panic: every change is one push or one remove.
    HELD.lock().unwrap_or_else(|p| p.into_inner())
}

/// A pool file under its process lock; the lock goes when it is dropped (with the last
/// copy of its descriptor).
#[derive(Debug)]
pub(crate) struct LockedFile {
    file: File,
    key: FileKey,
}

impl std::ops::Deref for LockedFile {
    type Target = File;

    fn deref(&self) -> &File {
        &self.file
    }
}

impl Drop for LockedFile {
    fn drop(&mut self) {
        // K1: the key leaves before `self.file` closes the descriptor.
        let mut h = held();
        if let Some(i) = h.iter().position(|k| *k == self.key) {
            h.swap_remove(i);
        }
    }
}

/// Takes the process lock on `file`: exclusive for a writer, shared for a reader.
///
/// # Errors
/// [`Error::Locked`] if another process, or a live handle of this one, holds a
/// conflicting lock for all of [`PATIENCE`] (or a child's inherited copy for all of
/// [`CHILD_PATIENCE`]); [`Error::Io`] if `flock` or `fstat` fails otherwise.
pub(crate) fn lock(file: File, path: &Path, exclusive: bool) -> Result<LockedFile> {
    let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    let key = FileKey {
        dev: meta.dev(),
        ino: meta.ino(),
    };
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    } | libc::LOCK_NB;
    let start = Instant::now();
    let mut patience = PATIENCE;
    loop {
        // The registry is held across the attempt, so that no handle of this file can be
        // dropped (or made) between a refusal and the look at the lock table below.
        let mut h = held();
        // SAFETY: `flock` takes a valid open descriptor (owned by `file`) and an operation.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            h.push(key);
            return Ok(LockedFile { file, key });
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(Error::io("flock", path, err));
        }
        if start.elapsed() >= patience {
            let only_a_child = !h.contains(&key) && only_this_process_holds(key);
            if !only_a_child || start.elapsed() >= CHILD_PATIENCE {
                return Err(Error::Locked(path.to_path_buf()));
            }
            patience = CHILD_PATIENCE;
        }
        drop(h);
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Whether every `flock` on the file `key` in the kernel's lock table was taken by this
/// process (and there is at least one). False when the table cannot be read.
fn only_this_process_holds(key: FileKey) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/locks") else {
        return false;
    };
    holders(&table, key).is_some_and(|pids| {
        let me = u64::from(std::process::id());
        !pids.is_empty() && pids.iter().all(|&p| p == me)
    })
}

/// The pids of the `flock` holders of `key` in a `/proc/locks` table, or `None` if a
/// line of it does not parse. Lines of waiters (`->`) and of other lock kinds are skipped.
///
/// A line reads `1: FLOCK  ADVISORY  WRITE 1234 08:02:131090 0 EOF`: the holder's pid,
/// then the device as hexadecimal major and minor and the inode in decimal.
fn holders(table: &str, key: FileKey) -> Option<Vec<u64>> {
    let major = u64::from(libc::major(key.dev));
    let minor = u64::from(libc::minor(key.dev));
    let mut pids = Vec::new();
    for line in table.lines() {
        let mut words = line.split_whitespace();
        let (Some(_), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        if kind != "FLOCK" {
            continue;
        }
        let (_, _, pid, id) = (words.next(), words.next(), words.next()?, words.next()?);
        let mut parts = id.split(':');
        let (maj, min, ino) = (parts.next()?, parts.next()?, parts.next()?);
        let same = u64::from_str_radix(maj, 16).ok()? == major
            && u64::from_str_radix(min, 16).ok()? == minor
            && ino.parse::<u64>().ok()? == key.ino;
        if same {
            pids.push(pid.parse().ok()?);
        }
    }
    Some(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(major: u32, minor: u32, ino: u64) -> FileKey {
        FileKey {
            dev: libc::makedev(major, minor),
            ino,
        }
    }

    #[test]
    fn the_lock_table_names_the_holders_of_one_file() {
        let table = "1: FLOCK  ADVISORY  WRITE 1234 00:2d:131090 0 EOF\n\
                     2: POSIX  ADVISORY  WRITE 99 00:2d:131090 0 EOF\n\
                     3: FLOCK  ADVISORY  READ  77 103:02:131090 0 EOF\n\
                     3: -> FLOCK  ADVISORY  WRITE 55 00:2d:131090 0 EOF\n\
                     4: FLOCK  ADVISORY  READ  88 00:2d:131090 0 EOF\n\
                     5: OFDLCK ADVISORY  READ  -1 00:2d:7 0 EOF\n";
        assert_eq!(holders(table, key(0, 0x2d, 131_090)), Some(vec![1234, 88]));
        assert_eq!(holders(table, key(0x103, 2, 131_090)), Some(vec![77]));
        assert_eq!(holders(table, key(0, 0x2d, 5)), Some(vec![]));
        assert_eq!(
            holders("1: FLOCK ADVISORY WRITE x 00:2d:1 0 EOF", key(0, 0x2d, 1)),
            None
        );
    }

    #[test]
    fn a_file_locked_by_a_live_handle_of_this_process_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let open = || File::create(&path).expect("create");
        let first = lock(open(), &path, true).expect("first lock");
        let start = Instant::now();
        let second = lock(open(), &path, true);
        assert!(matches!(second, Err(Error::Locked(_))), "{second:?}");
        assert!(
            start.elapsed() < CHILD_PATIENCE,
            "a live handle is not waited for like a child's copy"
        );
        drop(first);
        let third = lock(open(), &path, false).expect("free after the drop");
        assert!(held().contains(&third.key));
        let key = third.key;
        drop(third);
        assert!(!held().contains(&key), "K1: the key leaves with the handle");
    }
}
