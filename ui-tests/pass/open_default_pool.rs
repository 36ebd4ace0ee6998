//! The smallest complete crndm program: open the default pool (creating it), look at it,
//! close it. Run by trybuild, so it cleans up after itself.

use crndm::default::*;

fn main() -> crndm::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let path = std::env::temp_dir().join(format!(
        "crndm-ui-open-default-{}-{nanos}.pool",
        std::process::id()
    ));

    let pool = BuddyAlloc::open_no_root(&path, O_CFNE)?;
    let mode: Mode = BuddyAlloc::mode()?;
    let stats = BuddyAlloc::stats()?;
    let result = (|| -> crndm::Result<()> {
        assert_eq!(BuddyAlloc::generation()?, 1);
        assert_eq!(stats.used + stats.free, stats.total);
        assert!(BuddyAlloc::check()?.is_empty());
        assert!(matches!(
            BuddyAlloc::open_no_root(&path, 0),
            Err(Error::AlreadyOpen)
        ));
        assert!(matches!(mode, Mode::Dax | Mode::Emulated | Mode::Msync));
        Ok(())
    })();
    drop(pool);
    std::fs::remove_file(&path).expect("remove the pool file");
    result
}
