//! The raw core of `PHashMap`: an open-addressing table with linear probing and
//! backward-shift deletion (no tombstones), in one block of the pool.
//!
//! # Memory layout
//! ```text
//! header (24 B, wherever the map lives)
//! +0   table: u64   pool offset of the table block; 0 = none
//! +8   cap:   u64   slots, a power of two (0 without a table)
//! +16  len:   u64   occupied slots
//!
//! table block: cap slots of `Slot<K, V>` (repr(C)):
//! +0   tag: u64     0 = empty; else hash | 1 << 63 of the key
//! +8.. key: K, val: V  (at their alignment; initialised iff tag != 0)
//! ```
//! A key lives in the first empty-or-its-own slot from its *home* `hash & (cap - 1)`
//! onwards (wrapping).
//!
//! # Invariants
//! - **H1** `table == 0` ⇔ `cap == 0`; otherwise `table` is a used block of order
//!   `order_for(cap * slot_size, slot_align)` owned by this header alone.
//! - **H2** `cap` is 0 or a power of two ≥ [`MIN_CAP`]; `len * 4 <= cap * 3`, so at
//!   least a quarter of the slots are empty and every probe ends.
//! - **H3** a slot's key and value are initialised iff its tag is not 0, and its tag is
//!   the key's hash with the top bit set.
//! - **H4** (no holes) every slot from an occupied slot's home up to the slot itself is
//!   occupied. A lookup can stop at the first empty slot.
//!
//! # Persistence order
//! - Insert: log the empty slot's tag → write tag, key, value (key and value bytes are
//!   dead while the tag is 0, so they are only noted) → log and raise `len`.
//! - Remove (backward shift): every slot that receives an entry shifted back is logged
//!   whole before the copy; the slot that becomes empty is logged whole too (a later
//!   insert of the same transaction writes its key and value unlogged, and an undo must
//!   bring back the entry it held); `len` is logged. No user code runs in between.
//! - In a table allocated by the running transaction nothing is logged, only noted
//!   (see `raw`, "Live at the start").
//! - Resize (grow at 3/4 full, shrink below 1/8): allocate a new table, zero it and
//!   place every entry (fresh memory: noted) → log `{table, cap}` → swap → free the old
//!   table after commit. The old table is untouched, so an undo of the header gets it
//!   back whole.

use std::mem::{ManuallyDrop, offset_of};

use super::raw::{
    Elem, RawJournal, alloc_elems, elems_order, is_fresh, mark_fresh, read_word, save, write_word,
};
use crate::convert::to_usize;
use crate::error::Result;
use crate::offset::PoolOff;

/// The smallest table.
pub(crate) const MIN_CAP: usize = 8;
const OCCUPIED: u64 = 1 << 63;

/// One slot of the table. Only its layout is used: slots are reached by address.
#[repr(C)]
pub(crate) struct Slot<K, V> {
    tag: u64,
    key: ManuallyDrop<K>,
    val: ManuallyDrop<V>,
}

/// The shape of a slot: its size and alignment, and where key and value sit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlotShape {
    slot: Elem,
    key_at: usize,
    val_at: usize,
    val_size: usize,
}

impl SlotShape {
    /// The shape of `Slot<K, V>`.
    pub(crate) const fn of<K, V>() -> SlotShape {
        SlotShape {
            slot: Elem::of::<Slot<K, V>>(),
            key_at: offset_of!(Slot<K, V>, key),
            val_at: offset_of!(Slot<K, V>, val),
            val_size: size_of::<V>(),
        }
    }
}

/// The tag of a key with hash `hash` (H3).
pub(crate) fn tag_of(hash: u64) -> u64 {
    hash | OCCUPIED
}

/// The header of a persistent hash table.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RawTable {
    /// Pool offset of the table block, null for none (H1).
    table: PoolOff,
    /// Slots (H2).
    cap: u64,
    /// Occupied slots (H2).
    len: u64,
}

