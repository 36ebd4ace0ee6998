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

use super::buddy::UNIT;
use super::map::{Cell, decode, units_of};
use crate::convert::to_usize;

/// Largest number of blocks waiting to be scanned at once.
pub(crate) const WORKLIST_CAP: usize = 1 << 16;

/// How many leaked blocks and damaged pointers a [`Reach`] lists by offset (the counts
/// cover them all).
pub(crate) const LISTED: usize = 16;

/// Where the scan reads a used block's bytes.
pub(crate) trait BlockSource {
    /// The bytes of the block of `order` at heap unit `unit` (inside the heap), or
    /// `None` if they cannot be read (the block is then not followed).
    fn block(&mut self, unit: u64, order: u8) -> Option<&[u8]>;
}

/// A heap held in memory (or mapped read-only): the blocks are slices of it.
impl BlockSource for &[u8] {
    fn block(&mut self, unit: u64, order: u8) -> Option<&[u8]> {
        let start = usize::try_from(unit.checked_mul(UNIT)?).ok()?;
        let len = usize::try_from(UNIT.checked_shl(u32::from(order))?).ok()?;
        self.get(start..start.checked_add(len)?)
    }
}

/// What a reachability scan found. Its size is bounded by the heap's, never by the
/// number of objects: leaks and damage are counted, and only the first [`LISTED`] of
/// each are kept by offset; [`Reach::for_each_leak`] visits them all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reach {
    /// Used blocks no pointer reaches.
    pub(crate) leaked_blocks: u64,
    /// Leaked blocks per order (index = order).
    pub(crate) leaks_by_order: Vec<u64>,
    /// The first leaked blocks `(unit, order)`, by unit.
    pub(crate) first_leaks: Vec<(u64, u8)>,
    /// Pointers into free blocks that hold stale used heads: blocks the map swallowed
    /// (a free head whose order grew over live blocks). Map damage.
    pub(crate) damaged: u64,
    /// The first of them: `(word's pool offset, target)`.
    pub(crate) first_damage: Vec<(u64, u64)>,
    /// Pointer-looking words into other free memory: stale bytes in unused slots (a
    /// popped element, a removed entry, an enum's old variant) look the same as a
    /// pointer whose block the map lost, so these are counted, not reported.
    pub(crate) dangling: u64,
    /// Roots that are not inside the heap or not inside a used block.
    pub(crate) bad_roots: Vec<u64>,
    /// Reachable used blocks.
    pub(crate) reachable: u64,
    /// Bytes in reachable used blocks.
    pub(crate) reachable_bytes: u64,
    /// One bit per unit: the head of a reachable block.
    marked: Bits,
}

impl Reach {
    /// Bytes in leaked blocks.
    pub(crate) fn leaked_bytes(&self) -> u64 {
        (0u32..)
            .zip(&self.leaks_by_order)
            .map(|(k, &n)| n * (UNIT << k))
            .sum()
    }

