//! The persist layer (docs/ARCHITECTURE.md): making stores durable.
//!
//! # The rule (DESIGN §5)
//! A store to persistent memory is durable only after a *flush* of its cache line and a
//! *later fence*. Every write that recovery depends on must be durable before anything
//! that assumes it is written.
//!
//! # Modes
//! How a flush and a fence are carried out depends on what the pool file is mapped from,
//! decided once when the pool is opened ([`Mode`]):
//!
//! | mode       | mapping                         | flush                 | fence                       | survives          |
//! |------------|---------------------------------|-----------------------|-----------------------------|-------------------|
//! | `Dax`      | `MAP_SHARED_VALIDATE\|MAP_SYNC` | `clwb`/`clflushopt`   | `sfence`                    | power failure     |
//! | `Emulated` | tmpfs, or `CRNDM_FORCE_PMEM=1`  | `clwb`/`clflushopt`   | `sfence`                    | process crash     |
//! | `Msync`    | ordinary file, `MAP_SHARED`     | remember the pages    | `msync(MS_SYNC)` of them    | power failure     |
//!
//! All flushing and fencing in the crate goes through [`Persister`]; it also counts the
//! work in [`PersistCounters`].
//!
//! With the cargo feature `crash-sim`, a pool opened with
//! [`PoolOptions::simulate`](crate::PoolOptions::simulate) gets a persister whose flushes
//! and fences go to a power-failure simulator instead ([`sim`]), whatever its [`Mode`];
//! every other pool is unaffected. Without the feature, none of it is compiled.

mod counters;
mod flush;
mod msync;
#[cfg(feature = "crash-sim")]
pub(crate) mod sim;

pub use counters::PersistCounters;
pub(crate) use flush::CACHE_LINE;
pub use flush::FlushInstr;

/// How a pool's stores are made durable: `Dax` (`clwb` + `sfence` on a DAX mapping:
/// survives power failure), `Emulated` (the same instructions on tmpfs or with
/// `CRNDM_FORCE_PMEM=1`: survives a process crash) or `Msync` (an ordinary file: `msync`
/// of the flushed pages at each fence).
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("mode.pool");
/// use crndm::default::*;
/// let pool = BuddyAlloc::open_no_root(&path, O_CF)?;
/// println!("stores become durable through {:?}", BuddyAlloc::mode()?);
/// # drop(pool);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A DAX mapping (`MAP_SYNC` succeeded): cache flushes reach persistent media.
    Dax,
    /// Emulated persistent memory (tmpfs, or forced by `CRNDM_FORCE_PMEM=1`): cache
    /// flushes are issued as on real PM; data survives process crashes only.
    Emulated,
    /// An ordinary file: flushed pages are written back with `msync` at each fence.
    Msync,
}

impl Mode {
    /// The mode's name as printed by tools.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Dax => "dax",
            Mode::Emulated => "emulated",
            Mode::Msync => "msync",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Flushes and fences for one mapping, in the way its [`Mode`] requires.
///
/// With the feature `crash-sim`, `flush`, `fence` and `persist` are `#[track_caller]`, so
/// the simulator knows (and a mutation can name) the call site of each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Persister {
    mode: Mode,
    instr: FlushInstr,
    /// The power-failure simulator this mapping's persistence goes to, if any.
    #[cfg(feature = "crash-sim")]
    sim: Option<sim::SimRef>,
}

impl Persister {
    pub(crate) fn new(mode: Mode) -> Persister {
        Persister {
            mode,
            instr: FlushInstr::detect(),
            #[cfg(feature = "crash-sim")]
            sim: None,
        }
    }

    /// Whether this persister's pool was opened with the planted bug `m` (always `false`
    /// for a pool that is not simulated). For the mutation hooks of other layers.
    #[cfg(feature = "crash-sim")]
    pub(crate) fn mutated(&self, m: sim::Mutation) -> bool {
        self.sim.is_some_and(|s| s.mutated(m))
    }

    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// Starts writing back every cache line overlapping `[ptr, ptr + len)`; durable after
    /// the next [`fence`](Self::fence) of this thread.
    ///
    /// # Safety
    /// 1. `[ptr, ptr + len)` lies inside this persister's live mapping.
    #[cfg_attr(feature = "crash-sim", track_caller)]
    pub(crate) unsafe fn flush(&self, ptr: *const u8, len: usize) {
        #[cfg(feature = "crash-sim")]
        if let Some(s) = &self.sim {
            // SAFETY: (1) is the caller's; the simulator watches exactly this mapping.
            let lines = unsafe { sim::flush(s, ptr, len, std::panic::Location::caller()) };
            counters::add_flushes(lines);
            return;
        }
        let lines = match self.mode {
            // SAFETY: (1) is the caller's.
            Mode::Dax | Mode::Emulated => unsafe { flush::flush_lines(ptr, len, self.instr) },
            Mode::Msync => {
                msync::note(ptr as usize, len);
                flush::lines_of(ptr as usize, len).1 as u64
            }
        };
        counters::add_flushes(lines);
    }

