//! Proof that the suite bites: each test plants one bug with the simulator's
//! [`Mutation`] switch (only in its own pool) and asserts that the crash harness reports
//! at least one inconsistent crash image.
//!
//! Call sites are found in crndm's source by the `// PERSIST:` tag that justifies them,
//! so the tests follow the code when lines move; a tag that disappears fails the test
//! loudly instead of silently planting nothing.

use crndm::internals::sim::{CallSite, Mutation};

use crate::aborts::Aborts;
use crate::alloc_free::AllocFree;
use crate::harness::{Budget, Report, Workload, crndm_source, run};
use crate::stack::Stack;
use crate::sum::Sum;
use crate::updates::Updates;

/// The flush, fence or persist call at or after the first line of `file` containing
/// `anchor` (within 6 lines), whose text contains `call`.
///
/// # Panics
/// If there is no such line: the code changed and the mutation must follow it.
pub(crate) fn site(file: &'static str, anchor: &str, call: &str) -> CallSite {
    let path = crndm_source(file);
    let src =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let lines: Vec<&str> = src.lines().collect();
    let a = lines
        .iter()
        .position(|l| l.contains(anchor))
        .unwrap_or_else(|| panic!("{file}: no line contains {anchor:?}; update the mutation"));
    let c = (a..(a + 6).min(lines.len()))
        .find(|&i| lines[i].contains(call) && !lines[i].trim_start().starts_with("//"))
        .unwrap_or_else(|| panic!("{file}: no {call:?} call after {anchor:?}"));
    CallSite {
        file,
        line: u32::try_from(c + 1).expect("line number"),
    }
}

/// Runs `w` with `m` planted and asserts that the harness finds an inconsistency.
pub(crate) fn assert_caught<W: Workload>(w: &W, m: Mutation) -> Report {
    let r = run(w, &Budget::FIRST_FAILURE, Some(m));
    assert!(
        !r.failures.is_empty(),
        "{}: the planted bug {m:?} went unnoticed in {} crash images",
        w.name(),
        r.images
    );
    println!(
        "{m:?} caught by {} after {} images: {}",
        w.name(),
        r.images,
        r.failures[0]
    );
    r
}

crndm::pool!(flush_in_commit_pool);
crndm::pool!(redo_flush_pool);
crndm::pool!(redo_fence_pool);
crndm::pool!(ignore_redo_pool);
crndm::pool!(batch_fence_pool);
crndm::pool!(undo_fence_pool);
crndm::pool!(reinstate_pool);
crndm::pool!(commit_point_pool);
crndm::pool!(commit_record_pool);
crndm::pool!(alloc_fence_pool);
crndm::pool!(alloc_fence_stack_pool);
crndm::pool!(merge_fence_pool);
crndm::pool!(merge_fence_alloc_pool);
crndm::pool!(eager_fence_pool);
crndm::pool!(oldest_first_aborts_pool);
crndm::pool!(oldest_first_ordered_pool);
crndm::pool!(oldest_first_recovery_pool);
crndm::pool!(split_fence_pool);
crndm::pool!(record_flush_pool);
crndm::pool!(truncate_flush_pool);
crndm::pool!(rollback_pool);
crndm::pool!(epoch_bound_pool);
crndm::pool!(epoch_bound_alloc_pool);
crndm::pool!(repair_fence_pool);
crndm::pool!(stream_pool);
crndm::pool!(stream_header_pool);
crndm::pool!(copied_payload_pool);
crndm::pool!(copied_header_pool);
crndm::pool!(previous_log_pool);

/// The commit's flush of every range written in place (L4).
pub(crate) fn skip_flush_in_commit() -> Mutation {
    Mutation::SkipCall(site("stm/journal.rs", "p.flush(addr", "flush("))
}

/// The fence that orders an undo record before the in-place store (L3).
pub(crate) fn skip_undo_fence() -> Mutation {
    Mutation::SkipCall(site(
        "stm/journal.rs",
        "PERSIST: the undo record is durable before",
        ".fence()",
    ))
}

#[test]
fn removing_the_flush_of_written_ranges_in_commit_is_caught() {
    assert_caught(
        &Sum::<flush_in_commit_pool::BuddyAlloc>::classic(6),
        skip_flush_in_commit(),
    );
}

#[test]
fn removing_the_flush_of_written_ranges_in_a_redo_commit_is_caught() {
    // Without it, a later transaction's fence can make the truncation durable while the
    // committed bytes are still only in the cache.
    let m = Mutation::SkipCall(site(
        "stm/journal.rs",
        "PERSIST: the written ranges are durable before the truncation can be (R1)",
        "p.flush(",
    ));
    assert_caught(&Sum::<redo_flush_pool::BuddyAlloc>::new(6), m);
}

