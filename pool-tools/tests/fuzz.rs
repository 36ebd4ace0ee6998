//! Random damage to a pool left by a crashed transaction (header bytes and fields,
//! allocator map bytes, journal bytes, the file's length): `crndm-pool check` always
//! exits 0 or 1 — never by a signal, never with a panic (101) — never changes the file,
//! and its `--json` output always parses.

mod common;

use std::path::Path;

use common::*;
use crndm_tests::{contents, damage, describe, hdr, patch_bytes, read_u64, run_cases, shm_dir};
use proptest::prelude::*;

/// The template's size: small, so that random offsets hit metadata often.
const SIZE: u64 = 1 << 20;

/// One write to the file.
#[derive(Clone, Debug)]
enum Damage {
    /// Bytes at an offset of the 256-byte header.
    Header { at: u64, bytes: Vec<u8> },
    /// A little-endian `u64` at header word `slot`.
    Field { slot: u64, val: u64 },
    /// One allocator map byte: of the first units (where the blocks in use are), or any.
    MapByte { unit: u64, near: bool, val: u8 },
    /// One of the map's block heads (`which` taken modulo their number) replaced.
    MapHead { which: usize, val: u8 },
    /// The crashed journal's reserved epoch bound (its first word).
    EpochBound { val: u64 },
    /// Bytes in the crashed transaction's log (the first KiB of its journal).
    Log { at: u64, bytes: Vec<u8> },
    /// A `u64` word of the crashed journal's first KiB (lane header, record headers).
    LogWord { word: u64, val: u64 },
    /// Bytes anywhere in the journals region.
    Journals { at: u64, bytes: Vec<u8> },
    /// Bytes anywhere in the file.
    Anywhere { at: u64, bytes: Vec<u8> },
}

#[derive(Clone, Debug)]
struct Case {
    damage: Vec<Damage>,
    rechecksum: bool,
    new_len: Option<u64>,
    json: bool,
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(64),
        Just(4096),
        Just(SIZE),
        Just(SIZE - 64),
        Just(u64::MAX),
        Just(1 << 63),
        0..2 * SIZE,
        (0..SIZE / 64).prop_map(|u| u * 64),
        any::<u64>(),
    ]
}

