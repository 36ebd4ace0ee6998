//! The raw core shared by the collections: the journal seen as bytes ([`RawJournal`]),
//! element shapes ([`Elem`]), and the growable buffer under `PVec` and `PString`
//! ([`RawVec`]).
//!
//! # Mechanism
//! A `RawVec` is a 24-byte header naming a buffer block of the pool by its offset. It
//! may itself live in the pool (in the root, in a node) or in a local variable; the
//! journal logs only ranges inside the pool, so the same code serves both. Every
//! operation here is non-generic: elements are `Elem`-shaped byte ranges, and the
//! journal is a `&dyn RawJournal`, so each operation is compiled once for every element
//! type and pool.
//!
//! # Memory layout
//! ```text
//! header (24 B, 8-aligned, wherever the collection lives)
//! +0   buf: u64   pool offset of the buffer block; 0 = none
//! +8   cap: u64   elements the buffer has room for
//! +16  len: u64   initialised elements, at the front of the buffer
//!
//! buffer block (order order_for(cap * size, align))
//! | slot 0 | slot 1 | ... | slot len-1 | dead bytes ... | slot cap-1 |
//! ```
//!
//! # Invariants
//! - **V1** `buf == 0` ⇔ `cap == 0`. Zero-sized elements never get a buffer.
//! - **V2** `buf != 0` ⇒ `buf` is a used block of order `order_for(cap * size, align)`
//!   of the pool the collection belongs to, owned by this header alone.
//! - **V3** `len <= cap` (sized elements); slots `[0, len)` hold initialised elements;
//!   the bytes of slots `[len, cap)` mean nothing.
//!
//! # Live at the start
//! What an undo must restore is the state at the start of the transaction, so what
//! decides whether a slot is logged is whether it was live *then*, not now: a slot
//! popped and pushed again in one transaction held a live element at its start. The
//! first time a transaction touches a block (a buffer, a table, a node), the number of
//! its live slots is recorded in a per-transaction DRAM registry ([`live_at_start`]);
//! blocks allocated by the transaction are recorded as fresh ([`mark_fresh`]). For a
//! buffer it also keeps the slots already logged as one interval
//! ([`log_slots_once`]), so that a run of shifts (a queue drained from the front,
//! inserts at assorted places) logs each slot once, not once per shift. The registry
//! lives in the transaction's journal (`Journal::local`) and is emptied when the
//! transaction ends (T17 of `stm::journal`).
//!
//! # Persistence order
//! - Bytes of slots that were live at the start of the transaction, and the header,
//!   are logged (`log_range`: undo record → fence) before they change in place; they
//!   are flushed at commit.
//! - Bytes of slots at or past the length at the start are dead (V3) for the undo,
//!   which restores that length, so they are only noted (`note_written`) and flushed at
//!   commit; so is everything in a block allocated by the transaction.
//! - Growth: allocate a new block (its ALLOC record frees it if the transaction does
//!   not commit) → copy the live slots → note them → log `{buf, cap}` → store the new
//!   pair → defer the free of the old block until after commit. Until commit the old
//!   block is intact, so undoing the header brings back a complete buffer.

use std::cell::RefMut;
use std::collections::HashMap;

use crate::alloc::buddy::{block_size, order_for};
use crate::convert::to_usize;
use crate::error::{Error, Result};
use crate::offset::PoolOff;
use crate::stm::journal::{Journal, TxLocal};
use crate::stm::pool_type::PoolType;

/// The journal of a running transaction, as the raw cores use it: bytes and blocks of
/// one pool, no types.
pub(crate) trait RawJournal {
    /// The address of pool offset 0 (valid while the journal lives).
    fn base(&self) -> *mut u8;
    /// Allocates a block, freed again if the transaction does not commit.
    ///
    /// # Errors
    /// The allocation errors.
    fn alloc(&self, size: u64, align: u64) -> Result<PoolOff>;
    /// Frees a block after the transaction commits.
    fn defer_free(&self, off: PoolOff, order: u8);
    /// Saves the old bytes of a range before it changes in place (ranges outside the
    /// pool are ignored).
    fn log_range(&self, ptr: *const u8, len: usize);
    /// Remembers a range of dead or fresh bytes written now, to flush it at commit.
    fn note_written(&self, ptr: *const u8, len: usize);
    /// Runs `saves`, which only logs and notes ranges, with one fence for all of them.
    fn log_batch(&self, saves: &mut dyn FnMut());
    /// The running transaction's registry of the blocks it touched (borrowed: drop it
    /// before calling the journal again).
    fn registry(&self) -> RefMut<'_, Registry>;
}