#[test]
fn recovery_ignoring_a_redo_commit_is_caught() {
    // A redo commit's written bytes and used heads need not be durable at its commit
    // point: recovery writes them again (stm/recovery.rs hooks).
    assert_caught(
        &AllocFree::<ignore_redo_pool::BuddyAlloc>::new(9),
        Mutation::IgnoreRedo,
    );
}

#[test]
fn removing_the_fence_of_a_log_batch_is_caught() {
    // A B-tree node's keys, values and length are saved under one fence (L3).
    let m = Mutation::SkipCall(site(
        "stm/journal.rs",
        "PERSIST: the batch's undo records are durable",
        ".fence()",
    ));
    assert_caught(
        &crate::ordered::Ordered::<batch_fence_pool::BuddyAlloc>::new(12),
        m,
    );
}

#[test]
fn removing_the_redo_commit_fence_is_caught() {
    let m = Mutation::SkipCall(site(
        "stm/journal.rs",
        "PERSIST: the commit point: the REDO and COMMIT records",
        ".fence()",
    ));
    assert_caught(&Sum::<redo_fence_pool::BuddyAlloc>::new(6), m);
}

#[test]
fn removing_the_undo_log_fence_is_caught() {
    assert_caught(
        &Sum::<undo_fence_pool::BuddyAlloc>::new(6),
        skip_undo_fence(),
    );
}

#[test]
fn leaving_an_unfinished_commits_frees_at_recovery_is_caught() {
    // A commit with frees writes the freed heads before its commit point; recovery of a
    // log without COMMIT record must make them used again (stm/recovery.rs hook; the
    // harness opens the crash images with the mutation planted, see `check_image`).
    let recovery = std::fs::read_to_string(crndm_source("stm/recovery.rs")).unwrap();
    assert!(
        recovery.contains("Mutation::KeepUncommittedFrees"),
        "the CRASH-SIM mutation hook in stm/recovery.rs is missing; restore it"
    );
    assert_caught(
        &Stack::<reinstate_pool::BuddyAlloc>::new(8),
        Mutation::KeepUncommittedFrees,
    );
}

#[test]
fn removing_the_commit_point_fence_is_caught() {
    // Without frees (and too large for a redo commit), truncating the log is the
    // commit; without its fence, a transaction that has returned can still be rolled
    // back.
    let m = Mutation::SkipCall(site(
        "stm/journal.rs",
        "PERSIST: the commit point: the log is gone",
        ".fence()",
    ));
    assert_caught(&Sum::<commit_point_pool::BuddyAlloc>::classic(6), m);
}

#[test]
fn overwriting_the_previous_log_before_the_first_fence_is_caught() {
    // R2: a large first record written over the lines of the lane's previous log, whose
    // truncation a redo commit or a commit with frees left unflushed: a crash that keeps those lines
    // but not the first one brings the previous log back without its COMMIT record.
    assert_caught(
        &Updates::<previous_log_pool::BuddyAlloc>::new(12),
        Mutation::IgnorePreviousLog,
    );
}

#[test]
fn removing_the_commit_record_fence_is_caught() {
    // With frees (classic: a FREE record written after the last log fence), one fence
    // makes the COMMIT record and the freed heads durable, before
    // the truncation; without it the truncation can become durable first, and a block
    // whose free never reached the media leaks.
    let m = Mutation::SkipCall(site(
        "stm/journal.rs",
        "PERSIST: the commit point: the COMMIT record and the freed heads",
        ".fence()",
    ));
    assert_caught(&AllocFree::<commit_record_pool::BuddyAlloc>::new(9), m);
}

fn skip_alloc_fence() -> Mutation {
    Mutation::SkipCall(site(
        "stm/journal.rs",
        "PERSIST: the ALLOC records are durable before the used heads (A1)",
        ".fence()",
    ))
}

#[test]
fn removing_the_allocators_ordering_fence_is_caught() {
    // A1: the ALLOC record is durable before the block's USED head byte; without the
    // fence a crash can leave a used block that no record lets recovery free (a leak
    // the used-bytes check sees).
    assert_caught(
        &AllocFree::<alloc_fence_pool::BuddyAlloc>::new(9),
        skip_alloc_fence(),
    );
}

#[test]
fn removing_the_allocators_ordering_fence_is_caught_by_the_stack() {
    // The same through a second workload: the stack logs its cells before it allocates
    // the nodes, so their records need the commit's own fence.
    assert_caught(
        &Stack::<alloc_fence_stack_pool::BuddyAlloc>::new(8),
        skip_alloc_fence(),
    );
}

