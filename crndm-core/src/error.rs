//! The one error type of the crate.

use std::path::PathBuf;

/// The result type of every fallible crndm operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A region of the pool file, as named in errors and in `crndm-pool info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    /// The header page at offset 0.
    Header,
    /// The per-thread journals ("lanes").
    Journals,
    /// The allocator's order map (one byte per 64-byte unit of the heap).
    AllocMap,
    /// The heap the buddy allocator hands out.
    Heap,
}

impl Region {
    /// All regions, in file order.
    pub const ALL: [Region; 4] = [
        Region::Header,
        Region::Journals,
        Region::AllocMap,
        Region::Heap,
    ];

    /// The region's name as printed by tools.
    pub fn name(self) -> &'static str {
        match self {
            Region::Header => "header",
            Region::Journals => "journals",
            Region::AllocMap => "alloc-map",
            Region::Heap => "heap",
        }
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that can go wrong in crndm.
///
/// Every variant names the failure precisely; a pool file that cannot be trusted is
/// refused with one of the `*Header*`, `Region*`, `Checksum*` or `Corrupt*` variants and
/// never causes a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("open", "mmap", ...).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The pool file does not exist and the flags did not ask to create it.
    #[error("pool file {0} does not exist (pass O_CNE or O_CFNE to create it)")]
    NotFound(PathBuf),
    /// The path names something other than a regular file (a FIFO, a device, a
    /// directory, a socket): a pool is only ever a regular file, and reading a FIFO
    /// would block.
    #[error("{path} is not a regular file (it is {kind}); a pool is a regular file")]
    NotARegularFile {
        /// The path concerned.
        path: PathBuf,
        /// What it is instead ("a FIFO", "a directory", ...).
        kind: &'static str,
    },
    /// The file exists but is empty: it was never formatted.
    #[error("pool file {0} is empty (pass O_CNE, O_CF or O_F to format it)")]
    EmptyFile(PathBuf),
    /// The file is shorter than a pool header.
    #[error("pool file is truncated: {len} bytes, a header alone needs {needed}")]
    Truncated {
        /// The file's length.
        len: u64,
        /// The minimum length of a pool.
        needed: u64,
    },
    /// The file does not start with the crndm magic: it is not a pool.
    #[error("not a crndm pool (bad magic {found:02x?})")]
    NotAPool {
        /// The first eight bytes of the file.
        found: [u8; 8],
    },
    /// The pool was written by a format version this build does not understand.
    #[error("pool format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The header checksum does not match its contents.
    #[error("pool header checksum mismatch: stored {stored:#018x}, computed {computed:#018x}")]
    BadChecksum {
        /// The checksum stored in the header.
        stored: u64,
        /// The checksum of the header bytes as read.
        computed: u64,
    },
    /// A header field holds an impossible value.
    #[error("corrupt pool header: field `{field}` {reason}")]
    CorruptHeader {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A region described by the header lies outside the file or overlaps another.
    #[error(
        "region {region} at offset {off:#x} length {len:#x} is outside the pool or overlaps another region"
    )]
    RegionOutOfBounds {
        /// The region.
        region: Region,
        /// Its offset as stored.
        off: u64,
        /// Its length as stored.
        len: u64,
    },
    /// The header's pool size differs from the file's length.
    #[error("pool header says {header} bytes but the file has {file}")]
    SizeMismatch {
        /// The size recorded in the header.
        header: u64,
        /// The file's actual length.
        file: u64,
    },
    /// The allocator's persistent state is inconsistent.
    #[error("corrupt allocator state at heap unit {unit}: {reason}")]
    CorruptAllocator {
        /// The first 64-byte heap unit concerned.
        unit: u64,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the pool file open.
    #[error("pool file {0} is locked by another process (or another pool type of this one)")]
    Locked(PathBuf),
    /// This pool type already has a file open.
    #[error("this pool type already has a pool open; close it (drop every handle) first")]
    AlreadyOpen,
    /// The pool type has no open pool.
    #[error("this pool type has no pool open")]
    NotOpen,
    /// The flags passed to `open` are not a valid combination.
    #[error("invalid open flags {flags:#x}: {reason}")]
    InvalidFlags {
        /// The flags.
        flags: u32,
        /// Why they are refused.
        reason: &'static str,
    },
    /// The requested pool size cannot hold a pool.
    #[error("invalid pool size {size}: {reason}")]
    InvalidSize {
        /// The requested size in bytes.
        size: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The requested persistence mode is not available for this file.
    #[error("persistence mode {requested:?} is not available for {path}: {reason}")]
    ModeUnavailable {
        /// The mode that was asked for.
        requested: crate::persist::Mode,
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// The heap has no free block large enough.
    #[error(
        "out of pool space: no free block of {requested} bytes (largest free block: {largest_free} bytes)"
    )]
    OutOfSpace {
        /// The requested size in bytes.
        requested: u64,
        /// The largest free block at the time.
        largest_free: u64,
    },
    /// An allocation asked for an alignment the heap cannot give.
    #[error("alignment {align} is not supported (at most {max})")]
    UnsupportedAlignment {
        /// The requested alignment.
        align: u64,
        /// The largest supported alignment.
        max: u64,
    },
    /// A transaction body panicked (or a nested one did); everything it changed was
    /// rolled back. Carries the panic message.
    #[error("transaction aborted: {0}")]
    Aborted(String),
    /// An operation that waits for every transaction of the pool to end was called
    /// inside one of them (it would wait for itself).
    #[error(
        "`{0}` cannot run inside a transaction of the same pool: it waits for every transaction of the pool to end"
    )]
    InTransaction(&'static str),
    /// A transaction of pool type `inner` was started while one of pool type `outer` was
    /// running on the same thread. Transactions of two pools cannot commit atomically
    /// together, so the inner one is refused before it writes anything; the outer one
    /// is unaffected and may go on.
    #[error(
        "a transaction of pool `{inner}` cannot run inside a transaction of pool `{outer}`: transactions of two pools are not atomic together"
    )]
    NestedPools {
        /// The pool type of the running (outer) transaction.
        outer: &'static str,
        /// The pool type of the refused (inner) transaction.
        inner: &'static str,
    },
    /// The stored root object's layout differs from the root type it is opened as.
    #[error(
        "the pool's root is {stored_size} bytes aligned to {stored_align} (type hash {stored_hash:#x}), not the requested `{requested}`"
    )]
    RootTypeMismatch {
        /// The name of the type the pool was opened with.
        requested: &'static str,
        /// Stored root size.
        stored_size: u64,
        /// Stored root alignment.
        stored_align: u64,
        /// Stored structural fingerprint of the root type (`RootLayout`).
        stored_hash: u64,
    },
    /// The pool's root object holds a persistent pointer (a `Pbox`, `Prc`, `Parc`, a weak
    /// pointer, a collection's buffer) that names no block of the size it needs: outside
    /// the heap, inside a block, a free block, a block of another size; or a collection
    /// header no collection has. Opening such a file (corrupt, or made by another program)
    /// would dereference it, so the open is refused before anything is written to the file
    /// (after recovery, if the pool needed recovery).
    #[error("the pool's root object (`{root}`) is corrupt: `{path}` holds offset {off:#x}: {why}")]
    CorruptRoot {
        /// The root type the pool was opened with.
        root: &'static str,
        /// Where the pointer is in the root object: `root`, then `.field` and `[index]`
        /// steps (`root.items`, `root.pair[1]`).
        path: String,
        /// The offset stored there.
        off: u64,
        /// Why it is refused.
        why: String,
    },
    /// The filesystem has too little free space for the pool file's blocks (they are
    /// reserved when a pool is created, and when a file with holes is opened, so that
    /// a pool that opened never takes SIGBUS for lack of space).
    #[error(
        "{path}: no space for a pool of {requested} bytes on its filesystem ({available} bytes free)"
    )]
    NoSpaceForPool {
        /// The pool file.
        path: PathBuf,
        /// The pool file's size.
        requested: u64,
        /// Free space on its filesystem (for unprivileged users).
        available: u64,
    },
    /// A transaction logged more than its journal holds.
    #[error(
        "the transaction's journal is full ({capacity} bytes); give the pool larger journals with PoolOptions::journals"
    )]
    JournalFull {
        /// The journal's size in bytes.
        capacity: u64,
    },
    /// A journal recorded in the pool is inconsistent in a way recovery cannot repair.
    #[error("journal {lane} cannot be recovered: {reason}")]
    CorruptJournal {
        /// The journal's index.
        lane: u32,
        /// What is wrong.
        reason: String,
    },
    /// A free named a block that is not an allocated block of that size.
    #[error("invalid free of offset {off:#x} ({reason})")]
    InvalidFree {
        /// The offset passed.
        off: u64,
        /// Why it was refused.
        reason: &'static str,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}