/// What a transaction knows about one block it touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Start {
    /// Live slots at the start of the transaction (`None`: allocated by it).
    live: Option<usize>,
    /// Slots `[a, b)` already logged in this transaction (a buffer's shifts log
    /// overlapping ranges again and again; this keeps each slot to one undo record).
    logged: (usize, usize),
}

/// What the transaction knows about each block it touched, by address.
type Starts = HashMap<usize, Start, crate::hashers::WordHash>;

/// What the running transaction knows about each block it touched: kept in its journal
/// ([`Journal::local`]) and emptied when it ends.
#[derive(Default)]
pub(crate) struct Registry(Starts);

impl TxLocal for Registry {
    fn reset(&mut self) {
        if self.0.capacity() > 1024 {
            self.0 = Starts::default();
        } else {
            self.0.clear();
        }
    }
}

fn with_starts<R>(j: &dyn RawJournal, f: impl FnOnce(&mut Starts) -> R) -> R {
    f(&mut j.registry().0)
}

/// How many slots of `block` were live when the running transaction first touched it:
/// `now` (recorded) on the first call of the transaction, the recorded number after
/// that, `None` for a block the transaction allocated. The caller passes the current
/// number of live slots and calls this before its first change of the block.
pub(crate) fn live_at_start(j: &dyn RawJournal, block: *const u8, now: usize) -> Option<usize> {
    with_starts(j, |m| {
        m.entry(block as usize)
            .or_insert(Start {
                live: Some(now),
                logged: (0, 0),
            })
            .live
    })
}

/// Logs the slots `[from, to)` (of `size` bytes each, starting at `first`) of `block`,
/// all live at the start of the transaction, except those an earlier call logged in
/// this transaction (tracked as one interval, merged while the ranges overlap).
pub(crate) fn log_slots_once(
    j: &dyn RawJournal,
    block: *const u8,
    first: *mut u8,
    size: usize,
    (from, to): (usize, usize),
) {
    if to <= from || size == 0 {
        return;
    }
    let pieces = with_starts(j, |m| {
        let st = m.entry(block as usize).or_insert(Start {
            live: None,
            logged: (0, 0),
        });
        let (a, b) = st.logged;
        if a == b || to < a || from > b {
            // Disjoint: log all of it; keep the larger interval.
            if to - from > b - a {
                st.logged = (from, to);
            }
            [(from, to), (0, 0)]
        } else {
            st.logged = (from.min(a), to.max(b));
            [(from, a.max(from)), (b.min(to), to)]
        }
    });
    for (x, y) in pieces {
        if y > x {
            j.log_range(first.wrapping_add(x * size), (y - x) * size);
        }
    }
}

/// Records `block` as allocated by the running transaction: nothing in it is logged.
pub(crate) fn mark_fresh(j: &dyn RawJournal, block: *const u8) {
    with_starts(j, |m| {
        m.insert(
            block as usize,
            Start {
                live: None,
                logged: (0, 0),
            },
        );
    });
}

/// Whether the running transaction allocated `block`.
pub(crate) fn is_fresh(j: &dyn RawJournal, block: *const u8) -> bool {
    with_starts(j, |m| {
        m.get(&(block as usize)).is_some_and(|s| s.live.is_none())
    })
}

/// Saves `[p, p + len)` before the caller writes it: logged if those bytes were live at
/// the start of the transaction (`live` says so), else only noted.
pub(crate) fn save(j: &dyn RawJournal, p: *const u8, len: usize, live: bool) {
    if live {
        j.log_range(p, len);
    } else {
        j.note_written(p, len);
    }
}

