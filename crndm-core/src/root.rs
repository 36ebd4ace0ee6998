//! The root object: `RootObj` (how it is first made), `RootCell` (the handle that keeps
//! the pool open), and opening a pool with a root.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use crate::alloc::buddy::order_for;
use crate::boxed::Pbox;
use crate::convert::to_usize;
use crate::error::{Error, Result};
use crate::marker::PSafe;
use crate::marker::phantom::NotTxIn;
use crate::offset::PoolOff;
use crate::pool::header::Header;
use crate::stm::journal::Journal;
use crate::stm::pool_type::{PoolGuard, PoolType};

/// A type that can be the root of a pool of `P`: made by [`init`](Self::init) in the
/// transaction that creates the pool's root.
///
/// Every `Default` type is a `RootObj`; `#[derive(Root)]` makes a struct one by
/// initialising each field with its own `RootObj::init`.
pub trait RootObj<P: PoolType>: Sized {
    /// The initial root value, made in transaction `j`.
    fn init(j: &Journal<P>) -> Self;
}

impl<T: Default, P: PoolType> RootObj<P> for T {
    fn init(_: &Journal<P>) -> Self {
        T::default()
    }
}

impl<T: RootObj<P> + PSafe, P: PoolType> RootObj<P> for Pbox<T, P> {
    fn init(j: &Journal<P>) -> Self {
        Pbox::new(T::init(j), j)
    }
}

/// The volatile handle to a pool's root object: `Deref`s to it and keeps the pool open
/// until dropped.
pub struct RootCell<T, P: PoolType> {
    /// Pool offset of the root: a used block holding a `T` (checked at open).
    off: PoolOff,
    _guard: PoolGuard<P>,
    /// Not `UnwindSafe` on stable: the handle cannot be moved into a transaction.
    _marker: PhantomData<(T, NotTxIn)>,
}

impl<T, P: PoolType> Deref for RootCell<T, P> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard keeps the pool open (S2), so the base is the live mapping and
        // `off` is inside it.
        let p = unsafe { P::__slot().base().add(self.off.to_usize()) }.cast::<T>();
        // SAFETY: `off` holds a T (checked at open; changed only through logged cells).
        unsafe { &*p }
    }
}

impl<T: fmt::Debug, P: PoolType> fmt::Debug for RootCell<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RootCell").field(&**self).finish()
    }
}

/// The fingerprint of a root type as the header stores it: size, alignment, and the
/// structural hash of [`RootLayout`](crate::RootLayout) (independent of module paths,
/// including the pool module's).
pub(crate) fn fingerprint<R: crate::RootLayout>() -> (u64, u64, u64) {
    (
        size_of::<R>() as u64,
        align_of::<R>() as u64,
        crate::layout::fingerprint::<R>(),
    )
}

