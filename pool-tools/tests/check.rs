//! `crndm-pool check`, `recover` and `info` on healthy pools, on pools left by a crashed
//! child process, and on damaged pools; the `--json` shapes they document.

mod common;

use common::*;
use crndm_tests::{contents, flip_byte, hdr, patch_bytes, read_u64, rechecksum, shm_dir};
use serde_json::Value;

/// The top-level keys `check --help` documents (without --repair).
const CHECK_KEYS: [&str; 7] = [
    "clean",
    "findings",
    "heap_units",
    "journals",
    "path",
    "reachability",
    "reachability_skipped",
];
/// The keys of `journals` in `check --json` (and, with `size`, in `info --json`).
const JOURNAL_KEYS: [&str; 5] = ["active", "committed", "count", "empty", "logs"];
/// The keys `recover --help` documents.
const RECOVER_KEYS: [&str; 8] = [
    "committed",
    "freed_blocks",
    "journals",
    "journals_with_logs",
    "map_repairs",
    "path",
    "restored_ranges",
    "rolled_back",
];

#[test]
fn a_healthy_pool_checks_clean() {
    let dir = shm_dir();
    let path = dir.path().join("ok.pool");
    prepared_pool(&path, "2M");
    let before = contents(&path);
    let text = run_ok(&["check", s(&path)]);
    assert!(text.contains("problems      none"), "{text}");
    assert!(text.contains("journals: 16 (16 empty)\n"), "{text}");
    let v = run_json(&["check", "--json", s(&path)], 0);
    assert_eq!(keys(&v), CHECK_KEYS);
    assert_eq!(v["clean"], true);
    assert_eq!(v["findings"], Value::Array(vec![]));
    assert_eq!(keys(&v["journals"]), JOURNAL_KEYS);
    assert_eq!(v["journals"]["empty"], 16);
    assert_eq!(v["path"], s(&path));
    assert!(v["heap_units"].as_u64().unwrap() > 0);
    // --repair on a clean pool changes nothing, not even the generation.
    let text = run_ok(&["check", "--repair", s(&path)]);
    assert!(text.contains("repair        nothing to repair"), "{text}");
    assert!(contents(&path) == before, "check wrote to the file");
}

