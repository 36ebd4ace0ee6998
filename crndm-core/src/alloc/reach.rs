//! Type-free, conservative reachability over the heap: which used blocks no pointer reaches
//! (leaks), and which reachable blocks the map calls free (map damage).
//!
//! Every persistent pointer crndm stores is a pool offset in an aligned 8-byte word
//! (`Pbox`, `Prc`/`Parc` and their weak pointers, collection buffers), so the scan treats
//! *every* aligned word of a reachable used block whose value lies inside the heap as a
//! pointer to the block that contains it. That needs no type information.
//!
//! # Conservative
//! An integer that happens to equal a heap offset keeps its target alive: the scan may
//! miss a leak, but it never calls a reachable block a leak (every real pointer is an
//! aligned word with an in-heap value, and every such word is followed).
//!
//! # Memory
//! Two bitmaps of one bit per 64-byte unit (marked, scanned) and a worklist capped at
//! [`WORKLIST_CAP`] entries. When the worklist is full a marked block is left unscanned and
//! an overflow flag set; once the worklist drains, the marked bitmap is re-scanned for
//! marked-but-unscanned blocks (iterative re-scan). Memory is bounded by the heap size,
//! never by the number of objects.

use super::map::{Cell, decode, units_of};
use crate::util::to_usize;

/// Largest number of blocks waiting to be scanned at once.
pub(crate) const WORKLIST_CAP: usize = 1 << 16;

/// Bytes of a heap unit.
const UNIT: u64 = 64;

/// What a reachability scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reach {
    /// Used blocks no pointer reaches: `(unit, order)`, by unit.
    pub(crate) leaks: Vec<(u64, u8)>,
    /// Pointers into blocks the map does not call used: `(word's pool offset, target)`.
    pub(crate) damage: Vec<(u64, u64)>,
    /// Roots that are not inside the heap or not inside a used block.
    pub(crate) bad_roots: Vec<u64>,
    /// Reachable used blocks.
    pub(crate) reachable: u64,
}

impl Reach {
    /// Bytes in leaked blocks.
    pub(crate) fn leaked_bytes(&self) -> u64 {
        self.leaks.iter().map(|&(_, k)| UNIT << k).sum()
    }
}

struct Bits(Vec<u64>);

impl Bits {
    fn new(n: u64) -> Bits {
        Bits(vec![0; to_usize(n.div_ceil(64))])
    }
    fn get(&self, i: u64) -> bool {
        self.0[to_usize(i / 64)] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: u64) {
        self.0[to_usize(i / 64)] |= 1 << (i % 64);
    }
}

/// The used block containing unit `u`, as `(head unit, order)`, or `Err(head byte)` if the
/// block containing it is not used (free, or no head found). Relies on M2/M3: the head of
/// a block of order k covering `u` sits at `u` rounded down to 2^k.
///
/// # Errors
/// The decoded head byte found instead of a used head (`None`: no head at all).
fn block_of(map: &[u8], units: u64, u: u64) -> Result<(u64, u8), Option<Cell>> {
    for k in 0..64u8 {
        let Some(size) = units_of(k) else { break };
        let head = u & !(size - 1);
        match decode(map[to_usize(head)]) {
            Cell::Interior => {}
            Cell::Used(o) if o >= k && units_of(o).is_some_and(|s| head + s > u) => {
                return if head + (1 << o) <= units {
                    Ok((head, o))
                } else {
                    Err(Some(Cell::Used(o)))
                };
            }
            c => return Err(Some(c)),
        }
        if head == 0 {
            break;
        }
    }
    Err(None)
}

/// Scans the heap from `roots` (pool offsets). `map` holds one byte per unit (canonical:
/// M1–M3 checked by the caller), `heap` the heap's bytes, `heap_off` the heap's pool
/// offset. `progress(done, total)` counts units of scanned blocks.
///
/// Never panics, whatever the bytes.
pub(crate) fn scan(
    map: &[u8],
    heap: &[u8],
    heap_off: u64,
    roots: &[u64],
    progress: impl FnMut(u64, u64),
) -> Reach {
    scan_capped(map, heap, heap_off, roots, WORKLIST_CAP, progress)
}

