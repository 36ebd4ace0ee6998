//! Byte sizes on the command line (`64M`, `1G`, `4096`) and in tool output.
//!
//! Units are binary: `K` = 2^10, `M` = 2^20, `G` = 2^30, `T` = 2^40. The unit letter may be
//! lower case and may be followed by `iB` (`64MiB`); a plain number is bytes. Offsets and
//! lengths ([`parse_offset`]) may also be hexadecimal (`0x1f000`).

/// Parses a size such as `4096`, `512K`, `64M`, `64MiB` or `1G` into bytes.
///
/// # Errors
/// A message saying what is wrong: no digits, an unknown unit, or a size that does not
/// fit in 64 bits.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(format!(
            "`{text}` is not a size: expected a number of bytes with an optional unit K, M, G or T (e.g. 64M)"
        ));
    }
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit `{unit}`: use K, M, G or T (binary units, e.g. 64M)"
            ));
        }
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is too large: at most {} bytes", u64::MAX))?;
    value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{text}` is too large: at most {} bytes", u64::MAX))
}

/// Parses a file offset or length: a hexadecimal number with a `0x` prefix (`0x13d000`),
/// or anything [`parse_size`] accepts (`4096`, `64K`, `1M`).
///
/// # Errors
/// A message saying what is wrong.
pub(crate) fn parse_offset(text: &str) -> Result<u64, String> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).map_err(|e| match e.kind() {
            std::num::IntErrorKind::PosOverflow => {
                format!("`{t}` is too large: at most {:#x}", u64::MAX)
            }
            _ => format!("`{t}` is not a hexadecimal number (expected e.g. 0x1f000)"),
        }),
        None => parse_size(t),
    }
}

/// Formats a byte count for people: the largest binary unit that divides it exactly
/// (`64 MiB`, `4 KiB`), or bytes (`1000 B`).
pub(crate) fn format_size(bytes: u64) -> String {
    const UNITS: [(u32, &str); 4] = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
    for (shift, name) in UNITS {
        let unit = 1u64 << shift;
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes >> shift);
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bytes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size(" 12 "), Ok(12));
    }

    #[test]
    fn binary_units_any_case() {
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64mib"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "M", "-1", "1.5M", "64MB", "64X", "12 M", "0x10"] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.contains(bad.trim()), "{bad:?}: {err}");
        }
    }

    #[test]
    fn rejects_overflow() {
        assert!(parse_size("18446744073709551615").is_ok());
        assert!(
            parse_size("18446744073709551616")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_size("16777216T").unwrap_err().contains("too large"));
        assert_eq!(parse_size("16777215T"), Ok(16_777_215 << 40));
    }

    #[test]
    fn offsets_take_hex_or_sizes() {
        assert_eq!(parse_offset("0x0"), Ok(0));
        assert_eq!(parse_offset("0x13d000"), Ok(0x13d000));
        assert_eq!(parse_offset("0X1F"), Ok(31));
        assert_eq!(parse_offset("0xffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(parse_offset("4096"), Ok(4096));
        assert_eq!(parse_offset("4K"), Ok(4096));
        assert_eq!(parse_offset("1M"), Ok(1 << 20));
        assert!(
            parse_offset("0x10000000000000000")
                .unwrap_err()
                .contains("too large")
        );
        for bad in ["0x", "0xg", "0x10K", "-0x1", "x10", ""] {
            assert!(parse_offset(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_exact_units() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1000), "1000 B");
        assert_eq!(format_size(4096), "4 KiB");
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size((64 << 20) + 4096), "65540 KiB");
        assert_eq!(format_size(3 << 30), "3 GiB");
        assert_eq!(format_size(1 << 40), "1 TiB");
    }

    #[test]
    fn round_trip() {
        for n in [1u64, 64, 4096, 8 << 20, 5 << 30, 7 << 40] {
            let shown = format_size(n).replace(' ', "").replace("iB", "");
            assert_eq!(parse_size(&shown), Ok(n), "{shown}");
        }
    }
}
