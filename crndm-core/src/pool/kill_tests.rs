//! A child process doing thousands of allocator operations is killed with SIGKILL at
//! random moments; after each kill the pool reopens with a clean allocator and every
//! used block accounted for.
//!
//! The child keeps a persistent registry of its blocks (a table of `(off, order)` slots
//! in a block of the pool) and uses the allocator's hooks the way the journal will:
//! the slot is written in `alloc`'s `log` hook (before the block is marked used) and
//! cleared in `free_batch`'s `before_publish` hook (after the free is durable). So after
//! a crash every used block is in the registry, and a registry slot may name a block that
//! is free (an interrupted allocation or free), which recovery then forgets.

#![allow(
    clippy::cast_possible_truncation,
    reason = "test values (orders, small sizes) are far below the target types' limits"
)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::alloc::buddy::{block_size, order_for};
use crate::offset::PoolOff;
use crate::pool::options::{O_CF, PoolOptions};
use crate::pool::raw::RawPool;

const SLOTS: u64 = 512;
/// Registry layout: [ops counter u64][pad to 64][SLOTS × (off u64, order u64)].
const REG_SIZE: u64 = 64 + SLOTS * 16;
const ENV_POOL: &str = "CRNDM_KILL_TEST_POOL";
const ENV_REG: &str = "CRNDM_KILL_TEST_REG";

struct Registry<'a> {
    pool: &'a RawPool,
    off: u64,
}

impl Registry<'_> {
    #[expect(clippy::cast_ptr_alignment, reason = "heap blocks are 64-byte aligned")]
    fn word(&self, i: u64) -> *mut u64 {
        let off = crate::convert::to_usize(self.off + i * 8);
        // SAFETY: the registry block (REG_SIZE bytes at `self.off`) is a used block of
        // the open pool, and `i * 8 < REG_SIZE` for every caller.
        unsafe { self.pool.base().add(off).cast::<u64>() }
    }
    fn get(&self, i: u64) -> u64 {
        // SAFETY: an aligned word inside the registry block (see `word`).
        unsafe { self.word(i).read_volatile() }
    }
    fn set(&self, i: u64, v: u64) {
        let p = self.word(i);
        // SAFETY: an aligned word inside the registry block; one thread uses it.
        unsafe { p.write_volatile(v) };
        // SAFETY: 8 bytes of the live mapping.
        unsafe { self.pool.persister().flush(p.cast(), 8) };
    }
    fn slot(&self, s: u64) -> (u64, u64) {
        (self.get(8 + 2 * s), self.get(9 + 2 * s))
    }
}

/// The child: random allocations and frees until killed.
#[test]
#[ignore = "run as a child process by sigkill_during_allocator_work_loses_nothing"]
fn kill_test_child() {
    let path = std::env::var(ENV_POOL).unwrap();
    let reg_off: u64 = std::env::var(ENV_REG).unwrap().parse().unwrap();
    let pool = RawPool::open(Path::new(&path), 0, &PoolOptions::new()).unwrap();
    let reg = Registry {
        pool: &pool,
        off: reg_off,
    };
    let heap = pool.heap();
    let mut x = u64::from(std::process::id()) | 1;
    loop {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let s = x % SLOTS;
        let (off, order) = reg.slot(s);
        if off == 0 {
            let size = [8, 64, 200, 256, 1000, 4096, 9000][(x >> 32) as usize % 7];
            let r = heap.alloc(size, 8, |off, order| {
                reg.set(9 + 2 * s, u64::from(order));
                reg.set(8 + 2 * s, off.get());
                Ok(())
            });
            if r.is_err() {
                continue; // out of space: free something next time
            }
        } else {
            heap.free_batch(&[(PoolOff::new(off), order as u8)], true, || {
                reg.set(8 + 2 * s, 0);
                pool.persister().fence();
            })
            .unwrap();
        }
        pool.persister().fence();
        reg.set(0, reg.get(0) + 1);
    }
}

