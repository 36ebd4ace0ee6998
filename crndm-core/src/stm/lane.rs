//! A lane: the region of the pool that holds one journal's log of sealed records, one
//! lane per running transaction (glossary in docs/ARCHITECTURE.md).
//!
//! # Memory layout
//! ```text
//! lane (lane_size bytes, page-aligned, in the journals region)
//! +0    LaneHeader (64 B): reserved_epoch u64 | reserved
//! +64   record | record | record | ...             (8-byte aligned, never straddle the end)
//!
//! record: seal u64 | epoch u64 | kind u32 | aux u32 | off u64 | payload (aux bytes for UNDO), padded to 8
//! ```
//! `seal` is a 64-bit hash of everything after it (and the payload). A record counts only
//! if its seal matches; a torn record (crash while writing) does not match.
//!
//! # Epochs
//! Each transaction of a lane writes its records with a fresh epoch, starting at +64.
//! The transaction's log is the run of valid records from +64 that share the first
//! record's epoch, so records left over from older transactions (older epochs) end it.
//! Epochs never repeat in a lane: at open each lane reserves a range of epochs above
//! `reserved_epoch` and persists the new bound before any transaction runs (L1).
//! Forgetting a log ("truncation") is invalidating its first record (L2).
//!
//! # Commit
//! A transaction that frees nothing commits by truncating its log: the zeroed seal of
//! its first record, once durable, *is* the commit point. A transaction with deferred
//! frees writes a COMMIT record and frees its blocks in place (their `FREE|k` heads)
//! under one fence, the commit point; recovery finishes the frees of a log with a COMMIT
//! record and undoes those of a log without one. The truncation that follows is neither
//! flushed nor fenced: the lane's next transaction overwrites the line with its first
//! record and makes that durable before any freed block can be reused (F2,
//! `alloc::buddy`).
//!
//! A payload of [`COPY_LOOP_MIN`] bytes or more is copied with a loop of plain loads and
//! stores, its lines flushed before the seal is computed, so their write-back overlaps
//! the hashing; an UNDO payload of [`STREAM_MIN`] bytes or more is copied with
//! non-temporal stores ([`RawLane::append`]). The record is the same either way, and
//! durable at the same fence.

//! # Invariants
//! - **L1** epochs are unique per lane over the pool's whole life, and carry the lane
//!   index (so unique across lanes too).
//! - **L2** a lane whose first record is invalid holds no transaction.
//! - **L3** an UNDO record is durable before the bytes it saves are changed in place.
//! - **L4** a COMMIT record (or the truncation that commits) is written only after every
//!   change of its transaction and every record before it is durable.

use crate::convert::to_usize;
use crate::persist::{CACHE_LINE, Persister};

/// Size of a lane's header: one cache line (its first record starts on the next).
pub(crate) const LANE_HEADER: usize = CACHE_LINE;
// The lane header is part of the file format: 64 bytes whatever the cache line.
const _: () = assert!(LANE_HEADER == 64);
/// Size of a record header.
pub(crate) const REC_HEADER: usize = 32;
/// UNDO payloads of at least this many bytes are copied into the log with non-temporal
/// stores ([`RawLane::append`]). Measured on the benchmark machine (AMD EPYC, emulated
/// pmem, bench/RESULTS.md): streaming 1, 4 and 16 KiB was slower than a cached copy and
/// `clwb` (by about 20, 20 and 5 %), 64 KiB faster (by about 10 %); libpmem streams from
/// 256 B. (Measured before the copy loop of [`COPY_LOOP_MIN`].)
pub(crate) const STREAM_MIN: usize = 32 << 10;
/// Payloads of at least this many bytes (and below [`STREAM_MIN`] for UNDO) are copied by
/// a loop of 32-byte loads and stores, flushed, then sealed from the source
/// ([`RawLane::append`]); smaller ones by `memcpy`, sealed, then flushed.
pub(crate) const COPY_LOOP_MIN: usize = 128;
/// Epochs reserved per open.
const EPOCH_RESERVATION: u64 = 1 << 40;
/// An epoch is `lane << LANE_SHIFT | counter`: the counter is unique per lane (L1) and
/// the lane bits make epochs unique across lanes, so records left in an extension block
/// by another lane's log never pass for this log's.
const LANE_SHIFT: u32 = 54;

/// The epoch of a transaction of lane `lane` whose per-lane counter is `counter`.
pub(crate) fn epoch_of(lane: u32, counter: u64) -> u64 {
    (u64::from(lane) << LANE_SHIFT) | (counter & ((1 << LANE_SHIFT) - 1))
}

/// The per-lane counter part of an epoch.
pub(crate) fn epoch_counter(epoch: u64) -> u64 {
    epoch & ((1 << LANE_SHIFT) - 1)
}

