//! `PHash`: the stable hash of persistent hash maps.
//!
//! A `PHashMap` stores each entry in the bucket its key's hash selects, and the buckets
//! outlive the process, so a key must hash the same in every run, build and Rust
//! release. std's `Hash` impls and hashers promise none of that (`DefaultHasher` may
//! change between releases; how `str` or a derived enum feeds a hasher is an
//! implementation detail). So keys implement [`PHash`], whose encoding is fixed here,
//! and [`PHasher`] is a fixed function written here, pinned by known-answer tests.
//!
//! # Encoding
//! | type | fed to the hasher |
//! |---|---|
//! | `u8`..`u64`, `usize`, `bool`, `char` | one word, zero-extended |
//! | `i8`..`i64`, `isize` | one word, sign-extended |
//! | `u128`, `i128` | low word, high word |
//! | `str`, `String`, `PString` | the bytes in 8-byte little-endian words (the last zero-padded), then the length |
//! | `[T]`, `[T; N]`, `Vec<T>`, `PVec<T>` | the length, then each element |
//! | `Option<T>` | 0; or 1 then the value |
//! | tuples | each field in order |
//! | `&T`, `Pbox<T>` | the `T` |
//!
//! # Hasher
//! `h = seed; for each word w: h = rotl((h ^ w) * M, 29); finish = fmix64(h)` with
//! `M = 0x9e3779b97f4a7c15` and MurmurHash3's 64-bit finaliser. Each step is a
//! bijection, so one-word keys (integers) never collide, and the finaliser spreads
//! every input bit over the low bits that pick a bucket. It is fast, not
//! collision-resistant: do not key a map with untrusted input an attacker can choose
//! to collide.

use super::string::PString;
use super::vec::PVec;
use crate::boxed::Pbox;
use crate::marker::PSafe;
use crate::stm::pool_type::PoolType;

const SEED: u64 = 0x243f_6a88_85a3_08d3;
const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// The stable hasher of [`PHash`]: the same input words give the same hash on every
/// run, build and Rust release.
///
/// ```
/// use crndm::PHasher;
/// let mut h = PHasher::new();
/// h.write_u64(42);
/// assert_eq!(h.finish(), PHasher::hash_one(&42u64));
/// ```
#[derive(Clone, Debug)]
pub struct PHasher {
    h: u64,
}

impl Default for PHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PHasher {
    /// A hasher in its initial state.
    ///
    /// ```
    /// use crndm::PHasher;
    /// assert_eq!(PHasher::new().finish(), PHasher::new().finish());
    /// ```
    pub const fn new() -> PHasher {
        PHasher { h: SEED }
    }

    /// The hash of one value.
    ///
    /// ```
    /// use crndm::PHasher;
    /// assert_eq!(PHasher::hash_one("key"), PHasher::hash_one(&String::from("key")));
    /// ```
    pub fn hash_one<T: PHash + ?Sized>(x: &T) -> u64 {
        let mut h = PHasher::new();
        x.phash(&mut h);
        h.finish()
    }

    /// Feeds one 64-bit word.
    ///
    /// ```
    /// use crndm::PHasher;
    /// let mut a = PHasher::new();
    /// a.write_u64(1);
    /// assert_ne!(a.finish(), PHasher::new().finish());
    /// ```
    #[inline]
    pub fn write_u64(&mut self, w: u64) {
        self.h = (self.h ^ w).wrapping_mul(MUL).rotate_left(29);
    }

    /// Feeds bytes: 8-byte little-endian words, the last one zero-padded, then the
    /// length (so that no byte string is a prefix-extension of another's encoding).
    ///
    /// ```
    /// use crndm::PHasher;
    /// let (mut a, mut b) = (PHasher::new(), PHasher::new());
    /// a.write_bytes(b"a");
    /// b.write_bytes(b"a\0");
    /// assert_ne!(a.finish(), b.finish());
    /// ```
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w));
        }
        self.write_u64(bytes.len() as u64);
    }

    /// The hash of everything fed so far.
    ///
    /// ```
    /// use crndm::PHasher;
    /// let h = PHasher::new();
    /// assert_eq!(h.finish(), h.finish());
    /// ```
    #[inline]
    pub fn finish(&self) -> u64 {
        // MurmurHash3's fmix64: a bijection with full avalanche.
        let mut k = self.h;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^= k >> 33;
        k
    }
}

/// A value with a stable hash: the key type of a [`PHashMap`](crate::PHashMap).
///
/// Implement it by feeding every field that `Eq` compares to the hasher, in a fixed
/// order; values that are equal must feed the same words. Implemented for the integer
/// types, `bool`, `char`, strings, slices, arrays, `Vec`, `Option`, tuples, references,
/// and crndm's `PString`, `PVec` and `Pbox` (see the [encoding table](crate::PHasher)).
///
/// ```
/// use crndm::{PHash, PHasher};
/// #[derive(PartialEq, Eq)]
/// struct Point { x: i32, y: i32 }
/// impl PHash for Point {
///     fn phash(&self, h: &mut PHasher) {
///         self.x.phash(h);
///         self.y.phash(h);
///     }
/// }
/// assert_eq!(PHasher::hash_one(&Point { x: 1, y: 2 }), PHasher::hash_one(&(1i32, 2i32)));
/// ```
pub trait PHash {
    /// Feeds this value to `h`.
    ///
    /// ```
    /// use crndm::{PHash, PHasher};
    /// let mut h = PHasher::new();
    /// (1u8, "a").phash(&mut h);
    /// assert_eq!(h.finish(), PHasher::hash_one(&(1u8, "a")));
    /// ```
    fn phash(&self, h: &mut PHasher);
}

