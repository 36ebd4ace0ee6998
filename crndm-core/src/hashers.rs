//! The crate's own hash functions: FNV-1a for stable checksums and fingerprints, and
//! a fast hasher for in-memory maps keyed by words the process chose.

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

#[cfg(test)]
mod tests {
    #[test]
    fn fnv1a_matches_published_vectors() {
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
