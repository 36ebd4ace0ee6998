//! Simulated power failure: a persistence backend for crash-consistency tests (cargo
//! feature `crash-sim`, off by default; DESIGN §9).
//!
//! # Model
//! A pool opened with [`PoolOptions::simulate`](crate::PoolOptions::simulate) keeps, next
//! to its mapping, a second image of the whole pool file: the *persisted image*, what the
//! media would hold if the power failed now. The mapping is what the CPU sees; the image
//! changes only through the persistence rule of DESIGN §5:
//!
//! - [`flush`] of a range takes a snapshot of every cache line it overlaps (its contents
//!   at the flush, as `clwb` would write them back) into this thread's pending list;
//!   nothing reaches the image yet;
//! - [`fence`] on the same thread writes this thread's pending snapshots into the image,
//!   in flush order. A fence of another thread does not.
//!
//! No store reaches the image in any other way, so a store whose line is never flushed
//! (a `VCell`, a missing flush) stays out of it. What a power failure *may* leave is the
//! image plus any subset of the lines that differ from it (each with the contents it has
//! at the crash): the test harness builds such crash images.
//!
//! # Recording
//! Every fence of a simulated pool is a *crash point*. Just before the fence takes
//! effect, the simulator records a [`FenceEvent`]: the lines that differ between the
//! mapping and the image (the candidates a crash there may or may not keep, with their
//! current contents), the lines the fence then makes durable, the fence's call site and
//! the label last set with [`Sim::mark`]. A [`Recording`] is the image at the first
//! attach plus the events in order, so every crash point of a run can be rebuilt from one
//! run (`image(N) = initial + persisted lines of events 0..N`).
//!
//! The media holds whole lines: a cache line is written back whole, and a crash keeps or
//! loses each line independently. A line the CPU evicts on its own can reach the media
//! with any contents it had since it last became durable, so the test harness offers, for
//! each line, every contents it had at a fence since its last persist (not only the
//! current ones); the simulator observes contents at fences, not between two stores of
//! one line. A fence lists every line it made durable, even when the contents did not
//! change, because from then on the media holds exactly those contents.
//!
//! # Mutations
//! A [`Sim`] can carry one planted bug ([`Mutation`]), to show that the crash suite finds
//! it: a flush or fence call site that does nothing, or a step of the free protocol left
//! out. Only pools opened with that `Sim` are affected.
//!
//! # Limits
//! The simulator reads the mapping at each flush and fence of the pool's workload thread;
//! a workload that writes the same pool from several threads at once gets torn snapshots
//! (as the hardware would), and its recording is only as exact as its interleaving. Use
//! one thread per simulated pool.
//!
//! # Cost
//! A simulated flush copies 64 bytes per line into a thread-local list (plus a compare when
//! a mutation is set); a simulated fence compares the whole mapping with the image (about
//! one `memcmp` of the pool size) to record the crash point. With the feature off none of
//! this code exists; with it on, pools opened without `simulate` pay one thread-local
//! emptiness check per fence.

use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::Persister;
use super::flush::{CACHE_LINE, lines_of};

/// Bytes in a cache line: the unit in which the simulator persists and loses data.
pub const LINE: usize = CACHE_LINE;

const PAGE: usize = 4096;

/// One cache line of a pool file: its index (file offset / 64) and its contents.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// File offset of the line divided by [`LINE`].
    pub index: u32,
    /// The line's 64 bytes.
    pub bytes: [u8; LINE],
}

impl Line {
    /// File offset of the line's first byte.
    pub fn offset(&self) -> u64 {
        u64::from(self.index) * LINE as u64
    }
}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Line({:#x})", self.offset())
    }
}

