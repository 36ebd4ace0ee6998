//! Small helpers shared by the raw layers.

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

/// The environment variable naming the crash point at which [`crash_point`] aborts the
/// process (published as `crndm::internals::CRASH_AT_ENV`).
#[cfg(feature = "internals")]
pub(crate) const CRASH_AT_ENV: &str = "CRNDM_CRASH_AT";

/// A named step where crash tests may stop the process: with the feature `internals`,
/// aborts (as a power cut would stop it: no unwinding, no destructors) if
/// `CRNDM_CRASH_AT` names `point`; otherwise nothing. Published as
/// `crndm::internals::crash_point`, which documents the points.
#[inline]
pub(crate) fn crash_point(_point: &str) {
    #[cfg(feature = "internals")]
    {
        static WANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let wanted = WANTED.get_or_init(|| std::env::var(CRASH_AT_ENV).ok());
        if wanted.as_deref() == Some(_point) {
            std::process::abort();
        }
    }
}

/// FNV-1a, 64-bit: a stable hash for checksums and layout fingerprints (never
/// `DefaultHasher`, whose output may change between Rust releases; DESIGN §4).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn fnv1a_matches_published_vectors() {
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}

/// A hasher for keys made of words this process chose (pool offsets, block addresses):
/// one multiply per word. Not for keys an adversary picks.
#[derive(Default)]
pub(crate) struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(23) ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
}

/// `BuildHasher` of [`WordHasher`].
pub(crate) type WordHash = std::hash::BuildHasherDefault<WordHasher>;
