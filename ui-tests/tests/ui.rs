//! The UI tests: `pass/` programs must compile and run (with crndm's marker traits either
//! way); the compile-fail cases of `fail/<bug class>/` must fail to compile with exactly the
//! checked-in message of the compiler at hand.
//!
//! A case's source lives once, in `fail/<class>/<case>.rs`; each toolchain's set is a tree
//! of symbolic links to the sources it runs, each beside the `.stderr` that toolchain gives:
//! `stable/<class>/` (crndm's default, `unsafe` marker traits and derives) and
//! `nightly/<class>/` (the `nightly` feature, auto traits). `build.rs` turns on the set whose
//! recorded compiler (`<set>/RUSTC`) is this one; the other set's test is ignored, with the
//! reason in the test output.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[test]
fn compile_pass() {
    trybuild::TestCases::new().pass("pass/*.rs");
}

#[test]
#[cfg_attr(
    not(crndm_ui_stable_set),
    ignore = "the stable/ set needs the compiler of ui-tests/stable/RUSTC and crndm without \
              its `nightly` feature (the build warning says which compiler this is)"
)]
fn compile_fail_stable() {
    trybuild::TestCases::new().compile_fail("stable/*/*.rs");
}

#[test]
#[cfg_attr(
    not(crndm_ui_nightly_set),
    ignore = "the nightly/ set needs `--features nightly` and the compiler of \
              ui-tests/nightly/RUSTC (the build warning says which compiler this is)"
)]
fn compile_fail_nightly() {
    trybuild::TestCases::new().compile_fail("nightly/*/*.rs");
}

/// The bug classes of DESIGN §8, one folder each under `fail/`, `stable/` and `nightly/`,
/// each with a `pass/<class>.rs`.
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

/// The toolchain sets: folders of links to `fail/` sources, each beside its `.stderr`.
const SETS: [&str; 2] = ["stable", "nightly"];

/// The regression cases of the soundness reviews (issues 6, 15 and 17: the hidden holes they
/// found, each closed): every one must be rejected on both toolchains, so each is in both
/// sets.
const HOLES: [&str; 26] = [
    "data_race/journal_shared_with_thread",
    "data_race/prc_in_struct_shared_between_threads",
    "data_race/prc_shared_between_scoped_threads",
    "inter_pool/journal_captured_by_other_pool_tx",
    "inter_pool/journal_of_wrong_pool",
    "inter_pool/pbox_carried_by_static",
    "inter_pool/pbox_moved_into_other_pool_tx",
    "inter_pool/pbox_returned_from_other_pool_tx",
    "leak/packed_struct_hides_a_pointer",
    "locked_mutex/guard_stashed_in_thread_local",
    "locked_mutex/pmutex_of_cell",
    "marker_misuse/assert_wrapping_journal",
    "marker_misuse/assert_wrapping_pbox",
    "marker_misuse/assert_wrapping_struct_with_prc",
    "marker_misuse/closure_root",
    "marker_misuse/root_cell_moved_into_transaction",
    "persistent_to_volatile/fn_pointer_13_args",
    "persistent_to_volatile/fn_pointer_32_args",
    "persistent_to_volatile/fn_pointer_sysv64",
    "persistent_to_volatile/pmutex_of_box",
    "persistent_to_volatile/root_cell_stored_in_pool",
    "unlogged_update/journal_kept_in_outer_variable",
    "unlogged_update/journal_returned_from_tx",
    "unlogged_update/journal_stashed_as_any",
    "unlogged_update/journal_stashed_in_thread_local",
    "volatile_to_persistent/prc_in_vcell_field",
];

/// The `<class>/<case>` names of the `.rs` files directly under `dir/<class>/`.
fn cases(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for class in CLASSES {
        let class_dir = dir.join(class);
        for entry in
            std::fs::read_dir(&class_dir).unwrap_or_else(|e| panic!("{}: {e}", class_dir.display()))
        {
            let path = entry.expect("read a directory entry").path();
            if path.extension().is_some_and(|x| x == "rs") {
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                found.insert(format!("{class}/{stem}"));
            }
        }
    }
    found
}

/// Every class has at least two compile-fail cases in each set and the compile-pass case
/// showing the legitimate way, and no folder of `fail/` or of a set is outside the list.
#[test]
fn every_class_has_its_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for set in SETS {
        let cases = cases(&root.join(set));
        for class in CLASSES {
            let n = cases
                .iter()
                .filter(|c| c.split_once('/').is_some_and(|(k, _)| k == class))
                .count();
            assert!(
                n >= 2,
                "{set}/{class}/ has {n} compile-fail cases, fewer than 2"
            );
        }
    }
    for class in CLASSES {
        let pass = root.join("pass").join(format!("{class}.rs"));
        assert!(pass.is_file(), "{} is missing", pass.display());
    }
    for dir in ["fail", "stable", "nightly"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("read a ui-tests folder") {
            let path = entry.expect("read a directory entry").path();
            if path.is_dir() {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                assert!(
                    CLASSES.contains(&name),
                    "{dir}/{name}/ is not a bug class of CLASSES"
                );
            }
        }
    }
}