/// What the simulator saw at one fence of a simulated pool: a crash point.
#[derive(Clone, Debug)]
pub struct FenceEvent {
    /// The label last set with [`Sim::mark`] before this fence (0 before any).
    pub label: u64,
    /// The source location that issued the fence (the caller of the library's fence).
    pub site: &'static Location<'static>,
    /// Lines whose contents in the pool differ from the persisted image just before this
    /// fence, with their current contents: what a crash here may or may not keep. Empty
    /// when the fence was issued for another pool (it completed flushes of this one).
    pub dirty: Vec<Line>,
    /// Lines this fence made durable, with the contents they have in the persisted image
    /// now (each line once, in index order; a line whose contents did not change is
    /// listed too: from here on the media holds exactly those contents).
    pub persisted: Vec<Line>,
}

/// Everything a [`Sim`] recorded: the persisted image when recording started and every
/// fence since.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    /// The persisted image when the recording started (the file at the first attach, or
    /// the image when the previous recording was taken).
    pub initial: Vec<u8>,
    /// The fences in the order they happened.
    pub events: Vec<FenceEvent>,
}

/// A call site of the library, as `#[track_caller]` reports it: the path of a source
/// file of `crndm` relative to any prefix (`"stm/journal.rs"`) and a 1-based line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallSite {
    /// The end of the source file's path, e.g. `"stm/journal.rs"`.
    pub file: &'static str,
    /// The line of the flush, fence or persist call.
    pub line: u32,
}

impl CallSite {
    fn matches(&self, loc: &Location<'_>) -> bool {
        loc.line() == self.line && loc.file().ends_with(self.file)
    }
}

/// A planted bug, for proving that the crash suite finds bugs (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mutation {
    /// Every flush, fence and persist issued from this call site does nothing (it is
    /// neither counted nor recorded, and flushed lines wait for a later fence).
    SkipCall(CallSite),
    /// Recovery leaves the heads of blocks freed in place by an unfinished commit free
    /// (hook in `stm/recovery.rs`), instead of making them used again.
    KeepUncommittedFrees,
    /// Recovery treats a redo commit like a classic one (hooks in `stm/recovery.rs`): it
    /// neither writes the REDO records again nor marks the allocations used.
    IgnoreRedo,
    /// Rollback and recovery restore UNDO records oldest first (hook in
    /// `stm/recovery.rs`) instead of newest first: where two records of one transaction
    /// save overlapping bytes, the later (already changed) contents win.
    UndoOldestFirst,
    /// A transaction's first records overwrite the lane's previous log past its first
    /// line before any fence, even while that log's truncation may not be durable (hook
    /// in `stm/journal.rs`, rule R2): no SKIP record, no early fence.
    IgnorePreviousLog,
}

/// A power-failure simulator: give it to
/// [`PoolOptions::simulate`](crate::PoolOptions::simulate) and open a pool; it keeps the
/// pool's persisted image and records every fence as a crash point.
///
/// Clones share one simulator. A `Sim` follows one pool file: the image is taken from
/// the file at the first open and carried across later opens of the same file with the
/// same `Sim` (so writes a closed mapping never persisted stay unpersisted).
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// use crndm::internals::sim::Sim;
/// let sim = Sim::new();
/// let root = PoolOptions::new()
///     .size(1 << 20)
///     .journals(2, 4096)
///     .simulate(&sim)
///     .open::<BuddyAlloc, PCell<u64>>(dir.path().join("s.pool"), O_CF)?;
/// sim.mark(1);
/// BuddyAlloc::transaction(|j| root.set(7, j))?;
/// drop(root);
/// let rec = sim.take_recording();
/// assert!(rec.events.iter().any(|e| e.label == 1));
/// // The committed value is in the persisted image, in the root block the header names.
/// let image = sim.image().unwrap();
/// let root_off = u64::from_le_bytes(image[200..208].try_into().unwrap()) as usize;
/// assert_eq!(image[root_off..root_off + 8], 7u64.to_le_bytes());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Sim {
    shared: Arc<Shared>,
}