const _: () = assert!(size_of::<RawTable>() == 24);

impl RawTable {
    /// An empty table header (no block).
    pub(crate) const fn new() -> RawTable {
        RawTable {
            table: PoolOff::NULL,
            cap: 0,
            len: 0,
        }
    }

    /// Occupied slots.
    pub(crate) fn len(&self) -> usize {
        to_usize(self.len)
    }

    /// Slots.
    pub(crate) fn capacity(&self) -> usize {
        to_usize(self.cap)
    }

    fn mask(&self) -> usize {
        self.capacity().wrapping_sub(1)
    }

    /// The address of slot `i`; never dereferences anything.
    fn slot(&self, base: *mut u8, i: usize, s: SlotShape) -> *mut u8 {
        base.wrapping_add(self.table.to_usize() + i * s.slot.size)
    }

    /// The tag of slot `i < cap`.
    ///
    /// # Safety
    /// 1. `base` is offset 0 of the open pool this header belongs to, and `s` the shape
    ///    it was built with (H1).
    unsafe fn tag(&self, base: *mut u8, i: usize, s: SlotShape) -> u64 {
        debug_assert!(i < self.capacity());
        // SAFETY: (1) slot `i` is inside the table block, 8-aligned (A2, repr(C)).
        unsafe { read_word(self.slot(base, i, s)) }
    }

    /// The slot holding a key with hash `hash` for which `eq` says yes, if any.
    ///
    /// # Safety
    /// 1. As [`tag`](Self::tag) (1).
    /// 2. `eq` may only read the key at the slot address it is given.
    pub(crate) unsafe fn find(
        &self,
        base: *mut u8,
        hash: u64,
        s: SlotShape,
        eq: &mut dyn FnMut(*const u8) -> bool,
    ) -> Option<usize> {
        if self.cap == 0 {
            return None;
        }
        let want = tag_of(hash);
        let mut i = to_usize(hash) & self.mask();
        loop {
            // SAFETY: (1); `i` is masked below `cap`.
            let t = unsafe { self.tag(base, i, s) };
            if t == 0 {
                return None; // H4: the key would be before the first empty slot
            }
            if t == want && eq(self.slot(base, i, s).wrapping_add(s.key_at)) {
                return Some(i);
            }
            i = (i + 1) & self.mask();
        }
    }

    /// The first occupied slot at or after `from`, if any.
    ///
    /// # Safety
    /// 1. As [`tag`](Self::tag) (1).
    pub(crate) unsafe fn next_occupied(
        &self,
        base: *mut u8,
        from: usize,
        s: SlotShape,
    ) -> Option<usize> {
        // SAFETY: (1); every `i` is below `cap`.
        (from..self.capacity()).find(|&i| unsafe { self.tag(base, i, s) } != 0)
    }

    /// Makes room for one more entry (growing at 3/4 full, H2).
    ///
    /// # Errors
    /// The allocation errors; nothing changes then.
    pub(crate) fn reserve_one(&mut self, s: SlotShape, j: &dyn RawJournal) -> Result<()> {
        let need = self.len() + 1;
        if need * 4 <= self.capacity() * 3 {
            return Ok(());
        }
        let cap = (self.capacity() * 2).max(MIN_CAP);
        self.resize(cap, s, j)
    }

    /// Makes room for `n` entries in all.
    ///
    /// # Errors
    /// The allocation errors, or [`Error::OutOfSpace`](crate::Error::OutOfSpace) on
    /// overflow; nothing changes then.
    pub(crate) fn reserve_total(
        &mut self,
        n: usize,
        s: SlotShape,
        j: &dyn RawJournal,
    ) -> Result<()> {
        if n.checked_mul(4).is_some_and(|n4| n4 <= self.capacity() * 3) {
            return Ok(());
        }
        let cap = cap_for(n).ok_or_else(super::raw::capacity_overflow)?;
        self.resize(cap, s, j)
    }

