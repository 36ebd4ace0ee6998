//! `crndm-pool create` on a file system too small for the pool (issue 16, item 1): the
//! error names the sizes, the exit status is 1, and no file is left (an existing file
//! is left as it was). Mounts its own small tmpfs / ext4 loop image (root only) and
//! skips with a printed reason where mounting is impossible.

use std::path::Path;
use std::process::Command;

use crndm_tests::Mount;

fn create(path: &Path, size: &str, force: bool) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crndm-pool"));
    cmd.arg("create").arg(path).args(["-s", size]);
    if force {
        cmd.arg("--force");
    }
    cmd.output().unwrap()
}

#[test]
fn create_larger_than_the_file_system_fails_cleanly() {
    for m in [Mount::tmpfs("4m"), Mount::ext4(32 << 20)].iter().flatten() {
        let path = m.path("big.pool");
        let out = create(&path, "64M", false);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "stderr: {err}");
        assert!(out.status.signal_free(), "{:?}", out.status);
        assert!(
            err.contains("no space") && err.contains("67108864"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!path.exists(), "a failed create left {}", path.display());

        // An existing pool, re-created too large with --force, is left as it was.
        let small = m.path("small.pool");
        assert!(create(&small, "1M", false).status.success());
        let before = std::fs::read(&small).unwrap();
        let out = create(&small, "64M", true);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            std::fs::read(&small).unwrap() == before,
            "the existing pool changed"
        );
    }
}

trait SignalFree {
    fn signal_free(&self) -> bool;
}

impl SignalFree for std::process::ExitStatus {
    fn signal_free(&self) -> bool {
        use std::os::unix::process::ExitStatusExt;
        self.signal().is_none()
    }
}
