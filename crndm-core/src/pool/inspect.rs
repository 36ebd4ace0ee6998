//! Reading a pool file without opening it for writing: for `crndm-pool info` and
//! `check`, which must never change the file (or crash on it).

use std::fs::File;
use std::path::Path;

use crate::alloc::buddy::{UNIT, block_size, scan_problems};
use crate::alloc::map;
use crate::alloc::{AllocStats, ClassStats};
use crate::error::{Error, Result};
use crate::persist::Mode;
use crate::pool::file::{Mapping, lock};
use crate::pool::header::{Geometry, Header};
use crate::pool::raw::read_geometry;
use crate::util::{small, to_usize};

/// What a read-only look at a pool file found.
#[derive(Debug)]
pub(crate) struct Inspection {
    pub(crate) header: Header,
    pub(crate) geo: Geometry,
    pub(crate) mode: Mode,
    pub(crate) stats: AllocStats,
    pub(crate) problems: Vec<String>,
}

/// Maps `path` read-only under a shared lock, validates the header and scans the
/// allocator map.
///
/// # Errors
/// Header problems and I/O failures; allocator problems are listed instead.
pub(crate) fn inspect(path: &Path) -> Result<Inspection> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound(path.to_path_buf()),
        _ => Error::io("open", path, e),
    })?;
    lock(&file, path, false)?;
    let geo = read_geometry(&file, path)?;
    let (mapping, mode) = Mapping::map(&file, path, geo.pool_size, false, None)?;
    // SAFETY: the mapping covers the whole file (validated length), is read-only, and
    // the shared lock excludes writers while this slice lives (it dies with `mapping`).
    let bytes = unsafe { std::slice::from_raw_parts(mapping.ptr(), mapping.len()) };
    let header = Header::read_from(bytes).ok_or(Error::Truncated {
        len: geo.pool_size,
        needed: size_of::<Header>() as u64,
    })?;
    let map_bytes = &bytes[to_usize(geo.map_off)..to_usize(geo.map_off + geo.map_len)];
    let mut stats = AllocStats {
        total: geo.heap_units * UNIT,
        ..AllocStats::default()
    };
    let problems = match map::scan(map_bytes, geo.heap_units) {
        Ok(scan) => {
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
            scan_problems(&scan)
        }
        Err((u, why)) => vec![format!("heap unit {u}: {why}")],
    };
    Ok(Inspection {
        header,
        geo,
        mode,
        stats,
        problems,
    })
}