    /// Claims the empty slot a new key with hash `hash` goes to, writes its tag and
    /// raises `len` (both logged), and returns its index; the caller writes key and
    /// value there (their bytes are noted already). The caller has checked that the
    /// key is absent and reserved room.
    ///
    /// # Safety
    /// 1. As [`tag`](Self::tag) (1), with `base == j.base()`.
    ///
    /// # Panics
    /// If there is no room (the caller reserves first).
    pub(crate) unsafe fn claim(&mut self, hash: u64, s: SlotShape, j: &dyn RawJournal) -> usize {
        let base = j.base();
        assert!(
            (self.len() + 1) * 4 <= self.capacity() * 3,
            "H2: claim after reserve"
        );
        let mut i = to_usize(hash) & self.mask();
        // SAFETY: (1); `i` is masked; H2 guarantees an empty slot.
        while unsafe { self.tag(base, i, s) } != 0 {
            i = (i + 1) & self.mask();
        }
        let p = self.slot(base, i, s);
        // A fresh table was noted whole when it was made.
        if !is_fresh(j, self.slot(base, 0, s)) {
            j.log_range(p, 8);
            j.note_written(p.wrapping_add(8), s.slot.size - 8);
        }
        // SAFETY: (1) the slot's tag, inside the table, 8-aligned; saved above.
        unsafe { write_word(p, tag_of(hash)) };
        let len = self.len() + 1;
        self.set_len(len, j);
        i
    }

    fn set_len(&mut self, len: usize, j: &dyn RawJournal) {
        j.log_range(std::ptr::from_ref(&self.len).cast(), 8);
        self.len = len as u64;
    }

    /// Empties slot `i` (whose key and value the caller has moved out) and closes the
    /// gap by shifting later entries of its run back (H4), logging every slot it
    /// changes; lowers `len`; then shrinks the table if it is below 1/8 full (if the
    /// pool has room for the smaller table).
    ///
    /// # Safety
    /// 1. As [`tag`](Self::tag) (1), with `base == j.base()`.
    /// 2. Slot `i` is occupied and its key and value were moved out: they are not
    ///    dropped here, and must not be dropped again by anyone reading the slot.
    pub(crate) unsafe fn erase(&mut self, i: usize, s: SlotShape, j: &dyn RawJournal) {
        let base = j.base();
        let mask = self.mask();
        let live = !is_fresh(j, self.slot(base, 0, s));
        let mut hole = i;
        let mut at = i;
        loop {
            at = (at + 1) & mask;
            // SAFETY: (1); `at` is masked.
            let t = unsafe { self.tag(base, at, s) };
            if t == 0 {
                break; // the end of the run: nothing after it can depend on the hole
            }
            // The entry at `at` may stay if its home lies cyclically in (hole, at]:
            // then every slot from its home to it is still occupied (H4).
            let home = to_usize(t) & mask;
            if (at.wrapping_sub(home) & mask) < (at.wrapping_sub(hole) & mask) {
                continue;
            }
            let dst = self.slot(base, hole, s);
            save(j, dst, s.slot.size, live);
            // SAFETY: (1) two distinct slots of the table; `dst` saved above.
            unsafe {
                std::ptr::copy_nonoverlapping(self.slot(base, at, s), dst, s.slot.size);
            }
            hole = at;
        }
        let p = self.slot(base, hole, s);
        // The whole slot: a later insert may reuse its key and value bytes unlogged.
        save(j, p, s.slot.size, live);
        // SAFETY: (1) the tag of a slot of the table; saved above. The entry in it was
        // moved out (2) or copied back into the previous hole.
        unsafe { write_word(p, 0) };
        let len = self.len() - 1;
        self.set_len(len, j);
        if self.capacity() > MIN_CAP && len * 8 < self.capacity() {
            // Shrinking is an optimisation: without room for the smaller table the
            // map keeps the bigger one.
            let _ = self.resize(self.capacity() / 2, s, j);
        }
    }

