//! A small file system mounted for one test (tmpfs or an ext4 loop image; root only),
//! for the out-of-space tests of the library and of `crndm-pool`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A file system mounted for one test; unmounted (and its image removed) on drop.
#[derive(Debug)]
pub struct Mount {
    mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mount {
    /// A tmpfs of `size` (mount's syntax, e.g. "4m"), or `None` with a printed reason.
    pub fn tmpfs(size: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let opt = format!("size={size}");
        Mount::run(&["mount", "-t", "tmpfs", "-o", &opt, "tmpfs"], &mnt, dir)
    }

    /// An ext4 loop image of `size` bytes, or `None` with a printed reason.
    pub fn ext4(size: u64) -> Option<Mount> {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        std::fs::File::create(&img).unwrap().set_len(size).unwrap();
        let ok = Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&img)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIP: mkfs.ext4 is not available or failed");
            return None;
        }
        let img = img.to_str().unwrap().to_owned();
        Mount::run(&["mount", "-o", "loop", &img], &mnt, dir)
    }

    /// Runs `args` with the mount point `mnt` appended; the mount, or `None` with a
    /// printed reason.
    fn run(args: &[&str], mnt: &Path, dir: tempfile::TempDir) -> Option<Mount> {
        let out = Command::new(args[0]).args(&args[1..]).arg(mnt).output();
        match out {
            Ok(o) if o.status.success() => Some(Mount {
                mnt: mnt.to_path_buf(),
                _dir: dir,
            }),
            Ok(o) => {
                eprintln!(
                    "SKIP: {args:?} failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                None
            }
            Err(e) => {
                eprintln!("SKIP: cannot run {args:?}: {e}");
                None
            }
        }
    }

    /// The path of `name` in the mounted file system.
    pub fn path(&self, name: &str) -> PathBuf {
        self.mnt.join(name)
    }

    /// Fills the file system with a file of zeros until it is full.
    pub fn fill(&self) {
        let mut f = std::fs::File::create(self.path("filler")).unwrap();
        let chunk = vec![0u8; 64 << 10];
        loop {
            if f.write_all(&chunk).is_err() || f.sync_all().is_err() {
                break;
            }
        }
        // Smaller writes take the last blocks.
        while f.write_all(&[0u8; 512]).is_ok() && f.sync_all().is_ok() {}
        // An out-of-space test on a file system that is not full would prove nothing.
        let room = std::fs::File::create(self.path("probe"))
            .is_ok_and(|mut p| p.write_all(&[0u8; 4096]).is_ok() && p.sync_all().is_ok());
        let _ = std::fs::remove_file(self.path("probe"));
        assert!(!room, "fill left room on {}", self.mnt.display());
    }

    /// Removes the file [`fill`](Mount::fill) wrote.
    pub fn unfill(&self) {
        std::fs::remove_file(self.path("filler")).unwrap();
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
