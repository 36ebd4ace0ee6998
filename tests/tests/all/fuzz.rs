//! Random damage to a valid pool file: whatever the bytes, `open`, `admin::info` and
//! `admin::check` return (`Ok` or a specific `Err`) and never panic, and their verdicts
//! agree with each other.
//!
//! Writes go mostly to the header (including aligned, field-sized writes of interesting
//! values, with the checksum recomputed half of the time so that the checks behind it
//! are reached) and to the allocator map (including well-formed head bytes), and
//! sometimes anywhere, or change the file's length.

use std::mem::discriminant;
use std::path::Path;

use crndm::MemPool;
use crndm::default::*;
use crndm_tests::*;
use proptest::prelude::*;

/// The template pool: small, so that random offsets hit its metadata often.
const SIZE: u64 = 64 << 10;

/// One write to the file.
#[derive(Clone, Debug)]
enum Damage {
    /// Bytes at an offset in the 256-byte header.
    Header { at: u64, bytes: Vec<u8> },
    /// A little-endian `u64` at an 8-aligned header offset (`slot * 8`).
    Field { slot: u64, val: u64 },
    /// A `u32` at a 4-aligned header offset (`slot * 4`) among the `u32` fields.
    Field32 { slot: u64, val: u32 },
    /// One byte of the allocator map (`unit` taken modulo the unit count).
    MapByte { unit: u64, val: u8 },
    /// Bytes anywhere in the map region.
    Map { at: u64, bytes: Vec<u8> },
    /// One of the map's block heads (`which` taken modulo their number) replaced.
    MapHead { which: usize, val: u8 },
    /// Bytes anywhere in the file.
    Anywhere { at: u64, bytes: Vec<u8> },
}

#[derive(Clone, Debug)]
struct Case {
    damage: Vec<Damage>,
    rechecksum: bool,
    new_len: Option<u64>,
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(64),
        Just(4096),
        Just(SIZE),
        Just(SIZE - 4096),
        Just(SIZE + 4096),
        Just(u64::MAX),
        Just(u64::MAX - 4095),
        Just(1 << 63),
        0..2 * SIZE,
        any::<u64>(),
    ]
}

fn interesting_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(2),
        Just(6),
        Just(1024),
        Just(1025),
        Just(4096),
        any::<u32>(),
    ]
}