    /// Moves every entry to a new table of `cap` slots (none if `cap == 0`, which needs
    /// an empty table), crash-consistently (see the module's persistence order).
    ///
    /// # Errors
    /// The allocation errors; nothing changes then.
    #[cold]
    #[inline(never)]
    pub(crate) fn resize(&mut self, cap: usize, s: SlotShape, j: &dyn RawJournal) -> Result<()> {
        debug_assert!(
            cap == 0 || (cap.is_power_of_two() && cap >= MIN_CAP && self.len() * 4 <= cap * 3),
            "H2 for the new table"
        );
        let base = j.base();
        let new_table = if cap == 0 {
            PoolOff::NULL
        } else {
            let (off, _) = alloc_elems(cap, s.slot, j)?;
            off
        };
        let new = RawTable {
            table: new_table,
            cap: cap as u64,
            len: self.len,
        };
        if !new_table.is_null() {
            let p = base.wrapping_add(new_table.to_usize());
            mark_fresh(j, p);
            // SAFETY: a fresh block of at least `cap` slots (alloc_elems) in the mapping
            // `j` keeps alive; zero tags mark every slot empty (H3).
            unsafe { std::ptr::write_bytes(p, 0, cap * s.slot.size) };
            j.note_written(p, cap * s.slot.size);
            let mut from = 0;
            // SAFETY: (1) of `next_occupied`: this header's own table and shape.
            while let Some(i) = unsafe { self.next_occupied(base, from, s) } {
                let src = self.slot(base, i, s);
                // SAFETY: as above, slot `i` of the old table.
                let hash = unsafe { self.tag(base, i, s) };
                let mut k = to_usize(hash) & new.mask();
                // SAFETY: the new table has room (H2) and `k` is masked.
                while unsafe { new.tag(base, k, s) } != 0 {
                    k = (k + 1) & new.mask();
                }
                // The new slot is fresh memory, noted above. The entry is moved bitwise:
                // after the swap below only the new table owns it.
                // SAFETY: a slot of the old table and one of the new (distinct blocks).
                unsafe {
                    std::ptr::copy_nonoverlapping(src, new.slot(base, k, s), s.slot.size);
                }
                from = i + 1;
            }
        }
        let old = (self.table, self.capacity());
        j.log_range(std::ptr::from_ref(&self.table).cast(), 16);
        self.table = new.table;
        self.cap = new.cap;
        if !old.0.is_null()
            && let Some(order) = elems_order(old.1, s.slot)
        {
            j.defer_free(old.0, order);
        }
        Ok(())
    }

    /// Frees the table after commit (for the drop of the map; the header is left as it
    /// is, since nothing reads it again).
    pub(crate) fn free_table(&self, s: SlotShape, j: &dyn RawJournal) {
        if !self.table.is_null()
            && let Some(order) = elems_order(self.capacity(), s.slot)
        {
            j.defer_free(self.table, order);
        }
    }

    /// Forgets every entry (whose keys and values the caller has moved out) and frees
    /// the table after commit; the header is logged.
    pub(crate) fn clear_moved_out(&mut self, s: SlotShape, j: &dyn RawJournal) {
        j.log_range(std::ptr::from_ref(self).cast(), size_of::<RawTable>());
        self.free_table(s, j);
        *self = RawTable::new();
    }

