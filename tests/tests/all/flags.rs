//! The open flags against every kind of file: the table in `PoolOptions`' docs.
//!
//! | flags             | missing   | empty     | valid pool | foreign text | corrupt pool |
//! |-------------------|-----------|-----------|------------|--------------|--------------|
//! | `0`               | NotFound  | EmptyFile | open       | NotAPool     | BadChecksum  |
//! | `O_F`             | NotFound  | format    | format     | format       | format       |
//! | `O_C`, `O_CF`     | format    | format    | format     | format       | format       |
//! | `O_CNE`, `O_CFNE` | format    | format    | open       | NotAPool     | BadChecksum  |
//! | invalid           | InvalidFlags on every file, which is left as it was              |
//!
//! "open" keeps the pool: same UUID, generation + 1, the header, allocator map and heap
//! byte for byte the same apart from the generation. "format" makes a new, empty
//! default-size pool: a new UUID, generation 1, the old bytes gone. An error leaves the
//! file exactly as it was (a missing file is not created).

use std::path::{Path, PathBuf};

use crndm::MemPool;
use crndm::default::*;
use crndm_tests::*;

/// Size of the pools the valid and corrupt files start as (not the default, so that a
/// format shows in the file length too).
const SMALL: u64 = 1 << 20;
/// Bytes written into the heap of a valid pool: "data" that an open must keep and a
/// format must wipe.
const MARK: &[u8] = b"crndm flags test: user data in the heap";
/// A file that is not a pool.
const FOREIGN: &[u8] = b"This is a text file, not a pool.\nLorem ipsum dolor sit amet.\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Missing,
    Empty,
    Valid,
    Foreign,
    /// A pool whose header checksum does not match (a UUID byte flipped).
    Corrupt,
}

const STATES: [State; 5] = [
    State::Missing,
    State::Empty,
    State::Valid,
    State::Foreign,
    State::Corrupt,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    NotFound,
    EmptyFile,
    Open,
    Format,
    NotAPool,
    BadChecksum,
    InvalidFlags,
}

/// Where the test data sits: 128 bytes into the heap region.
fn mark_off(path: &Path) -> u64 {
    read_region(path, 3).0 + 128
}

/// Makes `path` a file in `state`; returns the UUID of the pool it holds, if any.
fn prepare(path: &Path, state: State) -> Option<[u8; 16]> {
    match state {
        State::Missing => None,
        State::Empty => {
            std::fs::write(path, b"").unwrap();
            None
        }
        State::Foreign => {
            std::fs::write(path, FOREIGN).unwrap();
            None
        }
        State::Valid | State::Corrupt => {
            let info = admin::create(path, SMALL).unwrap();
            assert_eq!(info.generation, 1);
            patch_bytes(path, mark_off(path), MARK);
            if state == State::Corrupt {
                flip_byte(path, hdr::UUID + 5, 0x10);
            }
            Some(info.uuid)
        }
    }
}

