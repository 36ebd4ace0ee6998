//! `crndm-pool create` on a file system too small for the pool (issue 16, item 1): the
//! error names the sizes, the exit status is 1, and no file is left (an existing file
//! is left as it was). Mounts its own small tmpfs / ext4 loop image (root only) and
//! skips with a printed reason where mounting is impossible.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A file system mounted for one test; unmounted on drop.
struct Mount {
    mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mount {
    fn new(kind: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let mut cmd = Command::new("mount");
        if kind == "tmpfs" {
            cmd.args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"]);
        } else {
            let img = dir.path().join("img");
            std::fs::File::create(&img)
                .unwrap()
                .set_len(32 << 20)
                .unwrap();
            let ok = Command::new("mkfs.ext4")
                .args(["-q", "-F"])
                .arg(&img)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("SKIP: mkfs.ext4 is not available or failed");
                return None;
            }
            cmd.args(["-o", "loop"]).arg(&img);
        }
        match cmd.arg(&mnt).output() {
            Ok(o) if o.status.success() => Some(Mount { mnt, _dir: dir }),
            Ok(o) => {
                eprintln!("SKIP: mount {kind}: {}", String::from_utf8_lossy(&o.stderr));
                None
            }
            Err(e) => {
                eprintln!("SKIP: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
    }
}

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
    for m in [Mount::new("tmpfs"), Mount::new("ext4")].iter().flatten() {
        let path = m.mnt.join("big.pool");
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
        let small = m.mnt.join("small.pool");
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