/// Record kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Kind {
    /// Old bytes of `[off, off + aux)`.
    Undo = 1,
    /// A block of order `aux` at `off` allocated by this transaction.
    Alloc = 2,
    /// A block of order `aux` at `off` to free after commit.
    Free = 3,
    /// The transaction committed.
    Commit = 4,
    /// The log continues in the extension block of order `aux` at `off` (records from
    /// its byte 64 on, same epoch); the block is freed when the transaction ends.
    Extend = 5,
    /// New bytes of `[off, off + aux)` at commit, for a log whose COMMIT record says
    /// [`COMMIT_REDO`]: recovery writes them again.
    Redo = 6,
    /// The log continues at byte `off` of the lane (same epoch): written in the lane's
    /// first line, it lets a transaction's first records avoid the lines of the lane's
    /// previous log while that log's truncation may not be durable yet (R2 in
    /// `stm::journal`).
    Skip = 7,
}

/// The `aux` of a COMMIT record that ends a *redo commit*: the REDO records before it
/// hold every range the transaction wrote, and its allocations' used heads became
/// durable with it, so recovery rolls the transaction forward (see `stm::journal`).
pub(crate) const COMMIT_REDO: u32 = 1;

impl Kind {
    /// Whether records of this kind carry `aux` bytes of payload.
    pub(crate) fn has_payload(self) -> bool {
        matches!(self, Kind::Undo | Kind::Redo)
    }
}

impl Kind {
    fn from_u32(k: u32) -> Option<Kind> {
        Some(match k {
            1 => Kind::Undo,
            2 => Kind::Alloc,
            3 => Kind::Free,
            4 => Kind::Commit,
            5 => Kind::Extend,
            6 => Kind::Redo,
            7 => Kind::Skip,
            _ => return None,
        })
    }
}

/// A record to write.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewRecord {
    pub(crate) kind: Kind,
    /// Payload length (UNDO, REDO) or block order (ALLOC, FREE).
    pub(crate) aux: u32,
    /// The record's offset word as stored (header word 3): a pool offset for UNDO, REDO,
    /// ALLOC, FREE and EXTEND, a lane position for SKIP, 0 for COMMIT; so it stays the
    /// raw `u64` of the file format, typed where a kind's meaning is known.
    pub(crate) off: u64,
    /// The bytes to save (UNDO and REDO only).
    pub(crate) payload: *const u8,
}

impl NewRecord {
    /// A record without payload.
    pub(crate) fn plain(kind: Kind, aux: u32, off: u64) -> NewRecord {
        NewRecord {
            kind,
            aux,
            off,
            payload: std::ptr::null(),
        }
    }
}

/// A decoded, validated record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) kind: Kind,
    pub(crate) aux: u32,
    /// The offset word as read, untrusted: see [`NewRecord::off`].
    pub(crate) off: u64,
    /// Position of the payload inside its area (the lane or an extension block).
    pub(crate) payload_at: usize,
    /// The area (the lane, or an extension block) the record is in.
    pub(crate) area: RawLane,
}

/// Bytes a record with `payload` payload bytes occupies.
pub(crate) fn record_len(payload: usize) -> usize {
    REC_HEADER + payload.next_multiple_of(8)
}

/// Copies `src` to `dst` 32 bytes at a time with plain loads and stores.
///
/// Not `memcpy`: glibc copies a few KiB with `rep movsb`, which on the benchmark machine
/// (AMD EPYC, bench/RESULTS.md) took from 1x to 1.5x as long for the same copy from one
/// process to the next; this loop takes the fast time every time.
///
/// # Safety
/// 1. `[dst, dst + src.len())` is writable and does not overlap `src`.
unsafe fn copy_by_chunks(dst: *mut u8, src: &[u8]) {
    let mut chunks = src.chunks_exact(32);
    let mut at = 0;
    for c in &mut chunks {
        let mut words = [0u8; 32];
        words.copy_from_slice(c);
        // SAFETY: (1) `at + 32 <= src.len()`: writable, not overlapping `src`;
        // `write_unaligned` needs no alignment.
        unsafe {
            dst.wrapping_add(at)
                .cast::<[u8; 32]>()
                .write_unaligned(words)
        };
        at += 32;
    }
    let rest = chunks.remainder();
    // SAFETY: (1) the last `rest.len()` bytes of the destination.
    unsafe { std::ptr::copy_nonoverlapping(rest.as_ptr(), dst.wrapping_add(at), rest.len()) };
}

