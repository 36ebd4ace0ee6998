//! Opens (creating it if needed) the default pool and shows what it holds.
//!
//! `cargo run -p crndm --example demo [POOL_FILE]` — without an argument the pool is
//! `crndm-demo.pool` in the system temporary directory. Run it twice: the generation
//! grows, showing the same pool file was reopened.

use crndm::default::*;

fn main() -> Result<()> {
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(|| std::env::temp_dir().join("crndm-demo.pool"), Into::into);
    let pool = BuddyAlloc::open_no_root(&path, O_CFNE)?;
    let stats = BuddyAlloc::stats()?;
    println!("pool        {}", path.display());
    println!(
        "uuid        {}",
        crndm::admin::format_uuid(&BuddyAlloc::uuid()?)
    );
    println!("mode        {}", BuddyAlloc::mode()?);
    println!(
        "generation  {} (opened {} times)",
        BuddyAlloc::generation()?,
        BuddyAlloc::generation()?
    );
    println!(
        "heap        {} bytes, {} used, largest free block {}",
        stats.total, stats.used, stats.largest_free
    );
    let problems = BuddyAlloc::check()?;
    println!(
        "check       {}",
        if problems.is_empty() {
            "clean".to_string()
        } else {
            problems.join("; ")
        }
    );
    drop(pool);
    Ok(())
}
