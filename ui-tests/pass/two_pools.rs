//! Two pool modules declared with `crndm::pool!` are two independent pool types: each
//! holds its own file open at the same time, and neither sees the other's pool.

crndm::pool!(accounts);
crndm::pool!(pub(crate) logs, LogPool);

use crndm::{Error, MemPool, O_CFNE};

fn main() -> crndm::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir =
        std::env::temp_dir().join(format!("crndm-ui-two-pools-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir).expect("create a private directory");

    let result = (|| -> crndm::Result<()> {
        let a = accounts::BuddyAlloc::open_no_root(dir.join("accounts.pool"), O_CFNE)?;
        let b = logs::LogPool::open_no_root(dir.join("logs.pool"), O_CFNE)?;
        assert_ne!(accounts::BuddyAlloc::uuid()?, logs::LogPool::uuid()?);

        // Each pool type maps at most one file at a time.
        assert!(matches!(
            accounts::BuddyAlloc::open_no_root(dir.join("other.pool"), O_CFNE),
            Err(Error::AlreadyOpen)
        ));
        drop(a);
        assert!(matches!(accounts::BuddyAlloc::stats(), Err(Error::NotOpen)));
        assert!(logs::LogPool::stats().is_ok());
        drop(b);
        Ok(())
    })();
    std::fs::remove_dir_all(&dir).expect("remove the private directory");
    result
}
