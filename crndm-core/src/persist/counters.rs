//! Per-thread counts of cache-line flushes and fences, for tests and benchmarks.
//!
//! Counting is thread-local (a plain `Cell` increment, no atomic), so it costs next to
//! nothing and each thread sees exactly the persistence work it did itself.

use std::cell::Cell;

thread_local! {
    static FLUSHED_LINES: Cell<u64> = const { Cell::new(0) };
    static FENCES: Cell<u64> = const { Cell::new(0) };
    static STREAMED_LINES: Cell<u64> = const { Cell::new(0) };
}

pub(crate) fn add_flushes(lines: u64) {
    FLUSHED_LINES.with(|c| c.set(c.get().wrapping_add(lines)));
}

pub(crate) fn add_streamed(lines: u64) {
    STREAMED_LINES.with(|c| c.set(c.get().wrapping_add(lines)));
}

pub(crate) fn add_fence() {
    FENCES.with(|c| c.set(c.get().wrapping_add(1)));
}

/// How many cache lines this thread has flushed (or written with non-temporal stores)
/// and how many fences it has issued, on any pool, since it started.
///
/// Take a snapshot before and after an operation and subtract:
///
/// ```
/// use crndm::PersistCounters;
/// let before = PersistCounters::current();
/// // ... run a transaction ...
/// let spent = PersistCounters::current().since(before);
/// assert_eq!(spent.fences, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PersistCounters {
    /// Cache lines written back (each overlapping line of each flushed range counts once).
    pub flushes: u64,
    /// Fences issued (in `Msync` mode, each fence is one round of `msync`).
    pub fences: u64,
    /// Cache lines written with non-temporal stores (large log records): they reach the
    /// media at the next fence without a flush, so they are not counted in `flushes`.
    pub streamed: u64,
}

impl PersistCounters {
    /// This thread's counts so far.
    pub fn current() -> PersistCounters {
        PersistCounters {
            flushes: FLUSHED_LINES.with(Cell::get),
            fences: FENCES.with(Cell::get),
            streamed: STREAMED_LINES.with(Cell::get),
        }
    }

    /// The work done between `earlier` and `self`.
    pub fn since(self, earlier: PersistCounters) -> PersistCounters {
        PersistCounters {
            flushes: self.flushes.wrapping_sub(earlier.flushes),
            fences: self.fences.wrapping_sub(earlier.fences),
            streamed: self.streamed.wrapping_sub(earlier.streamed),
        }
    }
}
