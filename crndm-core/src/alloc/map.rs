//! The order map: the allocator's whole persistent state, and its scanner.
//!
//! # Memory layout
//! The heap is cut into 64-byte *units*; the map holds one byte per unit:
//!
//! ```text
//!  heap:  |u0 |u1 |u2 |u3 |u4 |u5 |u6 |u7 | ...      block of order k = 2^k units,
//!  map:   |U0 |F0 |F1 | 0 |F2 | 0 | 0 | 0 | ...      starting at a unit divisible by 2^k
//!          ^head ^head ^head    ^head
//!  byte:  0b01kkkkkk = used block of order k   (USED | k)
//!         0b10kkkkkk = free block of order k   (FREE | k)
//!         0          = not the first unit of a block ("interior")
//! ```
//!
//! # Invariants
//! - **M1 (tiling)** walking from unit 0 and jumping by each head's block size visits
//!   only head bytes and lands exactly on the unit count: the blocks tile the heap.
//! - **M2 (alignment)** a head of order k sits at a unit divisible by 2^k.
//! - **M3 (canonical interior)** every byte that is not a head is 0. A crash may leave
//!   stale tagged bytes inside a block; opening the pool zeroes them before anything reads
//!   the map by position (so "byte == USED|k" proves a used head).
//! - **M4 (merged)** no two free buddies of the same order sit side by side.
//!
//! Because the map alone says what is free, every change the allocator makes becomes
//! visible by a single byte store (the head byte), which a crash cannot tear.

use crate::convert::{small, to_usize};

/// Tag of a used block's head byte.
pub(crate) const USED: u8 = 0x40;
/// Tag of a free block's head byte.
pub(crate) const FREE: u8 = 0x80;
/// Mask of the order in a head byte.
pub(crate) const ORDER_MASK: u8 = 0x3f;

/// A decoded map byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cell {
    Interior,
    Used(u8),
    Free(u8),
    Invalid(u8),
}

pub(crate) fn decode(b: u8) -> Cell {
    match b & !ORDER_MASK {
        0 if b == 0 => Cell::Interior,
        USED => Cell::Used(b & ORDER_MASK),
        FREE => Cell::Free(b & ORDER_MASK),
        _ => Cell::Invalid(b),
    }
}

/// Number of units of a block of `order`, or `None` if that overflows.
pub(crate) fn units_of(order: u8) -> Option<u64> {
    1u64.checked_shl(u32::from(order))
}

/// What a scan of the map found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Free heads per order, by unit.
    pub(crate) free: Vec<Vec<u64>>,
    /// Number of used blocks per order.
    pub(crate) used: Vec<u64>,
    /// Non-zero bytes that are not heads (benign crash residue, M3).
    pub(crate) stale: Vec<u64>,
    /// Lower units of free buddy pairs of equal order that should be one block (M4).
    pub(crate) unmerged: Vec<(u64, u8)>,
}

impl Scan {
    /// Whether the map is in canonical form (M3 and M4 hold).
    pub(crate) fn is_canonical(&self) -> bool {
        self.stale.is_empty() && self.unmerged.is_empty()
    }
}

/// The largest order a heap of `units` units can hold.
pub(crate) fn max_order(units: u64) -> u8 {
    small(63 - units.max(1).leading_zeros() as usize)
}

/// Reads the map and checks M1 and M2; reports M3 and M4 violations without failing.
///
/// Never panics, whatever the bytes.
///
/// # Errors
/// `(unit, reason)` for the first unit where M1 or M2 fails, or if `map` is shorter than
/// `units` bytes.
pub(crate) fn scan(map: &[u8], units: u64) -> Result<Scan, (u64, String)> {
    let Ok(n) = usize::try_from(units) else {
        return Err((0, "unit count does not fit in memory".into()));
    };
    if map.len() < n {
        return Err((0, format!("map has {} bytes for {units} units", map.len())));
    }
    let orders = usize::from(max_order(units)) + 1;
    let mut out = Scan {
        free: vec![Vec::new(); orders],
        used: vec![0; orders],
        ..Scan::default()
    };
    let mut u = 0u64;
    let mut prev_free: Option<(u64, u8)> = None;
    while u < units {
        let (free, order) = match decode(map[to_usize(u)]) {
            Cell::Used(k) => (false, k),
            Cell::Free(k) => (true, k),
            Cell::Interior => {
                return Err((u, "expected a block head, found an interior byte".into()));
            }
            Cell::Invalid(b) => return Err((u, format!("invalid map byte {b:#04x}"))),
        };
        let Some(size) = units_of(order).filter(|&s| usize::from(order) < orders && u + s <= units)
        else {
            return Err((
                u,
                format!("block of order {order} runs past the end of the heap"),
            ));
        };
        if !u.is_multiple_of(size) {
            return Err((
                u,
                format!("block of order {order} is not aligned to {size} units"),
            ));
        }
        for i in u + 1..u + size {
            if map[to_usize(i)] != 0 {
                out.stale.push(i);
            }
        }
        if free {
            if let Some((pu, pk)) = prev_free
                && pk == order
                && pu + size == u
                && pu.is_multiple_of(2 * size)
            {
                out.unmerged.push((pu, order));
            }
            out.free[usize::from(order)].push(u);
            prev_free = Some((u, order));
        } else {
            out.used[usize::from(order)] += 1;
            prev_free = None;
        }
        u += size;
    }
    Ok(out)
}

/// Writes the map of a freshly formatted heap: the largest aligned free blocks that tile
/// `[0, units)`, every other byte 0.
pub(crate) fn format(map: &mut [u8], units: u64) {
    map.fill(0);
    let mut u = 0u64;
    while u < units {
        let mut k = max_order(units - u);
        while !u.is_multiple_of(1u64 << k) {
            k -= 1;
        }
        map[to_usize(u)] = FREE | k;
        u += 1u64 << k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_maps_scan_clean_for_every_small_size() {
        for units in 1..300u64 {
            let mut map = vec![0xffu8; to_usize(units)];
            format(&mut map, units);
            let s = scan(&map, units).unwrap();
            assert!(s.is_canonical(), "units {units}");
            let free_units: u64 = s
                .free
                .iter()
                .enumerate()
                .map(|(k, v)| v.len() as u64 * (1 << k))
                .sum();
            assert_eq!(free_units, units);
        }
    }

    #[test]
    fn corrupt_maps_are_errors_not_panics() {
        let mut map = vec![0u8; 16];
        format(&mut map, 16);
        assert_eq!(map[0], FREE | 4);
        map[0] = FREE | 5;
        assert!(scan(&map, 16).is_err());
        map[0] = 0x00;
        assert!(scan(&map, 16).is_err());
        map[0] = 0xc1;
        assert!(scan(&map, 16).is_err());
        map[0] = FREE | 0x3f;
        assert!(scan(&map, 16).is_err());
        map[0] = USED;
        assert!(
            scan(&map, 16).is_err(),
            "unit 1 is interior 0 where a head belongs"
        );
        assert!(scan(&map[..4], 16).is_err());
    }

    #[test]
    fn stale_and_unmerged_are_reported() {
        let mut map = vec![0u8; 8];
        map[0] = FREE | 2;
        map[4] = FREE | 2;
        map[5] = USED;
        let s = scan(&map, 8).unwrap();
        assert_eq!(s.stale, vec![5]);
        assert_eq!(s.unmerged, vec![(0, 2)]);
    }
}
