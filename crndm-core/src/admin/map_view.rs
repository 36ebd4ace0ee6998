//! The allocator map as the checks see it, once its scan passed M1 and M2: which block
//! covers a heap unit ([`MapView::block_at`](crate::admin::map_view::MapView::block_at)),
//! and block offsets checked against it.

use crate::alloc::buddy::{UNIT, block_size};
use crate::alloc::map::{Cell, Scan, decode, max_order};
use crate::convert::to_usize;
use crate::offset::PoolOff;
use crate::pool::header::Geometry;

/// The allocator map, once its scan passed M1 and M2: what block covers a heap unit.
pub(super) struct MapView<'a> {
    /// The map: one byte per heap unit.
    pub(super) map: &'a [u8],
    /// Its scan, which passed M1 and M2.
    pub(super) scan: &'a Scan,
    /// The pool's geometry.
    pub(super) geo: &'a Geometry,
}

/// The state of the block a heap unit belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BlockAt {
    /// The unit is the head of a used block of this order.
    UsedHead(u8),
    /// The unit lies in a free block (head unit, order).
    Free(u64, u8),
    /// The unit lies inside a used block whose head is elsewhere (head unit, order).
    InsideUsed(u64, u8),
}

impl MapView<'_> {
    /// Number of block orders this heap has.
    fn orders(&self) -> u8 {
        max_order(self.geo.heap_units) + 1
    }

    /// The block that covers unit `u` (< heap units). Heads are found through the true
    /// tiling: the first non-zero byte at `u` rounded down to 2^o, o = 0, 1, ..., that is
    /// not stale residue is the head of the block covering `u` (M1, M2, M3).
    pub(super) fn block_at(&self, u: u64) -> Option<BlockAt> {
        for o in 0..self.orders() {
            let h = u & !((1u64 << o) - 1);
            let b = *self.map.get(to_usize(h))?;
            if b == 0 || self.scan.stale.binary_search(&h).is_ok() {
                continue;
            }
            return match decode(b) {
                Cell::Used(k) if h == u => Some(BlockAt::UsedHead(k)),
                Cell::Used(k) => Some(BlockAt::InsideUsed(h, k)),
                Cell::Free(k) => Some(BlockAt::Free(h, k)),
                Cell::Interior | Cell::Invalid(_) => None,
            };
        }
        None
    }

    /// The unit and order of the block of `order` at pool offset `off`.
    ///
    /// # Errors
    /// Why there is no such block: an order too large, an offset outside the heap or
    /// not aligned to the block size.
    pub(super) fn block_unit(&self, off: PoolOff, order: u32) -> Result<(u64, u8), String> {
        let orders = self.orders();
        let k = match u8::try_from(order) {
            Ok(k) if k < orders => k,
            _ => {
                return Err(format!(
                    "order {order} is larger than this heap's largest ({})",
                    orders - 1
                ));
            }
        };
        let Some(rel) = off.checked_since(self.geo.heap_off) else {
            return Err(format!("offset {off:#x} is before the heap"));
        };
        let u = rel / UNIT;
        let size = 1u64 << k;
        if !rel.is_multiple_of(UNIT) || !u.is_multiple_of(size) {
            return Err(format!(
                "offset {off:#x} is not aligned to a block of {} B",
                block_size(k)
            ));
        }
        if u.checked_add(size).is_none_or(|e| e > self.geo.heap_units) {
            return Err(format!("the block at {off:#x} runs past the heap"));
        }
        Ok((u, k))
    }

    fn off_of(&self, u: u64) -> PoolOff {
        self.geo.heap_off.add(u * UNIT)
    }

    /// `at` in words, for messages.
    pub(super) fn describe(&self, at: Option<BlockAt>) -> String {
        match at {
            Some(BlockAt::UsedHead(k)) => format!("a used block of {} B", block_size(k)),
            Some(BlockAt::Free(h, k)) => {
                format!(
                    "in the free {} B block at {:#x}",
                    block_size(k),
                    self.off_of(h)
                )
            }
            Some(BlockAt::InsideUsed(h, k)) => format!(
                "inside the used {} B block at {:#x}",
                block_size(k),
                self.off_of(h)
            ),
            None => "no block head".into(),
        }
    }
}
