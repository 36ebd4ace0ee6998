//! Cache-line write-back and store fences: the only place in crndm with `asm!`.
//!
//! x86-64 offers three instructions to write a cache line back to memory (Intel SDM
//! vol. 2A, "CLFLUSH", "CLFLUSHOPT", "CLWB"):
//!
//! | instruction  | keeps the line cached | ordered against other flushes |
//! |--------------|-----------------------|-------------------------------|
//! | `clwb`       | yes                   | no, needs `sfence`            |
//! | `clflushopt` | no                    | no, needs `sfence`            |
//! | `clflush`    | no                    | yes (serialising)             |
//!
//! The best one the CPU supports is chosen once at run time ([`FlushInstr::detect`]).
//! `clwb` and `clflushopt` have no `core::arch` intrinsic on our toolchain, so all three
//! are written with `asm!` here; nothing else in the crate may flush or fence by itself
//! (enforced by `clippy.toml`'s `disallowed-methods` and a grep for `asm!`).
//!
//! Large copies into the log take a fourth way to the media: non-temporal stores
//! ([`stream_lines`], `movntdq`, Intel SDM vol. 2B, "MOVNTDQ"), which write whole lines
//! around the cache (no read for ownership, no flush afterwards) and, like a flush, are
//! ordered and complete at the next `sfence`. libpmem's `memcpy_persist` does the same
//! above a size threshold.

use std::arch::asm;
use std::sync::atomic::{AtomicU8, Ordering};

/// The size of a cache line on every x86-64 CPU crndm runs on.
pub(crate) const CACHE_LINE: usize = 64;

/// The instruction crndm uses to write cache lines back to persistent memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushInstr {
    /// `clwb`: write back, keep the line cached (preferred).
    Clwb,
    /// `clflushopt`: write back and evict, weakly ordered.
    Clflushopt,
    /// `clflush`: write back and evict, strongly ordered (oldest CPUs).
    Clflush,
}

static CHOSEN: AtomicU8 = AtomicU8::new(0);

impl FlushInstr {
    /// The best flush instruction this CPU supports, detected once and cached.
    ///
    /// ```
    /// let instr = crndm::FlushInstr::detect();
    /// assert_eq!(instr, crndm::FlushInstr::detect());
    /// ```
    pub fn detect() -> FlushInstr {
        match CHOSEN.load(Ordering::Relaxed) {
            1 => FlushInstr::Clwb,
            2 => FlushInstr::Clflushopt,
            3 => FlushInstr::Clflush,
            _ => {
                // CPUID leaf 7, sub-leaf 0: EBX bit 23 = CLFLUSHOPT, bit 24 = CLWB
                // (Intel SDM vol. 2A, "CPUID", table 3-8). Leaf 7 exists on every CPU
                // with either instruction; older CPUs report zeros there.
                let ebx = std::arch::x86_64::__cpuid_count(7, 0).ebx;
                let instr = if ebx & (1 << 24) != 0 {
                    FlushInstr::Clwb
                } else if ebx & (1 << 23) != 0 {
                    FlushInstr::Clflushopt
                } else {
                    FlushInstr::Clflush
                };
                CHOSEN.store(instr.code(), Ordering::Relaxed);
                instr
            }
        }
    }

    fn code(self) -> u8 {
        match self {
            FlushInstr::Clwb => 1,
            FlushInstr::Clflushopt => 2,
            FlushInstr::Clflush => 3,
        }
    }

    /// The instruction's mnemonic.
    pub fn name(self) -> &'static str {
        match self {
            FlushInstr::Clwb => "clwb",
            FlushInstr::Clflushopt => "clflushopt",
            FlushInstr::Clflush => "clflush",
        }
    }
}

/// The cache lines that overlap `[addr, addr + len)`: first line address and count.
///
/// An empty range overlaps no line.
pub(crate) fn lines_of(addr: usize, len: usize) -> (usize, usize) {
    if len == 0 {
        return (addr & !(CACHE_LINE - 1), 0);
    }
    let first = addr & !(CACHE_LINE - 1);
    let last = (addr + (len - 1)) & !(CACHE_LINE - 1);
    (first, (last - first) / CACHE_LINE + 1)
}

/// Writes back every cache line overlapping `[ptr, ptr + len)` with `instr`, and
/// returns how many lines that was.
///
/// # Safety
/// 1. Every byte of `[ptr, ptr + len)` lies in one live mapping of this process (a
///    line never crosses a page, so the lines' other bytes are mapped too).
pub(crate) unsafe fn flush_lines(ptr: *const u8, len: usize, instr: FlushInstr) -> u64 {
    let (first, count) = lines_of(ptr as usize, len);
    for i in 0..count {
        let line = first + i * CACHE_LINE;
        // SAFETY (all three arms): (1) the line overlaps the caller's mapped range, and a
        // cache line never crosses a page boundary, so `line` is a mapped address. The
        // flush instructions read no data and change no program-visible state (Intel SDM
        // vol. 2A, "CLWB", "CLFLUSHOPT", "CLFLUSH").
        match instr {
            // SAFETY: see above.
            FlushInstr::Clwb => unsafe {
                asm!("clwb [{0}]", in(reg) line, options(nostack, preserves_flags));
            },
            // SAFETY: see above.
            FlushInstr::Clflushopt => unsafe {
                asm!("clflushopt [{0}]", in(reg) line, options(nostack, preserves_flags));
            },
            // SAFETY: see above.
            FlushInstr::Clflush => unsafe {
                asm!("clflush [{0}]", in(reg) line, options(nostack, preserves_flags));
            },
        }
    }
    count as u64
}