/// Saves the slots `[from, to)` (of `size` bytes each, starting at `first`) of a block
/// whose first `start` slots were live at the start of the transaction (`None`: a
/// block of this transaction): logs the live part, notes the rest.
pub(crate) fn save_slots(
    j: &dyn RawJournal,
    first: *mut u8,
    size: usize,
    (from, to): (usize, usize),
    start: Option<usize>,
) {
    if to <= from || size == 0 {
        return;
    }
    let live_end = start.map_or(from, |l0| l0.clamp(from, to));
    let at = |i: usize| first.wrapping_add(i * size);
    if live_end > from {
        j.log_range(at(from), (live_end - from) * size);
    }
    if to > live_end {
        j.note_written(at(live_end), (to - live_end) * size);
    }
}

impl<P: PoolType> RawJournal for Journal<P> {
    fn base(&self) -> *mut u8 {
        Journal::base(self)
    }
    fn alloc(&self, size: u64, align: u64) -> Result<PoolOff> {
        Journal::alloc(self, size, align)
    }
    fn defer_free(&self, off: PoolOff, order: u8) {
        Journal::defer_free(self, off, order);
    }
    fn log_batch(&self, saves: &mut dyn FnMut()) {
        Journal::log_batch(self, saves);
    }
    fn log_range(&self, ptr: *const u8, len: usize) {
        if len > 0 {
            Journal::log_range(self, ptr, len);
        }
    }
    fn note_written(&self, ptr: *const u8, len: usize) {
        if len > 0 {
            Journal::note_written(self, ptr, len);
        }
    }
    fn registry(&self) -> RefMut<'_, Registry> {
        self.local::<Registry>()
    }
}

/// The address of offset 0 of `P`'s open pool (null before the first open).
///
/// Callers dereference it only for blocks that exist, which are reachable only while
/// the pool is open (a root handle or a transaction keeps it so, S2); an empty
/// collection, which may be made without a pool, reads nothing.
pub(crate) fn pool_base<P: PoolType>() -> *mut u8 {
    P::__slot().base()
}

/// Reads the 8-aligned word at `p`.
///
/// # Safety
/// 1. `p` is valid for reads of 8 bytes and 8-aligned.
pub(crate) unsafe fn read_word(p: *const u8) -> u64 {
    #[expect(
        clippy::cast_ptr_alignment,
        reason = "(1): the caller's address is 8-aligned"
    )]
    let w = p.cast::<u64>();
    // SAFETY: (1).
    unsafe { w.read() }
}

/// Writes the 8-aligned word at `p`.
///
/// # Safety
/// 1. `p` is valid for writes of 8 bytes and 8-aligned.
pub(crate) unsafe fn write_word(p: *mut u8, v: u64) {
    #[expect(
        clippy::cast_ptr_alignment,
        reason = "(1): the caller's address is 8-aligned"
    )]
    let w = p.cast::<u64>();
    // SAFETY: (1).
    unsafe { w.write(v) };
}

/// The error for a size no pool can hold.
#[cold]
pub(crate) fn capacity_overflow() -> Error {
    Error::OutOfSpace {
        requested: u64::MAX,
        largest_free: 0,
    }
}

/// The shape of an element: its size (a multiple of its alignment) and alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Elem {
    pub(crate) size: usize,
    pub(crate) align: usize,
}

impl Elem {
    /// The shape of `T`.
    pub(crate) const fn of<T>() -> Elem {
        Elem {
            size: size_of::<T>(),
            align: align_of::<T>(),
        }
    }

    /// `n` elements in bytes.
    ///
    /// # Errors
    /// [`Error::OutOfSpace`] on overflow.
    pub(crate) fn bytes(self, n: usize) -> Result<u64> {
        n.checked_mul(self.size)
            .map(|b| b as u64)
            .ok_or_else(capacity_overflow)
    }

    /// A non-null, aligned address for zero-length accesses.
    fn dangling(self) -> *mut u8 {
        std::ptr::without_provenance_mut(self.align)
    }
}

/// Allocates a block for `count` elements of shape `e` in `j`, rounded up to the whole
/// block: returns `(offset, elements the block holds)`.
///
/// # Errors
/// The allocation errors; [`Error::OutOfSpace`] on overflow.
pub(crate) fn alloc_elems(count: usize, e: Elem, j: &dyn RawJournal) -> Result<(PoolOff, usize)> {
    debug_assert!(
        e.size > 0 && count > 0,
        "zero-sized buffers are never allocated"
    );
    let order = order_for(e.bytes(count)?, e.align as u64)?;
    let cap = to_usize(block_size(order)) / e.size;
    let off = j.alloc(e.bytes(cap)?, e.align as u64)?;
    debug_assert_eq!(order_for(e.bytes(cap)?, e.align as u64).ok(), Some(order));
    Ok((off, cap))
}