/// The seal of a record: a 64-bit hash over its header words (after the seal) and its
/// payload, processed 8 bytes at a time with four independent lanes so long payloads
/// hash at memory speed. Never 0 for any input, so a zeroed lane holds no record.
pub(crate) fn seal(header: [u64; 3], payload: &[u8]) -> u64 {
    // The one-shot form of [`Sealer`] (same value), without its buffering: most records
    // are small, and every record is sealed.
    let mut acc = [
        SEAL_K[0] ^ header[0],
        SEAL_K[1] ^ header[1],
        SEAL_K[2] ^ header[2],
        SEAL_K[3],
    ];
    let mut chunks = payload.chunks_exact(32);
    for c in &mut chunks {
        Sealer::chunk(&mut acc, c);
    }
    seal_rest(acc, chunks.remainder(), payload.len() as u64)
}

/// The end of [`seal`]: the last partial chunk `rest` and the final mix, for a payload of
/// `len` bytes.
fn seal_rest(mut acc: [u64; 4], rest: &[u8], len: u64) -> u64 {
    for (i, c) in rest.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        acc[i] = (acc[i] ^ u64::from_le_bytes(w) ^ (c.len() as u64) << 56)
            .wrapping_mul(SEAL_K[i])
            .rotate_left(31);
    }
    let mut h = len.wrapping_mul(SEAL_K[3]);
    for (a, rot) in acc.iter().zip([0, 17, 34, 51]) {
        h = (h ^ a.rotate_left(rot)).wrapping_mul(SEAL_K[0]);
        h ^= h >> 29;
    }
    h | 1
}

const SEAL_K: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0x85eb_ca77_c2b2_ae63,
];

/// [`seal`] computed piece by piece: the same value for the same bytes however they are
/// split, so a payload can be hashed while it is copied.
pub(crate) struct Sealer {
    acc: [u64; 4],
    /// Bytes of an unfinished 32-byte chunk.
    buf: [u8; 32],
    buffered: usize,
    len: u64,
}

impl Sealer {
    pub(crate) fn new(header: [u64; 3]) -> Sealer {
        Sealer {
            acc: [
                SEAL_K[0] ^ header[0],
                SEAL_K[1] ^ header[1],
                SEAL_K[2] ^ header[2],
                SEAL_K[3],
            ],
            buf: [0; 32],
            buffered: 0,
            len: 0,
        }
    }

    /// Mixes the 32-byte chunk `c` into `acc`.
    #[inline(always)]
    fn chunk(acc: &mut [u64; 4], c: &[u8]) {
        let mut words = [0u64; 4];
        for (i, w) in words.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&c[i * 8..i * 8 + 8]);
            *w = u64::from_le_bytes(b);
        }
        Self::mix(acc, words);
    }

    /// Mixes a 32-byte chunk, as four little-endian words, into `acc`.
    #[inline(always)]
    fn mix(acc: &mut [u64; 4], words: [u64; 4]) {
        for ((a, w), k) in acc.iter_mut().zip(words).zip(SEAL_K) {
            *a = (*a ^ w).wrapping_mul(k).rotate_left(31);
        }
    }

    /// Adds the next bytes of the payload.
    #[inline]
    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.buffered > 0 {
            let take = (32 - self.buffered).min(bytes.len());
            self.buf[self.buffered..self.buffered + take].copy_from_slice(&bytes[..take]);
            self.buffered += take;
            bytes = &bytes[take..];
            if self.buffered < 32 {
                return;
            }
            let buf = self.buf;
            Self::chunk(&mut self.acc, &buf);
            self.buffered = 0;
        }
        // The accumulators stay in registers through the loop (the seal is latency-bound:
        // a round trip through memory per chunk would double its time).
        let mut acc = self.acc;
        let mut chunks = bytes.chunks_exact(32);
        for c in &mut chunks {
            Self::chunk(&mut acc, c);
        }
        self.acc = acc;
        let rest = chunks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// The seal of the header and every byte added.
    pub(crate) fn finish(self) -> u64 {
        seal_rest(self.acc, &self.buf[..self.buffered], self.len)
    }
}

/// A lane in the mapping: raw access for the journal and for recovery.
///
/// All methods assume the lane is owned by the caller (one transaction, or recovery
/// before any transaction runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawLane {
    base: *mut u8,
    len: usize,
}

impl RawLane {
    /// # Safety
    /// 1. `[base, base + len)` is a lane of a live mapping (64-aligned, `len` ≥ 4096),
    ///    used by nobody else while this value is used, and outlives it.
    pub(crate) unsafe fn new(base: *mut u8, len: usize) -> RawLane {
        debug_assert!((base as usize).is_multiple_of(CACHE_LINE) && len >= 4096);
        RawLane { base, len }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.len
    }

    /// The address of byte `at` of the lane.
    fn at(&self, at: usize) -> *mut u8 {
        debug_assert!(at <= self.len);
        // SAFETY: `at <= len`: inside the lane or one past it (RawLane::new (1)).
        unsafe { self.base.add(at) }
    }

