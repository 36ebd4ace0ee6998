//! The UI tests: `pass/` programs must compile and run; `fail/<bug class>/` programs must
//! fail to compile with exactly the checked-in `.stderr`.

use std::path::{Path, PathBuf};

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*/*.rs");
}

/// The bug classes of DESIGN §8, one folder each under `fail/`, each with a `pass/<class>.rs`.
const CLASSES: [&str; 8] = [
    "inter_pool",
    "persistent_to_volatile",
    "volatile_to_persistent",
    "unlogged_update",
    "data_race",
    "locked_mutex",
    "leak",
    "marker_misuse",
];

/// Every class has at least two compile-fail cases and the compile-pass case showing the
/// legitimate way, and no folder of `fail/` is outside the list.
#[test]
fn every_class_has_its_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for class in CLASSES {
        let dir = root.join("fail").join(class);
        let cases = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "rs"))
            })
            .count();
        assert!(
            cases >= 2,
            "fail/{class}/ has {cases} compile-fail cases, fewer than 2"
        );
        let pass = root.join("pass").join(format!("{class}.rs"));
        assert!(pass.is_file(), "{} is missing", pass.display());
    }
    for entry in std::fs::read_dir(root.join("fail")).expect("read fail/") {
        let path = entry.expect("read a directory entry").path();
        if path.is_dir() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            assert!(
                CLASSES.contains(&name),
                "fail/{name}/ is not a bug class of CLASSES"
            );
        }
    }
}

/// Every `.stderr` under `root` (skipping `target`) with no `.rs` of the same stem beside it.
fn stale_stderr_files(root: &Path) -> Vec<PathBuf> {
    let mut stale = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a ui-tests directory") {
            let path = entry.expect("read a directory entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "stderr")
                && !path.with_extension("rs").is_file()
            {
                stale.push(path);
            }
        }
    }
    stale.sort();
    stale
}

/// A `.stderr` left behind by a renamed or deleted case would silently test nothing
/// (zerocopy's `ci/check_stale_stderr.sh`).
#[test]
fn no_stale_stderr() {
    let stale = stale_stderr_files(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        stale.is_empty(),
        ".stderr files without their .rs (delete them or restore the case): {stale:#?}"
    );
}

#[test]
fn stale_stderr_check_finds_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("fail").join("some_class");
    std::fs::create_dir_all(&class).unwrap();
    std::fs::write(class.join("kept.rs"), "").unwrap();
    std::fs::write(class.join("kept.stderr"), "").unwrap();
    std::fs::write(class.join("orphan.stderr"), "").unwrap();
    std::fs::write(dir.path().join("top.stderr"), "").unwrap();
    assert_eq!(
        stale_stderr_files(dir.path()),
        [
            dir.path().join("fail/some_class/orphan.stderr"),
            dir.path().join("top.stderr")
        ]
    );
}