/// The order of the block holding `cap` elements of shape `e` (V2).
pub(crate) fn elems_order(cap: usize, e: Elem) -> Option<u8> {
    order_for(e.bytes(cap).ok()?, e.align as u64).ok()
}

/// The header of a growable buffer of `Elem`-shaped slots in a pool.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RawVec {
    /// Pool offset of the buffer block, null for none (V1, V2).
    buf: PoolOff,
    /// Slots in the buffer (V1).
    cap: u64,
    /// Initialised slots at the front (V3).
    len: u64,
}

const _: () = assert!(size_of::<RawVec>() == 24 && align_of::<RawVec>() == 8);

impl RawVec {
    /// An empty buffer header (no block).
    pub(crate) const fn new() -> RawVec {
        RawVec {
            buf: PoolOff::NULL,
            cap: 0,
            len: 0,
        }
    }

    /// Initialised slots.
    pub(crate) fn len(&self) -> usize {
        to_usize(self.len)
    }

    /// Slots the buffer has room for (unbounded for zero-sized elements).
    pub(crate) fn capacity(&self, e: Elem) -> usize {
        if e.size == 0 {
            usize::MAX
        } else {
            to_usize(self.cap)
        }
    }

    /// The address of slot 0, given the pool's base; dangling (aligned) without a
    /// buffer. Never dereferences anything.
    pub(crate) fn data(&self, base: *mut u8, e: Elem) -> *mut u8 {
        if self.buf.is_null() {
            e.dangling()
        } else {
            debug_assert!(
                !base.is_null(),
                "a collection's blocks are only reachable while its pool is open"
            );
            base.wrapping_add(self.buf.to_usize())
        }
    }

    /// The address of slot `i`. Never dereferences anything.
    fn slot(&self, base: *mut u8, i: usize, e: Elem) -> *mut u8 {
        self.data(base, e).wrapping_add(i * e.size)
    }

    /// The live slots of the buffer at the start of the transaction (registering the
    /// buffer on its first touch; `None` without a buffer or for a fresh one).
    fn start(&self, j: &dyn RawJournal) -> Option<usize> {
        if self.buf.is_null() {
            return None;
        }
        live_at_start(j, j.base().wrapping_add(self.buf.to_usize()), self.len())
    }

    /// Saves the slots `[from, to)` before they are written: logs those live at the
    /// start of the transaction, notes the others.
    pub(crate) fn save_slots(&self, from: usize, to: usize, e: Elem, j: &dyn RawJournal) {
        if to <= from || e.size == 0 {
            return;
        }
        let first = self.data(j.base(), e);
        let Some(l0) = self.start(j) else {
            j.note_written(first.wrapping_add(from * e.size), (to - from) * e.size);
            return;
        };
        let live_end = l0.clamp(from, to);
        log_slots_once(j, first, first, e.size, (from, live_end));
        if to > live_end {
            j.note_written(
                first.wrapping_add(live_end * e.size),
                (to - live_end) * e.size,
            );
        }
    }

    /// Sets `len`, logging the old value first (and registering the buffer's live
    /// slots before the first change). The caller keeps V3.
    pub(crate) fn set_len(&mut self, len: usize, j: &dyn RawJournal) {
        self.start(j);
        j.log_range(std::ptr::from_ref(&self.len).cast(), 8);
        self.len = len as u64;
    }

    /// Makes room for `additional` more elements, growing the buffer (at least
    /// doubling it) if needed.
    ///
    /// # Errors
    /// The allocation errors; [`Error::OutOfSpace`] on overflow. Nothing changes then.
    pub(crate) fn reserve(&mut self, additional: usize, e: Elem, j: &dyn RawJournal) -> Result<()> {
        let len = self.len();
        let need = len.checked_add(additional).ok_or_else(capacity_overflow)?;
        if need <= self.capacity(e) {
            return Ok(());
        }
        self.reallocate(need.max(self.capacity(e).saturating_mul(2)), e, j)
    }

