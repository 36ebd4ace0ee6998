//! Runs the built `crndm-pool` binary against pool files in temporary directories.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Output};

use crndm::admin::format_uuid;
use crndm::default::*;
use serde_json::Value;

fn crndm_pool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crndm-pool"))
        .args(args)
        .output()
        .expect("run crndm-pool")
}

fn run_ok(args: &[&str]) -> String {
    let out = crndm_pool(args);
    assert!(
        out.status.success(),
        "crndm-pool {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs a command that must fail with `code`; returns its stderr.
fn run_err(args: &[&str], code: i32) -> String {
    let out = crndm_pool(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "crndm-pool {args:?}: stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "a failure prints nothing on stdout");
    let err = String::from_utf8(out.stderr).expect("utf-8 stderr");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn create_then_info_shows_size_uuid_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.pool");
    let created = run_ok(&["create", s(&path), "--size", "16M"]);
    let info = crndm::admin::info(&path).unwrap();
    let uuid = format_uuid(&info.uuid);
    assert_eq!(info.size, 16 << 20);
    assert!(created.contains("16 MiB"), "{created}");
    assert!(created.contains(&uuid), "{created}");

    let text = run_ok(&["info", s(&path)]);
    for line in [
        format!("pool          {}", path.display()),
        format!("format        version {}", info.version),
        format!("uuid          {uuid}"),
        format!("mode          {} (", info.mode),
        format!("flush instr   {}", info.flush_instr.name()),
        "size          16 MiB (16777216 bytes)".to_string(),
        "generation    1 (times opened)".to_string(),
        "journals      16 × 32 KiB".to_string(),
        "root          none".to_string(),
        "problems      none".to_string(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in\n{text}");
    }
    for region in ["header", "journals", "alloc-map", "heap"] {
        assert!(
            text.contains(&format!("\n  {region} ")),
            "no region {region} in\n{text}"
        );
    }
    assert!(
        text.contains("largest     8 MiB (largest free block)"),
        "{text}"
    );
    assert!(
        text.contains("% (of free bytes outside the largest free block)"),
        "{text}"
    );
    assert!(
        text.contains("  8 MiB                0          1   "),
        "{text}"
    );
}

#[test]
fn default_size_is_the_library_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.pool");
    run_ok(&["create", s(&path)]);
    assert_eq!(
        crndm::admin::info(&path).unwrap().size,
        PoolOptions::DEFAULT_SIZE
    );
}

#[test]
fn json_has_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.pool");
    run_ok(&["create", s(&path), "--size", "4M"]);
    let info = crndm::admin::info(&path).unwrap();
    let v: Value = serde_json::from_str(&run_ok(&["info", "--json", s(&path)])).unwrap();

    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = [
        "path",
        "version",
        "uuid",
        "mode",
        "flush_instr",
        "size",
        "generation",
        "journals",
        "regions",
        "heap",
        "root",
        "problems",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);

    assert_eq!(v["path"], s(&path));
    assert_eq!(v["version"], info.version);
    assert_eq!(v["uuid"], format_uuid(&info.uuid));
    assert_eq!(v["mode"], info.mode.name());
    assert_eq!(v["flush_instr"], info.flush_instr.name());
    assert_eq!(v["size"], 4 << 20);
    assert_eq!(v["generation"], 1);
    assert_eq!(v["journals"]["count"], 16);
    assert_eq!(v["journals"]["size"], 32 << 10);

    // The regions tile the file in order.
    let regions = v["regions"].as_array().unwrap();
    let names: Vec<&str> = regions
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["header", "journals", "alloc-map", "heap"]);
    let mut end = 0;
    for r in regions {
        assert_eq!(r["off"].as_u64().unwrap(), end, "{r}");
        end += r["len"].as_u64().unwrap();
    }
    assert_eq!(end, 4 << 20);

    let heap = &v["heap"];
    let total = heap["total"].as_u64().unwrap();
    assert_eq!(total, regions[3]["len"].as_u64().unwrap());
    assert_eq!(heap["used"], 0);
    assert_eq!(heap["free"].as_u64().unwrap(), total);
    assert_eq!(heap["largest_free"], 2 << 20);
    let fragmentation = heap["fragmentation"].as_f64().unwrap();
    let expected = 1.0 - (2 << 20) as f64 / total as f64;
    assert!((fragmentation - expected).abs() < 1e-9, "{fragmentation}");
    let classes = heap["classes"].as_array().unwrap();
    let free_bytes: u64 = classes
        .iter()
        .map(|c| c["block_size"].as_u64().unwrap() * c["free_blocks"].as_u64().unwrap())
        .sum();
    assert_eq!(free_bytes, total);
    assert!(
        classes
            .iter()
            .all(|c| c["free_blocks"].as_u64().unwrap() + c["used_blocks"].as_u64().unwrap() > 0)
    );

    assert_eq!(v["root"]["off"], 0);
    assert_eq!(v["root"]["hash"], "0x0000000000000000");
    assert_eq!(v["problems"], Value::Array(vec![]));
}

#[test]
fn info_sees_what_a_program_did() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("used.pool");
    run_ok(&["create", s(&path), "--size", "4M"]);
    let guard = BuddyAlloc::open_no_root(&path, 0).unwrap();
    for _ in 0..3 {
        crndm::internals::alloc::<BuddyAlloc>(4096).unwrap();
    }
    // While the program holds the pool, info is refused, not racing with it.
    let err = run_err(&["info", s(&path)], 1);
    assert!(
        err.starts_with("crndm-pool: ") && err.contains("locked"),
        "{err}"
    );
    drop(guard);

    let v: Value = serde_json::from_str(&run_ok(&["info", "--json", s(&path)])).unwrap();
    assert_eq!(v["generation"], 2);
    assert_eq!(v["heap"]["used"], 3 * 4096);
    let four_k = v["heap"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["block_size"] == 4096)
        .expect("a 4 KiB class");
    assert_eq!(four_k["used_blocks"], 3);

    let text = run_ok(&["info", s(&path)]);
    assert!(text.contains("generation    2 (times opened)"), "{text}");
    assert!(text.contains("used        12 KiB ("), "{text}");
    assert!(text.contains("  4 KiB                3"), "{text}");
}