    /// Orders and completes every flush this thread issued before it.
    ///
    /// # Panics
    /// In `Msync` mode, if `msync` fails: the kernel could not write the file back, so
    /// data the caller is about to rely on is not durable. Continuing would break the
    /// persistence rule, so crndm stops the operation, as databases do on a failed
    /// `fsync`.
    #[cfg_attr(feature = "crash-sim", track_caller)]
    pub(crate) fn fence(&self) {
        #[cfg(feature = "crash-sim")]
        if self.sim.is_some() || sim::pending() {
            // A simulated fence; a hardware fence also completes this thread's simulated
            // flushes, as `sfence` would.
            let done = sim::fence(self.sim.as_ref(), std::panic::Location::caller());
            if self.sim.is_some() {
                if done {
                    counters::add_fence();
                }
                return;
            }
        }
        match self.mode {
            Mode::Dax | Mode::Emulated => flush::sfence(),
            Mode::Msync => {
                // SAFETY: (1) ranges are noted only through `flush`, whose callers
                // promise a live mapping, and a pool forgets its ranges before unmapping.
                if let Err(e) = unsafe { msync::fence() } {
                    // A failed msync means the kernel could not write the file back; the
                    // data is not durable and continuing would break the rule above.
                    panic!("msync failed, pool data may not be durable: {e}");
                }
            }
        }
        counters::add_fence();
    }

    /// Copies `len` bytes from `src` to `dst` so that they are durable after the next
    /// [`fence`](Self::fence) of this thread, as a copy followed by a
    /// [`flush`](Self::flush) would be, but without reading the lines of `dst` first or
    /// flushing them after (non-temporal stores; the simulator models them as a copy and
    /// a flush, and a mutation that skips this call site leaves the copy unflushed).
    /// `each_line` sees every 64-byte line of the source, in order, as it is copied.
    ///
    /// # Safety
    /// 1. `dst` is 64-aligned and `len` a multiple of 64;
    /// 2. `[dst, dst + len)` lies inside this persister's live mapping, `[src, src + len)`
    ///    is readable, and the two do not overlap.
    #[cfg_attr(feature = "crash-sim", track_caller)]
    pub(crate) unsafe fn stream(
        &self,
        dst: *mut u8,
        src: *const u8,
        len: usize,
        mut each_line: impl FnMut(&[u8]),
    ) {
        let copy = |each_line: &mut dyn FnMut(&[u8])| {
            // SAFETY: (2) `len` readable bytes at `src` that `dst` does not overlap.
            let from = unsafe { std::slice::from_raw_parts(src, len) };
            from.chunks(CACHE_LINE).for_each(each_line);
            // SAFETY: (2) `len` readable bytes at `src`, writable at `dst`, no overlap.
            unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
        };
        #[cfg(feature = "crash-sim")]
        if let Some(s) = &self.sim {
            copy(&mut each_line);
            // SAFETY: (2) the range is inside the mapping the simulator watches.
            let lines = unsafe { sim::flush(s, dst, len, std::panic::Location::caller()) };
            counters::add_streamed(lines);
            return;
        }
        match self.mode {
            Mode::Dax | Mode::Emulated => {
                // SAFETY: (1), (2) are the caller's.
                let lines = unsafe { flush::stream_lines(dst, src, len, each_line) };
                counters::add_streamed(lines);
            }
            Mode::Msync => {
                copy(&mut each_line);
                msync::note(dst as usize, len);
                counters::add_streamed((len / CACHE_LINE) as u64);
            }
        }
    }

    /// [`flush`](Self::flush) then [`fence`](Self::fence).
    ///
    /// # Safety
    /// 1. `[ptr, ptr + len)` lies inside this persister's live mapping.
    #[cfg_attr(feature = "crash-sim", track_caller)]
    pub(crate) unsafe fn persist(&self, ptr: *const u8, len: usize) {
        // SAFETY: (1) is the caller's.
        unsafe { self.flush(ptr, len) };
        self.fence();
    }

    /// Drops the pending `Msync` ranges of `[start, start + len)`, before it is unmapped.
    pub(crate) fn forget_range(&self, start: usize, len: usize) {
        if self.mode == Mode::Msync {
            msync::forget(start, start + len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_counts_lines_and_fences() {
        let buf = vec![1u8; 4096 * 3];
        for mode in [Mode::Emulated, Mode::Msync] {
            let p = Persister::new(mode);
            let before = PersistCounters::current();
            // SAFETY: (1) the range is inside `buf`, alive for the whole test.
            unsafe { p.flush(buf.as_ptr().wrapping_add(100), 200) };
            p.fence();
            // SAFETY: as above.
            unsafe { p.persist(buf.as_ptr(), 1) };
            let spent = PersistCounters::current().since(before);
            let lines = flush::lines_of(buf.as_ptr() as usize + 100, 200).1 as u64;
            assert_eq!(spent.flushes, lines + 1, "{mode}");
            assert_eq!(spent.fences, 2, "{mode}");
        }
    }

    #[test]
    fn msync_fences_drain_the_noted_pages() {
        let len = 3 * 4096;
        // SAFETY: a fresh shared anonymous mapping; msync on it is valid (and cheap).
        let m = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(m, libc::MAP_FAILED);
        let p = Persister::new(Mode::Msync);
        let base = m.cast::<u8>();
        // SAFETY: (1) inside the mapping.
        unsafe { p.flush(base.wrapping_add(10), 5000) };
        msync::note(base as usize + 8192, 1);
        p.fence();
        // Nothing is left to sync: a second fence syncs no range.
        assert!(msync::pending_is_empty());
        p.forget_range(base as usize, len);
        // SAFETY: unmapping our own mapping, no references into it remain.
        unsafe { libc::munmap(m, len) };
    }
}
