//! Open flags and the options builder.

use crate::persist::Mode;

/// Page size of every layout decision in the file format.
pub(crate) const PAGE: u64 = 4096;

/// Open flags: a bit set of [`O_C`], [`O_F`], [`O_CNE`].
pub type Flags = u32;

/// Create the pool file, truncating it if it exists; a created file is always formatted.
pub const O_C: Flags = 1;
/// Format the pool: wipe what the file holds and write an empty pool.
pub const O_F: Flags = 2;
/// Create and format the pool file only if it is missing (or empty); otherwise open it.
pub const O_CNE: Flags = 4;
/// `O_C | O_F`: a fresh, empty pool whatever was there.
pub const O_CF: Flags = O_C | O_F;
/// `O_CNE | O_F`: open the pool, creating and formatting it first if it is missing.
pub const O_CFNE: Flags = O_CNE | O_F;

/// How a pool is opened: its size when it is created, its journals, its mode.
///
/// | flags            | file missing     | empty file | valid pool    | anything else          |
/// |------------------|------------------|------------|---------------|------------------------|
/// | `0`              | `NotFound`       | `EmptyFile`| open          | specific error         |
/// | `O_F`            | `NotFound`       | format     | format (wipe) | format (wipe)          |
/// | `O_C`, `O_CF`    | create + format  | format     | format (wipe) | format (wipe)          |
/// | `O_CNE`, `O_CFNE`| create + format  | format     | open          | specific error         |
///
/// `O_C` with `O_CNE` is refused with [`Error::InvalidFlags`](crate::Error::InvalidFlags),
/// as is any unknown bit.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let pool = PoolOptions::new()
///     .size(16 << 20)
///     .open_no_root::<BuddyAlloc>(dir.path().join("big.pool"), O_CFNE)?;
/// assert!(BuddyAlloc::stats()?.total > 15 << 20);
/// # drop(pool);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolOptions {
    pub(crate) size: u64,
    pub(crate) lanes: u32,
    pub(crate) lane_size: u64,
    pub(crate) mode: Option<Mode>,
    /// CRASH-SIM hook: the power-failure simulator the pool is opened under, if any.
    #[cfg(feature = "crash-sim")]
    pub(crate) sim: Option<crate::persist::sim::Sim>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions::new()
    }
}

impl PoolOptions {
    /// The size of a pool created without [`size`](Self::size): 8 MiB.
    pub const DEFAULT_SIZE: u64 = 8 << 20;

    /// Default options: 8 MiB, 16 journals of 32 KiB, mode detected from the file.
    ///
    /// A journal of 32 KiB holds the undo record of a 16 KiB update without an extension
    /// block (whose allocation and free would cost a transaction three more fences).
    pub fn new() -> PoolOptions {
        PoolOptions {
            size: Self::DEFAULT_SIZE,
            lanes: 16,
            lane_size: 32 << 10,
            mode: None,
            #[cfg(feature = "crash-sim")]
            sim: None,
        }
    }

    /// The size in bytes of a pool this open creates or formats (a multiple of 4096;
    /// ignored when an existing pool is opened).
    pub fn size(mut self, bytes: u64) -> PoolOptions {
        self.size = bytes;
        self
    }

    /// The number of journals (at most this many threads run transactions at once) and
    /// the bytes of each (a multiple of 4096), for a pool this open creates or formats.
    pub fn journals(mut self, count: u32, bytes_each: u64) -> PoolOptions {
        self.lanes = count;
        self.lane_size = bytes_each;
        self
    }

    /// Asks for a persistence mode instead of detecting it: [`Mode::Dax`] fails unless
    /// the file supports `MAP_SYNC`; [`Mode::Emulated`] issues cache flushes on any file;
    /// [`Mode::Msync`] syncs pages on any file.
    pub fn mode(mut self, mode: Mode) -> PoolOptions {
        self.mode = Some(mode);
        self
    }

    /// CRASH-SIM hook (feature `crash-sim`, for tests only): opens the pool under the
    /// power-failure simulator `sim`, which keeps the pool's persisted image and records
    /// every fence as a crash point (see [`crndm::internals::sim`](crate::internals::sim)).
    /// The mode is still detected or requested as usual and reported by
    /// [`MemPool::mode`](crate::MemPool::mode), but flushes and fences go to the simulator only.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let sim = crndm::internals::sim::Sim::new();
    /// let opts = PoolOptions::new().size(1 << 20).simulate(&sim);
    /// let pool = opts.open_no_root::<BuddyAlloc>(dir.path().join("p.pool"), O_CF)?;
    /// drop(pool);
    /// assert!(!sim.take_recording().events.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "crash-sim")]
    pub fn simulate(mut self, sim: &crate::persist::sim::Sim) -> PoolOptions {
        self.sim = Some(sim.clone());
        self
    }
}
