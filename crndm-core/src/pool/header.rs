//! The pool file header: format, geometry, and validation of untrusted bytes.
//!
//! # Memory layout (format version 1, little-endian, `#[repr(C)]`)
//! ```text
//! file offset
//! 0x0000 +-------------------------------------------------------------+
//!        | Header (256 B)                                              |
//!        |   0 magic "CRNDMPL\0"   8 version   12 header_len           |
//!        |  16 uuid[16]           32 pool_size  40 unit_log  44 lanes   |
//!        |  48 lane_size          56 regions[4] {off, len}             |
//!        | 120 heap_units        128 reserved (must be 0)              |
//!        | 184 checksum = FNV-1a of bytes 0..184   (immutable part)    |
//!        | 192 generation  200 root_off  208 root_size  216 root_align |
//!        | 224 root_hash   232 reserved        (mutable line, 192..256)|
//! 0x1000 +-------------------------------------------------------------+
//!        | journals: `lanes` × `lane_size` bytes                       |
//!        +-------------------------------------------------------------+  page-aligned
//!        | alloc map: one byte per heap unit, padded to a page         |
//!        +-------------------------------------------------------------+  page-aligned
//!        | heap: `heap_units` × 64 B                                   |
//!        +-------------------------------------------------------------+  pool_size
//! ```
//! Offsets, never addresses, are stored; offset 0 (the header) is the null offset.
//!
//! # Invariants
//! - **H1** the immutable part (0..192) never changes after format; its checksum covers it.
//! - **H2** the regions are in file order, page-aligned, non-overlapping, inside the file.
//! - **H3** the mutable line (192..256) is changed only by an 8-byte store (generation)
//!   or inside a transaction (root slot).

use crate::alloc::buddy::{UNIT, UNIT_LOG};
use crate::error::{Error, Region, Result};
use crate::hashers::fnv1a;
use crate::offset::PoolOff;
use crate::pool::options::{PAGE, PoolOptions};

/// The first eight bytes of every pool file.
pub(crate) const MAGIC: [u8; 8] = *b"CRNDMPL\0";
/// The format version this build reads and writes.
pub(crate) const VERSION: u32 = 1;
/// Bytes reserved for the header region.
pub(crate) const HEADER_REGION: u64 = PAGE;
/// Bytes covered by the checksum.
const CHECKED: usize = 184;
/// The largest number of journals a pool may declare.
pub(crate) const MAX_LANES: u32 = 1024;
/// Bytes of a lane's header, before its first record word (the lane format is
/// `stm::lane`'s; `stm/open.rs` asserts its `LANE_HEADER` equal).
pub(crate) const LANE_HEADER: u64 = 64;

/// A region descriptor as stored in the header.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RegionDesc {
    pub(crate) off: PoolOff,
    pub(crate) len: u64,
}

/// The on-media header. Any bit pattern is a valid value of this type (integers and
/// byte arrays only), so it can be read from untrusted bytes and then validated.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) magic: [u8; 8],
    pub(crate) version: u32,
    pub(crate) header_len: u32,
    pub(crate) uuid: [u8; 16],
    pub(crate) pool_size: u64,
    pub(crate) unit_log: u32,
    pub(crate) lanes: u32,
    pub(crate) lane_size: u64,
    pub(crate) regions: [RegionDesc; 4],
    pub(crate) heap_units: u64,
    pub(crate) reserved: [u64; 7],
    pub(crate) checksum: u64,
    // ---- mutable line ----
    pub(crate) generation: u64,
    pub(crate) root_off: PoolOff,
    pub(crate) root_size: u64,
    pub(crate) root_align: u64,
    pub(crate) root_hash: u64,
    pub(crate) reserved2: [u64; 3],
}

const _: () = assert!(size_of::<Header>() == 256);
const _: () = assert!(std::mem::offset_of!(Header, checksum) == CHECKED);
const _: () = assert!(std::mem::offset_of!(Header, generation) == 192);
const _: () = assert!(std::mem::offset_of!(Header, heap_units) == 120);

