//! What the workload examples (`bst`, `btree`, `kvstore`, `list`) share: the key
//! sequence of their libpmemobj twins and the `RESULT` line `bench/compare-pmdk` reads.

#![allow(dead_code, reason = "each example uses part of this module")]

use std::time::Instant;

use crndm::PersistCounters;

/// The splitmix64 generator, the same as the C side's (`bench/compare-pmdk/pmdk_bench.c`),
/// so that both sides use the same keys.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Prints one phase's line: `RESULT <name> <ns/op> <flushes/op> <fences/op> <ops/s>`, for
/// `n` operations in `secs` seconds, with the persistence counts `c` of `counted` of them.
pub(crate) fn report(name: &str, n: u64, secs: f64, c: PersistCounters, counted: u64) {
    println!(
        "RESULT {name} {:.1} {:.2} {:.2} {:.0}",
        secs * 1e9 / n as f64,
        c.flushes as f64 / counted as f64,
        c.fences as f64 / counted as f64,
        n as f64 / secs
    );
}

/// [`report`] for a phase of `n` operations of this thread, since `start` and `counters`.
pub(crate) fn report_since(name: &str, n: u64, start: Instant, counters: PersistCounters) {
    let secs = start.elapsed().as_secs_f64();
    report(name, n, secs, PersistCounters::current().since(counters), n);
}

/// A workload's command line: `[N] [--dir DIR]`, plus `[--threads T]` where allowed.
pub(crate) struct Args {
    /// Keys or values per phase (default 100 000).
    pub(crate) n: u64,
    /// Threads (default 1).
    pub(crate) threads: u64,
    /// A fresh directory in `DIR` (default `/dev/shm`) for the pool, removed at exit.
    pub(crate) dir: tempfile::TempDir,
}

/// Parses the command line of workload `name`; exits with status 2 and the usage line
/// on a bad one.
///
/// # Errors
/// If the scratch directory cannot be made.
pub(crate) fn args(name: &str, threads_allowed: bool) -> std::io::Result<Args> {
    let (mut n, mut threads, mut dir) = (100_000, 1, std::path::PathBuf::from("/dev/shm"));
    let usage = || -> ! {
        let threads = if threads_allowed {
            " [--threads T]"
        } else {
            ""
        };
        eprintln!("usage: {name} [N]{threads} [--dir DIR]");
        std::process::exit(2)
    };
    let mut words = std::env::args().skip(1);
    while let Some(arg) = words.next() {
        match arg.as_str() {
            "--dir" => dir = words.next().map_or_else(|| usage(), Into::into),
            "--threads" if threads_allowed => {
                threads = words
                    .next()
                    .and_then(|t| t.parse().ok())
                    .filter(|&t| t > 0)
                    .unwrap_or_else(|| usage());
            }
            s => n = s.parse().unwrap_or_else(|_| usage()),
        }
    }
    let dir = tempfile::Builder::new()
        .prefix(&format!("crndm-{name}-"))
        .tempdir_in(dir)?;
    Ok(Args { n, threads, dir })
}

/// Runs `work` on a thread of its own for each of `inputs`, all at once, and returns
/// their results in the order of `inputs`, or the first error.
///
/// # Panics
/// If a worker panicked.
pub(crate) fn on_threads<I, T, E>(
    inputs: impl IntoIterator<Item = I>,
    work: impl Fn(I) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E>
where
    I: Send,
    T: Send,
    E: Send,
{
    std::thread::scope(|s| {
        let work = &work;
        let workers: Vec<_> = inputs
            .into_iter()
            .map(|input| s.spawn(move || work(input)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker thread"))
            .collect()
    })
}