    /// Checks H2, H3 (tags match their slots' home) and H4, and the entry count; for
    /// tests.
    ///
    /// # Errors
    /// The first broken invariant.
    ///
    /// # Safety
    /// 1. As [`tag`](Self::tag) (1).
    #[cfg(test)]
    pub(crate) unsafe fn validate(
        &self,
        base: *mut u8,
        s: SlotShape,
    ) -> std::result::Result<(), String> {
        let cap = self.capacity();
        if cap == 0 {
            return if self.len == 0 {
                Ok(())
            } else {
                Err("H1: entries without a table".into())
            };
        }
        if !cap.is_power_of_two() || cap < MIN_CAP || self.len() * 4 > cap * 3 {
            return Err(format!("H2: {} entries in {cap} slots", self.len));
        }
        let mut count = 0;
        for i in 0..cap {
            // SAFETY: (1).
            let t = unsafe { self.tag(base, i, s) };
            if t == 0 {
                continue;
            }
            count += 1;
            let home = to_usize(t) & self.mask();
            let mut k = home;
            while k != i {
                // SAFETY: (1); `k` is masked.
                if unsafe { self.tag(base, k, s) } == 0 {
                    return Err(format!(
                        "H4: slot {i} (home {home}) after the empty slot {k}"
                    ));
                }
                k = (k + 1) & self.mask();
            }
        }
        if count == self.len() {
            Ok(())
        } else {
            Err(format!(
                "{count} occupied slots, the header says {}",
                self.len
            ))
        }
    }

    // ---- typed access: thin generic helpers over the byte core ----

    /// The slot holding the key equal to `q` (whose hash is `hash`), if any.
    ///
    /// # Safety
    /// 1. As [`tag`](Self::tag) (1), and the header holds `Slot<K, V>`s (`s` is their
    ///    shape).
    pub(crate) unsafe fn find_key<K, V, Q>(&self, base: *mut u8, hash: u64, q: &Q) -> Option<usize>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut eq = |p: *const u8| {
            // SAFETY: `find` passes the key address of an occupied slot (H3): an
            // initialised, aligned K (1).
            let k = unsafe { &*p.cast::<K>() };
            k.borrow() == q
        };
        // SAFETY: (1); the closure only reads the key it is given.
        unsafe { self.find(base, hash, SlotShape::of::<K, V>(), &mut eq) }
    }

    /// The key and value of occupied slot `i`.
    ///
    /// # Safety
    /// 1. As [`tag`](Self::tag) (1), and the header holds `Slot<K, V>`s (`s` is their
    ///    shape).
    /// 2. Slot `i < cap` is occupied.
    pub(crate) unsafe fn entry<K, V>(&self, base: *mut u8, i: usize) -> (&K, &V) {
        let s = SlotShape::of::<K, V>();
        debug_assert!(i < self.capacity());
        let p = self.slot(base, i, s);
        // SAFETY: (1), (2): an initialised, aligned key (H3, A2); only shared access,
        // changes need `&mut self`.
        let k = unsafe { &*p.wrapping_add(s.key_at).cast::<K>() };
        // SAFETY: as above, the value.
        let v = unsafe { &*p.wrapping_add(s.val_at).cast::<V>() };
        (k, v)
    }

    /// The value of occupied slot `i`, mutable after logging it.
    ///
    /// # Safety
    /// 1. As [`entry`](Self::entry) (1), (2), with `base == j.base()`.
    pub(crate) unsafe fn value_mut_logged<'a, K, V>(
        &'a mut self,
        i: usize,
        j: &dyn RawJournal,
    ) -> &'a mut V {
        let s = SlotShape::of::<K, V>();
        let p = self.slot(j.base(), i, s).wrapping_add(s.val_at);
        save(j, p, s.val_size, !is_fresh(j, self.slot(j.base(), 0, s)));
        // SAFETY: (1), (2); `&mut self` makes this the only access path; saved above.
        unsafe { &mut *p.cast::<V>() }
    }

    /// The value of slot `i`, just claimed and written in this transaction, mutable
    /// without logging (its bytes are noted already and hold nothing an undo needs).
    ///
    /// # Safety
    /// 1. As [`entry`](Self::entry) (1), (2).
    /// 2. `i` was returned by [`claim`](Self::claim) in the running transaction.
    pub(crate) unsafe fn value_mut_claimed<K, V>(&mut self, base: *mut u8, i: usize) -> &mut V {
        let s = SlotShape::of::<K, V>();
        let p = self.slot(base, i, s).wrapping_add(s.val_at);
        // SAFETY: (1), (2); `&mut self` makes this the only access path.
        unsafe { &mut *p.cast::<V>() }
    }

    /// Writes key and value into slot `i`, just claimed.
    ///
    /// # Safety
    /// 1. As [`entry`](Self::entry) (1), with `base == j.base()`.
    /// 2. `i` was returned by [`claim`](Self::claim) in this transaction and nothing
    ///    was written to it since.
    pub(crate) unsafe fn write_entry<K, V>(&mut self, i: usize, key: K, val: V, base: *mut u8) {
        let s = SlotShape::of::<K, V>();
        let p = self.slot(base, i, s);
        // SAFETY: (1), (2): dead bytes of a claimed slot, noted by `claim`; aligned.
        unsafe { p.wrapping_add(s.key_at).cast::<K>().write(key) };
        // SAFETY: as above.
        unsafe { p.wrapping_add(s.val_at).cast::<V>().write(val) };
    }

    /// Moves key and value out of occupied slot `i` (bitwise; the bytes stay).
    ///
    /// # Safety
    /// 1. As [`entry`](Self::entry) (1), (2).
    /// 2. The caller erases the slot (or forgets the table) before anything reads it
    ///    as an entry again, within the same transaction.
    pub(crate) unsafe fn read_entry<K, V>(&self, base: *mut u8, i: usize) -> (K, V) {
        let s = SlotShape::of::<K, V>();
        let p = self.slot(base, i, s);
        // SAFETY: (1), (2): initialised, aligned; ownership moves to the caller.
        let k = unsafe { p.wrapping_add(s.key_at).cast::<K>().read() };
        // SAFETY: as above, the value.
        let v = unsafe { p.wrapping_add(s.val_at).cast::<V>().read() };
        (k, v)
    }
}

