//! Integer conversions between pool offsets, lengths and orders and the machine's
//! types (crndm builds for 64-bit targets only).

#[cfg(not(target_pointer_width = "64"))]
compile_error!("crndm supports 64-bit targets only: pool offsets are u64 and must fit usize");

/// Converts a pool offset or length to `usize`; lossless on the 64-bit targets crndm
/// builds for (see the `compile_error!` above).
#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "usize is 64 bits wide on every target crndm compiles for"
)]
pub(crate) fn to_usize(x: u64) -> usize {
    x as usize
}

/// Converts a block order or other small count to `u8`.
///
/// Orders are below 64 because a heap has fewer than 2^64 units.
#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "callers pass block orders, which are < 64 (debug-asserted)"
)]
pub(crate) fn small(x: usize) -> u8 {
    debug_assert!(x < 64, "order {x} out of range");
    x as u8
}