macro_rules! phash_unsigned {
    ($($t:ty),*) => {$(
        impl PHash for $t {
            #[inline]
            fn phash(&self, h: &mut PHasher) {
                h.write_u64(*self as u64);
            }
        }
    )*};
}
phash_unsigned!(u8, u16, u32, u64, usize);

macro_rules! phash_signed {
    ($($t:ty),*) => {$(
        impl PHash for $t {
            #[inline]
            fn phash(&self, h: &mut PHasher) {
                h.write_u64(*self as i64 as u64);
            }
        }
    )*};
}
phash_signed!(i8, i16, i32, i64, isize);

impl PHash for u128 {
    fn phash(&self, h: &mut PHasher) {
        #[expect(clippy::cast_possible_truncation, reason = "the low word, on purpose")]
        h.write_u64(*self as u64);
        h.write_u64((*self >> 64) as u64);
    }
}

impl PHash for i128 {
    fn phash(&self, h: &mut PHasher) {
        (*self as u128).phash(h);
    }
}

impl PHash for bool {
    fn phash(&self, h: &mut PHasher) {
        h.write_u64(u64::from(*self));
    }
}

impl PHash for char {
    fn phash(&self, h: &mut PHasher) {
        h.write_u64(u64::from(*self));
    }
}

impl PHash for () {
    fn phash(&self, _: &mut PHasher) {}
}

impl PHash for str {
    fn phash(&self, h: &mut PHasher) {
        h.write_bytes(self.as_bytes());
    }
}

impl PHash for String {
    fn phash(&self, h: &mut PHasher) {
        self.as_str().phash(h);
    }
}

impl<P: PoolType> PHash for PString<P> {
    fn phash(&self, h: &mut PHasher) {
        self.as_str().phash(h);
    }
}

impl<T: PHash> PHash for [T] {
    fn phash(&self, h: &mut PHasher) {
        h.write_u64(self.len() as u64);
        for x in self {
            x.phash(h);
        }
    }
}

impl<T: PHash, const N: usize> PHash for [T; N] {
    fn phash(&self, h: &mut PHasher) {
        self.as_slice().phash(h);
    }
}

impl<T: PHash> PHash for Vec<T> {
    fn phash(&self, h: &mut PHasher) {
        self.as_slice().phash(h);
    }
}

impl<T: PSafe + PHash, P: PoolType> PHash for PVec<T, P> {
    fn phash(&self, h: &mut PHasher) {
        self.as_slice().phash(h);
    }
}

impl<T: PSafe + PHash, P: PoolType> PHash for Pbox<T, P> {
    fn phash(&self, h: &mut PHasher) {
        (**self).phash(h);
    }
}

impl<T: PHash + ?Sized> PHash for &T {
    fn phash(&self, h: &mut PHasher) {
        (**self).phash(h);
    }
}

impl<T: PHash> PHash for Option<T> {
    fn phash(&self, h: &mut PHasher) {
        match self {
            None => h.write_u64(0),
            Some(x) => {
                h.write_u64(1);
                x.phash(h);
            }
        }
    }
}

macro_rules! phash_tuple {
    ($($n:tt $t:ident),+) => {
        impl<$($t: PHash),+> PHash for ($($t,)+) {
            fn phash(&self, h: &mut PHasher) {
                $(self.$n.phash(h);)+
            }
        }
    };
}
phash_tuple!(0 A);
phash_tuple!(0 A, 1 B);
phash_tuple!(0 A, 1 B, 2 C);
phash_tuple!(0 A, 1 B, 2 C, 3 D);
phash_tuple!(0 A, 1 B, 2 C, 3 D, 4 E);
phash_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash is part of the pool format: these values must never change.
    #[test]
    fn known_answers_are_stable() {
        let got = [
            PHasher::new().finish(),
            PHasher::hash_one(&0u64),
            PHasher::hash_one(&1u64),
            PHasher::hash_one(&-1i32),
            PHasher::hash_one(""),
            PHasher::hash_one("hello, persistent world"),
            PHasher::hash_one(&(7u8, 'x', Some(true))),
            PHasher::hash_one(&[1u16, 2, 3]),
        ];
        let want = [
            8_848_935_107_335_307_795,
            10_852_644_790_149_860_515,
            16_872_089_549_784_064_774,
            17_070_059_303_007_430_731,
            10_852_644_790_149_860_515, // "" feeds one word, its length 0, as 0u64 does
            4_316_529_878_773_438_613,
            8_999_752_019_748_362_592,
            16_335_180_147_873_934_395,
        ];
        assert_eq!(
            got, want,
            "PHasher output changed: existing pools would break"
        );
    }

    #[test]
    fn equal_keys_of_different_types_hash_alike() {
        assert_eq!(
            PHasher::hash_one("ab"),
            PHasher::hash_one(&"ab".to_string())
        );
        assert_eq!(
            PHasher::hash_one(&[1u8, 2]),
            PHasher::hash_one(&vec![1u8, 2])
        );
        assert_eq!(PHasher::hash_one(&5u32), PHasher::hash_one(&&5u32));
        assert_eq!(PHasher::hash_one(&-1i8), PHasher::hash_one(&-1i64));
    }

    #[test]
    fn small_integers_spread_over_low_bits() {
        let mask = 1023u64;
        let mut seen = std::collections::HashSet::new();
        for i in 0..512u64 {
            seen.insert(PHasher::hash_one(&i) & mask);
        }
        // A random function would hit about 1024 * (1 - e^-0.5) ≈ 403 buckets.
        assert!(seen.len() > 360, "only {} buckets", seen.len());
    }
}