/// The table size for `n` entries: the smallest power of two ≥ `MIN_CAP` with
/// `n <= cap * 3/4` (H2).
pub(crate) fn cap_for(n: usize) -> Option<usize> {
    let min = n.checked_mul(4)?.div_ceil(3);
    Some(min.checked_next_power_of_two()?.max(MIN_CAP))
}

impl RawTable {
    /// Shows the root pointer check this header's table, and refuses a header no map has
    /// (H1, H2) (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, s: SlotShape, v: &mut crate::layout::PointerVisitor<'_>) {
        let (table, cap, len) = (self.table, self.cap, self.len);
        if table.is_null() != (cap == 0) {
            v.invalid(table, format!("the table of a capacity of {cap} (H1)"));
        } else if cap != 0 && (!cap.is_power_of_two() || cap < MIN_CAP as u64) {
            v.invalid(table, format!("a table of {cap} slots (H2)"));
        } else if u128::from(len) * 4 > u128::from(cap) * 3 {
            v.invalid(table, format!("a table of {cap} slots holding {len} (H2)"));
        } else if !table.is_null() {
            match cap.checked_mul(s.slot.size as u64) {
                Some(bytes) => v.pointer(table, bytes, s.slot.align as u64),
                None => v.invalid(table, format!("a table of {cap} slots (H2)")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_layout_puts_the_tag_first() {
        let s = SlotShape::of::<u64, u64>();
        assert_eq!((s.slot.size, s.key_at, s.val_at), (24, 8, 16));
        let s = SlotShape::of::<u8, ()>();
        assert_eq!((s.slot.size, s.key_at), (16, 8));
        assert_eq!(offset_of!(Slot<u8, u128>, tag), 0);
    }

    #[test]
    fn capacities_keep_a_quarter_empty() {
        assert_eq!(cap_for(0), Some(MIN_CAP));
        assert_eq!(cap_for(6), Some(8));
        assert_eq!(cap_for(7), Some(16));
        for n in [1usize, 100, 1000, 100_000] {
            let c = cap_for(n).unwrap();
            assert!(n * 4 <= c * 3 && c.is_power_of_two());
        }
        assert_eq!(cap_for(usize::MAX), None);
    }
}