fn scan_capped(
    map: &[u8],
    heap: &[u8],
    heap_off: u64,
    roots: &[u64],
    cap: usize,
    mut progress: impl FnMut(u64, u64),
) -> Reach {
    let units = (map.len() as u64).min(heap.len() as u64 / UNIT);
    let heap_end = heap_off + units * UNIT;
    let mut marked = Bits::new(units);
    let mut scanned = Bits::new(units);
    let mut work: Vec<(u64, u8)> = Vec::new();
    let mut overflow = false;
    let mut out = Reach::default();
    let mut done = 0u64;
    let mark = |at: u64,
                w: u64,
                marked: &mut Bits,
                work: &mut Vec<(u64, u8)>,
                overflow: &mut bool,
                out: &mut Reach|
     -> bool {
        if w < heap_off || w >= heap_end {
            return false;
        }
        match block_of(map, units, (w - heap_off) / UNIT) {
            Ok((h, k)) => {
                if !marked.get(h) {
                    marked.set(h);
                    out.reachable += 1;
                    if work.len() < cap {
                        work.push((h, k));
                    } else {
                        *overflow = true;
                    }
                }
                true
            }
            Err(_) => {
                out.damage.push((at, w));
                true
            }
        }
    };
    for &r in roots {
        let before = out.damage.len();
        if !mark(r, r, &mut marked, &mut work, &mut overflow, &mut out) {
            out.bad_roots.push(r);
        } else if out.damage.len() > before {
            out.damage.truncate(before);
            out.bad_roots.push(r);
        }
    }
    loop {
        while let Some((h, k)) = work.pop() {
            if scanned.get(h) {
                continue;
            }
            scanned.set(h);
            let start = to_usize(h * UNIT);
            let end = to_usize((h + (1 << k)) * UNIT);
            for (i, c) in heap[start..end].chunks_exact(8).enumerate() {
                let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                let at = heap_off + (start + i * 8) as u64;
                mark(at, w, &mut marked, &mut work, &mut overflow, &mut out);
            }
            done += 1 << k;
            progress(done, units);
        }
        if !overflow {
            break;
        }
        overflow = false;
        for u in 0..units {
            if marked.get(u)
                && !scanned.get(u)
                && let Ok((h, k)) = block_of(map, units, u)
            {
                {
                    if work.len() < cap {
                        work.push((h, k));
                    } else {
                        overflow = true;
                        break;
                    }
                }
            }
        }
    }
    let mut u = 0u64;
    while u < units {
        let b = map[to_usize(u)];
        let size = match decode(b) {
            Cell::Used(k) | Cell::Free(k) => units_of(k).unwrap_or(1),
            _ => 1,
        };
        if let Cell::Used(k) = decode(b)
            && !marked.get(u)
        {
            out.leaks.push((u, k));
        }
        u += size.max(1);
    }
    progress(units, units);
    out
}

#[cfg(test)]
mod tests {
    use super::super::map::{FREE, USED, format};
    use super::*;

    const OFF: u64 = 4096;

    fn heap_with(units: u64) -> (Vec<u8>, Vec<u8>) {
        let mut map = vec![0u8; to_usize(units)];
        format(&mut map, units);
        (map, vec![0u8; to_usize(units * UNIT)])
    }

    /// A 16-unit map of order-0 blocks: `used` are used, the rest free.
    fn used_map(used: &[u64]) -> Vec<u8> {
        let mut map = vec![0u8; 16];
        for (u, b) in map.iter_mut().enumerate() {
            *b = if used.contains(&(u as u64)) {
                USED
            } else {
                FREE
            };
        }
        map
    }