    /// Makes room for exactly `additional` more elements (rounded up to the block).
    ///
    /// # Errors
    /// As [`reserve`](Self::reserve).
    pub(crate) fn reserve_exact(
        &mut self,
        additional: usize,
        e: Elem,
        j: &dyn RawJournal,
    ) -> Result<()> {
        let need = self
            .len()
            .checked_add(additional)
            .ok_or_else(capacity_overflow)?;
        if need <= self.capacity(e) {
            return Ok(());
        }
        self.reallocate(need, e, j)
    }

    /// Moves the buffer to the smallest block that holds `len` elements, or frees it
    /// when `len == 0`.
    ///
    /// # Errors
    /// The allocation errors; nothing changes then.
    pub(crate) fn shrink_to_fit(&mut self, e: Elem, j: &dyn RawJournal) -> Result<()> {
        if e.size == 0 || self.buf.is_null() {
            return Ok(());
        }
        let len = self.len();
        let now = elems_order(self.capacity(e), e);
        if len > 0 && elems_order(len, e) == now {
            return Ok(());
        }
        self.reallocate(len, e, j)
    }

    /// Moves the live slots to a new block for at least `want >= len` elements (none if
    /// `want == 0`), crash-consistently (see the module's persistence order).
    ///
    /// # Errors
    /// The allocation errors; nothing changes then.
    #[cold]
    #[inline(never)]
    fn reallocate(&mut self, want: usize, e: Elem, j: &dyn RawJournal) -> Result<()> {
        let len = self.len();
        debug_assert!(want >= len && e.size > 0, "V3: the live slots must fit");
        let (new_buf, new_cap) = if want == 0 {
            (PoolOff::NULL, 0)
        } else {
            alloc_elems(want, e, j)?
        };
        let base = j.base();
        // The old buffer's live slots are registered before anything changes.
        self.start(j);
        if !new_buf.is_null() {
            mark_fresh(j, base.wrapping_add(new_buf.to_usize()));
        }
        if !new_buf.is_null() && len > 0 {
            let dst = base.wrapping_add(new_buf.to_usize());
            // The destination is a fresh block of at least `new_cap >= len` slots; both lie
            // in the mapping `j` keeps alive.
            // SAFETY: the source is the live slots of the old block (V2, V3), the
            // destination another block: blocks of one pool never overlap.
            unsafe { std::ptr::copy_nonoverlapping(self.data(base, e), dst, len * e.size) };
            j.note_written(dst, len * e.size);
        }
        let old = (self.buf, self.capacity(e));
        j.log_range(std::ptr::from_ref(&self.buf).cast(), 16);
        self.buf = new_buf;
        self.cap = new_cap as u64;
        if !old.0.is_null()
            && let Some(order) = elems_order(old.1, e)
        {
            j.defer_free(old.0, order);
        }
        Ok(())
    }

    /// Frees the buffer after commit (for the drop of the collection; the header is
    /// left as it is, since nothing reads it again).
    pub(crate) fn free_buffer(&self, e: Elem, j: &dyn RawJournal) {
        if !self.buf.is_null()
            && let Some(order) = elems_order(self.capacity(e), e)
        {
            j.defer_free(self.buf, order);
        }
    }

    /// Moves slots `[at, len)` up by `n`, saving every slot it writes; `len` is
    /// unchanged, and slots `[at, at + n)` are left for the caller to fill (they are
    /// saved already).
    ///
    /// # Panics
    /// If `at > len` or the buffer lacks room for `len + n` (the caller reserves first).
    pub(crate) fn shift_up(&mut self, at: usize, n: usize, e: Elem, j: &dyn RawJournal) {
        let len = self.len();
        assert!(
            at <= len && len.saturating_add(n) <= self.capacity(e),
            "V3: shift_up within the buffer"
        );
        self.save_slots(at, len + n, e, j);
        let base = j.base();
        // SAFETY: both ranges are inside the buffer (checked above; V2); `copy` allows
        // overlap; every slot written was saved.
        unsafe {
            std::ptr::copy(
                self.slot(base, at, e),
                self.slot(base, at + n, e),
                (len - at) * e.size,
            );
        }
    }