/// Checks an open that succeeded: `Open` kept the pool, `Format` made a new one.
fn check_opened<P: MemPool>(
    path: &Path,
    guard: PoolGuard<P>,
    expect: Expect,
    old_uuid: Option<[u8; 16]>,
    before: Option<Vec<u8>>,
    ctx: &str,
) {
    assert!(P::is_open(), "{ctx}");
    assert_eq!(P::path().unwrap(), path, "{ctx}");
    assert!(P::check().unwrap().is_empty(), "{ctx}");
    let uuid = P::uuid().unwrap();
    let stats = P::stats().unwrap();
    let gen_at = hdr::GENERATION as usize;
    if expect == Expect::Open {
        assert_eq!(Some(uuid), old_uuid, "{ctx}: an open keeps the UUID");
        assert_eq!(P::generation().unwrap(), 2, "{ctx}");
        drop(guard);
        // The same pool: the header but for the generation counter, the allocator map
        // and the heap are byte for byte what they were (the journals may be
        // reinitialised by the open's recovery).
        let before = before.expect("an opened file existed");
        let after = contents(path);
        assert_eq!(after.len(), before.len(), "{ctx}");
        assert!(after[..gen_at] == before[..gen_at], "{ctx}: header changed");
        assert!(
            after[gen_at + 8..4096] == before[gen_at + 8..4096],
            "{ctx}: header changed"
        );
        let map_at = usize::try_from(read_region(path, 2).0).unwrap();
        assert!(after[map_at..] == before[map_at..], "{ctx}: data changed");
        assert_eq!(read_u64(path, hdr::GENERATION), 2, "{ctx}");
    } else {
        assert_ne!(Some(uuid), old_uuid, "{ctx}: a format makes a new UUID");
        assert_eq!(P::generation().unwrap(), 1, "{ctx}");
        assert_eq!(stats.used, 0, "{ctx}: a formatted heap is empty");
        assert_eq!(stats.free, stats.total, "{ctx}");
        drop(guard);
        let after = contents(path);
        assert_eq!(after.len() as u64, PoolOptions::DEFAULT_SIZE, "{ctx}");
        assert_eq!(after[..8], hdr::MAGIC_BYTES, "{ctx}");
        assert!(
            !after.windows(MARK.len()).any(|w| w == MARK),
            "{ctx}: the old data survived a format"
        );
    }
    assert!(!P::is_open(), "{ctx}");
    let info = admin::info(path).unwrap();
    assert_eq!(info.uuid, uuid, "{ctx}");
    assert!(info.problems.is_empty(), "{ctx}");
}

/// Opens a file in `state` with `flags` as pool type `P` and checks the outcome.
fn case<P: MemPool>(dir: &Path, flags: Flags, state: State, expect: Expect) {
    let path: PathBuf = dir.join(format!("{flags:#x}-{state:?}.pool"));
    let old_uuid = prepare(&path, state);
    let before = std::fs::read(&path).ok();
    let ctx = format!("flags {flags:#x} on a {state:?} file, expecting {expect:?}");
    let err = match (P::open_unlocked(&path, flags), expect) {
        (Ok(guard), Expect::Open | Expect::Format) => {
            return check_opened(&path, guard, expect, old_uuid, before, &ctx);
        }
        (Ok(_), _) => panic!("{ctx}: opened"),
        (Err(e), _) => e,
    };
    let ok = match expect {
        Expect::NotFound => matches!(&err, Error::NotFound(p) if *p == path),
        Expect::EmptyFile => matches!(&err, Error::EmptyFile(p) if *p == path),
        Expect::NotAPool => matches!(&err, Error::NotAPool { found } if found[..] == FOREIGN[..8]),
        Expect::BadChecksum => matches!(&err, Error::BadChecksum { .. }),
        Expect::InvalidFlags => matches!(&err, Error::InvalidFlags { flags: f, .. } if *f == flags),
        Expect::Open | Expect::Format => false,
    };
    assert!(ok, "{ctx}: got {err:?}");
    assert!(!P::is_open(), "{ctx}");
    // A refused open changes nothing: a missing file is not created, an existing one
    // keeps its bytes.
    assert!(
        std::fs::read(&path).ok() == before,
        "{ctx}: the file changed"
    );
}

/// Runs `flags` against every kind of file; `row` is in the order of [`STATES`].
fn row<P: MemPool>(flags: Flags, row: [Expect; 5]) {
    let dir = shm_dir();
    for (state, expect) in STATES.into_iter().zip(row) {
        case::<P>(dir.path(), flags, state, expect);
    }
}

#[test]
fn no_flags_opens_only_an_existing_pool() {
    crndm::pool!(p);
    use Expect::*;
    row::<p::BuddyAlloc>(0, [NotFound, EmptyFile, Open, NotAPool, BadChecksum]);
}

#[test]
fn o_f_formats_an_existing_file_only() {
    crndm::pool!(p);
    use Expect::*;
    row::<p::BuddyAlloc>(O_F, [NotFound, Format, Format, Format, Format]);
}

