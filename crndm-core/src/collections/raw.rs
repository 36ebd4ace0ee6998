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
//! # Persistence order
//! - Bytes of slots below `len`, and the header, are logged (`log_range`: undo record →
//!   fence) before they change in place; they are flushed at commit.
//! - Bytes of slots at or past `len` are dead (V3), and an undo of `len` keeps them
//!   dead, so they are only noted (`note_written`) and flushed at commit.
//! - Growth: allocate a new block (its ALLOC record frees it if the transaction does
//!   not commit) → copy the live slots → note them → log `{buf, cap}` → store the new
//!   pair → defer the free of the old block until after commit. Until commit the old
//!   block is intact, so undoing the header brings back a complete buffer.

use crate::alloc::buddy::{block_size, order_for};
use crate::error::{Error, Result};
use crate::stm::journal::Journal;
use crate::stm::pool_type::MemPool;
use crate::util::to_usize;

/// The journal of a running transaction, as the raw cores use it: bytes and blocks of
/// one pool, no types.
pub(crate) trait RawJournal {
    /// The address of pool offset 0 (valid while the journal lives).
    fn base(&self) -> *mut u8;
    /// Allocates a block, freed again if the transaction does not commit.
    fn alloc(&self, size: u64, align: u64) -> Result<u64>;
    /// Frees a block after the transaction commits.
    fn defer_free(&self, off: u64, order: u8);
    /// Saves the old bytes of a range before it changes in place (ranges outside the
    /// pool are ignored).
    fn log_range(&self, ptr: *const u8, len: usize);
    /// Remembers a range of dead or fresh bytes written now, to flush it at commit.
    fn note_written(&self, ptr: *const u8, len: usize);
}