struct Shared {
    id: u32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The live mapping being watched: (address, length). Reads through it are valid
    /// while it is `Some` (set by [`Sim::attach`], cleared before unmapping).
    mapping: Option<(usize, usize)>,
    /// The persisted image (`None` before the first attach).
    image: Option<Vec<u8>>,
    /// The image when the current recording started.
    initial: Vec<u8>,
    events: Vec<FenceEvent>,
    label: u64,
    mutation: Option<Mutation>,
    flushes: u64,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Sim")
            .field("id", &self.shared.id)
            .field("attached", &st.mapping.is_some())
            .field("events", &st.events.len())
            .field("mutation", &st.mutation)
            .finish()
    }
}

impl PartialEq for Sim {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for Sim {}

impl Default for Sim {
    fn default() -> Self {
        Sim::new()
    }
}

/// Live simulators by id, so a fence can find the simulator of a pending line without
/// the persister holding a pointer (a `Persister` is `Copy` and outlives nothing).
static REGISTRY: Mutex<Vec<(u32, Weak<Shared>)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

thread_local! {
    /// Lines this thread flushed on simulated pools since its last fence, in flush order.
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
}

struct Pending {
    sim: u32,
    line: Line,
}

fn registry() -> MutexGuard<'static, Vec<(u32, Weak<Shared>)>> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

fn lookup(id: u32) -> Option<Arc<Shared>> {
    registry()
        .iter()
        .find(|e| e.0 == id)
        .and_then(|e| e.1.upgrade())
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        registry().retain(|e| e.0 != self.id);
    }
}

impl Sim {
    /// A new simulator, attached to nothing yet.
    pub fn new() -> Sim {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            id,
            state: Mutex::new(State::default()),
        });
        registry().push((id, Arc::downgrade(&shared)));
        Sim { shared }
    }

    /// Plants `mutation` (or removes it with `None`) in pools opened with this simulator
    /// *from now on*; a pool already open keeps what it was opened with.
    pub fn set_mutation(&self, mutation: Option<Mutation>) {
        self.shared.lock().mutation = mutation;
    }

    /// Labels the fences that follow (e.g. with the index of the operation about to run),
    /// so a crash point can be tied to the workload's progress.
    pub fn mark(&self, label: u64) {
        self.shared.lock().label = label;
    }

    /// Takes what was recorded so far and starts a new recording from the current image.
    pub fn take_recording(&self) -> Recording {
        let mut st = self.shared.lock();
        let next = st.image.clone().unwrap_or_default();
        Recording {
            initial: std::mem::replace(&mut st.initial, next),
            events: std::mem::take(&mut st.events),
        }
    }

    /// The persisted image (`None` before the first open).
    pub fn image(&self) -> Option<Vec<u8>> {
        self.shared.lock().image.clone()
    }

    /// Cache lines flushed on pools of this simulator and fenced since (skipped calls
    /// excluded).
    pub fn flushes(&self) -> u64 {
        self.shared.lock().flushes
    }

    /// Starts watching the mapping `[base, base + len)` and returns the persister that
    /// sends `persister`'s flushes and fences to this simulator, with the attachment that
    /// stops the watching when dropped.
    ///
    /// The first attach (or one with another length) takes the persisted image from the
    /// mapping: a file is fully persistent when it is opened.
    ///
    /// # Safety
    /// 1. `[base, base + len)` is a live, readable mapping of the pool file, and stays
    ///    mapped until the returned [`Attachment`] is dropped.
    pub(crate) unsafe fn attach(
        &self,
        base: *const u8,
        len: usize,
        persister: Persister,
    ) -> (Attachment, Persister) {
        let mut st = self.shared.lock();
        if st.image.as_ref().is_none_or(|i| i.len() != len) {
            let mut image = vec![0u8; len];
            // SAFETY: (1) `len` readable bytes at `base`; `image` is a fresh allocation.
            unsafe { std::ptr::copy_nonoverlapping(base, image.as_mut_ptr(), len) };
            st.initial.clone_from(&image);
            st.image = Some(image);
        }
        st.mapping = Some((base as usize, len));
        let sim = SimRef {
            id: self.shared.id,
            base: base as usize,
            len,
            mutation: st.mutation,
        };
        drop(st);
        (
            Attachment {
                shared: Arc::clone(&self.shared),
            },
            Persister {
                sim: Some(sim),
                ..persister
            },
        )
    }
}