/// Refuses, **before anything is written to the file**, an open whose root would be
/// refused by [`open_root`]: it runs inside the open (`pool::raw`'s open check), on the
/// mapped, validated file under the exclusive lock and before recovery's first write or
/// the generation bump, and reads the root slot as recovery will leave it. `bytes` is
/// the whole mapped pool, `geo` its validated geometry.
///
/// # The rule for a pool that needs recovery
/// A crashed transaction (the one creating the root, or any other: the slot is only
/// written by root creation) may have written the root slot, which recovery restores.
/// So the slot is computed as recovery computes it: starting from the stored header,
/// lane by lane in index order, an uncommitted log's UNDO records are applied newest
/// first, and a committed redo log's REDO records in order (exactly
/// `stm::recovery::recover_lane`), each only on the bytes of the slot it covers. If the
/// resulting `root_off` is 0 the root does not exist yet (it will be created after
/// recovery): nothing to refuse. Otherwise its fingerprint must be `R`'s. A freshly
/// formatted pool has no root, so this never refuses a create.
///
/// If no lane holds a log (recovery will change nothing), the root's persistent pointers
/// are checked here too, on the file as it is ([`check_root_in_file`]).
///
/// # Errors
/// [`Error::RootTypeMismatch`]; [`Error::CorruptHeader`] and [`Error::CorruptRoot`]
/// from the pointer check.
pub(crate) fn check_recovered_root<R: crate::RootLayout>(
    bytes: &[u8],
    geo: &crate::pool::header::Geometry,
) -> Result<()> {
    use crate::stm::lane::{COMMIT_REDO, Kind, lane_at};
    use crate::stm::recovery::extension_resolver;
    let slot_off = std::mem::offset_of!(Header, root_off);
    let mut slot = [0u8; 32];
    slot.copy_from_slice(&bytes[slot_off..slot_off + 32]);
    let journals = geo.region(crate::error::Region::Journals);
    let jbase = bytes[journals.off.to_usize()..].as_ptr().cast_mut();
    let pool_base = bytes.as_ptr().cast_mut();
    // Whether recovery will change anything (a lane holds a log).
    let mut pending = false;
    for index in 0..geo.lanes {
        // `jbase` is the journals region of the mapping `bytes` views (validated
        // geometry), which outlives the lanes made here; only reading methods
        // (`scan_with`, `payload`) are called on them, and the exclusive lock and the
        // caller (nothing written yet) exclude writers.
        // SAFETY: (1) lane `index` lies in that live region; (2) nobody writes it.
        let lane = unsafe { lane_at(jbase, index, geo.lane_size) };
        let Some((_, recs)) = lane.scan_with(extension_resolver(pool_base, geo)) else {
            continue;
        };
        pending = true;
        let committed = recs.iter().any(|r| r.kind == Kind::Commit);
        let redo = recs
            .iter()
            .any(|r| r.kind == Kind::Commit && r.aux == COMMIT_REDO);
        let applied: Vec<_> = if !committed {
            recs.iter().rev().filter(|r| r.kind == Kind::Undo).collect()
        } else if redo {
            recs.iter().filter(|r| r.kind == Kind::Redo).collect()
        } else {
            Vec::new()
        };
        for r in applied {
            let payload = lane.payload(r);
            // The part of [r.off, r.off + len) inside the slot, if any (untrusted bytes:
            // saturating arithmetic, and a record outside is simply not applied here).
            let (start, end) = (r.off, r.off.saturating_add(payload.len() as u64));
            let (lo, hi) = (start.max(slot_off as u64), end.min(slot_off as u64 + 32));
            if lo < hi {
                let (d, p) = (to_usize(lo) - slot_off, to_usize(lo - start));
                let n = to_usize(hi - lo);
                slot[d..d + n].copy_from_slice(&payload[p..p + n]);
            }
        }
    }
    let word = |k: usize| u64::from_le_bytes(slot[k * 8..k * 8 + 8].try_into().unwrap_or([0; 8]));
    let (root_off, stored) = (word(0), (word(1), word(2), word(3)));
    if root_off != 0 && stored != fingerprint::<R>() {
        return Err(Error::RootTypeMismatch {
            requested: std::any::type_name::<R>(),
            stored_size: stored.0,
            stored_align: stored.1,
            stored_hash: stored.2,
        });
    }
    if root_off != 0 && !pending {
        check_root_in_file::<R>(bytes, geo, PoolOff::new(root_off))?;
    }
    Ok(())
}

