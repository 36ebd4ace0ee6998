//! The right way to share persistent data between threads (see `fail/data_race/`): a
//! `Parc` whose value is behind a `PMutex`, reached from each thread through a `sync::VWeak`
//! promoted in that thread's own transaction.

use crndm::default::*;

const THREADS: u64 = 4;
const ROUNDS: u64 = 50;

fn main() -> crndm::Result<()> {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let root = BuddyAlloc::open::<Parc<PMutex<u64>>>(dir.path().join("shared.pool"), O_CFNE)?;
    let weak = Parc::demote(&root);

    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let weak = weak.clone();
            s.spawn(move || {
                for _ in 0..ROUNDS {
                    BuddyAlloc::transaction(|j| {
                        let counter = weak.promote(j).expect("the root lives");
                        *counter.lock(j) += 1;
                    })
                    .expect("the transaction commits");
                }
            });
        }
    });
    assert_eq!(
        BuddyAlloc::transaction(|j| *root.lock(j))?,
        THREADS * ROUNDS
    );
    Ok(())
}