fn damage() -> impl Strategy<Value = Damage> {
    use crndm_tests::damage::some_bytes;
    // Block orders of a 64 KiB pool: below 12.
    let map_byte = || damage::map_byte(12);
    prop_oneof![
        3 => (0..256u64, some_bytes()).prop_map(|(at, bytes)| Damage::Header { at, bytes }),
        4 => (0..32u64, interesting_u64()).prop_map(|(slot, val)| Damage::Field { slot, val }),
        2 => (2..14u64, interesting_u32()).prop_map(|(slot, val)| Damage::Field32 { slot, val }),
        4 => (any::<u64>(), map_byte()).prop_map(|(unit, val)| Damage::MapByte { unit, val }),
        2 => (any::<u64>(), some_bytes()).prop_map(|(at, bytes)| Damage::Map { at, bytes }),
        3 => (any::<usize>(), map_byte()).prop_map(|(which, val)| Damage::MapHead { which, val }),
        1 => (any::<u64>(), some_bytes()).prop_map(|(at, bytes)| Damage::Anywhere { at, bytes }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(damage(), 1..6),
        any::<bool>(),
        damage::new_len(SIZE),
    )
        .prop_map(|(damage, rechecksum, new_len)| Case {
            damage,
            rechecksum,
            new_len,
        })
}

/// Where the template's allocator map is, and its block heads (units).
#[derive(Clone, Debug)]
struct MapAt {
    off: u64,
    len: u64,
    units: u64,
    heads: Vec<u64>,
}

/// Applies `case` to the file at `path` (a copy of the template).
fn apply(path: &Path, case: &Case, map: &MapAt) {
    for d in &case.damage {
        match d {
            Damage::Header { at, bytes } => patch_bytes(path, *at, bytes),
            Damage::Field { slot, val } => patch_u64(path, slot * 8, *val),
            Damage::Field32 { slot, val } => patch_u32(path, slot * 4, *val),
            Damage::MapByte { unit, val } => patch_bytes(path, map.off + unit % map.units, &[*val]),
            Damage::Map { at, bytes } => patch_bytes(path, map.off + at % map.len, bytes),
            Damage::MapHead { which, val } => {
                let unit = map.heads[which % map.heads.len()];
                patch_bytes(path, map.off + unit, &[*val]);
            }
            Damage::Anywhere { at, bytes } => patch_bytes(path, at % SIZE, bytes),
        }
    }
    damage::finish(path, case.rechecksum, case.new_len);
}

fn fail(what: &str, e: impl std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{what}: {e:?}"))
}

/// Runs one damaged file through `info`, `check` and `open` and checks that they agree.
fn examine<P: MemPool>(path: &Path) -> Result<(), TestCaseError> {
    let before = contents(path);
    let info = admin::info(path);
    let check = admin::check(path);
    prop_assert!(contents(path) == before, "info/check changed the file");
    match (&info, &check) {
        (Ok(i), Ok(c)) => prop_assert_eq!(&i.problems, c),
        (Err(a), Err(b)) => prop_assert_eq!(discriminant(a), discriminant(b)),
        _ => prop_assert!(false, "info ok: {}, but check {:?}", info.is_ok(), check),
    }
    let stored_generation = before
        .get(192..200)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    match P::open_unlocked(path, 0) {
        Ok(guard) => {
            let info = info.map_err(|e| fail("open ok, but info", e))?;
            let problems = P::check().map_err(|e| fail("check", e))?;
            // The open repaired whatever residue info listed: the map is canonical.
            prop_assert!(problems.is_empty(), "after open: {:?}", problems);
            let s = P::stats().map_err(|e| fail("stats", e))?;
            prop_assert_eq!(s.used + s.free, s.total);
            prop_assert_eq!(s.total, info.stats.total);
            prop_assert!(s.largest_free <= s.free);
            prop_assert_eq!(P::uuid().ok(), Some(info.uuid));
            prop_assert_eq!(
                P::generation().ok(),
                stored_generation.map(|g| g.wrapping_add(1))
            );
            drop(guard);
            let after = admin::check(path);
            prop_assert!(
                matches!(&after, Ok(p) if p.is_empty()),
                "after close: {:?}",
                after
            );
        }
        Err(e) => {
            prop_assert!(!P::is_open());
            match info {
                // A header info cannot trust is refused by open for the same reason.
                Err(ie) => prop_assert_eq!(
                    discriminant(&e),
                    discriminant(&ie),
                    "open {:?}, info {:?}",
                    e,
                    ie
                ),
                // A header info trusts, so the allocator map must be the reason, and
                // info must have listed a problem with it.
                Ok(i) => {
                    prop_assert!(matches!(e, Error::CorruptAllocator { .. }), "open {:?}", e);
                    prop_assert!(!i.problems.is_empty(), "info saw no problem, open {:?}", e);
                }
            }
            prop_assert!(contents(path) == before, "a refused open changed the file");
        }
    }
    Ok(())
}

/// Makes the small template pool in `dir`.
fn template<P: MemPool>(dir: &Path) -> (std::path::PathBuf, MapAt) {
    let path = dir.join("template.pool");
    drop(
        PoolOptions::new()
            .size(SIZE)
            .journals(1, 4096)
            .open_unlocked::<P>(&path, O_CF)
            .unwrap(),
    );
    let (off, len) = read_region(&path, 2);
    let units = read_u64(&path, hdr::HEAP_UNITS);
    assert!(units >= 64 && len >= units);
    let heads = damage::map_heads(&path, off, units);
    (
        path,
        MapAt {
            off,
            len,
            units,
            heads,
        },
    )
}

#[test]
fn random_damage_never_panics_and_verdicts_agree() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let (template, map) = template::<P>(dir.path());
    let path = dir.path().join("case.pool");
    run_cases(256, case(), |case| {
        std::fs::copy(&template, &path).unwrap();
        apply(&path, &case, &map);
        examine::<P>(&path)
    });
}

#[test]
fn every_header_byte_set_to_extreme_values_is_handled() {
    // Exhaustive over one byte at a time: each of the 256 header bytes set to a few
    // values, with and without the checksum recomputed.
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let (template, _) = template::<P>(dir.path());
    let original = contents(&template);
    let path = dir.path().join("case.pool");
    for at in 0..256u64 {
        for val in [0x00u8, 0x01, 0x80, 0xff] {
            if original[at as usize] == val {
                continue;
            }
            for resum in [false, true] {
                std::fs::write(&path, &original).unwrap();
                patch_bytes(&path, at, &[val]);
                if resum {
                    rechecksum(&path);
                }
                if let Err(e) = examine::<P>(&path) {
                    panic!("byte {at} = {val:#x}, rechecksum {resum}: {e}");
                }
            }
        }
    }
}