/// The check of the root object's persistent pointers (`RootLayout::visit_pointers`) on
/// the mapped file `bytes` of a pool that needs no recovery (so its bytes and map are
/// what the program will see), before anything is written to it: the root slot must
/// name a used block of `R`'s size, and every pointer the root holds in place a used
/// block of its target's size ([`raw_block`]). A pool that needs recovery is checked
/// after it, by [`open_root`].
///
/// # Errors
/// [`Error::CorruptHeader`] for the root slot, [`Error::CorruptRoot`] for a pointer.
fn check_root_in_file<R: crate::RootLayout>(
    bytes: &[u8],
    geo: &crate::pool::header::Geometry,
    root_off: PoolOff,
) -> Result<()> {
    let (size, align, _) = fingerprint::<R>();
    raw_block(bytes, geo, root_off, size, align).map_err(|why| Error::CorruptHeader {
        field: "root_off",
        reason: format!("{root_off:#x} is {why}"),
    })?;
    // The root is checked in a copy: a `&R` into `bytes` (a shared byte slice) would
    // claim its cells are never written.
    let start = root_off.to_usize();
    let Some(src) = bytes.get(start..start + size_of::<R>()) else {
        unreachable!("a used block of the heap lies inside the mapping (validated geometry)");
    };
    let mut copy = Box::<R>::new_uninit();
    // SAFETY: `src` is `size_of::<R>()` readable bytes; the box has room for an `R` and
    // does not overlap the mapping.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), copy.as_mut_ptr().cast::<u8>(), src.len());
    };
    // The copy is only read, and never dropped (`MaybeUninit`), so the pointers it
    // holds are never followed or freed through it.
    // SAFETY: the bytes are the pool's root object, whose stored fingerprint is `R`'s:
    // they hold an `R`, exactly as `RootCell::deref` will take them to.
    let root = unsafe { (*copy).assume_init_ref() };
    crate::layout::visit_root(root, &mut |off, size, align| {
        raw_block(bytes, geo, off, size, align)
    })
}

/// Whether `off` is, in the allocator map of the mapped pool `bytes` (validated: M1 and
/// M2 hold), a used block of the order of a `size`-byte, `align`-aligned allocation;
/// `Err` says what it is instead.
///
/// The map may still hold crash residue (stale bytes inside blocks, M3), so a byte is
/// not read at `off`'s unit alone: the block holding `off` is found by descending the
/// buddy tree from the whole heap, reading only bytes that are block heads (the first
/// unit of a node made of whole blocks is a head; if it heads a smaller block, so is the
/// first unit of each half). That is one byte per order, at most 64.
///
/// # Errors
/// What `off` names instead, as a phrase for [`Error::CorruptRoot`]'s `why`.
fn raw_block(
    bytes: &[u8],
    geo: &crate::pool::header::Geometry,
    off: PoolOff,
    size: u64,
    align: u64,
) -> std::result::Result<(), String> {
    use crate::alloc::buddy::{UNIT, block_size};
    use crate::alloc::map::{Cell, decode};
    let want = order_in_heap(geo, off, size, align)?;
    let lo = geo.heap_off;
    let map = &bytes[geo.map_off.to_usize()..geo.map_off.add(geo.heap_units).to_usize()];
    let Some(rel) = off.checked_since(lo) else {
        unreachable!("order_in_heap checked that `off` lies in the heap");
    };
    let unit = rel / UNIT;
    // Node (a, k): units [a, a + 2^k), a union of whole blocks; a <= unit.
    let mut a = 0u64;
    let mut k = geo.heap_units.next_power_of_two().trailing_zeros();
    let (head, cell, order) = loop {
        let cell = decode(map[to_usize(a)]);
        let order = match cell {
            Cell::Used(o) | Cell::Free(o) => u32::from(o),
            Cell::Interior | Cell::Invalid(_) => {
                return Err(format!("unreadable in the allocator map (unit {a})"));
            }
        };
        if order == k {
            break (a, cell, order);
        }
        if order > k || k == 0 {
            return Err(format!("unreadable in the allocator map (unit {a})"));
        }
        k -= 1;
        if unit >= a + (1 << k) {
            a += 1 << k;
        }
    };
    let at = lo.add(head * UNIT);
    let bytes_of = |o: u32| u8::try_from(o).map_or(0, block_size);
    match cell {
        _ if at != off => Err(format!(
            "not the start of a block: it lies inside the {} block of {} bytes at {at:#x}",
            if matches!(cell, Cell::Free(_)) {
                "free"
            } else {
                "used"
            },
            bytes_of(order),
        )),
        Cell::Free(_) => Err(format!("a free block ({} bytes)", bytes_of(order))),
        _ if order != u32::from(want) => Err(format!(
            "a used block of {} bytes, not of the {} bytes that hold {size} bytes aligned to {align}",
            bytes_of(order),
            block_size(want),
        )),
        _ => Ok(()),
    }
}