fn skip_merge_fence() -> Mutation {
    Mutation::SkipCall(site(
        "alloc/buddy.rs",
        "PERSIST: the merged heads are durable before the old heads inside them are",
        ".fence()",
    ))
}

#[test]
fn removing_the_merge_fence_is_caught() {
    // M1 while merging: the merged head is durable before the heads inside it are
    // cleared; otherwise a crash leaves units no head covers and the map does not open.
    // Freed extension blocks of the journal merge with their free buddies.
    assert_caught(
        &crate::large::Large::<merge_fence_pool::BuddyAlloc>::new(12),
        skip_merge_fence(),
    );
}

#[test]
fn removing_the_merge_fence_is_caught_with_a_freed_pair() {
    // The same through a second workload: the pair of 8 KiB boxes freed in one commit.
    assert_caught(
        &AllocFree::<merge_fence_alloc_pool::BuddyAlloc>::new(9),
        skip_merge_fence(),
    );
}

#[test]
fn removing_the_fence_of_an_eager_allocation_is_caught() {
    // A1 for a block the journal takes for its own log (an extension): its EXTEND
    // record is durable before the block's used head.
    let m = Mutation::SkipCall(site(
        "alloc/buddy.rs",
        "PERSIST: the journal record is durable before the head byte below can",
        ".fence()",
    ));
    assert_caught(
        &crate::large::Large::<eager_fence_pool::BuddyAlloc>::new(12),
        m,
    );
}

#[test]
fn rolling_back_oldest_record_first_is_caught() {
    // Undo records are applied newest first, so that a range logged twice (a field
    // alone, then the struct holding it) ends with its oldest contents. The abort
    // workload logs such a pair in every transaction, then aborts some.
    assert_caught(
        &Aborts::<oldest_first_aborts_pool::BuddyAlloc>::new(9),
        Mutation::UndoOldestFirst,
    );
}

#[test]
fn rolling_back_oldest_record_first_is_caught_in_ordered_collections() {
    // The same through a second workload: the ordered collections' nodes and strings
    // are logged more than once per transaction.
    assert_caught(
        &crate::ordered::Ordered::<oldest_first_ordered_pool::BuddyAlloc>::new(12),
        Mutation::UndoOldestFirst,
    );
}

#[test]
fn rolling_back_oldest_record_first_is_caught_in_recovery() {
    // And in recovery itself, which rolls back the crashed transaction the same way.
    let r = crate::recovery::interrupted_recovery(
        &Aborts::<oldest_first_recovery_pool::BuddyAlloc>::new(9),
        1,
        &Budget::FIRST_FAILURE,
        Some(Mutation::UndoOldestFirst),
    );
    assert!(
        !r.failures.is_empty(),
        "rolling back oldest first went unnoticed in {} images of interrupted recovery",
        r.images
    );
}

#[test]
fn removing_the_split_fence_is_caught() {
    // M1: the heads of the split-off buddies are durable before the split block's own
    // head shrinks; otherwise the map can tile the heap with holes and not open.
    let m = Mutation::SkipCall(site(
        "alloc/buddy.rs",
        "PERSIST: the buddy heads are durable before u's head stops covering them",
        ".fence()",
    ));
    assert_caught(
        &crate::large::Large::<split_fence_pool::BuddyAlloc>::new(12),
        m,
    );
}

#[test]
fn removing_the_flush_of_log_records_is_caught() {
    let m = Mutation::SkipCall(site(
        "stm/lane.rs",
        "PERSIST: callers fence before relying on the record",
        ".flush(",
    ));
    assert_caught(&Sum::<record_flush_pool::BuddyAlloc>::new(6), m);
}

#[test]
fn removing_the_streaming_of_a_large_undo_record_is_caught() {
    // The payload's whole lines are copied but never made durable: a crash can keep the
    // header and the page's new bytes without the old ones (issue 20).
    let m = Mutation::SkipCall(site(
        "stm/lane.rs",
        "PERSIST: the payload's whole lines are durable at the caller's fence",
        ".stream(",
    ));
    // Op 7 rewrites the 64 KiB page (streamed: 32 KiB and more) with old bytes that are
    // not zero, as the fresh log block's are.
    assert_caught(&Updates::<stream_pool::BuddyAlloc>::new(8), m);
}

#[test]
fn removing_the_flush_of_a_streamed_record_header_is_caught() {
    let m = Mutation::SkipCall(site(
        "stm/lane.rs",
        "PERSIST: the header and the payload's partial lines",
        ".flush(",
    ));
    assert_caught(&Updates::<stream_header_pool::BuddyAlloc>::new(6), m);
}

