//! The `Msync` mode's flush and fence: flushed ranges are remembered per thread and
//! become `msync(MS_SYNC)` of their pages at the next fence.
//!
//! An ordinary file's mapping sits in the page cache; a CPU cache flush does not make it
//! durable, `msync` does. Remembering the ranges and syncing them at the fence keeps the
//! persistence rule of DESIGN §5 (durable after flush *and* a later fence) with one
//! system call per dirty page run instead of one per flush.

use std::cell::RefCell;

const PAGE: usize = 4096;

thread_local! {
    /// Page-aligned `(start, end)` address ranges flushed since this thread's last fence.
    static PENDING: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Remembers `[addr, addr + len)` for the next [`fence`].
pub(crate) fn note(addr: usize, len: usize) {
    if len == 0 {
        return;
    }
    let start = addr & !(PAGE - 1);
    let end = (addr + len).next_multiple_of(PAGE);
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if let Some(last) = p.last_mut()
            && start <= last.1
            && end >= last.0
        {
            last.0 = last.0.min(start);
            last.1 = last.1.max(end);
            return;
        }
        p.push((start, end));
    });
}

/// Makes every range noted by this thread durable with `msync(MS_SYNC)`.
///
/// # Safety
/// 1. Every range noted since this thread's last fence is still mapped (pools keep their
///    mapping until every handle and transaction is gone, and a pool fences before
///    unmapping, so this holds for ranges noted through a pool's persister).
///
/// # Errors
/// The first `msync` failure; the remaining ranges are still synced.
pub(crate) unsafe fn fence() -> std::io::Result<()> {
    let mut ranges = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    ranges.sort_unstable();
    let mut result = Ok(());
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    for (s, e) in merged {
        #[expect(clippy::disallowed_methods, reason = "this is the Msync mode's fence")]
        // SAFETY: (1) the range is page-aligned and was noted from a live mapping.
        let rc = unsafe { libc::msync(s as *mut libc::c_void, e - s, libc::MS_SYNC) };
        if rc != 0 && result.is_ok() {
            result = Err(std::io::Error::last_os_error());
        }
    }
    result
}

/// Forgets noted ranges inside `[start, end)` (called before that range is unmapped).
pub(crate) fn forget(start: usize, end: usize) {
    PENDING.with(|p| p.borrow_mut().retain(|&(s, e)| e <= start || s >= end));
}

/// Whether this thread has no range waiting for a fence.
#[cfg(test)]
pub(crate) fn pending_is_empty() -> bool {
    PENDING.with(|p| p.borrow().is_empty())
}