/// The order of the block that holds `size` bytes aligned to `align`, if `off` lies in
/// the heap: the checks [`raw_block`] and [`heap_block`] share.
///
/// # Errors
/// An impossible layout, or `off` outside the heap, as a phrase for
/// [`Error::CorruptRoot`]'s `why`.
fn order_in_heap(
    geo: &crate::pool::header::Geometry,
    off: PoolOff,
    size: u64,
    align: u64,
) -> std::result::Result<u8, String> {
    let want = order_for(size, align)
        .map_err(|e| format!("meant to hold {size} bytes aligned to {align}: {e}"))?;
    let (lo, hi) = (
        geo.heap_off,
        geo.heap_off.add(geo.heap_units * crate::alloc::buddy::UNIT),
    );
    if off < lo || off >= hi {
        return Err(format!("outside the heap [{lo:#x}, {hi:#x})"));
    }
    Ok(want)
}

/// [`raw_block`] on the open allocator, for [`open_root`].
///
/// # Errors
/// As [`raw_block`] (less precise about what `off` names instead).
fn heap_block(
    heap: &crate::alloc::buddy::Heap,
    geo: &crate::pool::header::Geometry,
    off: PoolOff,
    size: u64,
    align: u64,
) -> std::result::Result<(), String> {
    let want = order_in_heap(geo, off, size, align)?;
    if heap.is_used(off, want) {
        Ok(())
    } else if heap.is_used_head(off) {
        Err(format!(
            "a used block of another size than the {} bytes that hold {size} bytes aligned to {align}",
            crate::alloc::buddy::block_size(want)
        ))
    } else {
        Err("not the start of a used block".into())
    }
}

/// Finds or creates the root of the pool `guard` keeps open.
///
/// # Errors
/// [`Error::RootTypeMismatch`] if the stored root has another fingerprint;
/// [`Error::CorruptHeader`] if the root slot names no live block;
/// [`Error::CorruptRoot`] if a persistent pointer of the root names none; the transaction's
/// errors when the root is created.
///
/// # Panics
/// Never: a failure to allocate the root panics inside the root transaction, which turns
/// it into [`Error::Aborted`].
pub(crate) fn open_root<P: PoolType, R: RootObj<P> + PSafe + crate::RootLayout>(
    guard: PoolGuard<P>,
) -> Result<RootCell<R, P>> {
    let pool = P::__slot().raw()?;
    #[expect(clippy::cast_ptr_alignment, reason = "the mapping is page-aligned")]
    let header = pool.raw.base().cast::<Header>();
    let (size, align, hash) = fingerprint::<R>();
    // The root slot is read while no transaction of this pool runs (it was just opened
    // and the slot's handle is ours alone).
    // SAFETY: the header is at the start of the live mapping (kept by `pool`).
    let h = unsafe { header.read() };
    let off = if h.root_off.is_null() {
        let base = pool.raw.base() as usize;
        crate::stm::tx::run::<P, _, _>(move |j| {
            let off = match j.alloc(size, align) {
                Ok(off) => off,
                Err(e) => panic!("cannot allocate the root: {e}"),
            };
            let value = R::init(j);
            let ptr = (base + off.to_usize()) as *mut R;
            // SAFETY: a fresh block of the pool, large and aligned enough for R (A2).
            unsafe { ptr.write(value) };
            j.note_written(ptr.cast(), to_usize(size));
            let slot = (base + std::mem::offset_of!(Header, root_off)) as *mut [u64; 4];
            j.log_range(slot.cast(), 32);
            // SAFETY: the root slot is in the header's mutable line, logged just above;
            // it is 8-aligned (header at a page boundary).
            unsafe { slot.write([off.get(), size, align, hash]) };
            off
        })?
    } else {
        if (h.root_size, h.root_align, h.root_hash) != (size, align, hash) {
            return Err(Error::RootTypeMismatch {
                requested: std::any::type_name::<R>(),
                stored_size: h.root_size,
                stored_align: h.root_align,
                stored_hash: h.root_hash,
            });
        }
        let order = order_for(size, align)?;
        if !pool.raw.heap().is_used(h.root_off, order) {
            return Err(Error::CorruptHeader {
                field: "root_off",
                reason: format!("{:#x} is not a used block of {size} bytes", h.root_off),
            });
        }
        // A pool that needed recovery (which may have changed the root and the map) was
        // not checked by `check_recovered_root`: it is checked now, after recovery. (A
        // lane held a log there exactly when it did here: the same scan decides.)
        if pool.recovered.iter().any(|o| o.had_log) {
            // SAFETY: a used block of R's size in the live mapping (checked just above).
            let p = unsafe { pool.raw.base().add(h.root_off.to_usize()) }.cast::<R>();
            // SAFETY: it holds an R (fingerprint checked above), which nobody can reach
            // yet: the `RootCell` is made below, so no `&mut` into it exists.
            let root = unsafe { &*p };
            let geo = pool.raw.geometry();
            crate::layout::visit_root(root, &mut |off, size, align| {
                heap_block(pool.raw.heap(), geo, off, size, align)
            })?;
        }
        h.root_off
    };
    Ok(RootCell {
        off,
        _guard: guard,
        _marker: PhantomData,
    })
}