#[test]
fn info_on_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.pool");
    let err = run_err(&["info", s(&path)], 1);
    assert_eq!(
        err,
        format!("crndm-pool: {}: no such file\n", path.display())
    );
}

#[test]
fn info_on_a_foreign_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "these are not the bytes you are looking for\n".repeat(200),
    )
    .unwrap();
    let err = run_err(&["info", s(&path)], 1);
    assert!(
        err.starts_with(&format!("crndm-pool: {}: not a crndm pool", path.display())),
        "{err}"
    );
}

#[test]
fn info_on_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pool");
    std::fs::File::create(&path).unwrap();
    let err = run_err(&["info", s(&path)], 1);
    assert_eq!(
        err,
        format!(
            "crndm-pool: {}: the file is empty, not a pool (make one with `crndm-pool create`)\n",
            path.display()
        )
    );
}

#[test]
fn info_on_damaged_pools_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.pool");
    run_ok(&["create", s(&path), "--size", "1M"]);
    let good = std::fs::read(&path).unwrap();

    // Cut short.
    std::fs::write(&path, &good[..8192]).unwrap();
    let err = run_err(&["info", s(&path)], 1);
    assert!(
        err.starts_with(&format!("crndm-pool: {}: ", path.display())),
        "{err}"
    );

    // Any single corrupted header byte is refused with a message (or, for a byte no
    // check covers, shown), never a crash.
    for off in (0..256).step_by(7) {
        let mut bad = good.clone();
        bad[off] ^= 0x5a;
        std::fs::write(&path, &bad).unwrap();
        let out = crndm_pool(&["info", s(&path)]);
        let err = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => assert!(err.is_empty(), "byte {off}: {err}"),
            Some(1) => assert!(err.starts_with("crndm-pool: "), "byte {off}: {err}"),
            other => panic!("byte {off}: exit {other:?}: {err}"),
        }
    }
}