/// Copies `len` bytes from `src` to `dst` with non-temporal stores (`movntdq`, four per
/// line), calling `each_line` with every source line just copied (while it is in the
/// cache: a caller hashes the bytes in the same pass), and returns how many lines that
/// was. The lines are durable after the next [`sfence`] of this thread, and not before;
/// `dst`'s lines are not left in the cache.
///
/// # Safety
/// 1. `dst` is 64-aligned and `len` a multiple of 64;
/// 2. `[dst, dst + len)` is writable memory of one live mapping, `[src, src + len)`
///    readable memory, and the two do not overlap.
#[expect(
    clippy::cast_ptr_alignment,
    reason = "loads are unaligned (`loadu`); stores go to 64-aligned `dst` (1)"
)]
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place crndm writes around the cache (STYLE §2)"
)]
pub(crate) unsafe fn stream_lines(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    mut each_line: impl FnMut(&[u8]),
) -> u64 {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
    debug_assert!((dst as usize).is_multiple_of(CACHE_LINE) && len.is_multiple_of(CACHE_LINE));
    let mut at = 0;
    while at < len {
        for k in (0..CACHE_LINE).step_by(16) {
            // SSE2 is part of x86-64, so both instructions exist on every CPU crndm runs
            // on.
            // SAFETY: (2) `at + k + 16 <= len`, so the 16 bytes at `src + at + k` are
            // readable (`loadu` needs no alignment).
            let v = unsafe { _mm_loadu_si128(src.wrapping_add(at + k).cast::<__m128i>()) };
            // SAFETY: (2) the 16 bytes at `dst + at + k` are writable; (1) the address is
            // 16-aligned, as `movntdq` needs.
            unsafe { _mm_stream_si128(dst.wrapping_add(at + k).cast::<__m128i>(), v) };
        }
        // SAFETY: (2) the line's 64 source bytes are readable, and not written by us
        // (`dst` does not overlap them).
        let line = unsafe { std::slice::from_raw_parts(src.wrapping_add(at), CACHE_LINE) };
        each_line(line);
        at += CACHE_LINE;
    }
    (len / CACHE_LINE) as u64
}

/// `sfence`: every earlier flush and store is globally visible (and, on a DAX mapping,
/// durable) before any later store (Intel SDM vol. 2B, "SFENCE").
pub(crate) fn sfence() {
    // SAFETY: `sfence` only orders memory operations; it touches no memory and no flags.
    unsafe { asm!("sfence", options(nostack, preserves_flags)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cover_exactly_the_overlapping_lines() {
        assert_eq!(lines_of(0, 0).1, 0);
        assert_eq!(lines_of(0, 1), (0, 1));
        assert_eq!(lines_of(0, 64), (0, 1));
        assert_eq!(lines_of(0, 65), (0, 2));
        assert_eq!(lines_of(63, 2), (0, 2));
        assert_eq!(lines_of(64, 64), (64, 1));
        assert_eq!(lines_of(100, 200), (64, 4)); // bytes 100..300: lines 64, 128, 192, 256
    }

    #[test]
    fn flushing_real_memory_counts_lines() {
        let buf = vec![7u8; 1000];
        for instr in [FlushInstr::detect(), FlushInstr::Clflush] {
            // SAFETY: (1) `buf` is a live allocation of 1000 bytes.
            let n = unsafe { flush_lines(buf.as_ptr().wrapping_add(10), 200, instr) };
            let expect = lines_of(buf.as_ptr() as usize + 10, 200).1 as u64;
            assert_eq!(n, expect);
        }
        sfence();
        assert_eq!(buf[999], 7);
    }

    #[test]
    fn streaming_copies_every_byte() {
        #[repr(C, align(64))]
        struct Lines([u8; 256]);
        let src: Vec<u8> = (0..300u32).map(|i| (i * 7).to_le_bytes()[0]).collect();
        let mut dst = Lines([0; 256]);
        let mut seen = Vec::new();
        // SAFETY: (1) `dst` is 64-aligned, 192 is a multiple of 64; (2) both buffers are
        // live, 256 and 300 bytes, distinct allocations.
        let n = unsafe {
            stream_lines(dst.0.as_mut_ptr(), src.as_ptr().wrapping_add(3), 192, |l| {
                seen.extend_from_slice(l);
            })
        };
        sfence();
        assert_eq!(n, 3);
        assert_eq!(seen, &src[3..195], "every line handed over once, in order");
        assert_eq!(&dst.0[..192], &src[3..195]);
        assert!(
            dst.0[192..].iter().all(|&b| b == 0),
            "nothing past the range"
        );
    }
}