/// Where everything is, as validated at open; the trusted DRAM copy of the header's
/// immutable part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) pool_size: u64,
    pub(crate) lanes: u32,
    pub(crate) lane_size: u64,
    pub(crate) journals_off: PoolOff,
    pub(crate) map_off: PoolOff,
    pub(crate) map_len: u64,
    pub(crate) heap_off: PoolOff,
    pub(crate) heap_units: u64,
}

impl Geometry {
    /// Lays out a pool of `opts.size` bytes.
    ///
    /// # Errors
    /// [`Error::InvalidSize`] saying why the options cannot make a pool.
    pub(crate) fn plan(opts: &PoolOptions) -> Result<Geometry> {
        let size = opts.size;
        let bad = |reason| Error::InvalidSize { size, reason };
        if !size.is_multiple_of(PAGE) {
            return Err(bad("must be a multiple of 4096 bytes"));
        }
        // The same rules `validate` applies, checked before any file is touched.
        if opts.lanes == 0 || opts.lanes > MAX_LANES {
            return Err(bad("needs between 1 and 1024 journals"));
        }
        if opts.lane_size == 0 || !opts.lane_size.is_multiple_of(PAGE) {
            return Err(bad(
                "journal size must be a positive multiple of 4096 bytes",
            ));
        }
        let journals_off = HEADER_REGION;
        let fixed = u64::from(opts.lanes)
            .checked_mul(opts.lane_size)
            .and_then(|len| len.checked_add(journals_off))
            .ok_or(bad("journal region overflows"))?;
        let avail = size
            .checked_sub(fixed)
            .ok_or(bad(
                "too small for the header and journals (ask for fewer or smaller ones: `PoolOptions::journals`, `crndm-pool create --journals`)",
            ))?;
        let units = avail / (UNIT + 1);
        let map_len = units.next_multiple_of(PAGE);
        let heap_off = fixed + map_len;
        let heap_units = units.min(size.saturating_sub(heap_off) / UNIT);
        if heap_units < PAGE / UNIT {
            return Err(bad("leaves less than 4 KiB of heap"));
        }
        Ok(Geometry {
            pool_size: size,
            lanes: opts.lanes,
            lane_size: opts.lane_size,
            journals_off: PoolOff::new(journals_off),
            map_off: PoolOff::new(fixed),
            map_len,
            heap_off: PoolOff::new(heap_off),
            heap_units,
        })
    }

    pub(crate) fn region(&self, r: Region) -> RegionDesc {
        match r {
            Region::Header => RegionDesc {
                off: PoolOff::NULL,
                len: HEADER_REGION,
            },
            Region::Journals => RegionDesc {
                off: self.journals_off,
                len: u64::from(self.lanes) * self.lane_size,
            },
            Region::AllocMap => RegionDesc {
                off: self.map_off,
                len: self.map_len,
            },
            Region::Heap => RegionDesc {
                off: self.heap_off,
                len: self.heap_units * UNIT,
            },
        }
    }
}

impl Header {
    /// A fresh header for `geo`, with a new UUID and a valid checksum.
    pub(crate) fn new(geo: &Geometry, uuid: [u8; 16]) -> Header {
        let mut h = Header {
            magic: MAGIC,
            version: VERSION,
            header_len: 4096,
            uuid,
            pool_size: geo.pool_size,
            unit_log: UNIT_LOG,
            lanes: geo.lanes,
            lane_size: geo.lane_size,
            regions: Region::ALL.map(|r| geo.region(r)),
            heap_units: geo.heap_units,
            reserved: [0; 7],
            checksum: 0,
            generation: 0,
            root_off: PoolOff::NULL,
            root_size: 0,
            root_align: 0,
            root_hash: 0,
            reserved2: [0; 3],
        };
        h.checksum = h.compute_checksum();
        h
    }

