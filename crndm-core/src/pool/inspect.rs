//! Reading a pool file without opening it for writing: for `crndm-pool info`, `check`
//! and `dump`, which must never change the file (or crash on it).
//!
//! Every reader takes the file's lock *shared*: readers run side by side, and none runs
//! while a program holds the pool open (exclusive lock), so the bytes read are not
//! being changed underneath.
//!
//! # Invariants
//! - **I1** the file is opened read-only and mapped `PROT_READ`: nothing here can write
//!   it, whatever the caller does with the bytes.
//! - **I2** the shared lock is held for as long as the mapping (or the file handle) of
//!   an [`Inspection`] or a [`RawFileReader`] lives.
//! - **I3** nothing is mapped before the header has been validated against the file's
//!   length (`read_geometry`), so every region the header names is inside the mapping.

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::alloc::buddy::{UNIT, block_size};
use crate::alloc::map::{self, Scan};
use crate::alloc::{AllocStats, ClassStats};
use crate::convert::{small, to_usize};
use crate::error::{Error, Region, Result};
use crate::offset::PoolOff;
use crate::persist::Mode;
use crate::pool::file::{Mapping, OPEN_FLAGS, require_regular};
use crate::pool::header::{Geometry, Header};
use crate::pool::lock::{LockedFile, lock};
use crate::pool::raw::read_geometry;

/// Pages touched per progress step while the allocator map is read (1 MiB).
const PROGRESS_STEP: usize = 1 << 20;

/// What a read-only look at a pool file found. Holds the mapping and the shared lock
/// (I2) until dropped.
#[derive(Debug)]
pub(crate) struct Inspection {
    pub(crate) header: Header,
    pub(crate) geo: Geometry,
    pub(crate) mode: Mode,
    pub(crate) stats: AllocStats,
    /// The scan of the allocator map, or the first unit where M1/M2 fails.
    pub(crate) scan: std::result::Result<Scan, (u64, String)>,
    // Field order is drop order: the mapping goes before the file whose lock guards it.
    mapping: Mapping,
    _file: LockedFile,
}

impl Inspection {
    /// The whole pool file, as mapped (read-only).
    pub(crate) fn bytes(&self) -> &[u8] {
        // The shared lock excludes writers while it lives (I2), so the bytes do not change
        // under the returned slice.
        // SAFETY: the mapping covers the whole file (validated length, I3), is read-only
        // (I1) and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.mapping.ptr(), self.mapping.len()) }
    }

    /// The allocator map: one byte per heap unit.
    pub(crate) fn map_bytes(&self) -> &[u8] {
        let start = self.geo.map_off.to_usize();
        &self.bytes()[start..start + to_usize(self.geo.heap_units)]
    }
}

/// Opens `path` read-only and takes the shared lock.
///
/// # Errors
/// [`Error::NotFound`], [`Error::Locked`] and I/O errors.
fn open_shared(path: &Path) -> Result<LockedFile> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_FLAGS)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(path.to_path_buf()),
            _ => Error::io("open", path, e),
        })?;
    require_regular(&file, path)?;
    lock(file, path, false)
}

/// Maps `path` read-only under a shared lock, validates the header and scans the
/// allocator map.
///
/// # Errors
/// Header problems and I/O failures; allocator problems are listed instead.
pub(crate) fn inspect(path: &Path) -> Result<Inspection> {
    inspect_with_progress(path, &mut |_, _| {})
}

/// The units of work of a whole check, for its progress bar: bytes of the allocator map,
/// then of the journal regions (read by the inspection and the journal scan), then of the
/// heap (walked by the reachability scan).
pub(crate) fn check_work(geo: &Geometry) -> u64 {
    geo.map_len + geo.region(Region::Journals).len + geo.heap_units * UNIT
}

