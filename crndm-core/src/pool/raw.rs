//! An open pool file, untyped: the mapping, its validated geometry and its allocator.
//!
//! Opening follows one order, so that a crash or a bad file at any step is harmless:
//! 1. open the file and take the exclusive lock (before anything is truncated);
//! 2. format if the flags say so: size the file, write the allocator map, persist it,
//!    and write the header *last* (a crash mid-format leaves no valid magic);
//! 3. read the header with `pread` and validate it against the file length before
//!    mapping anything it describes;
//! 4. map, open the allocator (scan, repair residue);
//! 5. bump the persistent generation with one 8-byte store, persisted.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::alloc::{AllocStats, Heap};
use crate::convert::to_usize;
use crate::error::{Error, Region, Result};
use crate::offset::PoolOff;
use crate::persist::{Mode, Persister};
use crate::pool::file::{Mapping, OPEN_FLAGS, require_regular};
use crate::pool::header::{Geometry, HEADER_REGION, Header, LANE_HEADER};
use crate::pool::lock::{LockedFile, lock};
use crate::pool::options::{Flags, O_C, O_CNE, O_F, PoolOptions};

/// A check an upper layer runs inside [`RawPool::open_checked`]: on the whole mapped
/// pool (`bytes`) with its validated geometry, under the exclusive lock, after the
/// header, map and journals have been validated and before the first write to the file.
/// An error refuses the open and leaves the file as it was.
pub(crate) type OpenCheck = fn(bytes: &[u8], geo: &Geometry) -> Result<()>;

/// The transaction layer's steps of an open (`stm::recovery`), run on the mapping after
/// the [`OpenCheck`] and before the heap is opened. The pool layer sits below the
/// transaction layer, so the steps come in as functions (docs/ARCHITECTURE.md).
#[derive(Clone, Copy, Debug)]
pub(crate) struct JournalSteps {
    /// Checks, reading only, that recovery can finish every journal; an error refuses
    /// the open and leaves the file as it was.
    ///
    /// Safety of a call: 1. `base` is a live mapping of a pool with the validated
    /// geometry `geo`, whose journals nobody writes meanwhile.
    pub(crate) check: unsafe fn(base: *mut u8, geo: &Geometry, persister: &Persister) -> Result<()>,
    /// The first step of recovery, durably: heads of blocks freed by commits that did
    /// not reach their commit point go back to used. Returns how many.
    ///
    /// Safety of a call: 1. `base` is a live, writable mapping of a pool with the
    /// validated geometry `geo`, used by nobody else meanwhile; 2. `persister` belongs
    /// to that mapping.
    pub(crate) reinstate: unsafe fn(base: *mut u8, geo: &Geometry, persister: &Persister) -> usize,
}

/// One open pool. Field order is drop order: the heap goes before the mapping it
/// points into, the mapping before the file whose lock guards it.
#[derive(Debug)]
pub(crate) struct RawPool {
    heap: Heap,
    persister: Persister,
    geo: Geometry,
    uuid: [u8; 16],
    generation: u64,
    map: Mapping,
    file: LockedFile,
    path: PathBuf,
}

/// What `open` has to do with the file.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Format,
    Open,
    FormatIfEmpty,
}

/// # Errors
/// [`Error::InvalidFlags`] for unknown bits or `O_C` with `O_CNE`.
fn plan(flags: Flags) -> Result<Plan> {
    if flags & !(O_C | O_F | O_CNE) != 0 {
        return Err(Error::InvalidFlags {
            flags,
            reason: "unknown bits (use O_C, O_F, O_CNE and their combinations)",
        });
    }
    if flags & O_C != 0 && flags & O_CNE != 0 {
        return Err(Error::InvalidFlags {
            flags,
            reason: "O_C (always create) contradicts O_CNE (create only if missing)",
        });
    }
    Ok(if flags & (O_C | O_F) != 0 && flags & O_CNE == 0 {
        Plan::Format
    } else if flags & O_CNE != 0 {
        Plan::FormatIfEmpty
    } else {
        Plan::Open
    })
}

