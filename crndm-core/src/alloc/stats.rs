//! Allocator statistics, as reported by [`MemPool::stats`](crate::MemPool::stats) and
//! `crndm-pool info`.

/// Usage of one size class (block order) of the buddy allocator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Block size of the class in bytes (64 × 2^order).
    pub block_size: u64,
    /// Blocks of this size in use.
    pub used_blocks: u64,
    /// Free blocks of this size.
    pub free_blocks: u64,
}

/// A snapshot of a pool heap's usage.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
/// let s = BuddyAlloc::stats()?;
/// assert_eq!(s.used + s.free, s.total);
/// assert!(s.largest_free <= s.free);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Bytes in the heap.
    pub total: u64,
    /// Bytes in used blocks (whole blocks, so it includes rounding to the block size).
    pub used: u64,
    /// Bytes in free blocks.
    pub free: u64,
    /// Size of the largest free block: the largest allocation that can succeed.
    pub largest_free: u64,
    /// Per size class, smallest first; index = order.
    pub classes: Vec<ClassStats>,
}