    fn put(heap: &mut [u8], unit: u64, word: usize, v: u64) {
        let at = to_usize(unit * UNIT) + word * 8;
        heap[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn finds_unreachable_blocks_and_follows_chains() {
        let map = used_map(&[0, 1, 2, 3, 5]);
        let mut heap = vec![0u8; 16 * 64];
        // root 0 -> 2 (interior pointer) -> 3; 1 and 5 unreachable (5 -> 1 is a cycle part)
        put(&mut heap, 0, 7, OFF + 2 * 64 + 24);
        put(&mut heap, 2, 0, OFF + 3 * 64);
        put(&mut heap, 5, 3, OFF + 64);
        put(&mut heap, 1, 3, OFF + 5 * 64);
        let r = scan(&map, &heap, OFF, &[OFF], |_, _| {});
        assert_eq!(r.leaks, vec![(1, 0), (5, 0)]);
        assert_eq!(r.leaked_bytes(), 128);
        assert_eq!(r.reachable, 3);
        assert!(r.damage.is_empty() && r.bad_roots.is_empty());
    }

    #[test]
    fn an_integer_equal_to_an_offset_keeps_its_block() {
        let map = used_map(&[0, 4]);
        let mut heap = vec![0u8; 16 * 64];
        put(&mut heap, 0, 1, OFF + 4 * 64); // "just a number" to the scan, still followed
        let r = scan(&map, &heap, OFF, &[OFF], |_, _| {});
        assert!(r.leaks.is_empty(), "conservative: never a false leak");
    }

    #[test]
    fn pointers_into_free_blocks_are_damage() {
        let map = used_map(&[0]);
        let mut heap = vec![0u8; 16 * 64];
        put(&mut heap, 0, 2, OFF + 9 * 64);
        let r = scan(&map, &heap, OFF, &[OFF], |_, _| {});
        assert_eq!(r.damage, vec![(OFF + 16, OFF + 9 * 64)]);
        let r = scan(&map, &heap, OFF, &[OFF + 9 * 64, 17], |_, _| {});
        assert_eq!(r.bad_roots, vec![OFF + 9 * 64, 17]);
    }

    #[test]
    fn worklist_overflow_rescans() {
        // Root block of order 3 fans out to 64 blocks, each pointing at the next in a
        // chain; a worklist of 4 overflows and the re-scan still reaches everything.
        let units = 128u64;
        let (mut map, mut heap) = heap_with(units);
        map.iter_mut().for_each(|b| *b = USED);
        map[1..8].iter_mut().for_each(|b| *b = 0);
        map[0] = USED | 3;
        for w in 0..64 {
            put(&mut heap, 0, w, OFF + (8 + w as u64) * 64);
        }
        for u in 72..units - 1 {
            put(&mut heap, u, 0, OFF + (u + 1) * 64);
        }
        put(&mut heap, 71, 0, OFF + 72 * 64);
        let r = scan_capped(&map, &heap, OFF, &[OFF], 4, |_, _| {});
        assert!(r.leaks.is_empty(), "{:?}", r.leaks);
        assert_eq!(r.reachable, units - 7);
        // Cut the chain: units 101.. become leaks.
        put(&mut heap, 100, 0, 0);
        let r = scan_capped(&map, &heap, OFF, &[OFF], 4, |_, _| {});
        assert_eq!(r.leaks.len() as u64, units - 101);
    }

    #[test]
    fn a_pointer_into_a_later_unit_of_a_big_block_keeps_it() {
        let mut map = used_map(&[0]);
        map[8] = USED | 3; // units 8..16: one order-3 block
        map[9..16].iter_mut().for_each(|b| *b = 0);
        let mut heap = vec![0u8; 16 * 64];
        put(&mut heap, 0, 0, OFF + 13 * 64 + 8);
        let r = scan(&map, &heap, OFF, &[OFF], |_, _| {});
        assert!(r.leaks.is_empty() && r.damage.is_empty(), "{r:?}");
        assert_eq!(r.reachable, 2);
    }
}