    /// Moves slots `[at + n, len)` down by `n`, saving the slots it writes; `len`
    /// is unchanged (the caller lowers it). The elements in `[at, at + n)` must have
    /// been moved out by the caller.
    ///
    /// # Panics
    /// If `at + n > len`.
    pub(crate) fn shift_down(&mut self, at: usize, n: usize, e: Elem, j: &dyn RawJournal) {
        let len = self.len();
        assert!(
            at.checked_add(n).is_some_and(|end| end <= len),
            "V3: shift_down within the live slots"
        );
        self.save_slots(at, len - n, e, j);
        let base = j.base();
        // SAFETY: both ranges are live slots of the buffer (checked above); `copy`
        // allows overlap; the destination slots were saved.
        unsafe {
            std::ptr::copy(
                self.slot(base, at + n, e),
                self.slot(base, at, e),
                (len - at - n) * e.size,
            );
        }
    }

    /// Copies slot `from` over slot `to` (both live), saving `to` first.
    ///
    /// # Panics
    /// If either is not below `len`.
    pub(crate) fn copy_slot(&mut self, from: usize, to: usize, e: Elem, j: &dyn RawJournal) {
        let len = self.len();
        assert!(from < len && to < len, "V3: copy_slot of live slots");
        if from == to {
            return;
        }
        self.save_slots(to, to + 1, e, j);
        let base = j.base();
        // SAFETY: two distinct live slots of the buffer (checked above); `to` saved.
        unsafe {
            std::ptr::copy_nonoverlapping(self.slot(base, from, e), self.slot(base, to, e), e.size);
        }
    }