/// A simulator's watch over one mapping; dropping it (before the mapping is unmapped)
/// ends the watch.
pub(crate) struct Attachment {
    shared: Arc<Shared>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("sim", &self.shared.id)
            .finish()
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.shared.lock().mapping = None;
    }
}

/// What a simulated persister knows about its simulator; `Copy`, like the persister.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SimRef {
    id: u32,
    /// The watched mapping.
    base: usize,
    len: usize,
    /// The planted bug, fixed when the pool was opened.
    mutation: Option<Mutation>,
}

impl SimRef {
    pub(crate) fn mutated(&self, m: Mutation) -> bool {
        self.mutation == Some(m)
    }

    fn skips(&self, loc: &Location<'_>) -> bool {
        matches!(self.mutation, Some(Mutation::SkipCall(site)) if site.matches(loc))
    }
}

/// A simulated flush of `[ptr, ptr + len)` issued from `loc`: snapshots every line of the
/// range that lies in the watched mapping. Returns the number of lines (0 if the call is
/// skipped by a mutation).
///
/// # Safety
/// 1. `[ptr, ptr + len)` lies in the mapping `s` watches, which is live.
pub(crate) unsafe fn flush(s: &SimRef, ptr: *const u8, len: usize, loc: &Location<'_>) -> u64 {
    if s.skips(loc) {
        return 0;
    }
    let (first, count) = lines_of(ptr as usize, len);
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        for i in 0..count {
            let line = first + i * LINE;
            if line < s.base || line + LINE > s.base + s.len {
                continue;
            }
            let mut bytes = [0u8; LINE];
            // A raw copy creates no reference, so it asserts nothing about references the
            // program holds into the line.
            // SAFETY: (1) the line lies wholly inside the live mapping (checked above).
            unsafe { std::ptr::copy_nonoverlapping(line as *const u8, bytes.as_mut_ptr(), LINE) };
            let index = u32::try_from((line - s.base) / LINE).unwrap_or(u32::MAX);
            p.push(Pending {
                sim: s.id,
                line: Line { index, bytes },
            });
        }
    });
    count as u64
}

/// A simulated fence issued from `loc` by the persister of `s` (or by a hardware
/// persister when `None`): records the crash point of `s` and makes this thread's pending
/// lines durable in their images. Returns `false` if a mutation skips the fence.
pub(crate) fn fence(s: Option<&SimRef>, loc: &'static Location<'static>) -> bool {
    if s.is_some_and(|s| s.skips(loc)) {
        return false;
    }
    let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if let Some(s) = s
        && let Some(sh) = lookup(s.id)
    {
        let mut st = sh.lock();
        let st = &mut *st;
        let watched = st.mapping == Some((s.base, s.len));
        if let Some(image) = st.image.as_mut() {
            let dirty = if watched {
                // SAFETY: (1) the mapping is watched, hence live (cleared by the
                // attachment before unmapping, under this lock).
                unsafe { diff(s.base as *const u8, s.len, image) }
            } else {
                Vec::new()
            };
            let own = || pending.iter().filter(|p| p.sim == s.id);
            st.flushes += own().count() as u64;
            let persisted = apply(image, own());
            st.events.push(FenceEvent {
                label: st.label,
                site: loc,
                dirty,
                persisted,
            });
        }
    }
    let mut others: Vec<u32> = pending
        .iter()
        .map(|p| p.sim)
        .filter(|&id| s.is_none_or(|s| s.id != id))
        .collect();
    others.sort_unstable();
    others.dedup();
    for id in others {
        // A fence for another pool (or a hardware one) completes these flushes too; the
        // other simulator records it as a crash point without dirty lines (its mapping
        // belongs to another workload, which may be running), so its replay stays exact.
        if let Some(sh) = lookup(id) {
            let mut st = sh.lock();
            let st = &mut *st;
            if let Some(image) = st.image.as_mut() {
                let own = || pending.iter().filter(|p| p.sim == id);
                st.flushes += own().count() as u64;
                let persisted = apply(image, own());
                st.events.push(FenceEvent {
                    label: st.label,
                    site: loc,
                    dirty: Vec::new(),
                    persisted,
                });
            }
        }
    }
    true
}