/// Each `.rs` of a set is a symbolic link to the source of the same name in `fail/`, and
/// every source in `fail/` runs in at least one set: one source per case, never a copy.
#[test]
fn sets_link_the_shared_sources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = cases(&root.join("fail"));
    let mut used = BTreeSet::new();
    for set in SETS {
        for case in cases(&root.join(set)) {
            let link = root.join(set).join(format!("{case}.rs"));
            let target = std::fs::read_link(&link).unwrap_or_else(|e| {
                panic!(
                    "{set}/{case}.rs is not a link to fail/{case}.rs ({e}): make it one, \
                     `ln -s ../../fail/{case}.rs {set}/{case}.rs`"
                )
            });
            assert_eq!(
                target,
                Path::new("../../fail").join(format!("{case}.rs")),
                "{set}/{case}.rs links elsewhere"
            );
            assert!(
                sources.contains(&case),
                "{set}/{case}.rs links to a missing source"
            );
            used.insert(case);
        }
    }
    let unused: Vec<_> = sources.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "sources in fail/ that no set runs (link them from stable/ or nightly/): {unused:?}"
    );
}

/// The soundness review's regression cases hold on both toolchains.
#[test]
fn hidden_holes_are_checked_on_both_toolchains() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for set in SETS {
        let cases = cases(&root.join(set));
        let missing: Vec<_> = HOLES.iter().filter(|h| !cases.contains(**h)).collect();
        assert!(
            missing.is_empty(),
            "regression cases missing from {set}/: {missing:?}"
        );
    }
}

/// Files under `root` (skipping `target`) that break the pairing of a case and its
/// message: a `.stderr` with no `.rs` of the same stem beside it (or a dangling link), and,
/// inside a set, a `.rs` with no `.stderr`.
fn unpaired_files(root: &Path) -> Vec<PathBuf> {
    let mut unpaired = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let in_set = dir
            .strip_prefix(root)
            .ok()
            .and_then(|rel| rel.components().next())
            .is_some_and(|first| SETS.iter().any(|s| first.as_os_str() == *s));
        for entry in std::fs::read_dir(&dir).expect("read a ui-tests directory") {
            let path = entry.expect("read a directory entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "stderr") {
                if !path.with_extension("rs").is_file() {
                    unpaired.push(path);
                }
            } else if in_set
                && path.extension().is_some_and(|e| e == "rs")
                && !path.with_extension("stderr").is_file()
            {
                unpaired.push(path);
            }
        }
    }
    unpaired.sort();
    unpaired
}

/// A `.stderr` left behind by a renamed or deleted case would silently test nothing
/// (zerocopy's `ci/check_stale_stderr.sh`), and a linked case without its `.stderr` would
/// fail only on the toolchain that has not run it yet.
#[test]
fn every_case_has_its_message() {
    let unpaired = unpaired_files(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        unpaired.is_empty(),
        "a .stderr without its .rs, or a set's .rs without its .stderr (delete the \
         orphan, restore the case, or generate the message): {unpaired:#?}"
    );
}

#[test]
fn pairing_check_finds_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("fail").join("some_class");
    std::fs::create_dir_all(&class).unwrap();
    std::fs::write(class.join("kept.rs"), "").unwrap();
    std::fs::write(class.join("orphan.stderr"), "").unwrap();
    std::fs::write(dir.path().join("top.stderr"), "").unwrap();
    let set = dir.path().join("stable").join("some_class");
    std::fs::create_dir_all(&set).unwrap();
    std::os::unix::fs::symlink("../../fail/some_class/kept.rs", set.join("kept.rs")).unwrap();
    std::fs::write(set.join("kept.stderr"), "").unwrap();
    std::os::unix::fs::symlink("../../fail/some_class/gone.rs", set.join("gone.rs")).unwrap();
    std::fs::write(set.join("gone.stderr"), "").unwrap();
    std::os::unix::fs::symlink("../../fail/some_class/kept.rs", set.join("silent.rs")).unwrap();
    assert_eq!(
        unpaired_files(dir.path()),
        [
            dir.path().join("fail/some_class/orphan.stderr"),
            dir.path().join("stable/some_class/gone.stderr"),
            dir.path().join("stable/some_class/silent.rs"),
            dir.path().join("top.stderr"),
        ]
    );
}