impl<P: MemPool> RawJournal for Journal<P> {
    fn base(&self) -> *mut u8 {
        Journal::base(self)
    }
    fn alloc(&self, size: u64, align: u64) -> Result<u64> {
        Journal::alloc(self, size, align)
    }
    fn defer_free(&self, off: u64, order: u8) {
        Journal::defer_free(self, off, order);
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
}

/// The address of offset 0 of `P`'s open pool.
///
/// Callers dereference it only for blocks that exist, which are reachable only while
/// the pool is open (a root handle or a transaction keeps it so, S2).
pub(crate) fn pool_base<P: MemPool>() -> *mut u8 {
    let base = P::__slot().base();
    debug_assert!(
        !base.is_null(),
        "a collection's blocks are only reachable while its pool is open"
    );
    base
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

    /// `n` elements in bytes, or an error on overflow.
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
pub(crate) fn alloc_elems(count: usize, e: Elem, j: &dyn RawJournal) -> Result<(u64, usize)> {
    debug_assert!(e.size > 0 && count > 0, "zero-sized buffers are never allocated");
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
    /// Pool offset of the buffer block, 0 for none (V1, V2).
    buf: u64,
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
            buf: 0,
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
        if self.buf == 0 {
            e.dangling()
        } else {
            base.wrapping_add(to_usize(self.buf))
        }
    }

    /// The address of slot `i`. Never dereferences anything.
    fn slot(&self, base: *mut u8, i: usize, e: Elem) -> *mut u8 {
        self.data(base, e).wrapping_add(i * e.size)
    }

    /// Logs the slots `[from, to)`, which hold data, before they change in place.
    pub(crate) fn log_slots(&self, from: usize, to: usize, e: Elem, j: &dyn RawJournal) {
        if to > from && e.size > 0 {
            j.log_range(self.slot(j.base(), from, e), (to - from) * e.size);
        }
    }

    /// Notes the dead slots `[from, to)` written now, to flush them at commit.
    pub(crate) fn note_slots(&self, from: usize, to: usize, e: Elem, j: &dyn RawJournal) {
        if to > from && e.size > 0 {
            j.note_written(self.slot(j.base(), from, e), (to - from) * e.size);
        }
    }

    /// Sets `len`, logging the old value first. The caller keeps V3.
    pub(crate) fn set_len(&mut self, len: usize, j: &dyn RawJournal) {
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
        if e.size == 0 || self.buf == 0 {
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
    #[cold]
    #[inline(never)]
    fn reallocate(&mut self, want: usize, e: Elem, j: &dyn RawJournal) -> Result<()> {
        let len = self.len();
        debug_assert!(want >= len && e.size > 0, "V3: the live slots must fit");
        let (new_buf, new_cap) = if want == 0 {
            (0, 0)
        } else {
            alloc_elems(want, e, j)?
        };
        let base = j.base();
        if new_buf != 0 && len > 0 {
            let dst = base.wrapping_add(to_usize(new_buf));
            // SAFETY: the source is the live slots of the old block (V2, V3), the
            // destination a fresh block of at least `new_cap >= len` slots; blocks of
            // one pool never overlap; both lie in the mapping `j` keeps alive.
            unsafe { std::ptr::copy_nonoverlapping(self.data(base, e), dst, len * e.size) };
            j.note_written(dst, len * e.size);
        }
        let old = (self.buf, self.capacity(e));
        j.log_range(std::ptr::from_ref(&self.buf).cast(), 16);
        self.buf = new_buf;
        self.cap = new_cap as u64;
        if old.0 != 0
            && let Some(order) = elems_order(old.1, e)
        {
            j.defer_free(old.0, order);
        }
        Ok(())
    }

    /// Frees the buffer after commit (for the drop of the collection; the header is
    /// left as it is, since nothing reads it again).
    pub(crate) fn free_buffer(&self, e: Elem, j: &dyn RawJournal) {
        if self.buf != 0
            && let Some(order) = elems_order(self.capacity(e), e)
        {
            j.defer_free(self.buf, order);
        }
    }

    /// Moves slots `[at, len)` up by `n`, logging the live slots that change and noting
    /// the dead ones written; `len` is unchanged, and slots `[at, at + n)` are left
    /// for the caller to fill (they are logged or noted already).
    ///
    /// # Panics
    /// If `at > len` or the buffer lacks room for `len + n` (the caller reserves first).
    pub(crate) fn shift_up(&mut self, at: usize, n: usize, e: Elem, j: &dyn RawJournal) {
        let len = self.len();
        assert!(
            at <= len && len.saturating_add(n) <= self.capacity(e),
            "V3: shift_up within the buffer"
        );
        self.log_slots(at, len, e, j);
        self.note_slots(len, len + n, e, j);
        let base = j.base();
        // SAFETY: both ranges are inside the buffer (checked above; V2); `copy` allows
        // overlap; the changed live slots were logged and the dead ones noted.
        unsafe {
            std::ptr::copy(
                self.slot(base, at, e),
                self.slot(base, at + n, e),
                (len - at) * e.size,
            );
        }
    }

    /// Moves slots `[at + n, len)` down by `n`, logging the slots that change; `len`
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
        self.log_slots(at, len - n, e, j);
        let base = j.base();
        // SAFETY: both ranges are live slots of the buffer (checked above); `copy`
        // allows overlap; the destination slots were logged.
        unsafe {
            std::ptr::copy(
                self.slot(base, at + n, e),
                self.slot(base, at, e),
                (len - at - n) * e.size,
            );
        }
    }

    /// Copies slot `from` over slot `to` (both live), logging `to` first.
    ///
    /// # Panics
    /// If either is not below `len`.
    pub(crate) fn copy_slot(&mut self, from: usize, to: usize, e: Elem, j: &dyn RawJournal) {
        let len = self.len();
        assert!(from < len && to < len, "V3: copy_slot of live slots");
        if from == to {
            return;
        }
        self.log_slots(to, to + 1, e, j);
        let base = j.base();
        // SAFETY: two distinct live slots of the buffer (checked above); `to` logged.
        unsafe {
            std::ptr::copy_nonoverlapping(self.slot(base, from, e), self.slot(base, to, e), e.size);
        }
    }

    /// Moves the live slots `i >= first` with `keep[i]` down over the others, in
    /// order, logging the slots that change; returns the new length (which the caller
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
        self.log_slots(first, new_len, e, j);
        let base = j.base();
        let mut w = first;
        for r in first..len {
            if keep[r] {
                if r != w {
                    // SAFETY: `w < r < len`: two distinct live slots of the buffer;
                    // slot `w < new_len` was logged above.
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
    pub(crate) unsafe fn as_slice<'a, T>(&'a self, base: *mut u8) -> &'a [T] {
        let data = self.data(base, Elem::of::<T>()).cast::<T>();
        // SAFETY: (1) `data` is the aligned start of the buffer (A2) or dangling for an
        // empty one, and slots [0, len) hold initialised Ts (V3). Only shared access:
        // changes need `&mut self`.
        unsafe { std::slice::from_raw_parts(data, self.len()) }
    }

    /// The live elements `[from, to)`, mutable after logging them.
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
        assert!(from <= to && to <= self.len(), "slice within the live slots");
        let e = Elem::of::<T>();
        self.log_slots(from, to, e, j);
        let data = self.slot(j.base(), from, e).cast::<T>();
        // SAFETY: (1) initialised, aligned Ts (V3, A2); `&mut self` makes this the only
        // access path for `'a`; their old bytes are in the journal.
        unsafe { std::slice::from_raw_parts_mut(data, to - from) }
    }

    /// Writes `value` into the dead slot `len` and raises `len` (logged): a push. The
    /// caller has reserved room.
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
        let p = self.slot(j.base(), len, e).cast::<T>();
        // SAFETY: (1) slot `len` is inside the buffer (asserted), aligned (A2), dead
        // (V3), so nothing is overwritten that an undo would need.
        unsafe { p.write(value) };
        self.note_slots(len, len + 1, e, j);
        self.set_len(len + 1, j);
    }

    /// Writes `value` into slot `i`, which the caller has logged or noted and which
    /// holds no live element (it was moved out or shifted away).
    ///
    /// # Safety
    /// 1. As [`as_slice`](Self::as_slice) (1), with `base == j.base()`.
    /// 2. Slot `i` holds no element that would need dropping, and its old bytes are
    ///    logged (if below the length when the transaction began) or noted.
    ///
    /// # Panics
    /// If `i` is past the buffer.
    pub(crate) unsafe fn write_slot<T>(&mut self, i: usize, value: T, j: &dyn RawJournal) {
        let e = Elem::of::<T>();
        assert!(i < self.capacity(e), "V3: write inside the buffer");
        let p = self.slot(j.base(), i, e).cast::<T>();
        // SAFETY: (1) inside the buffer, aligned; (2) nothing is lost, the undo log
        // or the dead length covers the old bytes.
        unsafe { p.write(value) };
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

    /// Moves the live elements `[from, to)` out of the pool into a volatile `Vec`
    /// (bitwise; the pool bytes stay as they are).
    ///
    /// # Safety
    /// 1. As [`as_slice`](Self::as_slice) (1).
    /// 2. As [`read`](Self::read) (2), for every slot of the range.
    pub(crate) unsafe fn take_range<T>(&self, base: *mut u8, from: usize, to: usize) -> Vec<T> {
        // SAFETY: (1), (2) are the caller's, for each slot.
        (from..to).map(|i| unsafe { self.read(base, i) }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_is_fixed() {
        assert_eq!(std::mem::offset_of!(RawVec, buf), 0);
        assert_eq!(std::mem::offset_of!(RawVec, cap), 8);
        assert_eq!(std::mem::offset_of!(RawVec, len), 16);
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