#[test]
fn a_crashed_transaction_is_shown_reported_and_recovered() {
    let dir = shm_dir();
    let path = dir.path().join("crash.pool");
    prepared_pool(&path, "2M");
    let used_before = run_json(&["info", "--json", s(&path)], 0)["heap"]["used"]
        .as_u64()
        .unwrap();
    let (status, out) = run_child("abort", &path, &[ABORT_IN_COMMIT]);
    assert!(status.code().is_none(), "{}", crndm_tests::describe(&out));

    // info shows the active journal.
    let text = run_ok(&["info", s(&path)]);
    assert!(
        text.contains("journals: 16 (15 empty, 1 active)\n"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.contains(" active "))
        .unwrap_or_else(|| panic!("no journal row in\n{text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    // journal, state, undo, alloc, free, commit, bytes
    assert_eq!(cols[1], "active", "{row}");
    assert_eq!(cols[3], "3", "three allocations: {row}");
    assert_eq!((cols[4], cols[5]), ("0", "0"), "{row}");
    let info = run_json(&["info", "--json", s(&path)], 0);
    let j = &info["journals"];
    let mut jkeys = JOURNAL_KEYS.to_vec();
    jkeys.push("size");
    jkeys.sort_unstable();
    assert_eq!(keys(j), jkeys);
    assert_eq!(
        (j["active"].as_u64(), j["empty"].as_u64()),
        (Some(1), Some(15))
    );
    let log = &j["logs"][0];
    assert_eq!(keys(log), ["bytes", "epoch", "index", "records", "state"]);
    assert_eq!(log["state"], "active");
    assert_eq!(log["records"]["alloc"], 3);
    assert!(log["records"]["undo"].as_u64().unwrap() >= 2, "{log}");
    assert!(log["bytes"].as_u64().unwrap() > 0);
    // Besides the journal, the only findings are allocator residue of the dead process
    // (blocks its lane caches held, unmerged), which open repairs.
    let (residue, others): (Vec<&Value>, Vec<&Value>) = info["problems"]
        .as_array()
        .unwrap()
        .iter()
        .partition(|p| p.as_str().unwrap().contains("not merged"));
    assert_eq!(others.len(), 1, "{info}");

    // check reports it, without writing, and exits 1.
    let before = contents(&path);
    let text = run_code(&["check", s(&path)], 1);
    assert!(
        text.contains(&format!(
            "problems      {n} ({n} repairable with `crndm-pool check --repair`",
            n = 1 + residue.len()
        )),
        "{text}"
    );
    assert!(
        text.contains("  repairable  unfinished-journal  journal "),
        "{text}"
    );
    let v = run_json(&["check", "--json", s(&path)], 1);
    assert_eq!(v["clean"], false);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "unfinished-journal")
        .unwrap_or_else(|| panic!("no journal finding in {v}"));
    assert_eq!(keys(f), ["kind", "message", "severity"]);
    assert_eq!(
        (f["kind"].as_str(), f["severity"].as_str()),
        (Some("unfinished-journal"), Some("repairable"))
    );
    assert!(contents(&path) == before, "check wrote to the file");
    // The crashed transaction's write is in place; the root shows it.
    assert!(run_ok(&["dump", s(&path), "--root"]).contains("CRASHED!"));

    // recover rolls it back.
    let v = run_json(&["recover", "--json", s(&path)], 0);
    assert_eq!(keys(&v), RECOVER_KEYS);
    assert_eq!(v["journals_with_logs"], 1);
    assert_eq!(v["rolled_back"], 1);
    assert_eq!(v["committed"], 0);
    assert_eq!(v["freed_blocks"], 3);
    assert!(v["restored_ranges"].as_u64().unwrap() >= 2);
    assert_eq!(
        keys(&v["journals"][0]),
        ["freed", "index", "outcome", "restored"]
    );
    assert_eq!(v["journals"][0]["outcome"], "rolled-back");

    // check is clean again, and so is the data.
    run_ok(&["check", s(&path)]);
    let root = run_ok(&["dump", s(&path), "--root"]);
    assert!(
        root.contains("tag-ok!!") && !root.contains("CRASHED!"),
        "{root}"
    );
    let info = run_json(&["info", "--json", s(&path)], 0);
    assert_eq!(info["heap"]["used"].as_u64().unwrap(), used_before);
    assert_eq!(info["journals"]["empty"], 16);
    run_child_ok("verify", &path);
    // Nothing left to do.
    let text = run_ok(&["recover", s(&path)]);
    assert!(text.contains("nothing to do"), "{text}");
}

#[test]
fn a_committed_untruncated_journal_is_finished_by_check_repair() {
    let dir = shm_dir();
    let path = dir.path().join("commit.pool");
    prepared_pool(&path, "2M");
    let (status, out) = run_child(
        "pop",
        &path,
        &[(crndm::internals::CRASH_AT_ENV, "commit-before-frees")],
    );
    assert!(!status.success(), "{}", crndm_tests::describe(&out));
    let text = run_ok(&["info", s(&path)]);
    assert!(
        text.contains("journals: 16 (15 empty, 1 committed-not-truncated)"),
        "{text}"
    );
    let text = run_code(&["check", s(&path)], 1);
    assert!(text.contains("holds a committed transaction"), "{text}");

    let text = run_ok(&["check", "--repair", s(&path)]);
    assert!(text.contains("repair        ran recovery"), "{text}");
    assert!(
        text.contains("recovered     1 journal (0 rolled back, 1 committed and finished)"),
        "{text}"
    );
    assert!(text.contains("  freed       1 blocks"), "{text}");
    assert!(
        text.ends_with("after repair\nproblems      none\n"),
        "{text}"
    );
    let v = run_json(&["check", "--json", s(&path)], 0);
    assert_eq!(v["clean"], true);
}

#[test]
fn check_repair_json_reports_before_repair_and_after() {
    let dir = shm_dir();
    let path = dir.path().join("repair.pool");
    crashed_pool(&path, "1M");
    let v = run_json(&["check", "--repair", "--json", s(&path)], 0);
    let mut expected = CHECK_KEYS.to_vec();
    expected.extend(["after", "leaks_freed", "repair", "repair_error"]);
    expected.sort_unstable();
    assert_eq!(keys(&v), expected);
    assert_eq!(v["clean"], false, "the verdict before the repair");
    assert_eq!(v["repair"]["rolled_back"], 1);
    assert_eq!(keys(&v["repair"]), RECOVER_KEYS);
    assert_eq!(v["repair_error"], Value::Null);
    assert_eq!(keys(&v["after"]), ["clean", "findings"]);
    assert_eq!(v["after"]["clean"], true);
}

#[test]
fn damage_is_a_corrupt_finding_and_exit_1() {
    let dir = shm_dir();
    let src = dir.path().join("src.pool");
    prepared_pool(&src, "1M");
    let map_off = read_u64(&src, hdr::region_off(2));

    // An invalid allocator map byte: opening would refuse the pool; --repair cannot help.
    let path = dir.path().join("map.pool");
    std::fs::copy(&src, &path).unwrap();
    patch_bytes(&path, map_off, &[0xff]);
    let text = run_code(&["check", s(&path)], 1);
    assert!(
        text.contains("  corrupt     allocator           heap unit 0: invalid map byte 0xff"),
        "{text}"
    );
    let v = run_json(&["check", "--repair", "--json", s(&path)], 1);
    assert_eq!(v["repair"], Value::Null);
    assert!(
        v["repair_error"]
            .as_str()
            .unwrap()
            .starts_with("recovery refused the pool: corrupt allocator state"),
        "{v}"
    );
    assert_eq!(v["after"]["clean"], false);

    // A header that cannot be trusted: a finding, not a crash; JSON still parses.
    let path = dir.path().join("header.pool");
    std::fs::copy(&src, &path).unwrap();
    flip_byte(&path, hdr::UUID, 0x01);
    let text = run_code(&["check", s(&path)], 1);
    assert!(
        text.contains("  corrupt     header              pool header checksum mismatch"),
        "{text}"
    );
    let v = run_json(&["check", "--json", s(&path)], 1);
    assert_eq!(v["journals"], Value::Null);
    assert_eq!(v["findings"][0]["kind"], "header");
    assert_eq!(v["findings"][0]["severity"], "corrupt");

    // The root slot naming a free block: only check_report sees it.
    let path = dir.path().join("root.pool");
    std::fs::copy(&src, &path).unwrap();
    let heap_off = read_u64(&path, hdr::region_off(3));
    let heap_len = read_u64(&path, hdr::region_len(3));
    patch_bytes(
        &path,
        hdr::ROOT_OFF,
        &(heap_off + heap_len - 64).to_le_bytes(),
    );
    let v = run_json(&["check", "--json", s(&path)], 1);
    assert_eq!(v["findings"][0]["kind"], "root", "{v}");
    assert_eq!(v["findings"][0]["severity"], "corrupt");

    // A file that is not a pool at all.
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "not a pool\n".repeat(500)).unwrap();
    let text = run_code(&["check", s(&path)], 1);
    assert!(
        text.contains("corrupt     header              not a crndm pool"),
        "{text}"
    );
    // Header fields checked behind a valid checksum are findings too.
    let path = dir.path().join("lanes.pool");
    std::fs::copy(&src, &path).unwrap();
    patch_bytes(&path, hdr::LANES, &0u32.to_le_bytes());
    rechecksum(&path);
    let text = run_code(&["check", s(&path)], 1);
    assert!(text.contains("field `lanes`"), "{text}");
}

#[test]
fn operational_errors_are_not_findings() {
    let dir = shm_dir();
    let path = dir.path().join("missing.pool");
    let out = crndm_pool(&["check", s(&path)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("crndm-pool: {}: no such file\n", path.display())
    );
    let out = crndm_pool(&["recover", s(&path)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
}

#[test]
fn help_for_the_new_subcommands() {
    let top = run_ok(&["--help"]);
    for cmd in ["create", "info", "check", "recover", "dump"] {
        assert!(top.contains(&format!("  {cmd} ")), "{cmd}: {top}");
    }
    let check = run_ok(&["check", "--help"]);
    assert!(
        check.contains("Usage: crndm-pool check [OPTIONS] <FILE>")
            && check.contains("--repair")
            && check.contains("--json")
            && check.contains("JSON keys: path, clean, findings"),
        "{check}"
    );
    let recover = run_ok(&["recover", "--help"]);
    assert!(
        recover.contains("Usage: crndm-pool recover [OPTIONS] <FILE>")
            && recover.contains("--json")
            && recover.contains("JSON keys: path, journals_with_logs"),
        "{recover}"
    );
    let dump = run_ok(&["dump", "--help"]);
    assert!(
        dump.contains("Usage: crndm-pool dump [OPTIONS] <--offset <OFFSET>|--root> <FILE>")
            && dump.contains("--len <LEN>"),
        "{dump}"
    );
    assert_eq!(run_ok(&["help", "check"]), check);
}

use crndm::MemPool;

crndm::pool!(leak_cli_pool);

#[test]
#[expect(clippy::mem_forget, reason = "the leak under test")]
fn leaks_are_reported_and_freed_by_repair_leaks() {
    type P = leak_cli_pool::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("leak.pool");
    {
        let root =
            crndm_tests::retry_locked(|| P::open::<crndm::PCell<u64, P>>(&path, crndm::O_CF))
                .unwrap();
        P::transaction(|j| {
            root.set(7, j);
            std::mem::forget(crndm::Pbox::new([1u8; 100], j));
        })
        .unwrap();
    }
    let text = run_code(&["check", s(&path)], 1);
    assert!(text.contains("1 leaked (128 bytes)"), "{text}");
    assert!(text.contains("  leak        leak"), "{text}");
    let v = run_json(&["check", "--json", s(&path)], 1);
    assert_eq!(v["reachability"]["leaked_bytes"], 128);
    // --leaks needs --repair.
    run_code(&["check", "--leaks", s(&path)], 2);
    // --repair alone runs no recovery and frees nothing: the leak stays.
    let text = run_code(&["check", "--repair", s(&path)], 1);
    assert!(text.contains("nothing to repair"), "{text}");
    let v = run_json(&["check", "--repair", "--leaks", "--json", s(&path)], 0);
    assert_eq!(v["leaks_freed"]["blocks"], 1);
    assert_eq!(v["leaks_freed"]["bytes"], 128);
    assert_eq!(v["after"]["clean"], true);
    let root = crndm_tests::retry_locked(|| P::open::<crndm::PCell<u64, P>>(&path, 0)).unwrap();
    assert_eq!(root.get(), 7, "the data is intact");
}
