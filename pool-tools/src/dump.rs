//! `crndm-pool dump FILE (--offset N [--len M] | --root)`: raw bytes as hex and ASCII,
//! in the layout of `xxd`.

use std::io::{self, Write};
use std::path::PathBuf;

use crndm::admin::PoolBytes;

use crate::error::CliError;
use crate::size::parse_offset;

/// Bytes per output line.
const LINE: usize = 16;
/// Bytes read from the file at a time.
const CHUNK: u64 = 64 << 10;

/// Arguments of `dump`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Offsets are file offsets (the pool offsets stored in the file are file offsets too). N \
and M take a 0x prefix for hexadecimal, or K, M, G suffixes: --offset 0x13d000 --len 4K. \
A range outside the file is an error (exit 1). Works on any file (for a pool, under the \
shared lock, so not while a program holds the pool open); --root needs a valid header.")]
#[command(group(clap::ArgGroup::new("what").required(true).args(["offset", "root"])))]
pub(crate) struct Args {
    /// The file to read (opened read-only).
    pub(crate) file: PathBuf,
    /// Where to start: a file offset, e.g. 4096, 0x1000 or 4K.
    #[arg(long, short, value_parser = parse_offset)]
    pub(crate) offset: Option<u64>,
    /// How many bytes to show (with --offset).
    #[arg(long, short, default_value = "256", value_parser = parse_offset, requires = "offset")]
    pub(crate) len: u64,
    /// Dump the root object: the offset and size stored in the header's root slot.
    #[arg(long, conflicts_with = "offset")]
    pub(crate) root: bool,
}

/// Reads the requested bytes and writes them as a hex dump.
///
/// # Errors
/// A missing or locked file, a range outside the file (an I/O error of kind
/// `InvalidInput`), an untrusted header with `--root`, or a failed write of the output.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<(), CliError> {
    let err = CliError::pool;
    let file = PoolBytes::open(&args.file).map_err(err(&args.file))?;
    let (off, len) = if args.root {
        match file.root().map_err(err(&args.file))? {
            None => {
                writeln!(out, "no root")?;
                return Ok(());
            }
            Some(r) => {
                writeln!(
                    out,
                    "root object at {:#x}: {} bytes, align {}, type hash {:#018x}",
                    r.off, r.size, r.align, r.hash
                )?;
                (r.off, r.size)
            }
        }
    } else {
        (args.offset.unwrap_or(0), args.len)
    };
    // Check the whole range first, so that an error prints no partial dump.
    file.check_range(off, len).map_err(err(&args.file))?;
    let width = hex_width(off.saturating_add(len));
    let mut at = off;
    let end = off + len;
    while at < end {
        let n = CHUNK.min(end - at);
        let bytes = file.read(at, n).map_err(err(&args.file))?;
        write_hex(at, &bytes, width, out)?;
        at += n;
    }
    Ok(())
}

/// Digits of the offset column: 8 as in `xxd`, more for offsets that need them.
fn hex_width(end: u64) -> usize {
    let digits = (64 - end.leading_zeros()).div_ceil(4) as usize;
    digits.max(8)
}

/// Writes `bytes`, which start at file offset `off`, as `xxd` does: offset, eight groups
/// of two bytes, the bytes as ASCII (`.` for anything not printable).
///
/// # Errors
/// Only those of `out`.
pub(crate) fn write_hex(
    off: u64,
    bytes: &[u8],
    width: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    for (i, line) in bytes.chunks(LINE).enumerate() {
        let mut hex = String::with_capacity(LINE * 5 / 2);
        for (j, b) in line.iter().enumerate() {
            if j > 0 && j % 2 == 0 {
                hex.push(' ');
            }
            hex.push_str(&format!("{b:02x}"));
        }
        let ascii: String = line
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '.'
                }
            })
            .collect();
        let at = off + (i * LINE) as u64;
        writeln!(out, "{at:0width$x}: {hex:<39}  {ascii}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(off: u64, bytes: &[u8]) -> String {
        let mut out = Vec::new();
        write_hex(off, bytes, 8, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_look_like_xxd() {
        assert_eq!(
            hex(0, b"CRNDMPL\0\x01\0\0\0\0\x10\0\0"),
            "00000000: 4352 4e44 4d50 4c00 0100 0000 0010 0000  CRNDMPL.........\n"
        );
        assert_eq!(
            hex(0x1000, b"hello, world!\n\xff ab"),
            "00001000: 6865 6c6c 6f2c 2077 6f72 6c64 210a ff20  hello, world!.. \n\
             00001010: 6162                                     ab\n"
        );
        assert_eq!(
            hex(5, b"abc"),
            "00000005: 6162 63                                  abc\n"
        );
        assert_eq!(hex(0, b""), "");
    }

    #[test]
    fn wide_offsets_widen_the_column() {
        assert_eq!(hex_width(0), 8);
        assert_eq!(hex_width(0xffff_ffff), 8);
        assert_eq!(hex_width(0x1_0000_0000), 9);
        assert_eq!(hex_width(u64::MAX), 16);
    }
}