fn random_uuid() -> [u8; 16] {
    let mut id = [0u8; 16];
    // SAFETY: `getrandom` writes at most `id.len()` bytes into the buffer it is given.
    let n = unsafe { libc::getrandom(id.as_mut_ptr().cast(), id.len(), 0) };
    if n != 16 {
        // Fall back to time and address entropy; uniqueness, not secrecy, is the point.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        id = (t ^ (u128::from(std::process::id()) << 64) ^ (&raw const id as u128)).to_le_bytes();
    }
    id[6] = (id[6] & 0x0f) | 0x40; // RFC 4122 version 4
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

impl RawPool {
    /// Opens, creates or formats the pool file at `path` as `flags` and `opts` say,
    /// running `check` on the mapped, validated file before anything is written to it
    /// and then the transaction layer's `journals` steps. `RawPool::open` and
    /// `RawPool::open_checked` (in `stm::recovery`) call it with the real steps.
    ///
    /// # Errors
    /// [`Error::InvalidFlags`], the file's I/O errors, [`Error::Locked`], every
    /// validation error of the header and the allocator map, and those of `check` and
    /// of `journals.check`.
    pub(crate) fn open_with(
        path: &Path,
        flags: Flags,
        opts: &PoolOptions,
        check: Option<OpenCheck>,
        journals: JournalSteps,
    ) -> Result<RawPool> {
        let plan = plan(flags)?;
        // Refuse impossible options before anything is created or truncated.
        if plan != Plan::Open {
            Geometry::plan(opts)?;
        }
        let create = flags & (O_C | O_CNE) != 0;
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .custom_flags(OPEN_FLAGS)
            .open(path)
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => Error::NotFound(path.to_path_buf()),
                // A directory cannot be opened for writing: the same refusal as a reader's.
                _ if e.raw_os_error() == Some(libc::EISDIR) => Error::NotARegularFile {
                    path: path.to_path_buf(),
                    kind: "a directory",
                },
                _ => Error::io("open", path, e),
            })?;
        require_regular(&file, path)?;
        let file = lock(file, path, true)?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        let format = match plan {
            Plan::Format => true,
            Plan::FormatIfEmpty => len == 0 || interrupted_format(&file, len),
            Plan::Open if len == 0 => return Err(Error::EmptyFile(path.to_path_buf())),
            Plan::Open => false,
        };
        // Refused before the file is truncated: an existing file stays as it was, a
        // file this open created goes away.
        if format
            && let Err(e) =
                crate::pool::space::check_room(&file, path, Geometry::plan(opts)?.pool_size)
        {
            if !existed {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
        if format && let Err(e) = Self::format(&file, path, opts) {
            // Leave no half-made pool behind: a file this open created goes away, an
            // existing one is left empty (which O_CNE formats on the next try).
            let _ = file.set_len(0);
            if !existed {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
        Self::open_locked(file, path, opts, check, journals)
    }

    /// Writes an empty pool of `opts` into the (locked) file.
    ///
    /// # Errors
    /// [`Error::InvalidSize`] and I/O errors.
    fn format(file: &File, path: &Path, opts: &PoolOptions) -> Result<()> {
        let geo = Geometry::plan(opts)?;
        let io = |op| move |e| Error::io(op, path, e);
        file.set_len(0).map_err(io("truncate"))?;
        format_crash_point(1);
        // The marker says "a format of crndm began here": until the header replaces it,
        // the create-if-needed flags format the file again (see `interrupted_format`).
        // Synced, so that even after a power failure a file longer than the marker
        // without a header is one crndm was formatting.
        file.write_all_at(FORMAT_MARKER, 0).map_err(io("write"))?;
        file.sync_data().map_err(io("sync"))?;
        format_crash_point(2);
        file.set_len(geo.pool_size).map_err(io("resize"))?;
        format_crash_point(3);
        // Every block of the file exists before it is mapped: a full filesystem is an
        // error here, never a SIGBUS at the first write to a page.
        crate::pool::space::reserve(file, path, geo.pool_size)?;
        format_crash_point(4);
        let (map, mode) = Mapping::map(file, path, geo.pool_size, true, opts.mode)?;
        let persister = Persister::new(mode);
        // CRASH-SIM hook: under the simulator, persistence goes to its image.
        #[cfg(feature = "crash-sim")]
        let (map, persister) = map.simulate(opts.sim.as_ref(), persister);
        // SAFETY: the map region lies inside the file (Geometry::plan).
        let map_ptr = unsafe { map.ptr().add(geo.map_off.to_usize()) };
        // SAFETY: `heap_units` bytes from `map_ptr` are inside the mapping, which is ours
        // alone (the file is locked and not yet handed to anyone).
        let bytes = unsafe { std::slice::from_raw_parts_mut(map_ptr, to_usize(geo.heap_units)) };
        crate::alloc::map::format(bytes, geo.heap_units);
        format_crash_point(5);
        // PERSIST: everything the header describes is durable before the header (whose
        // magic makes the file a pool) is written.
        // SAFETY: the whole mapping is live.
        unsafe { persister.persist(map.ptr(), map.len()) };
        format_crash_point(6);
        let header = Header::new(&geo, random_uuid());
        // SAFETY: the header region is the first 4 KiB of the mapping; `Header` is 256
        // bytes of plain integers.
        unsafe { map.header_ptr().write(header) };
        format_crash_point(7);
        // PERSIST: the header is durable before open() reads it back.
        // SAFETY: the header lies in the live mapping.
        unsafe { persister.persist(map.ptr(), size_of::<Header>()) };
        persister.forget_range(map.ptr() as usize, map.len());
        Ok(())
    }

    /// Validates and maps an existing pool file whose lock we hold.
    ///
    /// # Errors
    /// Every validation error of the header and the allocator map, and I/O errors.
    fn open_locked(
        file: LockedFile,
        path: &Path,
        opts: &PoolOptions,
        check: Option<OpenCheck>,
        journals: JournalSteps,
    ) -> Result<RawPool> {
        let geo = read_geometry(&file, path)?;
        let (map, mode) = Mapping::map(&file, path, geo.pool_size, true, opts.mode)?;
        let persister = Persister::new(mode);
        // CRASH-SIM hook: under the simulator, persistence goes to its image.
        #[cfg(feature = "crash-sim")]
        let (map, persister) = map.simulate(opts.sim.as_ref(), persister);
        // SAFETY: the header was validated and lies at the start of the mapping.
        let header = unsafe { map.header_ptr().read() };
        // Re-validate what is now mapped: the file could have changed between pread
        // and mmap only through another writer, which the lock excludes; checking again
        // costs nothing and keeps the invariant local.
        let geo2 = header.validate(geo.pool_size)?;
        if geo2 != geo {
            return Err(Error::CorruptHeader {
                field: "regions",
                reason: "changed while opening".into(),
            });
        }
        // A file with holes (a sparse copy) gets its blocks before any write to the
        // mapping, which would otherwise SIGBUS on a full filesystem. Filling holes
        // changes no byte (they read as zeros and are written as zeros).
        if crate::pool::space::has_holes(&file, path, geo.pool_size)? {
            crate::pool::space::reserve(&file, path, geo.pool_size)?;
        }
        // Everything that can refuse the pool is checked before the first write below.
        {
            // SAFETY: the map region lies inside the mapping (validated geometry).
            let start = unsafe { map.ptr().add(geo.map_off.to_usize()) };
            // SAFETY: `heap_units` bytes from `start` are the map region, only read while
            // this slice lives.
            let bytes = unsafe { std::slice::from_raw_parts(start, to_usize(geo.heap_units)) };
            Heap::check_map(bytes, geo.heap_units)?;
        }
        if let Some(check) = check {
            // SAFETY: the whole mapping, validated; nothing writes it while the slice
            // lives (the lock excludes other writers; this open writes only after).
            let bytes = unsafe { std::slice::from_raw_parts(map.ptr(), map.len()) };
            check(bytes, &geo)?;
        }
        // SAFETY: (1) a live mapping of the validated geometry, not used elsewhere yet.
        unsafe { (journals.check)(map.ptr(), &geo, &persister)? };
        // SAFETY: (1) a live writable mapping of the validated geometry, not used
        // elsewhere yet; (2) the persister is this mapping's.
        unsafe { (journals.reinstate)(map.ptr(), &geo, &persister) };
        // SAFETY: the map region is inside the mapping (validated geometry).
        let map_ptr = unsafe { map.ptr().add(geo.map_off.to_usize()) };
        // The returned RawPool keeps the mapping alive longer than the heap (field order).
        let (units, lanes) = (geo.heap_units, geo.lanes);
        // SAFETY: (1) `map_ptr` holds `units` bytes of the mapping, only the heap's;
        // (2) the persister is this mapping's.
        let heap = unsafe { Heap::open(map_ptr, units, geo.heap_off, persister, lanes)? };
        let generation = header.generation.wrapping_add(1);
        // SAFETY: the header is inside the live mapping; this only computes a field
        // address.
        let gen_ptr = unsafe { &raw mut (*map.header_ptr()).generation };
        // SAFETY: aligned, in the live mapping, not referenced elsewhere (H3).
        unsafe { gen_ptr.write(generation) };
        // PERSIST: the new generation is durable before any volatile cell compares
        // against it (DESIGN §4).
        // SAFETY: 8 bytes of the live mapping.
        unsafe { persister.persist(gen_ptr.cast(), 8) };
        Ok(RawPool {
            heap,
            persister,
            geo,
            uuid: header.uuid,
            generation,
            map,
            file,
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn heap(&self) -> &Heap {
        &self.heap
    }

    pub(crate) fn mode(&self) -> Mode {
        self.persister.mode()
    }

    pub(crate) fn persister(&self) -> &Persister {
        &self.persister
    }

    /// The address of pool offset 0.
    pub(crate) fn base(&self) -> *mut u8 {
        self.map.ptr()
    }

    /// The validated layout of the file.
    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geo
    }

    pub(crate) fn uuid(&self) -> [u8; 16] {
        self.uuid
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn stats(&self) -> AllocStats {
        self.heap.stats()
    }

    /// Reads `buf.len()` bytes of the file at pool offset `off` with `pread`: a copy the
    /// kernel makes from the page cache (which the shared mapping writes), so it races
    /// with no store of this process's threads.
    ///
    /// # Errors
    /// I/O errors, and reads past the end of the file.
    pub(crate) fn read_at(&self, off: PoolOff, buf: &mut [u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.file
            .read_exact_at(buf, off.get())
            .map_err(|e| Error::io("read", &self.path, e))
    }
}

impl Drop for RawPool {
    fn drop(&mut self) {
        // The cached blocks merge back first, so a cleanly closed file's map is
        // canonical; their writes are flushed and made durable by the fence below,
        // while the mapping still exists.
        self.heap.close();
        // Truncations committed transactions left unflushed (stm::truncations) become
        // durable with the same fence: a cleanly closed file holds no log.
        for i in 0..u64::from(self.geo.lanes) {
            let at = self
                .geo
                .journals_off
                .add(i * self.geo.lane_size + LANE_HEADER);
            // SAFETY: the first record word of lane `i`, inside the journals region of
            // the live mapping (validated geometry).
            let word = unsafe { self.map.ptr().add(at.to_usize()) };
            // PERSIST: durable at the fence below.
            // SAFETY: as above.
            unsafe { self.persister.flush(word, 8) };
        }
        // PERSIST: everything the pool's users flushed is durable before the unmap.
        self.persister.fence();
        self.persister
            .forget_range(self.map.ptr() as usize, self.map.len());
    }
}

/// Reads and validates the header of an open pool file without mapping it.
///
/// # Errors
/// [`Error::EmptyFile`], [`Error::NotAPool`], [`Error::Truncated`], I/O errors and every
/// error of [`Header::validate`].
pub(crate) fn read_geometry(file: &File, path: &Path) -> Result<Geometry> {
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    if len == 0 {
        return Err(Error::EmptyFile(path.to_path_buf()));
    }
    let mut buf = [0u8; size_of::<Header>()];
    let n = read_prefix(file, &mut buf).map_err(|e| Error::io("read", path, e))?;
    let mut magic = [0u8; 8];
    magic[..n.min(8)].copy_from_slice(&buf[..n.min(8)]);
    if n < 8 || magic != crate::pool::header::MAGIC {
        return Err(Error::NotAPool { found: magic });
    }
    if len < HEADER_REGION {
        return Err(Error::Truncated {
            len,
            needed: HEADER_REGION,
        });
    }
    let header = Header::read_from(&buf).ok_or(Error::Truncated {
        len,
        needed: HEADER_REGION,
    })?;
    header.validate(len)
}

/// Reads up to `buf.len()` bytes from the start of `file`.
///
/// # Errors
/// The read's I/O error.
fn read_prefix(file: &File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Regions of a geometry, for reports.
pub(crate) fn regions(geo: &Geometry) -> Vec<(Region, PoolOff, u64)> {
    Region::ALL
        .into_iter()
        .map(|r| {
            let d = geo.region(r);
            (r, d.off, d.len)
        })
        .collect()
}

/// What `RawPool::format` writes at offset 0 before anything else, and the header
/// replaces last. Sixteen bytes no pool header starts with (a header starts with its
/// magic), and no file of someone else's is likely to.
const FORMAT_MARKER: &[u8; 16] = b"crndm:formatting";

/// Whether the file of `len` bytes is one a crndm format began and never finished: it
/// starts with [`FORMAT_MARKER`] (which only `format` writes, and the header
/// overwrites). Only such a file, or an empty one, is formatted again by the
/// create-if-needed flags; any other non-pool file is refused as `NotAPool`.
fn interrupted_format(file: &File, len: u64) -> bool {
    let mut head = [0u8; 16];
    len >= 16 && file.read_exact_at(&mut head, 0).is_ok() && &head == FORMAT_MARKER
}

/// CRASH-SIM hook: the process dies at step `step` of a format when the environment
/// variable `CRNDM_CRASH_IN_FORMAT` names it (the tests of an interrupted format).
#[inline]
fn format_crash_point(step: u32) {
    #[cfg(feature = "crash-sim")]
    if std::env::var("CRNDM_CRASH_IN_FORMAT").is_ok_and(|v| v == step.to_string()) {
        std::process::abort();
    }
    #[cfg(not(feature = "crash-sim"))]
    let _ = step;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_plans() {
        use crate::pool::options::{O_CF, O_CFNE};
        assert_eq!(plan(0).unwrap(), Plan::Open);
        assert_eq!(plan(O_F).unwrap(), Plan::Format);
        assert_eq!(plan(O_C).unwrap(), Plan::Format);
        assert_eq!(plan(O_CF).unwrap(), Plan::Format);
        assert_eq!(plan(O_CNE).unwrap(), Plan::FormatIfEmpty);
        assert_eq!(plan(O_CFNE).unwrap(), Plan::FormatIfEmpty);
        assert!(plan(O_C | O_CNE).is_err());
        assert!(plan(64).is_err());
    }

    #[test]
    fn uuids_are_v4_and_differ() {
        let a = random_uuid();
        let b = random_uuid();
        assert_ne!(a, b);
        assert_eq!(a[6] >> 4, 4);
    }
}