/// The child's operation counter, read from the file (the child's stores reach the page
/// cache, which `pread` reads).
fn ops_in_file(path: &Path, reg_off: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut word = [0u8; 8];
    std::fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut word, reg_off)
        .unwrap();
    u64::from_le_bytes(word)
}

/// Waits until the child counted `target` operations; fails if it exits or makes no
/// progress for two minutes.
fn wait_for_ops(path: &Path, reg_off: u64, target: u64, child: &mut Child, round: u32) {
    let mut last = (ops_in_file(path, reg_off), Instant::now());
    loop {
        let ops = ops_in_file(path, reg_off);
        if ops >= target {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "round {round}: the child exited before the kill"
        );
        if ops != last.0 {
            last = (ops, Instant::now());
        }
        assert!(
            last.1.elapsed() < Duration::from_secs(120),
            "round {round}: the child made no progress at {ops} operations"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn sigkill_during_allocator_work_loses_nothing() {
    let dir = tempfile::Builder::new()
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let path = dir.path().join("kill.pool");
    let opts = PoolOptions::new().size(4 << 20);
    let reg_off = {
        let pool = RawPool::open(&path, O_CF, &opts).unwrap();
        let off = pool.heap().alloc(REG_SIZE, 64, |_, _| Ok(())).unwrap();
        // SAFETY: the fresh registry block lies in the mapping.
        let p = unsafe { pool.base().add(off.to_usize()) };
        // SAFETY: `p` starts a used block of at least REG_SIZE bytes that nothing else uses.
        unsafe { std::ptr::write_bytes(p, 0, REG_SIZE as usize) };
        // SAFETY: the registry block is in the live mapping.
        unsafe { pool.persister().persist(p, REG_SIZE as usize) };
        off.get()
    };
    let exe = std::env::current_exe().unwrap();
    let mut total_ops = 0;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..12 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "pool::kill_tests::kill_test_child",
                "--ignored",
                "--test-threads=1",
            ])
            .env(ENV_POOL, &path)
            .env(ENV_REG, reg_off.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Killed once it did a seed-chosen number of further operations, counted in the
        // file itself, however slow the machine is; the count is not a multiple of any
        // operation's length, so the kill lands anywhere in one.
        let target = ops_in_file(&path, reg_off) + 500 + seed % 700;
        wait_for_ops(&path, reg_off, target, &mut child, round);
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let status = child.wait().unwrap();
        assert!(
            status.code().is_none(),
            "round {round}: child exited by itself: {status}"
        );

        let pool = RawPool::open(&path, 0, &opts).unwrap();
        let reg = Registry {
            pool: &pool,
            off: reg_off,
        };
        assert_eq!(pool.heap().check(), Vec::<String>::new(), "round {round}");
        // Recovery as the journal will do it: a slot naming a block that is not used
        // is an interrupted allocation (or a free that completed): forget it. At most
        // one operation was in flight.
        let mut registered = block_size(order_for(REG_SIZE, 64).unwrap());
        let mut dangling = 0;
        for s in 0..SLOTS {
            let (off, order) = reg.slot(s);
            if off == 0 {
                continue;
            }
            if pool.heap().is_used(PoolOff::new(off), order as u8) {
                registered += block_size(order as u8);
            } else {
                reg.set(8 + 2 * s, 0);
                dangling += 1;
            }
        }
        pool.persister().fence();
        assert!(
            dangling <= 1,
            "round {round}: {dangling} slots named free blocks"
        );
        // No leak and nothing lost: the used bytes are exactly the registered blocks.
        assert_eq!(pool.stats().used, registered, "round {round}");
        total_ops += reg.get(0);
        drop(pool);
    }
    // Every round waited for at least 500 more operations.
    assert!(
        total_ops >= 12 * 500,
        "children did only {total_ops} operations"
    );
}
