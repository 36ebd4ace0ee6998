//! A crash during the first format (issue 16, item 2): the process dies at every step of
//! `format`, and the next create-if-needed open makes a working pool instead of
//! refusing the half-made file. A file crndm never began to format stays refused.

use crndm::{Error, O_CFNE};
use crndm_tests::{CHILD_POOL_ENV, child_env, run_child};

crndm::pool!(p);
crndm::pool!(foreign);
use p::*;

/// The last crash point of `format` (`pool/raw.rs`, `format_crash_point`).
const STEPS: u32 = 7;

#[test]
#[ignore = "child process of format_crash"]
fn child_formats() {
    let Some(path) = child_env(CHILD_POOL_ENV) else {
        return;
    };
    // Dies at the step CRNDM_CRASH_IN_FORMAT names.
    let _ = BuddyAlloc::open::<PCell<u64>>(&path, O_CFNE);
}

#[test]
fn a_crash_at_every_step_of_format_leaves_a_file_that_o_cfne_formats() {
    let dir = tempfile::tempdir().unwrap();
    for step in 1..=STEPS {
        let path = dir.path().join(format!("s{step}.pool"));
        let step_s = step.to_string();
        let out = run_child(
            "format_crash::child_formats",
            &[
                (CHILD_POOL_ENV, path.to_str().unwrap()),
                ("CRNDM_CRASH_IN_FORMAT", &step_s),
            ],
        );
        assert!(
            !out.status.success(),
            "step {step}: the child died in format"
        );
        assert!(path.exists(), "step {step}: the file was made");
        let root = crndm_tests::retry_locked(|| BuddyAlloc::open::<PCell<u64>>(&path, O_CFNE))
            .unwrap_or_else(|e| panic!("step {step}: {e}"));
        BuddyAlloc::transaction(|j| root.set(u64::from(step), j)).unwrap();
        assert!(BuddyAlloc::check().unwrap().is_empty(), "step {step}");
        drop(root);
        let root =
            crndm_tests::retry_locked(|| BuddyAlloc::open::<PCell<u64>>(&path, O_CFNE)).unwrap();
        assert_eq!(root.get(), u64::from(step));
    }
}

/// A non-empty file without a header that crndm did not begin to format (zeros, text)
/// is still refused, never overwritten.
#[test]
fn a_foreign_file_is_not_taken_for_an_interrupted_format() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("zeros", vec![0u8; 1 << 20]),
        ("text", b"crndm:formattinX and more".to_vec()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let r = crndm_tests::retry_locked(|| {
            foreign::BuddyAlloc::open::<foreign::PCell<u64>>(&path, O_CFNE)
        });
        assert!(
            matches!(
                r,
                Err(Error::NotAPool { .. }) | Err(Error::CorruptHeader { .. })
            ),
            "{name}: {:?}",
            r.map(drop)
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} unchanged");
    }
}