#[test]
fn removing_the_flush_of_a_copied_records_payload_lines_is_caught() {
    // Records of 128 bytes up to 32 KiB are copied by a loop and their payload lines
    // flushed before the seal is computed: without that flush a crash can keep the
    // header and the page's new bytes without the old ones.
    let m = Mutation::SkipCall(site(
        "stm/lane.rs",
        "PERSIST: the payload's lines after the header's",
        ".flush(",
    ));
    // Op 4 rewrites the 1 KiB page, whose old bytes are not zero, as the lane's are.
    assert_caught(&Updates::<copied_payload_pool::BuddyAlloc>::new(6), m);
}

#[test]
fn removing_the_flush_of_a_copied_records_header_line_is_caught() {
    let m = Mutation::SkipCall(site(
        "stm/lane.rs",
        "PERSIST: the header's line(s), durable at the caller's fence",
        ".flush(",
    ));
    assert_caught(&Updates::<copied_header_pool::BuddyAlloc>::new(4), m);
}

#[test]
fn removing_the_flush_of_the_truncation_is_caught() {
    let m = Mutation::SkipCall(site(
        "stm/lane.rs",
        "PERSIST: callers fence when a later step depends on the truncation",
        ".flush(",
    ));
    assert_caught(&Sum::<truncate_flush_pool::BuddyAlloc>::classic(6), m);
}

#[test]
fn removing_the_flush_of_restored_bytes_in_rollback_is_caught() {
    // Rollback (and recovery) restores undo records and flushes them before truncating.
    let m = Mutation::SkipCall(site(
        "stm/recovery.rs",
        "// SAFETY: the restored range is in the mapping.",
        ".flush(",
    ));
    assert_caught(&Aborts::<rollback_pool::BuddyAlloc>::new(6), m);
}

/// The persist of a lane's new epoch bound at open (L1).
pub(crate) fn skip_epoch_bound() -> Mutation {
    Mutation::SkipCall(site(
        "stm/lane.rs",
        "PERSIST: the new bound is durable before any epoch of the range is used (L1)",
        ".persist(",
    ))
}

#[test]
fn removing_the_persist_of_the_epoch_bound_is_caught() {
    // After a power failure the next open would reuse the crashed run's epochs, and a
    // crash early in one of its transactions would extend the log with the older
    // transaction's records (classic commit: each UNDO record is fenced on its own, so
    // a crash can leave a new first record followed by an old one of the same epoch).
    let r = crate::two_crashes::two_crashes(
        &Sum::<epoch_bound_pool::BuddyAlloc>::classic(8),
        1,
        &Budget {
            max_failures: 1,
            ..Budget::SECOND_RUN
        },
        Some(skip_epoch_bound()),
    );
    assert!(
        !r.failures.is_empty(),
        "the missing epoch-bound persist went unnoticed in {} images",
        r.images
    );
    println!(
        "caught after {} images: {}",
        r.images, r.failures[0].message
    );
}

#[test]
fn removing_the_persist_of_the_epoch_bound_is_caught_with_frees() {
    // The same through a second workload: allocations and frees (ALLOC and FREE
    // records, COMMIT records of commits with frees).
    let r = crate::two_crashes::two_crashes(
        &AllocFree::<epoch_bound_alloc_pool::BuddyAlloc>::new(12),
        1,
        &Budget {
            max_failures: 1,
            ..Budget::SECOND_RUN
        },
        Some(skip_epoch_bound()),
    );
    assert!(
        !r.failures.is_empty(),
        "the missing epoch-bound persist went unnoticed in {} images",
        r.images
    );
    println!(
        "caught after {} images: {}",
        r.images, r.failures[0].message
    );
}

#[test]
fn removing_the_fence_of_the_leak_repairs_frees_is_caught() {
    // F1: a batch of frees makes its freed (merged) heads durable before it clears the
    // heads that became interior. The leak repair frees in such batches, and its leaks
    // merge with each other and with free buddies into blocks that span map lines;
    // without the fence a crash can keep a cleared inner head without the merged head
    // that covers it, and the map no longer tiles the heap (issue 17).
    let m = Mutation::SkipCall(site(
        "alloc/buddy.rs",
        "PERSIST: the frees are durable (F1)",
        ".fence()",
    ));
    let r = crate::repair::interrupted_repair::<repair_fence_pool::BuddyAlloc>(
        &Budget::FIRST_FAILURE,
        Some(m),
    );
    assert!(
        !r.failures.is_empty(),
        "the missing fence of the repair's frees went unnoticed in {} images",
        r.images
    );
    println!("{m:?} caught after {} images: {}", r.images, r.failures[0]);
}

