//! Out of space (issue 16, item 1): a pool file is fully reserved when it is created, so
//! creating one larger than the free space is `Error::NoSpaceForPool` (no file left, an existing
//! file untouched), filling a pool ends in `Error::OutOfSpace`, opening a pool on a full
//! file system works, and a sparse copy has its holes filled or is refused — never SIGBUS.
//!
//! The tests mount their own small tmpfs or ext4 loop image (root only) and skip with a
//! printed reason where mounting is impossible.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use crndm::default::*;
use crndm::{Error, MemPool, Pbox};
use crndm_tests::*;

fn expect_no_space(r: Result<impl Sized, Error>, path: &Path, requested: u64) {
    match r {
        Err(Error::NoSpaceForPool {
            path: p,
            requested: req,
            available,
        }) => {
            assert_eq!(p, path);
            assert_eq!(req, requested);
            assert!(available < requested, "{available} >= {requested}");
        }
        Err(e) => panic!("expected NoSpace, got {e}"),
        Ok(_) => panic!("expected NoSpace, the pool was created"),
    }
}

#[test]
fn creating_a_pool_larger_than_the_free_space_is_an_error_and_leaves_no_file() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let mounts = [Mount::tmpfs("4m"), Mount::ext4(32 << 20)];
    for m in mounts.iter().flatten() {
        let path = m.path("big.pool");
        let r = PoolOptions::new()
            .size(64 << 20)
            .open_unlocked::<P>(&path, O_CF);
        expect_no_space(r, &path, 64 << 20);
        assert!(!path.exists(), "a refused create left {}", path.display());
        expect_no_space(admin::create(&path, 64 << 20), &path, 64 << 20);
        assert!(!path.exists());
        // An existing pool being re-created too large stays exactly as it was.
        let small = m.path("small.pool");
        drop(
            PoolOptions::new()
                .size(1 << 20)
                .open_unlocked::<P>(&small, O_CF)
                .unwrap(),
        );
        let before = contents(&small);
        let r = PoolOptions::new()
            .size(64 << 20)
            .open_unlocked::<P>(&small, O_CF);
        expect_no_space(r, &small, 64 << 20);
        assert!(contents(&small) == before, "the existing pool was changed");
        drop(P::open_unlocked(&small, 0).unwrap());
    }
}

/// Allocates 64 KiB boxes (writing every byte) until the allocator refuses.
fn fill_pool<P: MemPool>() -> usize {
    let mut n = 0;
    loop {
        let r = P::transaction(|j| {
            let b = Pbox::try_new([0x5au8; 64 << 10], j)?;
            #[expect(
                clippy::mem_forget,
                reason = "the block stays used in the pool: filling it is the point"
            )]
            std::mem::forget(b);
            Ok::<(), Error>(())
        })
        .unwrap();
        match r {
            Ok(()) => n += 1,
            Err(Error::OutOfSpace { .. }) => return n,
            Err(e) => panic!("after {n} allocations: {e}"),
        }
    }
}

#[test]
fn a_pool_that_fits_fills_up_to_out_of_space_without_sigbus() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let Some(m) = Mount::ext4(32 << 20) else {
        return;
    };
    let path = m.path("fits.pool");
    let g = PoolOptions::new()
        .size(16 << 20)
        .open_unlocked::<P>(&path, O_CF)
        .unwrap();
    // Nothing is left on the file system for pages the pool has not touched yet.
    m.fill();
    let n = fill_pool::<P>();
    assert!(n >= 100, "only {n} allocations of 64 KiB in a 16 MiB pool");
    drop(g);
    drop(P::open_unlocked(&path, 0).unwrap());
}

#[test]
fn opening_a_pool_on_a_full_file_system_works() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    for m in [Mount::tmpfs("16m"), Mount::ext4(32 << 20)]
        .iter()
        .flatten()
    {
        let path = m.path("full.pool");
        drop(
            PoolOptions::new()
                .size(8 << 20)
                .open_unlocked::<P>(&path, O_CF)
                .unwrap(),
        );
        m.fill();
        let g = P::open_unlocked(&path, 0).unwrap();
        assert!(fill_pool::<P>() >= 50);
        drop(g);
        m.unfill();
    }
}

/// Copies `from` to `to` leaving every all-zero 4 KiB block a hole.
fn sparse_copy(from: &Path, to: &Path) {
    let data = contents(from);
    let f = std::fs::File::create(to).unwrap();
    f.set_len(data.len() as u64).unwrap();
    for (i, block) in data.chunks(4096).enumerate() {
        if block.iter().any(|&b| b != 0) {
            f.write_all_at(block, i as u64 * 4096).unwrap();
        }
    }
    f.sync_all().unwrap();
}

fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn a_sparse_copy_of_a_pool_is_filled_or_refused() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let Some(m) = Mount::ext4(32 << 20) else {
        return;
    };
    let size = 8 << 20;
    let orig = m.path("orig.pool");
    drop(
        PoolOptions::new()
            .size(size)
            .open_unlocked::<P>(&orig, O_CF)
            .unwrap(),
    );
    let copy = m.path("copy.pool");
    sparse_copy(&orig, &copy);
    std::fs::remove_file(&orig).unwrap();
    assert!(allocated(&copy) < size, "the copy is not sparse");
    // On a full file system the holes cannot be filled: a clear error, file unchanged.
    m.fill();
    let before = contents(&copy);
    expect_no_space(P::open_unlocked(&copy, 0), &copy, size);
    assert!(contents(&copy) == before);
    // With room, the open fills the holes and the pool works to its end.
    m.unfill();
    let g = P::open_unlocked(&copy, 0).unwrap();
    assert!(allocated(&copy) >= size, "the holes were not filled");
    m.fill();
    assert!(fill_pool::<P>() >= 50);
    drop(g);
}
