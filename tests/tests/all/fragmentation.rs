//! `AllocStats::fragmentation`: the share of free bytes outside the largest free block,
//! as a heap of small objects with holes in it drives it up and freeing them brings it
//! back.

use crndm::AllocStats;
use crndm_tests::*;

fn assert_consistent(s: &AllocStats) {
    let expected = 1.0 - s.largest_free as f64 / s.free as f64;
    assert!((s.fragmentation() - expected).abs() < 1e-12, "{s:?}");
    assert!((0.0..1.0).contains(&s.fragmentation()), "{s:?}");
}

#[test]
fn holes_between_live_objects_raise_fragmentation_and_freeing_them_lowers_it() {
    crndm::pool!(p);
    use p::*;
    type P = BuddyAlloc;
    #[derive(Root)]
    struct Root {
        boxes: PRefCell<PVec<Option<Pbox<[u64; 8]>>>>,
    }
    let dir = shm_dir();
    let path = dir.path().join("frag.pool");
    let root = retry_locked(|| {
        // 16 KiB journals leave a heap of 768 KiB, whose fresh fragmentation is low.
        PoolOptions::new()
            .size(1 << 20)
            .journals(16, 16 << 10)
            .open::<P, Root>(&path, O_CF)
    })
    .unwrap();
    let fresh = P::stats().unwrap();
    assert_consistent(&fresh);

    // Fill most of the heap with 64-byte objects, then free every other one: the holes
    // cannot merge with their live buddies.
    P::transaction(|j| {
        let mut v = root.boxes.borrow_mut(j);
        while P::stats().unwrap().free > (256 << 10) {
            v.push(Some(Pbox::new([7; 8], j)), j);
        }
    })
    .unwrap();
    P::transaction(|j| {
        let mut v = root.boxes.borrow_mut(j);
        for i in (0..v.len()).step_by(2) {
            *v.get_mut(i, j).unwrap() = None;
        }
    })
    .unwrap();
    let holed = P::stats().unwrap();
    assert_consistent(&holed);
    assert!(
        holed.fragmentation() > fresh.fragmentation() + 0.2,
        "{fresh:?}\n{holed:?}"
    );
    // Free everything, the vector's buffer too: buddies merge again (blocks the lanes keep
    // cached stay split) and the figure falls.
    P::transaction(|j| *root.boxes.borrow_mut(j) = PVec::new()).unwrap();
    let after = P::stats().unwrap();
    assert_consistent(&after);
    assert_eq!(after.used, fresh.used);
    assert!(after.fragmentation() < holed.fragmentation(), "{after:?}");
}
