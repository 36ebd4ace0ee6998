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
/// // A fresh heap is a few large free blocks: some of it lies outside the largest.
/// assert!((0.0..1.0).contains(&s.fragmentation()));
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

impl AllocStats {
    /// The share of the free bytes that lies outside the largest free block, from 0.0
    /// (all free memory is one block: any allocation up to [`free`](Self::free) can
    /// succeed) towards 1.0 (free memory scattered in small blocks: large allocations fail
    /// although much is free). 0.0 when nothing is free.
    ///
    /// ```
    /// use crndm::AllocStats;
    /// let s = AllocStats { total: 1024, free: 512, largest_free: 128, ..AllocStats::default() };
    /// assert_eq!(s.fragmentation(), 0.75);
    /// assert_eq!(AllocStats::default().fragmentation(), 0.0);
    /// ```
    #[must_use]
    pub fn fragmentation(&self) -> f64 {
        if self.free == 0 {
            return 0.0;
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "a ratio: rounding byte counts above 2^53 changes it by < 1e-15"
        )]
        let share = self.largest_free.min(self.free) as f64 / self.free as f64;
        1.0 - share
    }
}
