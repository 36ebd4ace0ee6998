//! The public report of a reachability scan ([`Reachability`]), as returned by
//! [`MemPool::leaks`](crate::MemPool::leaks) and shown by `crndm-pool check`.

use super::buddy::{UNIT, block_size};
use super::reach::Reach;

/// What a walk of the heap from the root found: which used blocks no persistent pointer
/// reaches (leaks), and which pointers name memory the allocator calls free (damage).
///
/// The walk needs no types: every aligned 8-byte word of a reachable block whose value
/// lies inside the heap is taken for a pointer to the block containing it. It is
/// *conservative*: an integer that happens to look like an offset can keep a leaked
/// block alive (a leak missed), but a reachable block is never reported as a leak, so
/// freeing the reported leaks (`crndm-pool check --repair --leaks`) never frees a live
/// object. (The one exception is a pointer stored at an address that is not a multiple
/// of 8, which only a `#[repr(packed)]` struct can do; `#[derive(RootLayout)]` refuses
/// those.)
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let root = BuddyAlloc::open::<PCell<Option<Pbox<u64>>>>(dir.path().join("l.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     std::mem::forget(Pbox::new(7u64, j)); // never stored anywhere: a leak
///     root.set(Some(Pbox::new(8u64, j)), j);
/// })?;
/// let r = BuddyAlloc::leaks()?;
/// assert_eq!((r.leaked_blocks, r.leaked_bytes), (1, 64));
/// assert_eq!(r.damaged_pointers, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reachability {
    /// Used blocks reachable from the root (the root's own block included).
    pub reachable_blocks: u64,
    /// Bytes in them (whole blocks).
    pub reachable_bytes: u64,
    /// Used blocks nothing reaches.
    pub leaked_blocks: u64,
    /// Bytes in them (whole blocks).
    pub leaked_bytes: u64,
    /// Leaked blocks by block size: `(block size in bytes, number)`, smallest first,
    /// sizes without leaks left out.
    pub leak_sizes: Vec<(u64, u64)>,
    /// The first leaked blocks by offset, `(pool offset, block size)` (at most 16).
    pub first_leaks: Vec<(u64, u64)>,
    /// Pointer-looking words of reachable blocks into a free block that covers stale
    /// used heads (the map swallowed live blocks: a free head whose order grew), or
    /// where the map has no block: damage to the map.
    pub damaged_pointers: u64,
    /// The first of them, `(pool offset of the word, its value)` (at most 16).
    pub first_damage: Vec<(u64, u64)>,
    /// Pointer-looking words of reachable blocks whose value lies in an ordinary free
    /// block. Stale bytes in unused slots (a popped element, a removed entry, the old
    /// variant of an enum) look exactly like this, so they are counted, not reported;
    /// a used head the map lost without a trace also looks like this (an open limit).
    pub dangling_words: u64,
}

impl Reachability {
    /// Whether nothing leaked and nothing is damaged.
    pub fn is_clean(&self) -> bool {
        self.leaked_blocks == 0 && self.damaged_pointers == 0
    }

    pub(crate) fn from_reach(r: &Reach, heap_off: u64) -> Reachability {
        let off = |u: u64| heap_off + u * UNIT;
        Reachability {
            reachable_blocks: r.reachable,
            reachable_bytes: r.reachable_bytes,
            leaked_blocks: r.leaked_blocks,
            leaked_bytes: r.leaked_bytes(),
            leak_sizes: (0u8..)
                .zip(&r.leaks_by_order)
                .filter(|&(_, &n)| n > 0)
                .map(|(k, &n)| (block_size(k), n))
                .collect(),
            first_leaks: r
                .first_leaks
                .iter()
                .map(|&(u, k)| (off(u), block_size(k)))
                .collect(),
            damaged_pointers: r.damaged,
            first_damage: r.first_damage.clone(),
            dangling_words: r.dangling,
        }
    }
}