    /// The 8-byte word at `at` (a multiple of 8, so aligned: the lane is 64-aligned).
    #[expect(
        clippy::cast_ptr_alignment,
        reason = "`at` is a multiple of 8 of a 64-aligned lane"
    )]
    fn word_ptr(&self, at: usize) -> *mut u64 {
        debug_assert!(at + 8 <= self.len && at.is_multiple_of(8));
        self.at(at).cast::<u64>()
    }

    fn word(&self, at: usize) -> u64 {
        // SAFETY: aligned and in bounds (word_ptr), owned by this lane's user.
        unsafe { self.word_ptr(at).read() }
    }

    fn set_word(&self, at: usize, v: u64) {
        // SAFETY: aligned and in bounds (word_ptr), owned by this lane's user, writable.
        unsafe { self.word_ptr(at).write(v) };
    }

    /// Where a record with `plen` payload bytes written at `at` ends, or `None` if it
    /// does not fit in the area.
    fn record_end(&self, at: usize, plen: usize) -> Option<usize> {
        at.checked_add(record_len(plen))
            .filter(|&end| end <= self.len)
    }

    /// Writes a record header at `at`: its three words after the seal, then the seal
    /// (`at` a multiple of 8, `at + 32` inside the lane).
    fn write_header(&self, at: usize, header: [u64; 3], seal: u64) {
        for (k, word) in header.into_iter().enumerate() {
            self.set_word(at + 8 * (k + 1), word);
        }
        self.set_word(at, seal);
    }

    /// The bytes `[at, at + len)` of the lane.
    fn bytes(&self, at: usize, len: usize) -> &[u8] {
        debug_assert!(at + len <= self.len);
        // All writes go through raw pointers and happen between reads.
        // SAFETY: in bounds (callers check), owned by this lane's user; no `&mut` to the
        // lane exists while the slice lives.
        unsafe { std::slice::from_raw_parts(self.at(at), len) }
    }

    /// Reserves a new range of epochs at open (L1) and returns its first epoch.
    pub(crate) fn reserve_epochs(&self, persister: &Persister) -> u64 {
        let first = self.word(0).max(1);
        self.set_word(0, first.saturating_add(EPOCH_RESERVATION));
        // PERSIST: the new bound is durable before any epoch of the range is used (L1).
        // SAFETY: the header word is inside the lane.
        unsafe { persister.persist(self.base, 8) };
        first
    }

    /// Whether `epoch` is still inside the reserved range.
    pub(crate) fn epoch_reserved(&self, epoch: u64) -> bool {
        epoch < self.word(0)
    }

    /// Reads the record at `at` if it is valid for `epoch` (any epoch when `None`).
    pub(crate) fn read(&self, at: usize, epoch: Option<u64>) -> Option<(Record, u64, usize)> {
        if at.checked_add(REC_HEADER)? > self.len {
            return None;
        }
        let stored = self.word(at);
        let e = self.word(at + 8);
        let ka = self.word(at + 16);
        let off = self.word(at + 24);
        if epoch.is_some_and(|want| want != e) {
            return None;
        }
        let [k0, k1, k2, k3, a0, a1, a2, a3] = ka.to_le_bytes();
        let kind = Kind::from_u32(u32::from_le_bytes([k0, k1, k2, k3]))?;
        let aux = u32::from_le_bytes([a0, a1, a2, a3]);
        let payload = if kind.has_payload() { aux as usize } else { 0 };
        let next = at.checked_add(record_len(payload))?;
        if next > self.len {
            return None;
        }
        if seal([e, ka, off], self.bytes(at + REC_HEADER, payload)) != stored {
            return None;
        }
        Some((
            Record {
                kind,
                aux,
                off,
                payload_at: at + REC_HEADER,
                area: *self,
            },
            e,
            next,
        ))
    }

    /// The log held by the lane: its epoch and records in order (L2). An EXTEND record
    /// ends the scan here; [`scan_with`](Self::scan_with) follows it.
    #[cfg(test)]
    pub(crate) fn scan(&self) -> Option<(u64, Vec<Record>)> {
        self.scan_with(|_, _| None)
    }

    /// The log held by the lane, following EXTEND records into the extension blocks
    /// `resolve(off, order)` returns (it validates them; `None` ends the log there).
    pub(crate) fn scan_with(
        &self,
        resolve: impl Fn(u64, u32) -> Option<RawLane>,
    ) -> Option<(u64, Vec<Record>)> {
        let (first, epoch, mut at) = self.read(LANE_HEADER, None)?;
        let mut area = *self;
        let mut recs = Vec::new();
        let mut r = first;
        loop {
            recs.push(r);
            if r.kind == Kind::Extend {
                // A corrupt chain cannot loop forever: a log has at most as many
                // extension blocks as records.
                match resolve(r.off, r.aux).filter(|_| recs.len() < 1 << 20) {
                    Some(next) => {
                        area = next;
                        at = LANE_HEADER;
                    }
                    None => break,
                }
            }
            if r.kind == Kind::Skip {
                // Forward only, inside the lane, 8-aligned (the bytes are untrusted).
                let to = usize::try_from(r.off).unwrap_or(usize::MAX);
                if area != *self || to < at || !to.is_multiple_of(8) || to >= self.len {
                    break;
                }
                at = to;
            }
            match area.read(at, Some(epoch)) {
                Some((next_rec, _, next)) => {
                    r = next_rec;
                    at = next;
                }
                None => break,
            }
        }
        Some((epoch, recs))
    }

    /// Writes a record at `at` (payload copied from `rec.payload`, which may be PM) and
    /// flushes it; returns the position after it, or `None` if it does not fit. An UNDO
    /// payload of [`STREAM_MIN`] bytes or more is streamed
    /// ([`append_streamed`](Self::append_streamed)); either way the whole record is
    /// durable at the caller's next fence.
    ///
    /// # Safety
    /// 1. `rec.payload` is `rec.aux` readable bytes when `rec.kind` is UNDO or REDO
    ///    (anything otherwise), does not overlap the lane, and nobody writes them while
    ///    this runs.
    pub(crate) unsafe fn append(
        &self,
        at: usize,
        epoch: u64,
        rec: NewRecord,
        persister: &Persister,
    ) -> Option<usize> {
        if rec.kind == Kind::Undo && rec.aux as usize >= STREAM_MIN {
            // SAFETY: (1) is the caller's.
            return unsafe { self.append_streamed(at, epoch, rec, persister) };
        }
        if rec.kind.has_payload() && rec.aux as usize >= COPY_LOOP_MIN {
            // SAFETY: (1) is the caller's.
            return unsafe { self.append_copied(at, epoch, rec, persister) };
        }
        // SAFETY: (1) is the caller's.
        let next = unsafe { self.append_unflushed(at, epoch, rec) }?;
        // PERSIST: callers fence before relying on the record (L3, L4).
        // SAFETY: the record lies inside the lane.
        unsafe { persister.flush(self.at(at), next - at) };
        Some(next)
    }

    /// [`RawLane::append`] of a payload of [`COPY_LOOP_MIN`] bytes or more: the payload is
    /// copied ([`copy_by_chunks`]), the lines holding only payload are flushed at once,
    /// and the seal is computed from the source (still in the cache) while they are
    /// written back; then the header, and its line is flushed. One fence of the caller
    /// makes the whole record durable (L3), as after `append`; a crash before it leaves
    /// any subset of the lines, which the seal rejects.
    ///
    /// Measured against `memcpy`, seal, flush (bench/RESULTS.md): a 4 KiB update about
    /// 20 % faster and without the slow processes `rep movsb` gave; hashing while copying
    /// and flushing each line as it filled was slower (the seal's dependency chain then
    /// waits for every load).
    ///
    /// # Safety
    /// 1. As [`RawLane::append`] (1).
    unsafe fn append_copied(
        &self,
        at: usize,
        epoch: u64,
        rec: NewRecord,
        persister: &Persister,
    ) -> Option<usize> {
        let plen = rec.aux as usize;
        let next = self.record_end(at, plen)?;
        // SAFETY: (1) `plen` readable bytes, outside the lane (which this function
        // writes), that nobody writes while the slice lives.
        let src = unsafe { std::slice::from_raw_parts(rec.payload, plen) };
        let start = at + REC_HEADER;
        // SAFETY: `[start, start + plen)` lies inside the record, inside the lane
        // (`next <= len`), and does not overlap `src` (1).
        unsafe { copy_by_chunks(self.at(start), src) };
        // The end of the header's last line (the header may straddle two): the lines
        // after it hold payload only.
        let first_end = (at + REC_HEADER).next_multiple_of(CACHE_LINE).min(next);
        // PERSIST: the payload's lines after the header's, durable at the caller's fence
        // (L3); their write-back overlaps the seal below.
        // SAFETY: `[first_end, next)` lies inside the record.
        unsafe { persister.flush(self.at(first_end), next - first_end) };
        let header = [epoch, rec.kind as u64 | u64::from(rec.aux) << 32, rec.off];
        // The source holds the bytes copied, and is still in the cache.
        self.write_header(at, header, seal(header, src));
        // PERSIST: the header's line(s), durable at the caller's fence (L3).
        // SAFETY: `[at, first_end)` lies inside the lane.
        unsafe { persister.flush(self.at(at), first_end - at) };
        Some(next)
    }

    /// [`RawLane::append`] of a large payload: the payload's whole cache lines are
    /// written with non-temporal stores ([`Persister::stream`]: no read of the log's
    /// lines, no flush of them), its partial first and last lines and the header with
    /// plain stores and a flush, and the seal is computed from the source bytes. One
    /// fence of the caller makes the whole record durable (L3), as after `append`.
    ///
    /// # Safety
    /// 1. As [`RawLane::append`] (1).
    unsafe fn append_streamed(
        &self,
        at: usize,
        epoch: u64,
        rec: NewRecord,
        persister: &Persister,
    ) -> Option<usize> {
        use crate::persist::CACHE_LINE;
        let plen = rec.aux as usize;
        let next = self.record_end(at, plen)?;
        // SAFETY: (1) `plen` readable bytes that nobody writes while the slice lives, and
        // that do not overlap the lane this function writes.
        let src = unsafe { std::slice::from_raw_parts(rec.payload, plen) };
        let start = at + REC_HEADER;
        let end = start + plen;
        // The payload's whole lines `[full, tail)`; the lane is 64-aligned, so positions
        // and addresses agree on line boundaries.
        let full = start.next_multiple_of(CACHE_LINE).min(end);
        let tail = (end - end % CACHE_LINE).max(full);
        // SAFETY: `[start, full)` is inside the record, inside the lane (`next` <= len);
        // the source is the first `full - start` bytes of `src`, which does not overlap
        // the lane (1).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.at(start), full - start) };
        let rest = &src[tail - start..];
        // SAFETY: `[tail, end)` is inside the record, inside the lane; `rest` is the last
        // `end - tail` bytes of `src`, which does not overlap the lane (1).
        unsafe { std::ptr::copy_nonoverlapping(rest.as_ptr(), self.at(tail), rest.len()) };
        let ka = rec.kind as u64 | u64::from(rec.aux) << 32;
        // The source holds the bytes copied, so its seal is the record's; the whole lines
        // are hashed as they are streamed, while they are in the cache.
        let mut sealer = Sealer::new([epoch, ka, rec.off]);
        sealer.update(&src[..full - start]);
        let whole = &src[full - start..tail - start];
        // PERSIST: the payload's whole lines are durable at the caller's fence (L3), with
        // the lines flushed below.
        // SAFETY: `full` is 64-aligned and `whole.len()` a multiple of 64; the range is
        // inside the lane, `whole` inside `src`, and they do not overlap (1).
        unsafe {
            persister.stream(self.at(full), whole.as_ptr(), whole.len(), |line| {
                sealer.update(line);
            });
        }
        sealer.update(&src[tail - start..]);
        self.write_header(at, [epoch, ka, rec.off], sealer.finish());
        // PERSIST: the header and the payload's partial lines, durable at the caller's
        // fence (L3).
        // SAFETY: `[at, full)` lies inside the lane.
        unsafe { persister.flush(self.at(at), full - at) };
        // SAFETY: `[tail, next)` lies inside the lane.
        unsafe { persister.flush(self.at(tail), next - tail) };
        Some(next)
    }

    /// [`RawLane::append`] without the flush: the caller flushes the record (with its
    /// neighbours, in one call) before any fence that relies on it.
    ///
    /// # Safety
    /// 1. As [`RawLane::append`] (1).
    pub(crate) unsafe fn append_unflushed(
        &self,
        at: usize,
        epoch: u64,
        rec: NewRecord,
    ) -> Option<usize> {
        let NewRecord {
            kind,
            aux,
            off,
            payload,
        } = rec;
        let plen = if kind.has_payload() { aux as usize } else { 0 };
        let next = self.record_end(at, plen)?;
        let ka = kind as u64 | u64::from(aux) << 32;
        if plen > 0 {
            let dst = self.at(at + REC_HEADER);
            // SAFETY: (1) `payload` has `plen` readable bytes not overlapping the lane; the
            // destination `[at + 32, at + 32 + plen)` is inside the lane (`next` <= len).
            unsafe { std::ptr::copy_nonoverlapping(payload, dst, plen) };
        }
        let header = [epoch, ka, off];
        self.write_header(at, header, seal(header, self.bytes(at + REC_HEADER, plen)));
        Some(next)
    }

    /// Flushes the bytes `[from, to)` of the area (records written unflushed).
    pub(crate) fn flush_range(&self, from: usize, to: usize, persister: &Persister) {
        debug_assert!(from <= to && to <= self.len);
        // SAFETY: `[from, to)` lies inside the area.
        unsafe { persister.flush(self.at(from), to - from) };
    }

    /// The payload bytes of an UNDO record (in whichever area it is).
    pub(crate) fn payload<'a>(&'a self, r: &'a Record) -> &'a [u8] {
        r.area.bytes(r.payload_at, r.aux as usize)
    }

    /// The address of byte `at` of the lane, for flushing.
    pub(crate) fn addr(&self, at: usize) -> *const u8 {
        self.at(at)
    }

    /// The address of the word [`RawLane::truncate`] clears: writing back its line makes
    /// a truncation durable.
    pub(crate) fn truncation_word(&self) -> *const u8 {
        self.at(LANE_HEADER)
    }

    /// Invalidates the first record without flushing it: for a committed log whose
    /// recovery would only repeat what is done (L2 at the latest when the lane's next
    /// record, which overwrites this line, is flushed and fenced, or a drain writes the
    /// line back). A flush here would make the next atomic read-modify-write of this
    /// thread wait for the write-back, as a fence does.
    pub(crate) fn invalidate(&self) {
        self.set_word(LANE_HEADER, 0);
    }

    /// Forgets the lane's log by invalidating its first record (L2); flushed, not fenced.
    pub(crate) fn truncate(&self, persister: &Persister) {
        self.set_word(LANE_HEADER, 0);
        // PERSIST: callers fence when a later step depends on the truncation (F2).
        // SAFETY: the word is inside the lane.
        unsafe { persister.flush(self.at(LANE_HEADER), 8) };
    }
}

