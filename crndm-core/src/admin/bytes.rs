//! Raw, bounds-checked reads of a pool file ([`PoolBytes`]) and its root slot
//! ([`RootSlot`]): what `crndm-pool dump` shows.

use std::path::{Path, PathBuf};

use crate::error::{Error, Region, Result};
use crate::offset::PoolOff;
use crate::pool::inspect::RawFileReader;

/// The root slot of a pool's header: where the root object is and its stored layout.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("x.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// let slot = crndm::admin::PoolBytes::open(&path)?.root()?;
/// assert_eq!(slot, None, "a new pool has no root object");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RootSlot {
    /// Pool offset of the root object.
    pub off: u64,
    /// Size of the root type in bytes.
    pub size: u64,
    /// Alignment of the root type.
    pub align: u64,
    /// Stable hash of the root type's name.
    pub hash: u64,
}

/// A file opened read-only under the pool lock (shared), for reading raw bytes: what
/// `crndm-pool dump` shows. Works on any file, a valid pool or not, except
/// [`root`](Self::root), which needs a valid header. Never writes.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("d.pool");
/// crndm::admin::create(&path, 1 << 20)?;
/// let file = crndm::admin::PoolBytes::open(&path)?;
/// assert_eq!(file.len(), 1 << 20);
/// assert_eq!(file.read(0, 8)?, b"CRNDMPL\0");
/// assert!(file.read(file.len() - 4, 8).is_err(), "past the end");
/// assert_eq!(file.root()?, None, "no root object yet");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PoolBytes {
    reader: RawFileReader,
    path: PathBuf,
}

impl PoolBytes {
    /// Opens `path` read-only and takes its lock shared (a program holding the pool
    /// open excludes readers).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Locked`] and I/O errors.
    pub fn open(path: impl AsRef<Path>) -> Result<PoolBytes> {
        let path = path.as_ref();
        Ok(PoolBytes {
            reader: RawFileReader::open(path)?,
            path: path.to_path_buf(),
        })
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.reader.len()
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks that the `len` bytes at file offset `off` lie inside the file.
    ///
    /// # Errors
    /// [`Error::Io`] of kind `InvalidInput`, saying which bytes are outside the file.
    pub fn check_range(&self, off: u64, len: u64) -> Result<()> {
        let end = off.checked_add(len);
        if end.is_some_and(|e| e <= self.len()) {
            return Ok(());
        }
        Err(Error::io(
            "read",
            &self.path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "bytes {off:#x}..{} are outside the file ({} bytes)",
                    end.map_or_else(|| "overflow".into(), |e| format!("{e:#x}")),
                    self.len()
                ),
            ),
        ))
    }

    /// Reads the `len` bytes at file offset `off`.
    ///
    /// # Errors
    /// [`Error::Io`] of kind `InvalidInput` if the range is not inside the file
    /// ([`check_range`](Self::check_range)); other I/O errors.
    pub fn read(&self, off: u64, len: u64) -> Result<Vec<u8>> {
        self.check_range(off, len)?;
        let n = usize::try_from(len).map_err(|_| {
            Error::io(
                "read",
                &self.path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "length too large"),
            )
        })?;
        self.reader.read(PoolOff::new(off), n)
    }

    /// The header's root slot, or `None` if the pool has no root object. The range
    /// `off..off + size` is checked to lie inside the heap.
    ///
    /// # Errors
    /// Every error of a header that cannot be trusted; [`Error::CorruptHeader`] (field
    /// `root_size`) if the root object would run past the heap.
    pub fn root(&self) -> Result<Option<RootSlot>> {
        let (geo, h) = self.reader.header()?;
        if h.root_off.is_null() {
            return Ok(None);
        }
        let heap = geo.region(Region::Heap);
        if h.root_off
            .checked_add(h.root_size)
            .is_none_or(|end| end > heap.off.add(heap.len))
        {
            return Err(Error::CorruptHeader {
                field: "root_size",
                reason: format!(
                    "{} bytes at {:#x} run past the end of the heap",
                    h.root_size, h.root_off
                ),
            });
        }
        Ok(Some(RootSlot {
            off: h.root_off.get(),
            size: h.root_size,
            align: h.root_align,
            hash: h.root_hash,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::helpers_for_tests::*;

    #[test]
    fn pool_bytes_are_bounds_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = pool(&dir, "bytes.pool");
        let f = PoolBytes::open(&path).unwrap();
        assert_eq!(f.len(), SIZE);
        assert!(!f.is_empty());
        assert_eq!(f.read(SIZE - 2, 2).unwrap().len(), 2);
        assert_eq!(f.read(SIZE, 0).unwrap(), Vec::<u8>::new());
        for (off, len) in [(SIZE - 1, 2), (SIZE, 1), (u64::MAX, 2), (0, u64::MAX)] {
            let e = f.read(off, len).unwrap_err();
            assert!(
                matches!(&e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput),
                "{e:?}"
            );
            assert!(e.to_string().contains("outside the file"), "{e}");
        }
        drop(f);
        let used = blocks(&path, &[(64, false)])[0];
        let mut s = Vec::new();
        for w in [used, 40, 8, 5] {
            s.extend_from_slice(&w.to_le_bytes());
        }
        patch(&path, 200, &s);
        let f = PoolBytes::open(&path).unwrap();
        assert_eq!(
            f.root().unwrap(),
            Some(RootSlot {
                off: used,
                size: 40,
                align: 8,
                hash: 5
            })
        );
        patch(&path, 208, &u64::MAX.to_le_bytes());
        assert!(matches!(
            f.root(),
            Err(Error::CorruptHeader {
                field: "root_size",
                ..
            })
        ));
        // Raw reads work on any file; the root needs a pool.
        let txt = dir.path().join("notes.txt");
        std::fs::write(&txt, b"hello").unwrap();
        let f = PoolBytes::open(&txt).unwrap();
        assert_eq!(f.read(1, 3).unwrap(), b"ell");
        assert!(matches!(f.root(), Err(Error::NotAPool { .. })));
    }
}