#[test]
fn create_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep.pool");
    run_ok(&["create", s(&path), "--size", "1M"]);
    let before = crndm::admin::info(&path).unwrap().uuid;

    let err = run_err(&["create", s(&path), "--size", "1M"], 1);
    assert!(err.contains("already exists; pass --force"), "{err}");
    assert_eq!(crndm::admin::info(&path).unwrap().uuid, before);

    run_ok(&["create", s(&path), "--size", "2M", "--force"]);
    let after = crndm::admin::info(&path).unwrap();
    assert_ne!(after.uuid, before);
    assert_eq!(after.size, 2 << 20);
}

#[test]
fn create_with_a_refused_size_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.pool");
    let err = run_err(&["create", s(&path), "--size", "1000"], 1);
    assert!(err.contains("invalid pool size 1000"), "{err}");
    assert!(!path.exists());
}

#[test]
fn create_with_journals_makes_room_in_a_small_pool() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.pool");
    // The default journals (16 × 32 KiB) fill 512 KiB alone; the error says what to do.
    let err = run_err(&["create", s(&path), "--size", "512K"], 1);
    assert!(err.contains("crndm-pool create --journals"), "{err}");
    assert!(!path.exists());
    run_ok(&["create", s(&path), "--size", "512K", "--journals", "4x16K"]);
    let info = crndm::admin::info(&path).unwrap();
    assert_eq!(
        (info.size, info.journals, info.journal_size),
        (512 << 10, 4, 16 << 10)
    );
    let text = run_ok(&["info", s(&path)]);
    assert!(text.contains("journals      4 × 16 KiB"), "{text}");
    // A journal size the format refuses is a clear error, and leaves no file.
    let odd = dir.path().join("odd.pool");
    let err = run_err(&["create", s(&odd), "--journals", "4x5000"], 1);
    assert!(err.contains("multiple of 4096"), "{err}");
    assert!(!odd.exists());
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["info"],
        &["create", "x.pool", "--size", "12Q"],
        &["create", "x.pool", "--size", ""],
        &["create", "x.pool", "--journals", "16"],
        &["create", "x.pool", "--journals", "ax32K"],
        &["create", "x.pool", "--journals", "16x32Q"],
    ] {
        let err = run_err(args, 2);
        assert!(
            err.contains("Usage: crndm-pool") || err.contains("--help"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn help_for_every_subcommand() {
    let top = run_ok(&["--help"]);
    assert!(top.contains("create") && top.contains("info"), "{top}");
    let create = run_ok(&["create", "--help"]);
    assert!(
        create.contains("Usage: crndm-pool create [OPTIONS] <FILE>"),
        "{create}"
    );
    assert!(
        create.contains("--size <SIZE>") && create.contains("--force"),
        "{create}"
    );
    let info = run_ok(&["info", "--help"]);
    assert!(
        info.contains("Usage: crndm-pool info [OPTIONS] <FILE>"),
        "{info}"
    );
    assert!(info.contains("--json"), "{info}");
    let help = run_ok(&["help", "info"]);
    assert_eq!(help, info);
}

/// Runs `crndm-pool args`, killing it if it has not exited after a minute (a command that
/// blocks on a FIFO would otherwise hang the suite); returns its output, or `None` if it
/// had to be killed.
fn crndm_pool_bounded(args: &[&str]) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crndm-pool"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run crndm-pool");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().expect("kill");
            child.wait().expect("reap");
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Some(child.wait_with_output().expect("output"))
}

#[test]
fn special_files_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("a.fifo");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    // SAFETY: `mkfifo` reads the NUL-terminated path it is given.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let sub = dir.path().join("a.dir");
    std::fs::create_dir(&sub).unwrap();
    for (path, kind) in [
        (s(&fifo), "a FIFO"),
        ("/dev/null", "a character device"),
        (s(&sub), "a directory"),
    ] {
        let mut cmds: Vec<Vec<&str>> = vec![
            vec!["info", path],
            vec!["check", path],
            vec!["recover", path],
            vec!["dump", path, "--offset", "0"],
        ];
        if kind == "a FIFO" {
            cmds.push(vec!["create", path, "--force"]);
        }
        for args in cmds {
            let out = crndm_pool_bounded(&args).unwrap_or_else(|| panic!("{args:?} blocked"));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(
                err.contains("not a regular file") && err.contains(kind),
                "{args:?}: {err}"
            );
        }
    }
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "the FIFO is left as it was"
    );
}