    /// Moves the live slots `i >= first` with `keep[i]` down over the others, in
    /// order, saving the slots it writes; returns the new length (which the caller
    /// sets). The elements not kept must have been moved out by the caller.
    ///
    /// # Panics
    /// If `keep` does not have one entry per live slot, or `first > len`.
    pub(crate) fn compact(
        &mut self,
        first: usize,
        keep: &[bool],
        e: Elem,
        j: &dyn RawJournal,
    ) -> usize {
        let len = self.len();
        assert!(
            keep.len() == len && first <= len,
            "V3: compact the live slots"
        );
        let new_len = first + keep[first..].iter().filter(|k| **k).count();
        self.save_slots(first, new_len, e, j);
        let base = j.base();
        let mut w = first;
        for (r, &k) in keep.iter().enumerate().skip(first) {
            if k {
                if r != w {
                    // SAFETY: `w < r < len`: two distinct live slots of the buffer;
                    // slot `w < new_len` was saved above.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            self.slot(base, r, e),
                            self.slot(base, w, e),
                            e.size,
                        );
                    }
                }
                w += 1;
            }
        }
        new_len
    }

    // ---- typed access: thin generic helpers over the byte core ----

    /// The live elements.
    ///
    /// # Safety
    /// 1. `base` is offset 0 of the open pool this header belongs to, and the header
    ///    holds `T`s: `Elem::of::<T>()` is the shape it was built with (V2, V3).
    pub(crate) unsafe fn as_slice<T>(&self, base: *mut u8) -> &[T] {
        let data = self.data(base, Elem::of::<T>()).cast::<T>();
        // Only shared access: changes need `&mut self`.
        // SAFETY: (1) `data` is the aligned start of the buffer (A2) or dangling for an
        // empty one, and slots [0, len) hold initialised Ts (V3).
        unsafe { std::slice::from_raw_parts(data, self.len()) }
    }

    /// The live elements `[from, to)`, mutable after saving them (logging those live at
    /// the start of the transaction).
    ///
    /// # Safety
    /// 1. As [`as_slice`](Self::as_slice) (1), with `base == j.base()`.
    ///
    /// # Panics
    /// If `from > to` or `to > len`.
    pub(crate) unsafe fn slice_mut_logged<'a, T>(
        &'a mut self,
        from: usize,
        to: usize,
        j: &dyn RawJournal,
    ) -> &'a mut [T] {
        assert!(
            from <= to && to <= self.len(),
            "slice within the live slots"
        );
        let e = Elem::of::<T>();
        self.save_slots(from, to, e, j);
        let data = self.slot(j.base(), from, e).cast::<T>();
        // SAFETY: (1) initialised, aligned Ts (V3, A2); `&mut self` makes this the only
        // access path for `'a`; they are saved (what an undo needs is logged).
        unsafe { std::slice::from_raw_parts_mut(data, to - from) }
    }

    /// Writes `value` into the dead slot `len` (saved first: it may have been live at
    /// the start of the transaction) and raises `len` (logged): a push. The caller has
    /// reserved room.
    ///
    /// # Safety
    /// 1. As [`as_slice`](Self::as_slice) (1), with `base == j.base()`.
    ///
    /// # Panics
    /// If there is no room (V3).
    pub(crate) unsafe fn push<T>(&mut self, value: T, j: &dyn RawJournal) {
        let e = Elem::of::<T>();
        let len = self.len();
        assert!(len < self.capacity(e), "V3: push after reserve");
        self.save_slots(len, len + 1, e, j);
        let p = self.slot(j.base(), len, e).cast::<T>();
        // SAFETY: (1) slot `len` is inside the buffer (asserted), aligned (A2), dead
        // (V3), and saved above.
        unsafe { p.write(value) };
        self.set_len(len + 1, j);
    }

    /// Writes `value` into slot `i`, which the caller has saved and which
    /// holds no live element (it was moved out or shifted away).
    ///
    /// # Safety
    /// 1. As [`as_slice`](Self::as_slice) (1), with `base == j.base()`.
    /// 2. Slot `i` holds no element that would need dropping, and it was saved
    ///    ([`save_slots`](Self::save_slots)) in this transaction.
    ///
    /// # Panics
    /// If `i` is past the buffer.
    pub(crate) unsafe fn write_slot<T>(&mut self, i: usize, value: T, j: &dyn RawJournal) {
        let e = Elem::of::<T>();
        assert!(i < self.capacity(e), "V3: write inside the buffer");
        let p = self.slot(j.base(), i, e).cast::<T>();
        // SAFETY: (1) inside the buffer, aligned; (2) nothing is lost: what an undo
        // needs of the old bytes is logged.
        unsafe { p.write(value) };
    }

    /// Copies `src` into the slots `[at, at + src.len())`, which the caller has saved
    /// and which hold no live element (for plain-data elements).
    ///
    /// # Safety
    /// 1. As [`as_slice`](Self::as_slice) (1), with `base == j.base()`.
    /// 2. As [`write_slot`](Self::write_slot) (2), for every slot of the range.
    ///
    /// # Panics
    /// If the range is past the buffer.
    pub(crate) unsafe fn write_copy<T: Copy>(&mut self, at: usize, src: &[T], j: &dyn RawJournal) {
        let e = Elem::of::<T>();
        assert!(
            at.checked_add(src.len())
                .is_some_and(|end| end <= self.capacity(e)),
            "V3: write inside the buffer"
        );
        let dst = self.slot(j.base(), at, e).cast::<T>();
        // `src` is a shared borrow that is not into this buffer: we hold `&mut self`, and
        // the buffer is reached only through it.
        // SAFETY: (1) the range is inside the buffer (asserted), aligned, and does not
        // overlap `src`; (2) nothing is lost.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
    }

    /// Moves the element out of slot `i` (bitwise), leaving its bytes in place.
    ///
    /// # Safety
    /// 1. As [`as_slice`](Self::as_slice) (1).
    /// 2. The caller makes slot `i` dead or overwrites it before anything reads it as
    ///    an element again (no double drop), within the same transaction.
    ///
    /// # Panics
    /// If `i >= len`.
    pub(crate) unsafe fn read<T>(&self, base: *mut u8, i: usize) -> T {
        assert!(i < self.len(), "V3: read a live slot");
        let p = self.slot(base, i, Elem::of::<T>()).cast::<T>();
        // SAFETY: (1) a live, initialised, aligned T; (2) ownership moves to the caller.
        unsafe { p.read() }
    }

    /// Moves the live elements `[from, to)` out of the pool into a volatile `Vec`, for
    /// the caller to drop them there (bitwise; the pool bytes stay as they are). For a
    /// `T` without drop glue there is nothing to drop, and the `Vec` is empty.
    ///
    /// # Safety
    /// 1. As [`as_slice`](Self::as_slice) (1).
    /// 2. As [`read`](Self::read) (2), for every slot of the range.
    pub(crate) unsafe fn take_range<T>(&self, base: *mut u8, from: usize, to: usize) -> Vec<T> {
        if !std::mem::needs_drop::<T>() {
            return Vec::new();
        }
        // SAFETY: (1), (2) are the caller's, for each slot.
        (from..to).map(|i| unsafe { self.read(base, i) }).collect()
    }
}