    /// Reads a header from the first bytes of a file; `None` if there are too few.
    pub(crate) fn read_from(bytes: &[u8]) -> Option<Header> {
        if bytes.len() < size_of::<Header>() {
            return None;
        }
        // Every bit pattern is a valid `Header` (integers, byte arrays and `PoolOff`s,
        // which are `repr(transparent)` `u64`s, only).
        // SAFETY: `bytes` has at least size_of::<Header>() bytes (checked above);
        // `read_unaligned` needs no alignment.
        Some(unsafe { bytes.as_ptr().cast::<Header>().read_unaligned() })
    }

    /// The header's bytes, as written to the file.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Header` is `repr(C)` with no padding (its size is the sum of its
        // fields, asserted above), so all its 256 bytes are initialised.
        unsafe {
            std::slice::from_raw_parts(std::ptr::from_ref(self).cast::<u8>(), size_of::<Header>())
        }
    }

    pub(crate) fn compute_checksum(&self) -> u64 {
        fnv1a(&self.as_bytes()[..CHECKED])
    }

    /// Validates an untrusted header against the file's length; returns the geometry
    /// every later access relies on. Never panics.
    ///
    /// # Errors
    /// The specific error of the first check that fails, in the order of the module
    /// docs: magic, version, checksum, fields, size, regions, root slot.
    pub(crate) fn validate(&self, file_len: u64) -> Result<Geometry> {
        if self.magic != MAGIC {
            return Err(Error::NotAPool { found: self.magic });
        }
        if self.version != VERSION {
            return Err(Error::UnsupportedVersion {
                found: self.version,
                supported: VERSION,
            });
        }
        let computed = self.compute_checksum();
        if computed != self.checksum {
            return Err(Error::BadChecksum {
                stored: self.checksum,
                computed,
            });
        }
        let corrupt = |field, reason: String| Error::CorruptHeader { field, reason };
        if u64::from(self.header_len) != HEADER_REGION {
            return Err(corrupt(
                "header_len",
                format!("is {}, expected {HEADER_REGION}", self.header_len),
            ));
        }
        if self.pool_size != file_len {
            return Err(Error::SizeMismatch {
                header: self.pool_size,
                file: file_len,
            });
        }
        if self.unit_log != UNIT_LOG {
            return Err(corrupt(
                "unit_log",
                format!("is {}, expected {UNIT_LOG}", self.unit_log),
            ));
        }
        if self.lanes == 0 || self.lanes > MAX_LANES {
            return Err(corrupt(
                "lanes",
                format!("is {}, expected 1..={MAX_LANES}", self.lanes),
            ));
        }
        if self.lane_size == 0 || !self.lane_size.is_multiple_of(PAGE) {
            return Err(corrupt(
                "lane_size",
                format!("{} is not a positive multiple of {PAGE}", self.lane_size),
            ));
        }
        if self.reserved != [0; 7] {
            return Err(corrupt("reserved", "is not zero".into()));
        }
        let mut end = 0u64;
        for (r, d) in Region::ALL.into_iter().zip(self.regions) {
            let out = || Error::RegionOutOfBounds {
                region: r,
                off: d.off.get(),
                len: d.len,
            };
            let stop = d.off.checked_add(d.len).ok_or_else(out)?.get();
            if d.off.get() < end || stop > self.pool_size || !d.off.is_multiple_of(PAGE) {
                return Err(out());
            }
            end = stop;
        }
        let [header, journals, map, heap] = self.regions;
        if !header.off.is_null() || header.len != HEADER_REGION {
            return Err(Error::RegionOutOfBounds {
                region: Region::Header,
                off: header.off.get(),
                len: header.len,
            });
        }
        if Some(journals.len) != u64::from(self.lanes).checked_mul(self.lane_size) {
            return Err(corrupt(
                "lanes",
                "times lane_size is not the journal region's length".into(),
            ));
        }
        if self.heap_units == 0
            || Some(heap.len) != self.heap_units.checked_mul(UNIT)
            || map.len < self.heap_units
        {
            return Err(corrupt(
                "heap_units",
                format!(
                    "{} does not match the heap and map regions",
                    self.heap_units
                ),
            ));
        }
        let geo = Geometry {
            pool_size: self.pool_size,
            lanes: self.lanes,
            lane_size: self.lane_size,
            journals_off: journals.off,
            map_off: map.off,
            map_len: map.len,
            heap_off: heap.off,
            heap_units: self.heap_units,
        };
        if !self.root_off.is_null()
            && (self.root_off < heap.off
                || self.root_off >= heap.off.add(heap.len)
                || !self.root_off.is_multiple_of(UNIT))
        {
            return Err(corrupt(
                "root_off",
                format!("{:#x} is not a block of the heap", self.root_off),
            ));
        }
        Ok(geo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Header, Geometry) {
        let geo = Geometry::plan(&PoolOptions::new()).unwrap();
        (Header::new(&geo, [7; 16]), geo)
    }

    #[test]
    fn a_fresh_header_validates_to_its_geometry() {
        let (h, geo) = sample();
        assert_eq!(h.validate(geo.pool_size).unwrap(), geo);
        let back = Header::read_from(h.as_bytes()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn planned_regions_tile_the_file_in_order() {
        for mib in [1u64, 2, 8, 64, 1000] {
            let geo = Geometry::plan(&PoolOptions::new().size(mib << 20)).unwrap();
            let mut end = 0;
            for r in Region::ALL {
                let d = geo.region(r);
                assert!(
                    d.off.get() >= end && d.off.is_multiple_of(PAGE),
                    "{r} in {mib} MiB"
                );
                end = d.off.add(d.len).get();
            }
            assert!(end <= geo.pool_size);
            assert!(geo.map_len >= geo.heap_units);
            // Little waste: the heap gets nearly all of what is left.
            assert!(geo.pool_size - end < 2 * PAGE + geo.heap_units / 64 + 64);
        }
    }

    #[test]
    fn each_field_corruption_has_its_error() {
        let (h, geo) = sample();
        let len = geo.pool_size;
        let resum = |mut h: Header| {
            h.checksum = h.compute_checksum();
            h
        };
        let mut x = h;
        x.magic[0] ^= 1;
        assert!(matches!(x.validate(len), Err(Error::NotAPool { .. })));
        let mut x = h;
        x.version = 2;
        assert!(matches!(
            x.validate(len),
            Err(Error::UnsupportedVersion { found: 2, .. })
        ));
        let mut x = h;
        x.uuid[3] ^= 1;
        assert!(matches!(x.validate(len), Err(Error::BadChecksum { .. })));
        assert!(matches!(
            h.validate(len + PAGE),
            Err(Error::SizeMismatch { .. })
        ));
        let mut x = h;
        x.regions[3].len += PAGE;
        assert!(matches!(
            resum(x).validate(len),
            Err(Error::RegionOutOfBounds {
                region: Region::Heap,
                ..
            })
        ));
        let mut x = h;
        x.regions[2].off = PoolOff::NULL;
        assert!(matches!(
            resum(x).validate(len),
            Err(Error::RegionOutOfBounds {
                region: Region::AllocMap,
                ..
            })
        ));
        let mut x = h;
        x.regions[1].off = PoolOff::new(u64::MAX);
        assert!(matches!(
            resum(x).validate(len),
            Err(Error::RegionOutOfBounds {
                region: Region::Journals,
                ..
            })
        ));
        let mut x = h;
        x.lanes = 0;
        assert!(matches!(
            resum(x).validate(len),
            Err(Error::CorruptHeader { field: "lanes", .. })
        ));
        let mut x = h;
        x.heap_units += 1;
        assert!(matches!(
            resum(x).validate(len),
            Err(Error::CorruptHeader {
                field: "heap_units",
                ..
            })
        ));
        let mut x = h;
        x.root_off = PoolOff::new(8);
        assert!(matches!(
            x.validate(len),
            Err(Error::CorruptHeader {
                field: "root_off",
                ..
            })
        ));
        let mut x = h;
        x.header_len = 5;
        assert!(matches!(
            resum(x).validate(len),
            Err(Error::CorruptHeader {
                field: "header_len",
                ..
            })
        ));
    }
}
