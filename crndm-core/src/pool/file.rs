//! The pool file: opening, mapping, and mode detection (its lock is `pool::lock`).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;

use crate::convert::to_usize;
use crate::error::{Error, Result};
use crate::persist::Mode;

const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// The custom open flags of every pool file open: `O_NONBLOCK`, so that opening a FIFO
/// named as a pool returns at once (to be refused by [`require_regular`]) instead of
/// waiting for a writer. On a regular file it changes nothing.
pub(crate) const OPEN_FLAGS: i32 = libc::O_NONBLOCK;

/// Refuses an opened `file` that is not a regular file (FIFO, character or block device,
/// directory, socket), before anything reads, truncates or maps it. The one check every
/// library path that opens a pool file (readers and writers) goes through.
///
/// # Errors
/// [`Error::NotARegularFile`] naming what it is; [`Error::Io`] if `fstat` fails.
pub(crate) fn require_regular(file: &File, path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let ft = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .file_type();
    let kind = if ft.is_file() {
        return Ok(());
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(Error::NotARegularFile {
        path: path.to_path_buf(),
        kind,
    })
}

/// Whether `CRNDM_FORCE_PMEM=1` asks for emulated-pmem flushing on any file.
fn forced_pmem() -> bool {
    std::env::var_os("CRNDM_FORCE_PMEM").is_some_and(|v| v == "1")
}

fn on_ram_fs(file: &File) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `fstatfs` fills the buffer it is given from a valid descriptor.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) };
    if rc != 0 {
        return false;
    }
    // SAFETY: `fstatfs` returned 0, so it initialised the whole struct.
    let st = unsafe { st.assume_init() };
    let t = st.f_type;
    t == TMPFS_MAGIC || t == RAMFS_MAGIC
}

/// A shared mapping of a whole pool file; unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// CRASH-SIM hook: the simulator watching this mapping, detached before unmapping.
    #[cfg(feature = "crash-sim")]
    sim: Option<crate::persist::sim::Attachment>,
}

// SAFETY: the mapping is plain shared memory owned by this value; which thread unmaps it
// does not matter, and access to its bytes is governed by the layers above.
unsafe impl Send for Mapping {}
// SAFETY: `Mapping` itself only hands out its address and length.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `file` and decides the persistence mode (module docs of
    /// [`crate::persist`]): `MAP_SYNC` first unless another mode is requested.
    ///
    /// # Errors
    /// [`Error::ModeUnavailable`] if `Dax` was requested and `MAP_SYNC` failed;
    /// [`Error::Io`] if the mapping failed.
    pub(crate) fn map(
        file: &File,
        path: &Path,
        len: u64,
        writable: bool,
        want: Option<Mode>,
    ) -> Result<(Mapping, Mode)> {
        let len = to_usize(len);
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        let try_map = |flags| {
            let fd = file.as_raw_fd();
            // SAFETY: a fresh mapping at a kernel-chosen address of a valid descriptor;
            // it aliases no Rust object.
            let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
            if p == libc::MAP_FAILED {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(p.cast::<u8>())
            }
        };
        let mut mode = None;
        let mut ptr = None;
        if matches!(want, None | Some(Mode::Dax)) {
            match try_map(libc::MAP_SHARED_VALIDATE | libc::MAP_SYNC) {
                Ok(p) => {
                    mode = Some(Mode::Dax);
                    ptr = Some(p);
                }
                Err(e) if want == Some(Mode::Dax) => {
                    return Err(Error::ModeUnavailable {
                        requested: Mode::Dax,
                        path: path.to_path_buf(),
                        reason: format!("MAP_SYNC mapping failed: {e}"),
                    });
                }
                Err(_) => {}
            }
        }
        let ptr = match ptr {
            Some(p) => p,
            None => try_map(libc::MAP_SHARED).map_err(|e| Error::io("mmap", path, e))?,
        };
        let mode = mode.or(want).unwrap_or_else(|| {
            if forced_pmem() || on_ram_fs(file) {
                Mode::Emulated
            } else {
                Mode::Msync
            }
        });
        let ptr = NonNull::new(ptr)
            .ok_or_else(|| Error::io("mmap", path, std::io::Error::other("mapped at address 0")))?;
        Ok((
            Mapping {
                ptr,
                len,
                #[cfg(feature = "crash-sim")]
                sim: None,
            },
            mode,
        ))
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The header at the start of the mapping.
    /// `mmap` returns page-aligned addresses; `Header` needs 8.
    pub(crate) fn header_ptr(&self) -> *mut crate::pool::header::Header {
        self.ptr.as_ptr().cast()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// CRASH-SIM hook: puts the mapping under `sim` (if any) and returns the persister
    /// to use for it: `persister` itself without a simulator.
    #[cfg(feature = "crash-sim")]
    pub(crate) fn simulate(
        mut self,
        sim: Option<&crate::persist::sim::Sim>,
        persister: crate::persist::Persister,
    ) -> (Mapping, crate::persist::Persister) {
        let Some(sim) = sim else {
            return (self, persister);
        };
        // SAFETY: (1) the whole mapping is live and readable (we map PROT_READ always),
        // and stays mapped until `self.sim` is dropped, which `Drop` does first.
        let (attachment, persister) = unsafe { sim.attach(self.ptr(), self.len, persister) };
        self.sim = Some(attachment);
        (self, persister)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // CRASH-SIM hook: the simulator stops reading the mapping before it goes.
        #[cfg(feature = "crash-sim")]
        drop(self.sim.take());
        // SAFETY: `ptr`/`len` are exactly what `mmap` returned; nothing uses the mapping
        // any more (its owner is being dropped, after everything that borrowed from it).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