impl RawVec {
    /// Shows the root pointer check this header's buffer, and refuses a header no vector
    /// has (V1, V3) (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, e: Elem, v: &mut crate::layout::PointerVisitor<'_>) {
        let (buf, cap, len) = (self.buf, self.cap, self.len);
        if e.size == 0 {
            if !buf.is_null() {
                v.invalid(buf, "a buffer for zero-sized elements (V1)".into());
            }
        } else if buf.is_null() != (cap == 0) {
            v.invalid(buf, format!("the buffer of a capacity of {cap} (V1)"));
        } else if len > cap {
            v.invalid(
                buf,
                format!("a buffer of {cap} elements holding {len} (V3)"),
            );
        } else if !buf.is_null() {
            match cap.checked_mul(e.size as u64) {
                Some(bytes) => v.pointer(buf, bytes, e.align as u64),
                None => v.invalid(buf, format!("a buffer of {cap} elements (V1)")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[test]
    fn header_layout_is_fixed() {
        assert_eq!(std::mem::offset_of!(RawVec, buf), 0);
        assert_eq!(std::mem::offset_of!(RawVec, cap), 8);
        assert_eq!(std::mem::offset_of!(RawVec, len), 16);
    }

    /// A journal that only records what it is asked to log.
    struct Recorder {
        logged: RefCell<Vec<(usize, usize)>>,
        registry: RefCell<Registry>,
    }

    impl RawJournal for Recorder {
        fn base(&self) -> *mut u8 {
            std::ptr::null_mut()
        }
        fn alloc(&self, _: u64, _: u64) -> Result<PoolOff> {
            Err(capacity_overflow())
        }
        fn defer_free(&self, _: PoolOff, _: u8) {}
        fn log_range(&self, ptr: *const u8, len: usize) {
            self.logged.borrow_mut().push((ptr as usize, len));
        }
        fn note_written(&self, _: *const u8, _: usize) {}
        fn log_batch(&self, saves: &mut dyn FnMut()) {
            saves();
        }
        fn registry(&self) -> RefMut<'_, Registry> {
            self.registry.borrow_mut()
        }
    }

    #[test]
    fn repeated_shifts_log_each_slot_once() {
        let j = Recorder {
            logged: RefCell::new(Vec::new()),
            registry: RefCell::new(Registry::default()),
        };
        let block = std::ptr::without_provenance_mut::<u8>(0x10000);
        assert_eq!(live_at_start(&j, block, 100), Some(100));
        // A queue drained from the front: every removal shifts [0, len - 1).
        for len in (1..=100).rev() {
            log_slots_once(&j, block, block, 8, (0, len - 1));
        }
        // Inserts at assorted places shift [i, 100).
        for i in [50, 10, 70, 0] {
            log_slots_once(&j, block, block, 8, (i, 100));
        }
        let logged = j.logged.borrow().clone();
        let bytes: usize = logged.iter().map(|r| r.1).sum();
        assert_eq!(bytes, 100 * 8, "each slot once: {logged:?}");
        // A disjoint range is logged again, in full.
        log_slots_once(&j, block, block, 8, (200, 210));
        assert_eq!(j.logged.borrow().last(), Some(&(0x10000 + 200 * 8, 80)));
        // The registry is emptied when the transaction ends.
        j.registry.borrow_mut().reset();
        assert!(j.registry.borrow().0.is_empty());
    }

    #[test]
    fn whole_blocks_round_trip_their_order() {
        for size in [1usize, 3, 8, 24, 56, 64, 100, 4096, 5000] {
            for align in [1usize, 8] {
                let e = Elem { size, align };
                for count in [1usize, 2, 7, 64, 1000] {
                    let order = order_for(e.bytes(count).unwrap(), align as u64).unwrap();
                    let cap = to_usize(block_size(order)) / size;
                    assert!(cap >= count);
                    assert_eq!(elems_order(cap, e), Some(order), "{size} {count}");
                }
            }
        }
    }
}
