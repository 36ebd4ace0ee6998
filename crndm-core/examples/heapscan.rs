//! Speed of the reachability scan (issue 17): fills a fresh pool until half its heap is
//! used by 64-byte objects, all reachable from the root, then times the in-process scan
//! ([`MemPool::leaks`], reading the heap with `pread`) on the open pool and
//! [`crndm::admin::check_report`] (what `crndm-pool check FILE` runs) on the closed file.
//!
//! ```text
//! cargo run --release -p crndm --example heapscan -- [SIZE_MIB] [PATH]
//! ```
//!
//! `SIZE_MIB` defaults to 1024. The pool is `PATH` (created or overwritten, and kept), or
//! by default a file in a fresh directory in `/dev/shm` (the system temporary directory
//! if there is none), removed at exit. The last line is a summary:
//!
//! ```text
//! scan of a 1024 MiB pool (1007 MiB heap), 50.0 % used by 64-byte blocks (8,257,503 objects): check_report 0.76 s, P::leaks 2.40 s
//! ```
//!
//! The objects are [`Node`]s of exactly 64 bytes (one heap unit each), linked in chains
//! of [`CHAIN`] nodes, each chain made in one transaction; the root holds a [`PVec`] of
//! the chain heads.

use std::path::PathBuf;
use std::time::Instant;

use crndm::default::*;

/// Nodes made per transaction (one chain). Fresh blocks need no undo logging, so a
/// transaction costs one ALLOC record per node (the log continues in extension blocks).
const CHAIN: u64 = 4096;

/// A 64-byte object: one heap unit.
#[derive(crndm::RootLayout)]
struct Node {
    next: Option<Pbox<Node>>,
    payload: [u64; 7],
}

const _: () = assert!(size_of::<Node>() == 64);

/// The pool's root: the heads of the chains.
#[derive(Root)]
struct Chains {
    heads: PRefCell<PVec<Pbox<Node>>>,
}

/// `n` with thousands separators: `8,388,608`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn usage() -> ! {
    eprintln!("usage: heapscan [SIZE_MIB] [PATH]");
    std::process::exit(2)
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut words = std::env::args().skip(1);
    let size_mib: u64 = match words.next() {
        Some(s) => s
            .parse()
            .ok()
            .filter(|&m| m >= 1)
            .unwrap_or_else(|| usage()),
        None => 1024,
    };
    let given: Option<PathBuf> = words.next().map(Into::into);
    if words.next().is_some() {
        usage();
    }
    // Kept until the end of `main`: the default pool's directory, removed on drop.
    let scratch;
    let path = if let Some(p) = given {
        p
    } else {
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        scratch = tempfile::Builder::new()
            .prefix("crndm-heapscan-")
            .tempdir_in(base)?;
        scratch.path().join("heapscan.pool")
    };

    // Fill.
    let root = PoolOptions::new()
        .size(size_mib << 20)
        .open::<BuddyAlloc, Chains>(&path, O_CF)?;
    let stats = BuddyAlloc::stats()?;
    eprintln!(
        "heapscan: {} ({size_mib} MiB, heap {} MiB), mode {}",
        path.display(),
        stats.total >> 20,
        BuddyAlloc::mode()?
    );
    let objects = (stats.total / 2).saturating_sub(stats.used) / 64;
    let start = Instant::now();
    let mut made = 0u64;
    while made < objects {
        let n = CHAIN.min(objects - made);
        BuddyAlloc::transaction(|j| {
            let mut head: Option<Pbox<Node>> = None;
            for i in 0..n {
                let payload = [made + i; 7];
                head = Some(Pbox::new(
                    Node {
                        next: head,
                        payload,
                    },
                    j,
                ));
            }
            root.heads
                .borrow_mut(j)
                .push(head.expect("at least one node"), j);
        })?;
        made += n;
    }
    let fill = start.elapsed().as_secs_f64();
    let stats = BuddyAlloc::stats()?;
    eprintln!(
        "fill: {} objects in {} chains, {fill:.2} s ({:.0} ns/object); heap {:.1} % used",
        grouped(made),
        root.heads.borrow().len(),
        fill * 1e9 / made.max(1) as f64,
        stats.used as f64 * 100.0 / stats.total as f64
    );

    // In-process scan of the open pool.
    let start = Instant::now();
    let live = BuddyAlloc::leaks()?;
    let leaks_secs = start.elapsed().as_secs_f64();
    eprintln!(
        "P::leaks: {leaks_secs:.3} s, {} reachable blocks, {} leaked",
        grouped(live.reachable_blocks),
        live.leaked_blocks
    );
    assert!(live.is_clean(), "P::leaks: {live:?}");
    drop(root);

    // Scan of the closed file.
    let start = Instant::now();
    let report = crndm::admin::check_report(&path)?;
    let check_secs = start.elapsed().as_secs_f64();
    let r = report
        .reachability
        .as_ref()
        .unwrap_or_else(|| panic!("no scan: {:?}", report.reachability_skipped));
    let info = crndm::admin::info(&path)?;
    eprintln!(
        "check_report: {check_secs:.3} s, {} reachable blocks ({} MiB), {} leaked, \
         {} damaged pointers; used {} of {} bytes",
        grouped(r.reachable_blocks),
        r.reachable_bytes >> 20,
        r.leaked_blocks,
        r.damaged_pointers,
        grouped(info.stats.used),
        grouped(info.stats.total)
    );
    assert_eq!(r.leaked_blocks, 0, "no leaks: {:?}", r.first_leaks);
    assert!(report.is_clean(), "{:?}", report.findings);
    // The root, the chains and the heads' buffer: every used block is reachable.
    assert_eq!(r.reachable_bytes, info.stats.used);
    assert_eq!(r, &live);

    println!(
        "scan of a {size_mib} MiB pool ({} MiB heap), {:.1} % used by 64-byte blocks \
         ({} objects): check_report {check_secs:.2} s, P::leaks {leaks_secs:.2} s",
        info.stats.total >> 20,
        info.stats.used as f64 * 100.0 / info.stats.total as f64,
        grouped(made)
    );
    Ok(())
}
