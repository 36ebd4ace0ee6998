//! What the two damage fuzzers share: `tests/tests/all/fuzz.rs` (damage to a valid pool
//! against `open`, `admin::info` and `admin::check`) and `pool-tools/tests/fuzz.rs`
//! (damage to a crashed pool against `crndm-pool check`). Each keeps its own kinds of
//! damage and its own interesting values, tuned to the regions it aims at.

use std::path::Path;

use proptest::prelude::*;

/// 1 to 8 random bytes, for one write.
pub fn some_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..9)
}

/// A byte of an allocator map: 0 (inside a block), a well-formed block head of an order
/// below `orders` (in use, `0x80 | k`, or free, `0x40 | k`), or any byte.
pub fn map_byte(orders: u8) -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(0u8),
        (0u8..orders).prop_map(|k| 0x80 | k),
        (0u8..orders).prop_map(|k| 0x40 | k),
        any::<u8>(),
    ]
}

/// One time in ten, a new length for a file of `size` bytes: anything up to 8 KiB
/// longer, half, just under a page, or a page longer.
pub fn new_len(size: u64) -> impl Strategy<Value = Option<u64>> {
    prop::option::weighted(
        0.1,
        prop_oneof![
            0..size + 8192,
            Just(size / 2),
            Just(4095),
            Just(size + 4096)
        ],
    )
}

/// The units of the block heads (the non-zero bytes) of the allocator map of `units`
/// bytes at `off` in the file at `path`.
pub fn map_heads(path: &Path, off: u64, units: u64) -> Vec<u64> {
    let map = crate::read_bytes(path, off, usize::try_from(units).unwrap());
    (0..units).filter(|&u| map[u as usize] != 0).collect()
}

/// The last steps of damaging the file at `path`: recomputes the header checksum if
/// `rechecksum` (so that the checks behind it are reached), then sets the length to
/// `new_len` if there is one.
pub fn finish(path: &Path, rechecksum: bool, new_len: Option<u64>) {
    if rechecksum {
        crate::rechecksum(path);
    }
    if let Some(len) = new_len {
        crate::set_len(path, len);
    }
}