crndm::pool!(sweep_sum_pool);
crndm::pool!(sweep_stack_pool);
crndm::pool!(sweep_threads_pool);
crndm::pool!(sweep_nested_pool);
crndm::pool!(sweep_alloc_pool);
crndm::pool!(sweep_aborts_pool);
crndm::pool!(sweep_first_pool);
crndm::pool!(sweep_recovery_pool);

/// A named workload run of the sweep.
type Try<'a> = Box<dyn Fn() -> Report + 'a>;

/// Every flush, fence and persist call of crndm outside `persist/` (and outside unit
/// tests and `internals.rs`): `(site, what justifies it)`.
fn all_call_sites() -> Vec<(CallSite, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir)
            .expect("read the source tree")
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = crndm_source("");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut sites = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .expect("under src")
            .to_string_lossy()
            .into_owned();
        if rel.starts_with("persist/") || rel == "internals.rs" || rel.ends_with("tests.rs") {
            continue;
        }
        let src = std::fs::read_to_string(&f).expect("read a source file");
        let lines: Vec<&str> = src
            .lines()
            .take_while(|l| !l.starts_with("#[cfg(test)]"))
            .collect();
        let rel: &'static str = Box::leak(rel.into_boxed_str());
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let call = [".flush(", ".fence()", ".persist("]
                .iter()
                .any(|c| t.contains(c));
            if !call || t.starts_with("//") || t.contains("fn ") {
                continue;
            }
            let why = (i.saturating_sub(4)..i)
                .rev()
                .find_map(|k| {
                    lines[k]
                        .split_once("PERSIST:")
                        .map(|x| x.1.trim().to_string())
                })
                .unwrap_or_else(|| t.to_string());
            let line = u32::try_from(i + 1).expect("line number");
            sites.push((CallSite { file: rel, line }, why));
        }
    }
    sites
}

/// Plants "this call does nothing" at every flush, fence and persist call site in turn
/// and reports which workload catches it (on demand: `cargo test -p crndm-tests --test
/// crash sweep -- --ignored --nocapture`). A site no workload catches is redundant, or
/// matters only in a situation no workload creates: both worth knowing.
#[test]
#[ignore = "slow exploratory report, run on demand"]
fn sweep_every_flush_and_fence_call_site() {
    let mut text =
        String::from("\nsite                          caught by (images checked)           why\n");
    for (site, why) in all_call_sites() {
        let m = Some(Mutation::SkipCall(site));
        let b = &Budget::FIRST_FAILURE;
        let tries: Vec<(&str, Try<'_>)> = vec![
            (
                "sum",
                Box::new(|| run(&Sum::<sweep_sum_pool::BuddyAlloc>::new(6), b, m)),
            ),
            (
                "stack",
                Box::new(|| run(&Stack::<sweep_stack_pool::BuddyAlloc>::new(8), b, m)),
            ),
            (
                "alloc",
                Box::new(|| run(&AllocFree::<sweep_alloc_pool::BuddyAlloc>::new(9), b, m)),
            ),
            (
                "two threads",
                Box::new(|| {
                    run(
                        &Stack::<sweep_threads_pool::BuddyAlloc>::on_two_threads(8),
                        b,
                        m,
                    )
                }),
            ),
            (
                "nested",
                Box::new(|| {
                    run(
                        &crate::nested::Nested::<sweep_nested_pool::BuddyAlloc>::new(6),
                        b,
                        m,
                    )
                }),
            ),
            (
                "aborts",
                Box::new(|| run(&Aborts::<sweep_aborts_pool::BuddyAlloc>::new(6), b, m)),
            ),
            (
                "first open",
                Box::new(|| {
                    run(
                        &crate::root_creation::RootCreation::<sweep_first_pool::BuddyAlloc>::new(2),
                        b,
                        m,
                    )
                }),
            ),
            (
                "recovery",
                Box::new(|| {
                    crate::recovery::interrupted_recovery(
                        &Aborts::<sweep_recovery_pool::BuddyAlloc>::new(6),
                        1,
                        b,
                        m,
                    )
                }),
            ),
        ];
        let mut images = 0;
        let mut caught = None;
        for (name, t) in tries {
            let r = t();
            images += r.images;
            if !r.failures.is_empty() {
                caught = Some(name);
                break;
            }
        }
        let at = format!("{}:{}", site.file, site.line);
        let by = format!("{} ({images})", caught.unwrap_or("NOT CAUGHT"));
        text += &format!("{at:<29} {by:<36} {why}\n");
    }
    crate::say(&text);
}