/// [`inspect`], calling `progress(done, total)` as the allocator map is read. Progress is
/// counted against the whole check's work ([`check_work`]: map, journals, heap); this
/// function reports the map part (`done` up to the map's length), and the caller, which
/// reads the journals and walks the heap, the rest.
///
/// # Errors
/// As [`inspect`].
pub(crate) fn inspect_with_progress(
    path: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Inspection> {
    let file = open_shared(path)?;
    let geo = read_geometry(&file, path)?;
    let (mapping, mode) = Mapping::map(&file, path, geo.pool_size, false, None)?;
    // `file` and `mapping` are moved into the result only after the last use of `bytes`.
    // SAFETY: as in `Inspection::bytes`: the whole file, read-only, under the shared lock
    // held by `file`, which outlives this slice.
    let bytes = unsafe { std::slice::from_raw_parts(mapping.ptr(), mapping.len()) };
    let header = Header::read_from(bytes).ok_or(Error::Truncated {
        len: geo.pool_size,
        needed: size_of::<Header>() as u64,
    })?;
    let map_bytes = &bytes[geo.map_off.to_usize()..geo.map_off.add(geo.map_len).to_usize()];
    // Reading the map is what takes time on a large pool on a slow device (every page is
    // faulted in); touch it in steps so that the caller can show progress, then scan it.
    let map_len = map_bytes.len() as u64;
    let total = check_work(&geo);
    let mut acc = 0u8;
    for (i, chunk) in map_bytes.chunks(PROGRESS_STEP).enumerate() {
        for page in chunk.chunks(4096) {
            acc |= page[0];
        }
        progress((((i + 1) * PROGRESS_STEP) as u64).min(map_len), total);
    }
    std::hint::black_box(acc);
    let scan = map::scan(map_bytes, geo.heap_units);
    let mut stats = AllocStats {
        total: geo.heap_units * UNIT,
        ..AllocStats::default()
    };
    if let Ok(scan) = &scan {
        for (k, (free, &used)) in scan.free.iter().zip(&scan.used).enumerate() {
            let size = block_size(small(k));
            stats.used += used * size;
            stats.free += free.len() as u64 * size;
            if !free.is_empty() {
                stats.largest_free = size;
            }
            stats.classes.push(ClassStats {
                block_size: size,
                used_blocks: used,
                free_blocks: free.len() as u64,
            });
        }
    }
    Ok(Inspection {
        header,
        geo,
        mode,
        stats,
        scan,
        mapping,
        _file: file,
    })
}

/// A pool file opened read-only under the shared lock, for reading raw bytes with
/// `pread`: works on any file, valid pool or not.
#[derive(Debug)]
pub(crate) struct RawFileReader {
    file: LockedFile,
    path: PathBuf,
    len: u64,
}

impl RawFileReader {
    /// Opens `path` read-only and takes the shared lock (I2).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Locked`] and I/O errors.
    pub(crate) fn open(path: &Path) -> Result<RawFileReader> {
        let file = open_shared(path)?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        Ok(RawFileReader {
            file,
            path: path.to_path_buf(),
            len,
        })
    }

    /// The file's length.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The validated geometry and the header, if the file is a valid pool.
    ///
    /// # Errors
    /// Every error of `read_geometry`.
    pub(crate) fn header(&self) -> Result<(Geometry, Header)> {
        let geo = read_geometry(&self.file, &self.path)?;
        let mut buf = [0u8; size_of::<Header>()];
        self.read_exact(PoolOff::NULL, &mut buf)?;
        let header = Header::read_from(&buf).ok_or(Error::Truncated {
            len: self.len,
            needed: size_of::<Header>() as u64,
        })?;
        Ok((geo, header))
    }

    /// Reads `len` bytes at `off`, which the caller has checked lie inside the file.
    ///
    /// # Errors
    /// I/O errors, including a file that shrank since it was opened.
    pub(crate) fn read(&self, off: PoolOff, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read_exact(off, &mut buf)?;
        Ok(buf)
    }

    /// Fills `buf` from file offset `off`.
    ///
    /// # Errors
    /// I/O errors, including a short read.
    fn read_exact(&self, off: PoolOff, buf: &mut [u8]) -> Result<()> {
        self.file
            .read_exact_at(buf, off.get())
            .map_err(|e| Error::io("read", &self.path, e))
    }
}
