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
}