#[cfg(test)]
mod tests {
    use super::raw_block;
    use crate::alloc::buddy::{UNIT, order_for};
    use crate::alloc::map::{FREE, USED};
    use crate::convert::to_usize;
    use crate::offset::PoolOff;
    use crate::pool::header::Geometry;

    const HEAP: u64 = 0x10_000;

    /// A geometry whose map is at offset 0 of the bytes and whose heap has `units` units.
    fn geo(units: u64) -> Geometry {
        Geometry {
            pool_size: HEAP + units * UNIT,
            lanes: 1,
            lane_size: 4096,
            journals_off: PoolOff::NULL,
            map_off: PoolOff::NULL,
            map_len: units,
            heap_off: PoolOff::new(HEAP),
            heap_units: units,
        }
    }

    /// A small deterministic generator (xorshift).
    fn next(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    /// A random map of `units` units that satisfies M1 and M2, with random stale bytes
    /// inside blocks (M3 residue), and its blocks `(unit, order, used)`.
    fn random_map(units: u64, s: &mut u64) -> (Vec<u8>, Vec<(u64, u8, bool)>) {
        let mut map = vec![0u8; to_usize(units)];
        crate::alloc::map::format(&mut map, units);
        // Split blocks at random, then mark each used or free.
        let mut blocks = Vec::new();
        let mut u = 0;
        while u < units {
            let mut k = map[to_usize(u)] & 0x3f;
            while k > 0 && !next(s).is_multiple_of(3) {
                k -= 1;
            }
            let used = next(s).is_multiple_of(2);
            blocks.push((u, k, used));
            u += 1 << k;
        }
        map.fill(0);
        for &(u, k, used) in &blocks {
            map[to_usize(u)] = if used { USED | k } else { FREE | k };
            for i in u + 1..u + (1 << k) {
                if next(s).is_multiple_of(4) {
                    let tag = if next(s).is_multiple_of(2) {
                        USED
                    } else {
                        FREE
                    };
                    map[to_usize(i)] = tag | u8::try_from(next(s) % 8).unwrap_or(0);
                }
            }
        }
        assert!(crate::alloc::map::scan(&map, units).is_ok());
        (map, blocks)
    }

    /// The descent finds exactly the used block heads of the asked order, whatever stale
    /// bytes lie inside blocks, and says what else an offset is.
    #[test]
    fn raw_block_agrees_with_a_walk_of_the_map() {
        let mut s = 0x9e37_79b9_7f4a_7c15;
        for units in [1, 2, 3, 12, 64, 100, 257, 1000] {
            for _ in 0..20 {
                let (map, blocks) = random_map(units, &mut s);
                let g = geo(units);
                for &(u, k, used) in &blocks {
                    let off = HEAP + u * UNIT;
                    let size = UNIT << k;
                    let r = raw_block(&map, &g, PoolOff::new(off), size, 8);
                    assert_eq!(r.is_ok(), used, "unit {u} order {k}: {r:?}");
                    if !used {
                        assert!(r.unwrap_err().contains("a free block"));
                    }
                    if used && k > 0 {
                        let r = raw_block(&map, &g, PoolOff::new(off), size / 2, 8).unwrap_err();
                        assert!(r.contains("a used block of"), "{r}");
                    }
                    for i in 1..(1u64 << k) {
                        let r =
                            raw_block(&map, &g, PoolOff::new(off + i * UNIT), UNIT, 8).unwrap_err();
                        assert!(r.contains("not the start of a block"), "{r}");
                        assert!(r.contains(&format!("{off:#x}")), "{r}");
                    }
                    let r = raw_block(&map, &g, PoolOff::new(off + 8), UNIT, 8).unwrap_err();
                    assert!(r.contains("not the start of a block"), "{r}");
                }
                for off in [0, HEAP - 8, HEAP + units * UNIT, u64::MAX] {
                    let r = raw_block(&map, &g, PoolOff::new(off), 8, 8).unwrap_err();
                    assert!(r.contains("outside the heap"), "{r}");
                }
            }
        }
        assert!(order_for(UNIT, 3).is_err());
        let (map, _) = random_map(4, &mut s);
        let r = raw_block(&map, &geo(4), PoolOff::new(HEAP), UNIT, 3).unwrap_err();
        assert!(r.contains("meant to hold"), "{r}");
    }

    crate::pool!(fingerprint_pool);
    use fingerprint_pool::BuddyAlloc as F;

    /// The fingerprints the header stores for the crate's root types, pinned: a pool
    /// file made by an earlier version stores these numbers, and a change to any of
    /// them (a type's `RootLayout`, the hasher, the size or alignment of a handle, as
    /// a changed stored offset type would make) refuses to open it with
    /// `RootTypeMismatch`. The values were computed before the offsets were typed
    /// (issue 18, item 3) and are unchanged by it.
    #[test]
    fn fingerprints_of_existing_root_types_are_unchanged() {
        use super::fingerprint;
        use crate::collections::{PBTreeMap, PHashMap, PString, PVec};
        use crate::{PCell, PMutex, PRefCell, Parc, Pbox, Prc};
        let got = [
            fingerprint::<Pbox<u64, F>>(),
            fingerprint::<Option<Pbox<u64, F>>>(),
            fingerprint::<Prc<u32, F>>(),
            fingerprint::<crate::prc::PWeak<u32, F>>(),
            fingerprint::<Parc<u64, F>>(),
            fingerprint::<crate::sync::PWeak<u64, F>>(),
            fingerprint::<PVec<u8, F>>(),
            fingerprint::<PString<F>>(),
            fingerprint::<PHashMap<u64, u64, F>>(),
            fingerprint::<PBTreeMap<u32, u64, F>>(),
            fingerprint::<PMutex<u64, F>>(),
            fingerprint::<PRefCell<Option<Pbox<u64, F>>, F>>(),
            fingerprint::<PCell<u64, F>>(),
            fingerprint::<(u64, [u32; 3])>(),
        ];
        let want: [(u64, u64, u64); 14] = [
            (8, 8, 0xa4c6_2306_168b_6838),
            (8, 8, 0x42d7_0b62_5a7e_1f0d),
            (8, 8, 0xdf6e_3bf7_9f9c_8f98),
            (8, 8, 0x3e0b_fa14_85b3_75c1),
            (8, 8, 0xe6f4_a664_f4f8_3ffb),
            (8, 8, 0x7a68_8a01_c14f_04c5),
            (24, 8, 0x0593_33a9_7cdc_e240),
            (24, 8, 0x2584_b3ea_f4dc_11ab),
            (24, 8, 0xdb61_5f83_975c_dc63),
            (24, 8, 0x4b48_754f_e4fd_bb0d),
            (8, 8, 0x9325_8588_38b8_6084),
            (16, 8, 0x7886_5815_c882_715a),
            (8, 8, 0x9bf8_67db_ef83_aa58),
            (24, 8, 0x9017_8b14_025e_3638),
        ];
        assert_eq!(got, want, "{got:#x?}");
    }
}