#[test]
fn o_c_creates_or_truncates_and_formats() {
    crndm::pool!(p);
    row::<p::BuddyAlloc>(O_C, [Expect::Format; 5]);
}

#[test]
fn o_cf_creates_or_truncates_and_formats() {
    crndm::pool!(p);
    row::<p::BuddyAlloc>(O_CF, [Expect::Format; 5]);
}

#[test]
fn o_cne_formats_only_a_missing_or_empty_file() {
    crndm::pool!(p);
    use Expect::*;
    row::<p::BuddyAlloc>(O_CNE, [Format, Format, Open, NotAPool, BadChecksum]);
}

#[test]
fn o_cfne_formats_only_a_missing_or_empty_file() {
    crndm::pool!(p);
    use Expect::*;
    row::<p::BuddyAlloc>(O_CFNE, [Format, Format, Open, NotAPool, BadChecksum]);
}

#[test]
fn flag_aliases_are_the_documented_combinations() {
    assert_eq!(O_CF, O_C | O_F);
    assert_eq!(O_CFNE, O_CNE | O_F);
    assert_eq!(O_C & O_F, 0);
    assert_eq!(O_C & O_CNE, 0);
    assert_eq!(O_F & O_CNE, 0);
}

#[test]
fn invalid_flags_are_refused_and_touch_nothing() {
    crndm::pool!(p);
    let known = O_C | O_F | O_CNE;
    for flags in [
        O_C | O_CNE,
        O_C | O_CNE | O_F,
        8,
        0x100,
        1 << 31,
        O_CFNE | 0x40,
        O_F | 0x10,
        !known,
        u32::MAX,
    ] {
        row::<p::BuddyAlloc>(flags, [Expect::InvalidFlags; 5]);
    }
}

#[test]
fn a_format_resets_the_generation_and_an_open_continues_it() {
    crndm::pool!(p);
    type P = p::BuddyAlloc;
    let dir = shm_dir();
    let path = dir.path().join("g.pool");
    for expected in 1..=3 {
        let _g = P::open_unlocked(&path, O_CFNE).unwrap();
        assert_eq!(P::generation().unwrap(), expected);
    }
    let uuid = read_uuid(&path);
    let g = P::open_unlocked(&path, O_F).unwrap();
    assert_eq!(P::generation().unwrap(), 1);
    assert_ne!(P::uuid().unwrap(), uuid);
    drop(g);
    let _g = P::open_unlocked(&path, 0).unwrap();
    assert_eq!(P::generation().unwrap(), 2);
}

/// A FIFO, a character device and a directory are refused by every flag combination and
/// by the offline readers, at once (a FIFO opened for reading would block), and left as
/// they were.
#[test]
fn special_files_are_refused_by_every_flag_and_reader() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("a.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `mkfifo` reads the NUL-terminated path it is given.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let sub = dir.path().join("a.dir");
    std::fs::create_dir(&sub).unwrap();
    let cases = [
        (fifo.clone(), "a FIFO"),
        (PathBuf::from("/dev/null"), "a character device"),
        (sub.clone(), "a directory"),
    ];
    let refused = |e: Error, want: &str, what: &str| match e {
        Error::NotARegularFile { kind, .. } => assert_eq!(kind, want, "{what}"),
        other => panic!("{what}: expected NotARegularFile, got {other:?}"),
    };
    for (path, kind) in &cases {
        for flags in [0, O_F, O_C, O_CF, O_CNE, O_CFNE] {
            let e = BuddyAlloc::open::<u64>(path, flags).expect_err("a special file opened");
            refused(e, kind, &format!("{} flags {flags:#x}", path.display()));
        }
        refused(crndm::admin::info(path).unwrap_err(), kind, "info");
        refused(crndm::admin::check_report(path).unwrap_err(), kind, "check");
        refused(crndm::admin::recover(path).unwrap_err(), kind, "recover");
        refused(
            crndm::admin::PoolBytes::open(path).unwrap_err(),
            kind,
            "bytes",
        );
    }
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(std::fs::metadata(&sub).unwrap().is_dir());
}