/// Whether this thread has simulated flushes waiting for a fence (cheap; lets hardware
/// fences skip the simulator entirely when nothing is pending).
pub(crate) fn pending() -> bool {
    PENDING.with(|p| !p.borrow().is_empty())
}

/// Writes `lines` into `image` in order; returns the lines written, once each, by index,
/// with their final contents.
fn apply<'a>(image: &mut [u8], lines: impl Iterator<Item = &'a Pending>) -> Vec<Line> {
    let mut written: Vec<u32> = Vec::new();
    for p in lines {
        let at = p.line.index as usize * LINE;
        let Some(dst) = image.get_mut(at..at + LINE) else {
            continue;
        };
        dst.copy_from_slice(&p.line.bytes);
        written.push(p.line.index);
    }
    written.sort_unstable();
    written.dedup();
    written
        .into_iter()
        .map(|index| {
            let at = index as usize * LINE;
            let mut bytes = [0u8; LINE];
            bytes.copy_from_slice(&image[at..at + LINE]);
            Line { index, bytes }
        })
        .collect()
}

/// The lines of the mapping `[base, base + len)` that differ from `image`, with the
/// mapping's contents.
///
/// # Safety
/// 1. `[base, base + len)` is a live, readable mapping of at least `image.len()` bytes.
unsafe fn diff(base: *const u8, len: usize, image: &[u8]) -> Vec<Line> {
    let len = len.min(image.len());
    let mut out = Vec::new();
    let mut page = [0u8; PAGE];
    let mut at = 0;
    while at < len {
        let n = PAGE.min(len - at);
        let src = base.wrapping_add(at);
        // SAFETY: (1) `[at, at + n)` is inside the mapping; a raw copy into a local
        // buffer (no reference into the mapping is made, see `flush`).
        unsafe { std::ptr::copy_nonoverlapping(src, page.as_mut_ptr(), n) };
        if page[..n] != image[at..at + n] {
            for l in (0..n).step_by(LINE) {
                let end = (l + LINE).min(n);
                if page[l..end] != image[at + l..at + end] {
                    let mut bytes = [0u8; LINE];
                    bytes[..end - l].copy_from_slice(&page[l..end]);
                    let index = u32::try_from((at + l) / LINE).unwrap_or(u32::MAX);
                    out.push(Line { index, bytes });
                }
            }
        }
        at += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::Mode;

    #[repr(C, align(4096))]
    struct Pages([u8; 2 * PAGE]);

    fn attached(buf: &mut Pages, sim: &Sim) -> (Attachment, Persister) {
        // SAFETY: (1) `buf` is live for the whole test and outlives the attachment.
        unsafe { sim.attach(buf.0.as_ptr(), 2 * PAGE, Persister::new(Mode::Emulated)) }
    }

    #[test]
    fn flushed_lines_persist_at_the_next_fence_only() {
        let sim = Sim::new();
        let mut buf = Box::new(Pages([0; 2 * PAGE]));
        let (att, p) = attached(&mut buf, &sim);
        buf.0[100] = 1;
        buf.0[700] = 2;
        // SAFETY: inside `buf`.
        unsafe { p.flush(buf.0.as_ptr().wrapping_add(100), 1) };
        assert_eq!(sim.image().unwrap()[100], 0, "not durable before the fence");
        p.fence();
        let image = sim.image().unwrap();
        assert_eq!((image[100], image[700]), (1, 0), "only the flushed line");
        let rec = sim.take_recording();
        assert_eq!(rec.events.len(), 1);
        let ev = &rec.events[0];
        let dirty: Vec<u32> = ev.dirty.iter().map(|l| l.index).collect();
        assert_eq!(dirty, [1, 10]);
        assert_eq!(ev.persisted.len(), 1);
        assert_eq!(ev.persisted[0].index, 1);
        assert!(ev.site.file().ends_with("persist/sim.rs"));
        drop(att);
    }

    #[test]
    fn the_flush_time_contents_are_what_persists() {
        let sim = Sim::new();
        let mut buf = Box::new(Pages([0; 2 * PAGE]));
        let (_att, p) = attached(&mut buf, &sim);
        buf.0[0] = 5;
        // SAFETY: inside `buf`.
        unsafe { p.flush(buf.0.as_ptr(), 1) };
        buf.0[0] = 6;
        p.fence();
        assert_eq!(sim.image().unwrap()[0], 5);
        p.fence();
        let rec = sim.take_recording();
        assert_eq!(rec.events[1].dirty[0].bytes[0], 6, "still dirty with 6");
    }

    #[test]
    fn fences_of_other_threads_do_not_persist_our_lines() {
        let sim = Sim::new();
        let mut buf = Box::new(Pages([0; 2 * PAGE]));
        let (_att, p) = attached(&mut buf, &sim);
        buf.0[0] = 9;
        // SAFETY: inside `buf`.
        unsafe { p.flush(buf.0.as_ptr(), 1) };
        std::thread::scope(|s| {
            s.spawn(|| p.fence());
        });
        assert_eq!(sim.image().unwrap()[0], 0);
        // A hardware fence of this thread completes the simulated flush too.
        Persister::new(Mode::Emulated).fence();
        assert_eq!(sim.image().unwrap()[0], 9);
    }

    #[test]
    fn a_skipped_call_site_neither_flushes_nor_fences() {
        let mut buf = Box::new(Pages([0; 2 * PAGE]));
        let base = buf.0.as_mut_ptr();
        let flush_and_fence = |p: &Persister| {
            // SAFETY: inside `buf`, which outlives the closure's uses.
            unsafe { p.persist(base, 1) };
        };
        // Find the call site from an unmutated run.
        let sim = Sim::new();
        let (att, p) = attached(&mut buf, &sim);
        flush_and_fence(&p);
        let site = sim.take_recording().events[0].site;
        drop(att);
        let site = CallSite {
            file: "persist/sim.rs",
            line: site.line(),
        };
        let sim = Sim::new();
        sim.set_mutation(Some(Mutation::SkipCall(site)));
        let (_att, p) = attached(&mut buf, &sim);
        assert!(p.sim.is_some_and(|s| s.mutated(Mutation::SkipCall(site))));
        assert!(
            !p.sim
                .is_some_and(|s| s.mutated(Mutation::KeepUncommittedFrees))
        );
        // SAFETY: inside `buf`.
        unsafe { base.write(3) };
        flush_and_fence(&p);
        assert_eq!(sim.image().unwrap()[0], 0, "the flush was skipped");
        assert!(sim.take_recording().events.is_empty(), "so was the fence");
    }

    #[test]
    fn a_detached_mapping_is_not_read() {
        let sim = Sim::new();
        let mut buf = Box::new(Pages([0; 2 * PAGE]));
        let (att, p) = attached(&mut buf, &sim);
        drop(att);
        buf.0[0] = 1;
        p.fence();
        assert!(sim.take_recording().events[0].dirty.is_empty());
    }
}
