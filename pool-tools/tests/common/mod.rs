//! Helpers shared by the `crndm-pool` test binaries: running the binary, and a child
//! process that works on a pool (and crashes on demand).

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part of this module"
)]

use std::path::Path;
use std::process::{Command, ExitStatus, Output};

use crndm::default::*;
use crndm_tests::{CHILD_POOL_ENV, child_command, child_env, child_passed, describe};

/// Runs `crndm-pool` with `args`.
pub fn crndm_pool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crndm-pool"))
        .args(args)
        .output()
        .expect("run crndm-pool")
}

/// Runs `crndm-pool` with `args`, asserts it exits with `code` and printed no panic;
/// returns its stdout.
#[track_caller]
pub fn run_code(args: &[&str], code: i32) -> String {
    let out = crndm_pool(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "crndm-pool {args:?}:\n{}",
        describe(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs `crndm-pool` with `args`, asserts success and an empty stderr; returns stdout.
#[track_caller]
pub fn run_ok(args: &[&str]) -> String {
    let out = crndm_pool(args);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "crndm-pool {args:?}:\n{}",
        describe(&out)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs `crndm-pool` with `args` and parses its stdout as JSON; asserts exit `code`.
#[track_caller]
pub fn run_json(args: &[&str], code: i32) -> serde_json::Value {
    let text = run_code(args, code);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}:\n{text}"))
}

/// The path as a `&str` (temporary paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// The object's keys, sorted.
pub fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

/// The value the prepared root's tag holds: shows as `tag-ok!!` in a dump.
pub const TAG_OK: u64 = u64::from_le_bytes(*b"tag-ok!!");
/// The value the crashing transaction writes: shows as `CRASHED!` in a dump.
pub const TAG_CRASH: u64 = u64::from_le_bytes(*b"CRASHED!");
/// Items the prepared root holds.
pub const PREPARED_ITEMS: u64 = 2;

/// The root object of the child's pool.
#[derive(Root)]
pub struct Doc {
    tag: PCell<u64>,
    len: PCell<u64>,
    items: PRefCell<Option<Pbox<Item>>>,
}

/// A list node (64 bytes with its box).
#[derive(crndm::RootLayout)]
pub struct Item {
    _value: u64,
    next: PRefCell<Option<Pbox<Item>>>,
}

/// Environment variable telling the child what to do: `prepare`, `abort`, `pop` or
/// `verify` (see [`child`]).
const ACTION_ENV: &str = "CRNDM_POOL_TOOLS_CHILD_ACTION";

fn push(doc: &Doc, value: u64, j: &Journal) {
    let next = doc.items.take(j);
    *doc.items.borrow_mut(j) = Some(Pbox::new(
        Item {
            _value: value,
            next: PRefCell::new(next),
        },
        j,
    ));
    doc.len.set(doc.len.get() + 1, j);
}

fn list_len(link: &Option<Pbox<Item>>) -> u64 {
    link.as_ref().map_or(0, |n| 1 + list_len(&n.next.borrow()))
}

/// Makes the `abort` child die inside its commit, after the used heads of its three
/// items are durable and before the commit point: the journal then holds all three
/// ALLOC records, and the blocks are used in the map.
pub const ABORT_IN_COMMIT: (&str, &str) =
    (crndm::internals::CRASH_AT_ENV, "commit-before-truncate");

/// The child process (run by [`run_child`]), on the pool named by `CHILD_POOL_ENV`:
/// - `prepare`: creates the root, sets its tag to [`TAG_OK`] and pushes
///   [`PREPARED_ITEMS`] items, committed;
/// - `abort`: in a transaction, sets the tag to [`TAG_CRASH`] and pushes three items,
///   then aborts the process (run it with [`ABORT_IN_COMMIT`] to die inside the commit
///   instead): an active journal with UNDO and ALLOC records is left;
/// - `pop`: a transaction that pops an item (a deferred free), for `CRNDM_CRASH_AT`;
/// - `verify`: the tag is [`TAG_OK`], the list has [`PREPARED_ITEMS`] items, and the
///   allocator holds exactly the root and the items.
#[test]
#[ignore = "child process of the crndm-pool tests"]
fn child() {
    let (Some(path), Some(action)) = (child_env(CHILD_POOL_ENV), child_env(ACTION_ENV)) else {
        return;
    };
    let doc = BuddyAlloc::open::<Doc>(&path, 0).unwrap();
    match action.as_str() {
        "prepare" => BuddyAlloc::transaction(|j| {
            doc.tag.set(TAG_OK, j);
            for v in 0..PREPARED_ITEMS {
                push(&doc, v, j);
            }
        })
        .unwrap(),
        "abort" => {
            let _ = BuddyAlloc::transaction(|j| {
                doc.tag.set(TAG_CRASH, j);
                for v in 0..3 {
                    push(&doc, 100 + v, j);
                }
                // The process dies mid-transaction, as in a power cut: inside the
                // commit (CRNDM_CRASH_AT=commit-before-truncate, once the items' used
                // heads are durable), or here.
                if child_env(crndm::internals::CRASH_AT_ENV).is_none() {
                    std::process::abort();
                }
            });
            unreachable!("the commit dies at its crash point");
        }
        "pop" => BuddyAlloc::transaction(|j| {
            let top = doc.items.take(j).expect("a prepared list");
            *doc.items.borrow_mut(j) = top.next.take(j);
            doc.len.set(doc.len.get() - 1, j);
        })
        .unwrap(),
        "verify" => {
            assert_eq!(doc.tag.get(), TAG_OK);
            let len = list_len(&doc.items.borrow());
            assert_eq!(len, doc.len.get());
            assert_eq!(len, PREPARED_ITEMS);
            assert!(BuddyAlloc::check().unwrap().is_empty());
            let root_block = (size_of::<Doc>() as u64).next_power_of_two().max(64);
            assert_eq!(BuddyAlloc::stats().unwrap().used, root_block + 64 * len);
        }
        other => panic!("unknown action {other}"),
    }
}

/// Runs [`child`] with `action` on `pool` (plus `envs`); returns how it ended.
pub fn run_child(action: &str, pool: &Path, envs: &[(&str, &str)]) -> (ExitStatus, Output) {
    let mut all = vec![(CHILD_POOL_ENV, s(pool)), (ACTION_ENV, action)];
    all.extend_from_slice(envs);
    let out = child_command("common::child", &all)
        .output()
        .expect("spawn the child");
    (out.status, out)
}

/// Runs [`child`] with `action` and asserts that it passed.
#[track_caller]
pub fn run_child_ok(action: &str, pool: &Path) {
    let (_, out) = run_child(action, pool, &[]);
    assert!(
        child_passed("common::child", &out),
        "child {action}:\n{}",
        describe(&out)
    );
}

/// Creates a pool of `size` with the CLI and prepares its root (a child process).
pub fn prepared_pool(path: &Path, size: &str) {
    run_ok(&["create", s(path), "--size", size]);
    run_child_ok("prepare", path);
}

/// [`prepared_pool`], then a child that dies mid-transaction: an active journal.
pub fn crashed_pool(path: &Path, size: &str) {
    prepared_pool(path, size);
    let (status, out) = run_child("abort", path, &[ABORT_IN_COMMIT]);
    assert!(
        !status.success() && status.code().is_none(),
        "the child must die by a signal:\n{}",
        describe(&out)
    );
}
