//! `crndm-pool dump`: known bytes at known offsets, the root object, bounds and number
//! syntax.

mod common;

use common::*;
use crndm_tests::{hdr, patch_bytes, read_u64, shm_dir};

#[test]
fn dump_shows_the_bytes_written_at_an_offset() {
    let dir = shm_dir();
    let path = dir.path().join("d.pool");
    run_ok(&["create", s(&path), "--size", "1M"]);
    let heap = read_u64(&path, hdr::region_off(3));
    let at = heap + 0x1230;
    patch_bytes(&path, at, b"persistent memory!\x00\x01\xff");

    let hex = format!("{at:#x}");
    let text = run_ok(&["dump", s(&path), "--offset", &hex, "--len", "21"]);
    assert_eq!(
        text,
        format!(
            "{:08x}: 7065 7273 6973 7465 6e74 206d 656d 6f72  persistent memor\n\
             {:08x}: 7921 0001 ff                             y!...\n",
            at,
            at + 16
        )
    );
    // The same bytes, with the offset in decimal and the length with a suffix.
    let dec = at.to_string();
    let wide = run_ok(&["dump", s(&path), "--offset", &dec, "--len", "1K"]);
    assert!(
        wide.starts_with(&text[..text.find('\n').unwrap()]),
        "{wide}"
    );
    assert_eq!(wide.lines().count(), 64);

    // The header: magic, version, header length.
    let head = run_ok(&["dump", s(&path), "--offset", "0", "--len", "0x10"]);
    assert_eq!(
        head,
        "00000000: 4352 4e44 4d50 4c00 0100 0000 0010 0000  CRNDMPL.........\n"
    );
    // The default length is 256 bytes; 0 bytes print nothing.
    assert_eq!(run_ok(&["dump", s(&path), "-o", "4K"]).lines().count(), 16);
    assert_eq!(
        run_ok(&["dump", s(&path), "--offset", "1M", "--len", "0"]),
        ""
    );
}

#[test]
fn dump_root_shows_the_root_object() {
    let dir = shm_dir();
    let path = dir.path().join("r.pool");
    run_ok(&["create", s(&path), "--size", "1M"]);
    assert_eq!(run_ok(&["dump", s(&path), "--root"]), "no root\n");
    run_child_ok("prepare", &path);
    let root_off = read_u64(&path, hdr::ROOT_OFF);
    let root_size = read_u64(&path, hdr::ROOT_SIZE);
    let text = run_ok(&["dump", s(&path), "--root"]);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "root object at {root_off:#x}: {root_size} bytes, align 8, type hash 0x"
        )),
        "{text}"
    );
    assert!(text.contains("tag-ok!!"), "{text}");
    assert_eq!(
        text.lines().count() as u64,
        1 + root_size.div_ceil(16),
        "{text}"
    );
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with(&format!("{root_off:08x}: ")),
        "{text}"
    );
}

#[test]
fn dump_refuses_ranges_outside_the_file() {
    let dir = shm_dir();
    let path = dir.path().join("b.pool");
    run_ok(&["create", s(&path), "--size", "1M"]);
    for (off, len, shown) in [
        ("1M", "1", "0x100000..0x100001"),
        ("0xffff0", "0x20", "0xffff0..0x100010"),
        ("0xffffffffffffffff", "2", "0xffffffffffffffff..overflow"),
    ] {
        let out = crndm_pool(&["dump", s(&path), "--offset", off, "--len", len]);
        assert_eq!(out.status.code(), Some(1), "{off} {len}");
        assert!(out.stdout.is_empty(), "no partial dump");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "crndm-pool: read {}: bytes {shown} are outside the file (1048576 bytes)\n",
                path.display()
            )
        );
    }
    // Usage errors: bad numbers, both or neither of --offset and --root.
    for args in [
        &["--offset", "0x"][..],
        &["--offset", "12Q"],
        &["--offset", "0", "--len", "-1"],
        &["--offset", "0", "--root"],
        &["--len", "16"],
        &[],
    ] {
        let mut all = vec!["dump", s(&path)];
        all.extend_from_slice(args);
        let out = crndm_pool(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn dump_works_on_a_damaged_pool_but_root_needs_a_header() {
    let dir = shm_dir();
    let path = dir.path().join("bad.pool");
    run_ok(&["create", s(&path), "--size", "1M"]);
    patch_bytes(&path, 0, b"XX");
    let text = run_ok(&["dump", s(&path), "--offset", "0", "--len", "2"]);
    assert!(text.ends_with("  XX\n"), "{text}");
    let out = crndm_pool(&["dump", s(&path), "--root"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a crndm pool"),
        "{out:?}"
    );
}
