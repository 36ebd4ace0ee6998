//! Out of space (issue 16, item 1): a pool file's blocks are reserved when it is made
//! and when a file with holes is opened, so a full filesystem is `Error::NoSpaceForPool`
//! at create or open, never a SIGBUS later. The tests mount a small tmpfs (CI runs as
//! root); where mounting is impossible they say so and pass.

#![allow(
    clippy::mem_forget,
    reason = "blocks kept allocated on purpose, to fill the pool"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crndm::{Error, MemPool, O_CF, O_CFNE, PCell, PoolOptions};

/// A tmpfs of `mib` MiB mounted on a fresh directory, unmounted on drop.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(mib: u32) -> Option<SmallFs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            println!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallFs { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem of `dir` with one file until it is full; returns its path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![1u8; 64 << 10];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
    path
}

mod create_too_big {
    use super::*;
    crndm::pool!(p);
    type P = p::BuddyAlloc;

    #[test]
    fn creating_a_pool_larger_than_the_free_space_is_an_error_and_leaves_no_file() {
        let Some(fs) = SmallFs::mount(4) else { return };
        let path = fs.path("big.pool");
        let r = PoolOptions::new()
            .size(64 << 20)
            .open::<P, PCell<u64, P>>(&path, O_CF);
        match r {
            Err(Error::NoSpaceForPool {
                requested,
                available,
                ..
            }) => {
                assert_eq!(requested, 64 << 20);
                assert!(available < 64 << 20, "{available}");
            }
            other => panic!("expected NoSpaceForPool, got {:?}", other.map(drop)),
        }
        assert!(!path.exists(), "no half-made file is left");
        // A pool that fits is made, and filling it is an error, not a signal.
        let root = PoolOptions::new()
            .size(2 << 20)
            .open::<P, PCell<Option<crndm::Pbox<[u8; 4096], P>>, P>>(&path, O_CF)
            .unwrap();
        let mut n = 0;
        loop {
            let r = P::transaction(|j| {
                let b = crndm::Pbox::try_new([7u8; 4096], j)?;
                std::mem::forget(b); // keep it allocated
                Ok::<_, Error>(())
            });
            match r {
                Ok(Ok(())) => n += 1,
                Ok(Err(Error::OutOfSpace { .. })) => break,
                other => panic!("unexpected {other:?}"),
            }
            assert!(n < 1000, "a 2 MiB pool cannot hold {n} blocks of 4 KiB");
        }
        assert!(n > 100, "{n}");
        drop(root);
    }
}

mod sparse_open {
    use super::*;
    crndm::pool!(p);
    type P = p::BuddyAlloc;

    /// A pool file with a hole (a sparse copy) on a full filesystem is refused at open
    /// (instead of a SIGBUS at the first write into the hole), and opens once there is
    /// room, with its data intact.
    #[test]
    fn a_pool_file_with_holes_on_a_full_filesystem_is_refused_then_filled() {
        let Some(fs) = SmallFs::mount(8) else { return };
        let made = fs.path("made.pool");
        {
            let root = PoolOptions::new()
                .size(4 << 20)
                .open::<P, PCell<u64, P>>(&made, O_CF)
                .unwrap();
            P::transaction(|j| root.set(99, j)).unwrap();
        }
        // A sparse copy: runs of zeros (the free heap) become holes.
        let path = fs.path("s.pool");
        let cp = Command::new("cp")
            .arg("--sparse=always")
            .arg(&made)
            .arg(&path)
            .status()
            .unwrap();
        assert!(cp.success());
        std::fs::remove_file(&made).unwrap();
        let blocks = std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&path).unwrap());
        assert!(
            blocks * 512 < 4 << 20,
            "the copy has holes ({blocks} blocks)"
        );
        let filler = fill(fs.dir.path());
        let r = P::open::<PCell<u64, P>>(&path, O_CFNE);
        assert!(
            matches!(r, Err(Error::NoSpaceForPool { .. })),
            "{:?}",
            r.map(drop)
        );
        std::fs::remove_file(filler).unwrap();
        let root = P::open::<PCell<u64, P>>(&path, O_CFNE).unwrap();
        assert_eq!(root.get(), 99);
        P::transaction(|j| root.set(100, j)).unwrap();
        assert!(P::check().unwrap().is_empty());
    }
}