    /// Calls `f(unit, order)` for every leaked block, by unit; `map` is the map the scan
    /// ran on.
    pub(crate) fn for_each_leak(&self, map: &[u8], mut f: impl FnMut(u64, u8)) {
        let units = self.marked.len();
        let mut u = 0u64;
        while u < units {
            let c = decode(map.get(to_usize(u)).copied().unwrap_or(0));
            if let Cell::Used(k) = c
                && !self.marked.get(u)
            {
                f(u, k);
            }
            u += match c {
                Cell::Used(k) | Cell::Free(k) => units_of(k).unwrap_or(1),
                _ => 1,
            };
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Bits(Vec<u64>, u64);

/// Bits of one word of a [`Bits`].
const WORD_BITS: u64 = u64::BITS as u64;

impl Bits {
    fn new(n: u64) -> Bits {
        Bits(vec![0; to_usize(n.div_ceil(WORD_BITS))], n)
    }
    fn len(&self) -> u64 {
        self.1
    }
    fn get(&self, i: u64) -> bool {
        self.0[to_usize(i / WORD_BITS)] & (1 << (i % WORD_BITS)) != 0
    }
    fn set(&mut self, i: u64) {
        self.0[to_usize(i / WORD_BITS)] |= 1 << (i % WORD_BITS);
    }
}

/// The used block containing unit `u`, as `(head unit, order)`, or `Err(head byte)` if the
/// block containing it is not used (free, or no head found). Relies on M2/M3: the head of
/// a block of order k covering `u` sits at `u` rounded down to 2^k.
///
/// # Errors
/// The head unit and decoded head byte found instead of a used head (`None`: no head
/// at all).
fn block_of(map: &[u8], units: u64, u: u64) -> Result<(u64, u8), Option<(u64, Cell)>> {
    for k in 0..64u8 {
        let Some(size) = units_of(k) else { break };
        let head = u & !(size - 1);
        match decode(map[to_usize(head)]) {
            Cell::Interior => {}
            Cell::Used(o) if o >= k && units_of(o).is_some_and(|s| head + s > u) => {
                return if units_of(o).is_some_and(|s| head + s <= units) {
                    Ok((head, o))
                } else {
                    Err(Some((head, Cell::Used(o))))
                };
            }
            c => return Err(Some((head, c))),
        }
        if head == 0 {
            break;
        }
    }
    Err(None)
}

/// `map` with the stale heads `stale` (M3 residue a crash left, found by
/// [`map::scan`](super::map::scan)) zeroed, as [`scan`] needs it.
pub(crate) fn canonical<'m>(map: &'m [u8], stale: &[u64]) -> std::borrow::Cow<'m, [u8]> {
    if stale.is_empty() {
        return std::borrow::Cow::Borrowed(map);
    }
    let mut m = map.to_vec();
    for &u in stale {
        if let Some(b) = m.get_mut(to_usize(u)) {
            *b = 0;
        }
    }
    std::borrow::Cow::Owned(m)
}

/// Scans the heap from `roots` (pool offsets). `map` holds one byte per unit (M1 and M2
/// checked by the caller, stale heads zeroed: M3, [`canonical`]); `stale` lists the
/// zeroed units, sorted; `blocks` gives the bytes of used blocks, `heap_off` is the
/// heap's pool offset. `progress(done, total)` counts units of scanned blocks.
///
/// Never panics, whatever the bytes.
pub(crate) fn scan(
    map: &[u8],
    stale: &[u64],
    blocks: &mut impl BlockSource,
    heap_off: u64,
    roots: &[u64],
    progress: impl FnMut(u64, u64),
) -> Reach {
    scan_capped(map, stale, blocks, heap_off, roots, WORKLIST_CAP, progress)
}

/// The scan's marking state.
struct Marker<'m> {
    map: &'m [u8],
    /// Units with stale heads (M3 residue) in the map as read, sorted.
    stale: &'m [u64],
    units: u64,
    heap_off: u64,
    heap_end: u64,
    cap: usize,
    work: Vec<(u64, u8)>,
    overflow: bool,
    out: Reach,
}

impl Marker<'_> {
    /// Marks the block word `w` (stored at pool offset `at`) points into; returns
    /// whether `w` lies inside the heap.
    fn mark(&mut self, at: u64, w: u64) -> bool {
        if w < self.heap_off || w >= self.heap_end {
            return false;
        }
        match block_of(self.map, self.units, (w - self.heap_off) / UNIT) {
            Ok((h, k)) => {
                if !self.out.marked.get(h) {
                    self.out.marked.set(h);
                    self.out.reachable += 1;
                    self.out.reachable_bytes += UNIT << k;
                    if self.work.len() < self.cap {
                        self.work.push((h, k));
                    } else {
                        self.overflow = true;
                    }
                }
            }
            Err(found) => {
                let swallowed = match found {
                    Some((head, Cell::Free(k))) => {
                        let end = head.saturating_add(units_of(k).unwrap_or(1));
                        let i = self.stale.partition_point(|&s| s <= head);
                        self.stale.get(i).is_some_and(|&s| s < end)
                    }
                    _ => true,
                };
                if swallowed {
                    self.out.damaged += 1;
                    if self.out.first_damage.len() < LISTED {
                        self.out.first_damage.push((at, w));
                    }
                } else {
                    self.out.dangling += 1;
                }
            }
        }
        true
    }
}