fn damage() -> impl Strategy<Value = Damage> {
    use crndm_tests::damage::some_bytes;
    // Block orders of a 1 MiB pool: below 16.
    let map_byte = || damage::map_byte(16);
    prop_oneof![
        2 => (0..256u64, some_bytes()).prop_map(|(at, bytes)| Damage::Header { at, bytes }),
        2 => (0..32u64, interesting_u64()).prop_map(|(slot, val)| Damage::Field { slot, val }),
        3 => (any::<u64>(), any::<bool>(), map_byte())
            .prop_map(|(unit, near, val)| Damage::MapByte { unit, near, val }),
        3 => (any::<usize>(), map_byte()).prop_map(|(which, val)| Damage::MapHead { which, val }),
        1 => interesting_u64().prop_map(|val| Damage::EpochBound { val }),
        3 => (0..1024u64, some_bytes()).prop_map(|(at, bytes)| Damage::Log { at, bytes }),
        3 => (0..128u64, interesting_u64()).prop_map(|(word, val)| Damage::LogWord { word, val }),
        1 => (any::<u64>(), some_bytes()).prop_map(|(at, bytes)| Damage::Journals { at, bytes }),
        1 => (any::<u64>(), some_bytes()).prop_map(|(at, bytes)| Damage::Anywhere { at, bytes }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(damage(), 1..5),
        any::<bool>(),
        damage::new_len(SIZE),
        any::<bool>(),
    )
        .prop_map(|(damage, rechecksum, new_len, json)| Case {
            damage,
            rechecksum,
            new_len,
            json,
        })
}

/// Where the template's regions are.
#[derive(Clone, Debug)]
struct Layout {
    journals: (u64, u64),
    /// The crashed transaction's journal.
    log: u64,
    map: u64,
    units: u64,
}

fn apply(path: &Path, case: &Case, l: &Layout, heads: &[u64]) {
    for d in &case.damage {
        match d {
            Damage::Header { at, bytes } => patch_bytes(path, *at, bytes),
            Damage::Field { slot, val } => patch_bytes(path, slot * 8, &val.to_le_bytes()),
            Damage::MapByte { unit, near, val } => {
                let u = if *near { unit % 256 } else { unit % l.units };
                patch_bytes(path, l.map + u, &[*val]);
            }
            Damage::MapHead { which, val } => {
                patch_bytes(path, l.map + heads[which % heads.len()], &[*val]);
            }
            Damage::EpochBound { val } => patch_bytes(path, l.log, &val.to_le_bytes()),
            Damage::Log { at, bytes } => patch_bytes(path, l.log + at, bytes),
            Damage::LogWord { word, val } => {
                patch_bytes(path, l.log + word * 8, &val.to_le_bytes())
            }
            Damage::Journals { at, bytes } => {
                patch_bytes(path, l.journals.0 + at % l.journals.1, bytes);
            }
            Damage::Anywhere { at, bytes } => patch_bytes(path, at % SIZE, bytes),
        }
    }
    damage::finish(path, case.rechecksum, case.new_len);
}

#[test]
fn random_damage_never_crashes_check() {
    let dir = shm_dir();
    let template = dir.path().join("template.pool");
    crashed_pool(&template, "1M");
    let info = run_json(&["info", "--json", s(&template)], 0);
    let lane = info["journals"]["logs"][0]["index"].as_u64().unwrap();
    let journals = (
        read_u64(&template, hdr::region_off(1)),
        read_u64(&template, hdr::region_len(1)),
    );
    let layout = Layout {
        journals,
        log: journals.0 + lane * read_u64(&template, hdr::LANE_SIZE),
        map: read_u64(&template, hdr::region_off(2)),
        units: read_u64(&template, hdr::HEAP_UNITS),
    };
    let heads = damage::map_heads(&template, layout.map, layout.units);
    // The template itself: one repairable journal finding, and possibly allocator
    // residue of the dead process's lane caches (unmerged buddies, also repairable).
    let v = run_json(&["check", "--json", s(&template)], 1);
    let findings = v["findings"].as_array().unwrap();
    assert!(
        findings.iter().all(|f| f["severity"] == "repairable"),
        "{v}"
    );
    let journal = findings
        .iter()
        .filter(|f| f["kind"] == "unfinished-journal")
        .count();
    assert_eq!(journal, 1, "{v}");

    let path = dir.path().join("case.pool");
    let verdicts = [std::cell::Cell::new(0usize), std::cell::Cell::new(0)];
    run_cases(400, case(), |case| {
        std::fs::copy(&template, &path).unwrap();
        apply(&path, &case, &layout, &heads);
        let before = contents(&path);
        let mut args = vec!["check", s(&path)];
        if case.json {
            args.push("--json");
        }
        let out = crndm_pool(&args);
        let code = out.status.code();
        prop_assert!(
            matches!(code, Some(0 | 1)),
            "check exited {:?}:\n{}",
            code,
            describe(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        prop_assert!(!err.contains("panicked"), "{}", err);
        prop_assert!(contents(&path) == before, "check changed the file");
        if case.json {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)
                .map_err(|e| TestCaseError::fail(format!("json: {e}: {}", describe(&out))))?;
            prop_assert_eq!(&v["clean"], &serde_json::Value::Bool(code == Some(0)));
        }
        let v = &verdicts[usize::from(code == Some(1))];
        v.set(v.get() + 1);
        Ok(())
    });
    // The damage is not all harmless: most cases are found.
    let [clean, found] = verdicts.map(std::cell::Cell::into_inner);
    assert!(found > clean, "clean {clean}, found {found}");
}