/// The lane `i` of a pool whose journals region starts at `journals` (a pointer).
///
/// # Safety
/// 1. `journals` is the journals region of a live mapping with at least `i + 1` lanes of
///    `lane_size` bytes; 2. nobody else uses lane `i` while the result is used.
pub(crate) unsafe fn lane_at(journals: *mut u8, i: u32, lane_size: u64) -> RawLane {
    // SAFETY: (1) lane `i` is inside the region.
    let base = unsafe { journals.add(to_usize(u64::from(i) * lane_size)) };
    // SAFETY: (1), (2) are the caller's; lanes are page-aligned and page-sized multiples.
    unsafe { RawLane::new(base, to_usize(lane_size)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::Mode;

    #[repr(C, align(64))]
    struct Aligned([u8; 4096]);

    fn undo(aux: u32, off: u64, payload: *const u8) -> NewRecord {
        NewRecord {
            kind: Kind::Undo,
            aux,
            off,
            payload,
        }
    }

    #[test]
    fn records_round_trip_and_torn_ones_end_the_log() {
        let mut buf = Box::new(Aligned([0; 4096]));
        // SAFETY: (1) 4096 bytes, 64-aligned, owned by `buf`, which outlives the lane.
        let lane = unsafe { RawLane::new(buf.0.as_mut_ptr(), 4096) };
        let ps = Persister::new(Mode::Emulated);
        assert!(lane.scan().is_none(), "a zeroed lane holds no log");
        let data = *b"old bytes!";
        let e = lane.reserve_epochs(&ps);
        assert!(lane.epoch_reserved(e + 1000));
        // SAFETY: (1) `data` is 10 readable bytes outside the lane.
        let at = unsafe { lane.append(64, e, undo(10, 4096, data.as_ptr()), &ps) }.unwrap();
        let at =
            // SAFETY: (1) no payload for ALLOC.
            unsafe { lane.append(at, e, NewRecord::plain(Kind::Alloc, 3, 8192), &ps) }.unwrap();
        let (epoch, recs) = lane.scan().unwrap();
        assert_eq!(epoch, e);
        assert_eq!(recs.len(), 2);
        assert_eq!(lane.payload(&recs[0]), b"old bytes!");
        assert_eq!(
            (recs[1].kind, recs[1].aux, recs[1].off),
            (Kind::Alloc, 3, 8192)
        );
        // A torn third record is not part of the log.
        // SAFETY: as above.
        unsafe { lane.append(at, e, NewRecord::plain(Kind::Commit, 0, 0), &ps) }.unwrap();
        assert_eq!(lane.scan().unwrap().1.len(), 3);
        lane.set_word(at + 24, 1);
        assert_eq!(lane.scan().unwrap().1.len(), 2);
        // A new epoch's shorter log is not extended by the old records.
        // SAFETY: as above.
        unsafe { lane.append(64, e + 1, NewRecord::plain(Kind::Free, 0, 64), &ps) }.unwrap();
        let (epoch, recs) = lane.scan().unwrap();
        assert_eq!((epoch, recs.len()), (e + 1, 1));
        lane.truncate(&ps);
        assert!(lane.scan().is_none());
        // A record that does not fit is refused.
        let big = [0u8; 16];
        // SAFETY: (1) `big` is 16 readable bytes outside the lane.
        let r = unsafe { lane.append(4096 - 40, e, undo(16, 0, big.as_ptr()), &ps) };
        assert!(r.is_none());
    }

    #[test]
    fn a_record_copied_by_the_loop_is_the_plain_record_and_every_line_is_flushed() {
        let src: Vec<u8> = (0..3000u32)
            .map(|i| (i * 31 + 7).to_le_bytes()[0])
            .collect();
        let ps = Persister::new(Mode::Emulated);
        for at in [64, 72, 96, 120, 128, 200] {
            for plen in [
                COPY_LOOP_MIN,
                COPY_LOOP_MIN + 1,
                255,
                1000,
                1024,
                2047,
                2048,
            ] {
                let mut one = Box::new(Aligned([0; 4096]));
                let mut plain = Box::new(Aligned([0; 4096]));
                // SAFETY: (1) 4096 bytes, 64-aligned, owned by `one`, which outlives the lane.
                let a = unsafe { RawLane::new(one.0.as_mut_ptr(), 4096) };
                // SAFETY: (1) likewise, owned by `plain`.
                let b = unsafe { RawLane::new(plain.0.as_mut_ptr(), 4096) };
                let aux = u32::try_from(plen).unwrap();
                let before = crate::PersistCounters::current();
                // SAFETY: (1) `src` has at least `plen` readable bytes outside the lanes.
                let next = unsafe { a.append(at, 9, undo(aux, 4096, src.as_ptr()), &ps) };
                let flushed = crate::PersistCounters::current().since(before).flushes;
                // SAFETY: as above.
                let expect = unsafe { b.append_unflushed(at, 9, undo(aux, 4096, src.as_ptr())) };
                assert_eq!(next, expect, "at {at}, {plen} bytes");
                assert_eq!(one.0, plain.0, "at {at}, {plen} bytes: the same record");
                let end = next.unwrap();
                let lines =
                    (end.next_multiple_of(CACHE_LINE) - at / CACHE_LINE * CACHE_LINE) / CACHE_LINE;
                assert_eq!(
                    flushed, lines as u64,
                    "at {at}, {plen} bytes: each line once"
                );
                let (rec, epoch, after) = a.read(at, None).expect("a sealed record");
                assert_eq!((epoch, after), (9, end));
                assert_eq!(a.payload(&rec), &src[..plen]);
            }
        }
    }

    #[test]
    fn the_seal_is_the_same_however_the_payload_is_split() {
        // Values of the seal before `Sealer` (the record format is unchanged).
        let golden: [u64; 15] = [
            17532038380042025545,
            13401902879160663171,
            8494624436961777761,
            10394741699771301973,
            3875394891754039641,
            3223140098581124653,
            5892122927974005625,
            4109795632830681671,
            12758265363434607587,
            5064960630848593703,
            12862935919501855255,
            3944252725945527453,
            6044635166691991303,
            11093188328837971673,
            10721922252938287335,
        ];
        let sizes = [
            0usize, 1, 7, 8, 31, 32, 33, 63, 64, 100, 255, 256, 1000, 4096, 4099,
        ];
        for (n, want) in sizes.into_iter().zip(golden) {
            let p: Vec<u8> = (0..n).map(|i| (i * 131 + 7).to_le_bytes()[0]).collect();
            let header = [n as u64, 2, 3];
            assert_eq!(seal(header, &p), want, "{n} bytes");
            for cut in [1, 8, 24, 32, 40, 64] {
                let mut s = Sealer::new(header);
                for piece in p.chunks(cut) {
                    s.update(piece);
                }
                assert_eq!(s.finish(), want, "{n} bytes in pieces of {cut}");
            }
        }
    }

    #[test]
    fn the_scan_follows_skip_records_forward_only() {
        let mut buf = Box::new(Aligned([0; 4096]));
        // SAFETY: (1) 4096 bytes, 64-aligned, owned by `buf`, which outlives the lane.
        let lane = unsafe { RawLane::new(buf.0.as_mut_ptr(), 4096) };
        let ps = Persister::new(Mode::Emulated);
        let e = lane.reserve_epochs(&ps);
        let plain = |at, kind, aux, off| {
            // SAFETY: (1) no payload.
            unsafe { lane.append(at, e, NewRecord::plain(kind, aux, off), &ps) }.unwrap()
        };
        plain(64, Kind::Skip, 0, 1024);
        // Left over at 96: not part of the log, which continues at 1024.
        plain(96, Kind::Free, 0, 64);
        plain(1024, Kind::Alloc, 1, 128);
        let (_, recs) = lane.scan().unwrap();
        let kinds: Vec<Kind> = recs.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [Kind::Skip, Kind::Alloc]);
        // A skip backwards (or out of the lane) ends the log.
        for to in [32, 4096] {
            plain(64, Kind::Skip, 0, to);
            assert_eq!(lane.scan().unwrap().1.len(), 1, "skip to {to}");
        }
    }

    #[test]
    fn seals_differ_for_any_changed_byte() {
        let payload: Vec<u8> = (0..100).collect();
        let s = seal([1, 2, 3], &payload);
        for i in 0..payload.len() {
            let mut p = payload.clone();
            p[i] ^= 0x10;
            assert_ne!(seal([1, 2, 3], &p), s, "byte {i}");
        }
        assert_ne!(seal([1, 2, 4], &payload), s);
        assert_ne!(seal([2, 2, 3], &payload), s);
        assert_ne!(seal([0, 0, 0], &[]), 0);
    }
}