fn scan_capped(
    map: &[u8],
    stale: &[u64],
    blocks: &mut impl BlockSource,
    heap_off: u64,
    roots: &[u64],
    cap: usize,
    mut progress: impl FnMut(u64, u64),
) -> Reach {
    let units = map.len() as u64;
    let mut m = Marker {
        map,
        stale,
        units,
        heap_off,
        heap_end: heap_off.saturating_add(units.saturating_mul(UNIT)),
        cap,
        work: Vec::new(),
        overflow: false,
        out: Reach {
            marked: Bits::new(units),
            ..Reach::default()
        },
    };
    let mut scanned = Bits::new(units);
    let mut done = 0u64;
    for &r in roots {
        let (damaged, dangling) = (m.out.damaged, m.out.dangling);
        let in_heap = m.mark(r, r);
        if !in_heap || m.out.damaged > damaged || m.out.dangling > dangling {
            (m.out.damaged, m.out.dangling) = (damaged, dangling);
            m.out.first_damage.retain(|&(at, _)| at != r);
            m.out.bad_roots.push(r);
        }
    }
    loop {
        while let Some((h, k)) = m.work.pop() {
            if scanned.get(h) {
                continue;
            }
            scanned.set(h);
            let at0 = heap_off + h * UNIT;
            if let Some(bytes) = blocks.block(h, k) {
                for (i, c) in (0u64..).zip(bytes.chunks_exact(8)) {
                    let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                    m.mark(at0 + i * 8, w);
                }
            }
            done += 1 << k;
            progress(done, units);
        }
        if !m.overflow {
            break;
        }
        // Iterative re-scan: blocks marked while the worklist was full.
        m.overflow = false;
        for u in 0..units {
            if m.out.marked.get(u) && !scanned.get(u) {
                if m.work.len() >= cap {
                    m.overflow = true;
                    break;
                }
                if let Ok((h, k)) = block_of(map, units, u) {
                    m.work.push((h, k));
                }
            }
        }
    }
    let mut out = m.out;
    let mut by_order = Vec::new();
    let mut first = Vec::new();
    out.for_each_leak(map, |u, k| {
        let k_ix = usize::from(k);
        if by_order.len() <= k_ix {
            by_order.resize(k_ix + 1, 0);
        }
        by_order[k_ix] += 1;
        if first.len() < LISTED {
            first.push((u, k));
        }
    });
    out.leaked_blocks = by_order.iter().sum();
    out.leaks_by_order = by_order;
    out.first_leaks = first;
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
        let r = scan(&map, &[], &mut &heap[..], OFF, &[OFF], |_, _| {});
        assert_eq!(r.first_leaks, vec![(1, 0), (5, 0)]);
        assert_eq!(r.leaked_blocks, 2);
        assert_eq!(r.leaked_bytes(), 128);
        assert_eq!(r.reachable, 3);
        assert!(r.damaged == 0 && r.bad_roots.is_empty());
    }

    #[test]
    fn an_integer_equal_to_an_offset_keeps_its_block() {
        let map = used_map(&[0, 4]);
        let mut heap = vec![0u8; 16 * 64];
        put(&mut heap, 0, 1, OFF + 4 * 64); // "just a number" to the scan, still followed
        let r = scan(&map, &[], &mut &heap[..], OFF, &[OFF], |_, _| {});
        assert_eq!(r.leaked_blocks, 0, "conservative: never a false leak");
    }

    #[test]
    fn pointers_into_swallowing_free_blocks_are_damage() {
        let mut map = used_map(&[0]);
        let mut heap = vec![0u8; 16 * 64];
        put(&mut heap, 0, 2, OFF + 9 * 64);
        let r = scan(&map, &[], &mut &heap[..], OFF, &[OFF], |_, _| {});
        assert_eq!(
            (r.damaged, r.dangling),
            (0, 1),
            "a clean free block: stale data?"
        );
        // Units 8..12 one free block of order 2 over a stale used head at 10 (zeroed by
        // `canonical`): the map swallowed a block, and a pointer into it is damage.
        map[8] = FREE | 2;
        map[9..12].iter_mut().for_each(|b| *b = 0);
        let r = scan(&map, &[10], &mut &heap[..], OFF, &[OFF], |_, _| {});
        assert_eq!((r.damaged, r.dangling), (1, 0));
        assert_eq!(r.first_damage, vec![(OFF + 16, OFF + 9 * 64)]);
        let r = scan(
            &map,
            &[],
            &mut &heap[..],
            OFF,
            &[OFF + 9 * 64, 17],
            |_, _| {},
        );
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
        let r = scan_capped(&map, &[], &mut &heap[..], OFF, &[OFF], 4, |_, _| {});
        assert_eq!(r.leaked_blocks, 0, "{:?}", r.first_leaks);
        assert_eq!(r.reachable, units - 7);
        // Cut the chain: units 101.. become leaks.
        put(&mut heap, 100, 0, 0);
        let r = scan_capped(&map, &[], &mut &heap[..], OFF, &[OFF], 4, |_, _| {});
        assert_eq!(r.leaked_blocks, units - 101);
    }

    #[test]
    fn a_pointer_into_a_later_unit_of_a_big_block_keeps_it() {
        let mut map = used_map(&[0]);
        map[8] = USED | 3; // units 8..16: one order-3 block
        map[9..16].iter_mut().for_each(|b| *b = 0);
        let mut heap = vec![0u8; 16 * 64];
        put(&mut heap, 0, 0, OFF + 13 * 64 + 8);
        let r = scan(&map, &[], &mut &heap[..], OFF, &[OFF], |_, _| {});
        assert!(r.leaked_blocks == 0 && r.damaged == 0, "{r:?}");
        assert_eq!(r.reachable, 2);
    }
}
