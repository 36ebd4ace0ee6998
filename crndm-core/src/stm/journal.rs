//! The journal of one running transaction: what it logged, allocated and will free.
//!
//! # Persistence order (one transaction)
//! ```text
//! alloc:      reserve a block (DRAM only; a split writes and fences heads, see
//!             `alloc::buddy`); its ALLOC record is written later, before a fence
//! log_range:  pending ALLOC and FREE records, UNDO record -> flush -> fence (L3) -> caller
//!             writes in place (an UNDO payload of 32 KiB or more is streamed: its whole
//!             lines with non-temporal stores, the rest flushed, one fence for all)
//! defer_free: of a block reserved by this transaction: forget the reservation
//!             (the block goes back to the lane's cache when the transaction ends);
//!             of any other block: its FREE record is written later, like ALLOC records
//! commit:     pending records -> flush -> fence if an ALLOC record is not durable (A1)
//!             -> used heads of the reserved blocks -> flush
//!             redo commit (FREE records durable, small, room in the area):
//!                         REDO records of every written range, COMMIT(redo) record,
//!                         FREE|k heads, written ranges -> flush -> fence (commit point)
//!                         -> truncate (not flushed; R1 in `stm::truncations`)
//!             otherwise:  flush every written range -> fence (L4)
//!             no frees:   truncate -> fence                      (the commit point)
//!             with frees: COMMIT record, FREE|k heads -> flush -> fence (commit point)
//!                         -> truncate (not flushed; R1)
//!                         -> freed blocks to the lane's cache, or parked (F2)
//! (a redo commit with frees also gives its freed blocks back this way)
//! end of the lane's next transaction that fenced: publish the parked blocks
//! rollback:   restore UNDO newest first -> flush -> fence -> free ALLOC blocks
//!             -> truncate -> fence
//! recovery:   a log without COMMIT record: FREE|k heads named by its FREE records go
//!             back to USED|k (before the allocator reads the map), then as rollback;
//!             a log with one: (redo: ALLOC heads FREE|k -> USED|k before the allocator
//!             reads the map; write the REDO records again -> fence) finish the frees
//!             -> truncate -> fence
//! ```
//! A redo commit costs one fence less than the classic one (the written bytes travel in
//! the log, so they need not be durable before the commit point), and leaves its
//! truncation to the next transaction that fences (R1, `stm::truncations`).
//!
//! Between a transaction's first fence and its end, nothing here does an atomic
//! read-modify-write (lane, counters, truncation table, lane cache): on x86 one waits
//! for every earlier `clwb` to complete, as a fence does, while plain work overlaps the
//! write-backs. That bookkeeping runs in `finish`.
//!
//! An empty transaction writes nothing and issues no flush and no fence; neither does
//! one that only allocates blocks and frees them again.

use std::cell::RefCell;
use std::collections::HashSet;
use std::marker::PhantomData;

use crate::alloc::buddy::{UNIT, block_size};
use crate::error::{Error, Result};
use crate::marker::phantom::{NotSendSync, NotTxRef};
use crate::offset::PoolOff;
use crate::persist::{CACHE_LINE, Persister};
use crate::stm::lane::{
    COMMIT_REDO, Kind, LANE_HEADER, NewRecord, REC_HEADER, RawLane, record_len,
};
use crate::stm::truncations::Claims;

/// Room kept at the end of every log area for an EXTEND and a COMMIT record.
const RESERVE: usize = 2 * REC_HEADER;
use crate::crash_point::crash_point;
use crate::hashers::WordHash;
use crate::stm::locks::{Owner, Taken};
use crate::stm::open::OpenPool;
use crate::stm::pool_type::{PoolRef, PoolType};
use crate::stm::recovery::recover_lane;

/// `(offset, len)` of the ranges a transaction has logged.
type LoggedSet = HashSet<(u64, u64), WordHash>;

/// The state of one running transaction, in groups with one job each. A commit path
/// reads as the protocol it implements by calling the steps of these groups in the
/// order of docs/PROTOCOL.md (see [`Journal::commit`]).
#[derive(Default)]
struct TxState {
    /// Where the log goes next.
    log: LogCursor,
    /// What the transaction changed in place (and how to undo it).
    writes: Writes,
    /// Blocks the transaction allocates and frees.
    blocks: Reservations,
    /// The fences the transaction owes, and what its fences allow.
    fences: FenceDebts,
    /// Object locks and their guards.
    locks: Locks,
    /// Volatile work for the transaction's end.
    end: EndHooks,
    /// The collection registry: per-transaction state of the layers above.
    locals: Locals,
    /// How the transaction commits (decided by `prepare_commit`).
    commit: CommitKind,
}

/// Empties `v`, keeping its buffer unless it grew too large (a transaction then
/// allocates nothing for its bookkeeping).
fn clear_vec<T>(v: &mut Vec<T>) {
    if v.capacity() > KEEP {
        *v = Vec::new();
    } else if !v.is_empty() {
        v.clear();
    }
}

/// The largest buffer capacity a recycled state keeps.
const KEEP: usize = 1024;

/// The log cursor: where the next record of the transaction goes.
///
/// - **T1**: `records` counts the records appended since the transaction began; zero
///   means the lane still holds the previous log's truncated state (nothing to commit
///   or roll back, no fence is owed to the log).
/// - **T2**: records go to `area` if set (the last extension block), else to the lane,
///   at `pos`; every block of `extensions` is named by an EXTEND record of this log,
///   so recovery frees it, and it is freed with the deferred frees at commit.
///   `lane_end` is where the log's records in the lane end.
/// - **R2**: before the transaction's first fence, it writes no line of the lane but the
///   first one where the lane's previous log, whose truncation may not be durable yet,
///   has records: a crash at that fence could keep such a line without the first one,
///   and the previous log, committed, would reappear cut short of its COMMIT record and
///   be rolled back. A first record that does not fit the first line follows a SKIP
///   record there, to past the previous log's end (or, without room, the previous log's
///   truncation is fenced first: [`Journal::guard_previous_log`]).
#[derive(Default)]
struct LogCursor {
    /// The extension block the log continues in, if the lane filled up.
    area: Option<RawLane>,
    /// Where the next record goes in the current area (the lane or `area`).
    pos: usize,
    /// Extension blocks of this log: freed when the transaction ends.
    extensions: Vec<(PoolOff, u8)>,
    /// Records written so far.
    records: usize,
    /// Where the log's records in the lane past its first line begin (T2, R2).
    lane_start: usize,
    /// Where the log's records in the lane end (T2).
    lane_end: usize,
}

impl LogCursor {
    /// The area records go to now (T2).
    #[inline]
    fn current(&self, lane: RawLane) -> RawLane {
        self.area.unwrap_or(lane)
    }

    fn clear(&mut self) {
        clear_vec(&mut self.extensions);
        self.area = None;
        self.pos = LANE_HEADER;
        self.records = 0;
        self.lane_start = LANE_HEADER;
        self.lane_end = LANE_HEADER;
    }
}

/// The ranges the transaction changed in place.
///
/// - **T3**: a range is in `logged` only once all of its undo records are in the log,
///   or it lies in memory whose old contents need no saving (a block this transaction
///   reserved, or fresh bytes noted by `note_written`): logged once per transaction.
/// - **T4**: every range of `logged` is in `written` (as addresses), flushed at commit
///   (L4) or carried by a REDO record; `recent` holds the last ranges logged, a cache
///   of `logged` (a range inside one of them is saved already).
/// - **T5** (V1): `volatile_stamps` are `VCell` stamps inside logged ranges, reset by a
///   rollback.
#[derive(Default)]
struct Writes {
    /// Ranges written in place (addresses), flushed at commit.
    written: Vec<(usize, usize)>,
    /// Ranges already logged in this transaction (log each at most once).
    logged: LoggedSet,
    /// The last ranges logged, `[start, end)` offsets: a range inside one of them is
    /// saved already.
    recent: [(u64, u64); 4],
    /// Stamps of `VCell`s used in logged ranges, reset by a rollback (V1).
    volatile_stamps: Vec<usize>,
}

impl Writes {
    /// Whether `[off, end)` lies inside a range logged just before.
    #[inline]
    fn recently_saved(&self, off: u64, end: u64) -> bool {
        self.recent.iter().any(|&(a, b)| a <= off && end <= b)
    }

    /// Records `[off, off + len)` (at `ptr`) as saved (T3) and to flush at commit (T4).
    #[inline]
    fn saved(&mut self, ptr: *const u8, off: u64, len: usize) {
        self.logged.insert((off, len as u64));
        self.recent.rotate_right(1);
        self.recent[0] = (off, off + len as u64);
        self.written.push((ptr as usize, len));
    }

    fn clear(&mut self) {
        clear_vec(&mut self.written);
        if self.logged.capacity() > KEEP {
            self.logged = LoggedSet::default();
        } else if !self.logged.is_empty() {
            self.logged.clear();
        }
        self.volatile_stamps.clear();
        self.recent = [(0, 0); 4];
    }
}

/// The blocks the transaction allocates and frees.
///
/// - **T6** (A1): a block of `reserved` is reserved in DRAM only until commit marks it used
///   (after its ALLOC record is durable, A1); an abort gives it back. `recorded` says its
///   ALLOC record is in the log.
/// - **T7**: a reserved block freed again moves to `cancelled` (back to the lane's cache
///   when the transaction ends, whatever its outcome); `cancelled_recorded` says one of
///   them had its ALLOC record written (a redo commit would mark it used at recovery).
/// - **T8**: `frees[..frees_recorded]` have their FREE record in the log; commit frees
///   all of `frees` only after every one is recorded (`prepare_commit`).
/// - `reserved_blocks` is scratch: `(off, order)` of the reserved blocks, built at the
///   transaction's end.
#[derive(Default)]
struct Reservations {
    /// Blocks reserved by this transaction, marked used at commit.
    reserved: Vec<Reservation>,
    /// Reserved blocks freed again: back to the lane's cache when the transaction ends.
    cancelled: Vec<(PoolOff, u8)>,
    /// A reserved block whose ALLOC record is written was freed again (T7).
    cancelled_recorded: bool,
    /// Blocks to free at commit.
    frees: Vec<(PoolOff, u8)>,
    /// How many of `frees` have their FREE record in the log (T8).
    frees_recorded: usize,
    /// The units freed in place at commit (`Heap::free_in_place`), kept for the
    /// allocation-free reuse of its capacity.
    freed: Vec<(u64, u8)>,
    /// `(off, order)` of the reserved blocks, built at commit.
    reserved_blocks: Vec<(PoolOff, u8)>,
}

impl Reservations {
    /// Whether `[off, end)` lies inside a block this transaction reserved.
    #[inline]
    fn holds(&self, off: u64, end: u64) -> bool {
        self.reserved
            .iter()
            .any(|r| off >= r.off.get() && end <= r.off.get() + block_size(r.order))
    }

    /// Whether every reserved block and every free has its record in the log.
    fn all_recorded(&self) -> bool {
        self.reserved.iter().all(|r| r.recorded) && self.frees_recorded == self.frees.len()
    }

    /// Fills `reserved_blocks` with the reserved blocks.
    fn collect_reserved(&mut self) {
        self.reserved_blocks
            .extend(self.reserved.iter().map(|r| (r.off, r.order)));
    }

    fn clear(&mut self) {
        clear_vec(&mut self.reserved);
        clear_vec(&mut self.cancelled);
        clear_vec(&mut self.frees);
        clear_vec(&mut self.freed);
        clear_vec(&mut self.reserved_blocks);
        self.cancelled_recorded = false;
        self.frees_recorded = 0;
    }
}

/// The fences the transaction owes, and what its fences allow.
///
/// - **T9** (A1): `alloc_unfenced`: an ALLOC record was written since the last fence; commit
///   fences before it marks the reserved blocks used.
/// - **T10**: `free_unfenced`: a FREE record was written since the last fence; such a
///   transaction cannot commit by redo (its freed heads may not become durable with a
///   COMMIT record whose FREE records are not).
/// - **T11** (F2): `fenced_in_lane`: a fence followed this transaction's first record, which
///   overwrote the lane's previous log: the blocks that log parked may be published,
///   at the transaction's end.
/// - **T12** (R1): `truncations` is `Flushed` from the first fence on: the truncations other
///   lanes' redo commits left unflushed were flushed before it, and the claims are
///   settled when the transaction ends.
/// - **T13** (L3): `batch` is `Open` inside [`Journal::log_batch`]; `fence_owed` says an undo
///   record of the batch waits for the batch's fence, and is never set outside a batch.
#[derive(Default)]
struct FenceDebts {
    /// An ALLOC record was written since the last fence (T9).
    alloc_unfenced: bool,
    /// A FREE record was written since the last fence (T10).
    free_unfenced: bool,
    /// A fence followed this transaction's first record (T11).
    fenced_in_lane: bool,
    /// The truncations flushed before this transaction's first fence (T12).
    truncations: Truncations,
    /// The undo records' fence, inside a batch (T13).
    batch: Batch,
    /// R2 was taken care of for this transaction (a SKIP record, or a fence).
    previous_log_handled: bool,
    /// R2: before the first fence, records must end by this position of the lane.
    pre_fence_limit: Option<usize>,
}

impl FenceDebts {
    /// Notes a fence: every record so far is durable; with a record (T1), the lane's
    /// previous log is overwritten durably (F2).
    #[inline]
    fn fenced(&mut self, records: usize) {
        self.alloc_unfenced = false;
        self.free_unfenced = false;
        if records > 0 {
            self.fenced_in_lane = true;
        }
    }

    fn clear(&mut self) {
        *self = FenceDebts::default();
    }
}

/// R1: whether the pending truncations were flushed before this transaction's first
/// fence, and the claims taken on them then.
#[derive(Default)]
enum Truncations {
    /// No fence yet.
    #[default]
    Unflushed,
    /// Flushed before the first fence; the claims are settled at the end.
    Flushed(Claims),
}

/// L3 inside [`Journal::log_batch`]: whether undo records wait for the batch's fence.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Batch {
    /// Every undo record is fenced as it is written.
    #[default]
    Closed,
    /// Inside a batch; `fence_owed`: an undo record waits for the batch's fence.
    Open { fence_owed: bool },
}

/// Object locks (two-phase, `stm::locks`).
///
/// - **T14** (K2): every lock of `held` is released when the transaction ends, after its
///   commit point or rollback and its end hooks.
/// - **T15**: `guards` holds the locked objects with a live guard, each at most once.
#[derive(Default)]
struct Locks {
    /// Object locks taken (released when the transaction ends, T14).
    held: Vec<PoolOff>,
    /// Locked objects that have a live guard now (one at a time per object).
    guards: Vec<PoolOff>,
}

impl Locks {
    /// Registers a guard on the locked object `off`; false if one is alive already
    /// (T15).
    fn enter_guard(&mut self, off: PoolOff) -> bool {
        if self.guards.contains(&off) {
            return false;
        }
        self.guards.push(off);
        true
    }

    /// Unregisters the guard on `off`.
    fn exit_guard(&mut self, off: PoolOff) {
        self.guards.retain(|&g| g != off);
    }

    fn clear(&mut self) {
        clear_vec(&mut self.held);
        clear_vec(&mut self.guards);
    }
}

/// Volatile work for the transaction's end.
///
/// - **T16**: every hook runs exactly once, when the transaction ends (after its commit
///   point or its rollback), told whether it committed, before its locks are released
///   (K2).
#[derive(Default)]
struct EndHooks {
    /// Volatile records: run when the transaction ends, told whether it committed.
    hooks: Vec<Box<dyn FnOnce(bool)>>,
}

impl EndHooks {
    fn clear(&mut self) {
        clear_vec(&mut self.hooks);
    }
}

/// The per-transaction state a layer above stm keeps in the journal: the collections'
/// registry of the blocks a transaction touched (`collections::raw`). Type-erased, as
/// stm does not know the layers above it.
///
/// - **T17**: `slot` holds at most one value, which describes the running transaction
///   only: it is reset ([`TxLocal::reset`]) when the transaction ends, so the thread's
///   next transaction starts from an empty one (and reuses its buffers).
#[derive(Default)]
struct Locals {
    slot: Option<Box<dyn TxLocal>>,
}

impl Locals {
    fn clear(&mut self) {
        if let Some(l) = &mut self.slot {
            l.reset();
        }
    }
}

/// Per-transaction state of a layer above stm, kept in the journal (T17) and reached
/// through [`Journal::local`].
pub(crate) trait TxLocal: std::any::Any {
    /// Empties it for the thread's next transaction, keeping buffers that are not too
    /// large.
    fn reset(&mut self);
}

/// How a transaction commits (docs/PROTOCOL.md).
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum CommitKind {
    /// Written ranges, then the truncation or COMMIT record that commits.
    #[default]
    Classic,
    /// REDO and COMMIT records with the written ranges under one fence.
    Redo,
}

impl TxState {
    /// A state for a transaction that has done nothing yet.
    fn fresh() -> Box<TxState> {
        let mut st = Box::new(TxState::default());
        st.log.pos = LANE_HEADER;
        st.log.lane_start = LANE_HEADER;
        st.log.lane_end = LANE_HEADER;
        st
    }

    /// Empties the state, in place, for the thread's next transaction, keeping the
    /// buffers that are not too large (a transaction allocates nothing for its
    /// bookkeeping then).
    fn recycle(&mut self) {
        self.log.clear();
        self.writes.clear();
        self.blocks.clear();
        self.fences.clear();
        self.locks.clear();
        self.end.clear();
        self.locals.clear();
        self.commit = CommitKind::Classic;
    }
}

thread_local! {
    /// The state of this thread's last finished transaction, emptied, for its next one.
    static SPARE: std::cell::Cell<Option<Box<TxState>>> = const { std::cell::Cell::new(None) };
}

/// A transaction that wrote at most this many bytes may commit by redo.
const REDO_MAX: usize = 2048;

/// A block reserved by a running transaction.
#[derive(Clone, Copy, Debug)]
struct Reservation {
    off: PoolOff,
    order: u8,
    /// Its ALLOC record is in the log.
    recorded: bool,
}

/// The journal of a running transaction on pool `P`.
///
/// A `&'j Journal<P>` is the proof that code runs inside a transaction of `P`: every
/// method that changes persistent memory takes one and logs what it changes first. It
/// cannot outlive the transaction, cannot be sent to another thread, and cannot be
/// captured by another transaction.
pub struct Journal<P: PoolType> {
    pool: PoolRef,
    lane_idx: u32,
    lane: RawLane,
    epoch: u64,
    /// `[start, end)` addresses of the pool's heap (the placement rule P1,
    /// `stm::placement`).
    heap: (usize, usize),
    /// The transaction's state (taken back for the thread's next transaction when the
    /// journal is dropped).
    st: RefCell<Option<Box<TxState>>>,
    /// A panic crossed a crndm frame of this transaction (see [`Journal::poison`]): it
    /// ends in `Err(Error::Aborted)` and rolls back whatever the body returns.
    poisoned: std::cell::Cell<bool>,
    _pool: PhantomData<fn() -> P>,
    /// Makes the journal neither `Send` nor `Sync`, and (on stable) not `RefUnwindSafe`:
    /// `&Journal` cannot be captured by another transaction's body.
    _not_send: PhantomData<(NotSendSync, NotTxRef)>,
}

impl<P: PoolType> Drop for Journal<P> {
    fn drop(&mut self) {
        if let Some(mut st) = self.st.get_mut().take() {
            st.recycle();
            // A thread that is exiting keeps nothing.
            let _ = SPARE.try_with(|s| s.set(Some(st)));
        }
    }
}

impl<P: PoolType> std::fmt::Debug for Journal<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("pool", &std::any::type_name::<P>())
            .field("lane", &self.lane_idx)
            .field(
                "records",
                &self.st.borrow().as_ref().map(|st| st.log.records),
            )
            .finish()
    }
}

impl<P: PoolType> Journal<P> {
    /// Starts a transaction's journal: takes a free lane of the pool.
    pub(crate) fn start(pool: PoolRef) -> Journal<P> {
        let (lane_idx, lane, epoch) = pool.acquire_lane();
        let geo = pool.raw.geometry();
        let lo = pool.raw.base() as usize + geo.heap_off.to_usize();
        let heap = (lo, lo + crate::convert::to_usize(geo.heap_units * UNIT));
        Journal {
            pool,
            lane_idx,
            lane,
            epoch,
            heap,
            st: RefCell::new(Some(
                SPARE
                    .try_with(std::cell::Cell::take)
                    .ok()
                    .flatten()
                    .unwrap_or_else(TxState::fresh),
            )),
            poisoned: std::cell::Cell::new(false),
            _pool: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// Poisons the transaction: it will roll back and end in `Err(Error::Aborted)`
    /// whatever its body returns, even if the body catches the panic that caused this.
    ///
    /// The rule (one flag per transaction, read once at its end): a transaction is
    /// poisoned once a panic has crossed a crndm frame of it — crndm's own panics
    /// (journal or heap full, borrow conflicts, corrupt pointers; all raised through
    /// `Journal::fail` or under a `tx::PoisonOnUnwind` guard), a nested transaction
    /// of the same pool whose body panicked, and user code that crndm calls inside a
    /// transaction (closures given to collection methods, `PClone`, `Hash`/`Eq`/`Ord`
    /// of keys, `Drop` of values crndm drops) unwinding through crndm. A panic raised
    /// and caught entirely inside user code that never entered crndm does not poison.
    #[cold]
    pub(crate) fn poison(&self) {
        self.poisoned.set(true);
    }

    /// Whether a panic crossed a crndm frame of this transaction.
    #[inline]
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.get()
    }

    /// crndm's own panic inside a transaction: poisons it, then panics with `e`.
    ///
    /// # Panics
    /// Always, with `e` as the message; the transaction then rolls back.
    #[cold]
    #[inline(never)]
    #[track_caller]
    pub(crate) fn fail(&self, e: &dyn std::fmt::Display) -> ! {
        self.poison();
        panic!("crndm: {e}");
    }

    /// The transaction's state, borrowed.
    ///
    /// # Panics
    /// If it is borrowed already (an internal error), or after the journal's drop began.
    fn state(&self) -> std::cell::RefMut<'_, TxState> {
        std::cell::RefMut::map(self.st.borrow_mut(), |st| {
            &mut **st.as_mut().expect("the state lives as long as the journal")
        })
    }

    fn persister(&self) -> &Persister {
        self.pool.raw.persister()
    }

    /// Flushes the truncations redo commits left unflushed, so that the fence the caller
    /// is about to issue makes them durable (R1). This lane's own is overwritten by our
    /// first record, which every fence of ours follows.
    fn before_fence(&self, st: &mut TxState) {
        // Once is enough: a commit that returns while this transaction runs has nothing
        // in common with it (R1).
        if let Truncations::Flushed(_) = st.fences.truncations {
            return;
        }
        st.fences.truncations = Truncations::Flushed(self.pool.truncations.flush_pending(|lane| {
            if lane != self.lane_idx {
                // PERSIST: the caller's fence makes the old truncation durable before
                // this transaction changes anything in place (R1).
                // SAFETY: a word of a lane of this pool, which `self.pool` keeps mapped.
                unsafe { self.persister().flush(self.pool.truncation_word(lane), 8) };
            }
        }));
    }

    /// `[start, end)` addresses of the pool's heap (P1, `stm::placement`).
    #[inline]
    pub(crate) fn heap_bounds(&self) -> (usize, usize) {
        self.heap
    }

    /// The address of pool offset 0 (valid while the journal lives).
    pub(crate) fn base(&self) -> *mut u8 {
        self.pool.raw.base()
    }

    /// The pool offset of `ptr` if `[ptr, ptr + len)` lies inside the pool.
    pub(crate) fn offset_of(&self, ptr: *const u8, len: usize) -> Option<u64> {
        let base = self.base() as usize;
        let size = crate::convert::to_usize(self.pool.raw.geometry().pool_size);
        let addr = ptr as usize;
        (addr >= base && addr.checked_add(len)? <= base + size).then(|| (addr - base) as u64)
    }

    /// Makes room for a record of `len` bytes (plus the reserve), continuing the log
    /// in an extension block if the current area is full.
    ///
    /// # Errors
    /// The allocation errors of the extension block.
    fn make_room(&self, st: &mut TxState, len: usize) -> Result<()> {
        let area = st.log.current(self.lane);
        if st.log.pos + len + RESERVE <= area.capacity() {
            return Ok(());
        }
        let size = (LANE_HEADER + len + RESERVE)
            .next_power_of_two()
            .max(self.lane.capacity()) as u64;
        let mut order_seen = 0;
        let off = self
            .pool
            .raw
            .heap()
            .alloc(size, CACHE_LINE as u64, |off, order| {
                order_seen = order;
                let rec = NewRecord::plain(Kind::Extend, u32::from(order), off.get());
                // The record is flushed here and made durable by the allocator's fence before
                // the block's head byte (A1), so recovery always knows to free it.
                // SAFETY: (1) EXTEND carries no payload; it uses the area's reserve.
                unsafe { self.append_here(st, rec) }
            })?;
        let len = crate::convert::to_usize(block_size(order_seen));
        // SAFETY: the block was just allocated for this transaction alone, inside the
        // mapping `self.pool` keeps alive.
        let base = unsafe { self.base().add(off.to_usize()) };
        // SAFETY: (1) a fresh block of `len` ≥ 4 KiB bytes, 64-aligned (A2), used only by
        // this transaction's log until it ends, when it is freed.
        st.log.area = Some(unsafe { RawLane::new(base, len) });
        st.log.pos = LANE_HEADER;
        st.log.extensions.push((off, order_seen));
        Ok(())
    }

    /// Appends a record, continuing in an extension block when the area is full.
    ///
    /// # Safety
    /// 1. As [`RawLane::append`] (1).
    ///
    /// # Errors
    /// The allocation errors of an extension block.
    unsafe fn append(&self, st: &mut TxState, rec: NewRecord) -> Result<()> {
        let plen = if rec.kind.has_payload() {
            rec.aux as usize
        } else {
            0
        };
        self.guard_previous_log(st, record_len(plen));
        self.make_room(st, record_len(plen))?;
        // SAFETY: (1) is the caller's; there is room.
        unsafe { self.append_here(st, rec) }
    }

    /// Appends a record to the current area, possibly into its reserve (for EXTEND and
    /// COMMIT records, and ALLOC records whose room was made beforehand).
    ///
    /// # Safety
    /// 1. As [`RawLane::append`] (1).
    ///
    /// # Errors
    /// [`Error::JournalFull`] if even the reserve is too small (an internal error).
    unsafe fn append_here(&self, st: &mut TxState, rec: NewRecord) -> Result<()> {
        let area = st.log.current(self.lane);
        // SAFETY: (1) is the caller's.
        let next = unsafe { area.append(st.log.pos, self.epoch, rec, self.persister()) };
        st.log.pos = next.ok_or_else(|| Error::JournalFull {
            capacity: area.capacity() as u64,
        })?;
        st.log.records += 1;
        if st.log.area.is_none() {
            st.log.lane_end = st.log.pos;
        }
        Ok(())
    }

    /// R2: before a record of `len` bytes goes into the lane past its first line while no
    /// fence of this transaction has made that line durable, and the lane's previous log
    /// may still be valid on the media, moves the log clear of the previous log's lines
    /// with a SKIP record in the first line (to line 2 if the record ends before the
    /// previous log's records begin, else past their end); without room for that, or
    /// when records before the first fence would reach the previous log's lines, makes
    /// the first line durable now (which ends the previous log).
    fn guard_previous_log(&self, st: &mut TxState, len: usize) {
        const FIRST_LINE_END: usize = LANE_HEADER + CACHE_LINE;
        if st.fences.fenced_in_lane || st.log.area.is_some() {
            return;
        }
        let end = st.log.pos + len;
        if st.fences.previous_log_handled {
            if st.fences.pre_fence_limit.is_some_and(|limit| end > limit) {
                self.end_previous_log(st);
            }
            return;
        }
        if end <= FIRST_LINE_END {
            return;
        }
        // A record the lane cannot hold goes to an extension block: only its EXTEND record
        // lands in the lane, in the first line, and the eager allocation's fence follows.
        if st.log.pos + len + RESERVE > self.lane.capacity()
            && st.log.pos + REC_HEADER <= FIRST_LINE_END
        {
            return;
        }
        st.fences.previous_log_handled = true;
        #[cfg(feature = "crash-sim")] // CRASH-SIM mutation hook (persist/sim.rs): planted bug
        if self
            .persister()
            .mutated(crate::persist::sim::Mutation::IgnorePreviousLog)
        {
            return;
        }
        let Some((old_start, old_end)) = self.pool.truncations.pending_extent(self.lane_idx) else {
            return;
        };
        if st.log.pos + REC_HEADER <= FIRST_LINE_END {
            let past = old_end.max(FIRST_LINE_END).next_multiple_of(CACHE_LINE);
            let target = if FIRST_LINE_END + len <= old_start {
                Some((FIRST_LINE_END, old_start))
            } else {
                (past + len + RESERVE <= self.lane.capacity()).then_some((past, usize::MAX))
            };
            if let Some((to, limit)) = target {
                let rec = NewRecord::plain(Kind::Skip, 0, to as u64);
                // SAFETY: (1) SKIP carries no payload; it fits the first line (checked).
                let next = unsafe {
                    self.lane
                        .append(st.log.pos, self.epoch, rec, self.persister())
                };
                debug_assert!(next.is_some(), "the first line has room");
                st.log.records += 1;
                st.log.pos = to;
                st.log.lane_start = to;
                st.log.lane_end = to;
                st.fences.pre_fence_limit = Some(limit);
                return;
            }
        }
        self.end_previous_log(st);
    }

    /// R2's fallback: makes the lane's first line durable (the previous log's truncation,
    /// or this log's first records), which ends the previous log.
    fn end_previous_log(&self, st: &mut TxState) {
        let p = self.persister();
        // PERSIST: the lane's first line is durable before any other line of the previous
        // log is overwritten (R2).
        // SAFETY: the first line is inside the lane.
        unsafe { p.flush(self.lane.addr(LANE_HEADER), CACHE_LINE) };
        self.before_fence(st);
        p.fence();
        self.fenced(st);
        st.fences.pre_fence_limit = None;
    }

    /// Saves the old bytes of `[ptr, ptr + len)` before the caller changes them in place
    /// (L3), once per transaction, and remembers to flush the range at commit. Ranges
    /// outside the pool (volatile values) and ranges inside blocks this transaction
    /// allocated are not logged.
    ///
    /// # Panics
    /// If the journal is full; the transaction then aborts and rolls back.
    pub(crate) fn log_range(&self, ptr: *const u8, len: usize) {
        let Some(off) = self.offset_of(ptr, len) else {
            return;
        };
        if len == 0 {
            return;
        }
        let mut st = self.state();
        let end = off + len as u64;
        // Inside a range logged just before (a struct, then one of its fields): saved.
        if st.writes.recently_saved(off, end) {
            return;
        }
        if st.writes.logged.contains(&(off, len as u64)) {
            return;
        }
        // Memory of a block this transaction reserved has no old contents worth saving:
        // an abort frees the block.
        if st.blocks.holds(off, end) {
            st.writes.saved(ptr, off, len);
            return;
        }
        // The pending ALLOC and FREE records share this record's fence.
        if let Err(e) = self.record_pending(&mut st) {
            drop(st);
            self.fail(&e);
        }
        let mut done = 0;
        while done < len {
            let chunk = u32::try_from(len - done).unwrap_or(!7);
            // SAFETY: `done < len`, inside the range checked by offset_of.
            let src = unsafe { ptr.add(done) };
            let rec = NewRecord {
                kind: Kind::Undo,
                aux: chunk,
                off: off + done as u64,
                payload: src,
            };
            // offset_of checked the whole range; it is heap or header bytes, never the
            // journals region.
            // SAFETY: (1) `[src, src + chunk)` is in the mapping `self.pool` keeps alive,
            // and not in the lane.
            let r = unsafe { self.append(&mut st, rec) };
            if let Err(e) = r {
                drop(st);
                self.fail(&e);
            }
            done += chunk as usize;
        }
        // The range counts as logged only now that all of its undo records are in the
        // log: after a failed append (caught by the body) a later write to it logs again.
        st.writes.saved(ptr, off, len);
        if let Batch::Open { fence_owed } = &mut st.fences.batch {
            // The batch's end fences for all of its records.
            *fence_owed = true;
            return;
        }
        self.before_fence(&mut st);
        // PERSIST: the undo record is durable before the caller's in-place store (L3).
        self.persister().fence();
        self.fenced(&mut st);
    }

    /// Runs `saves`, which only logs ranges (and notes fresh ones), with one fence for
    /// all of its undo records at the end instead of one each: nothing is stored in
    /// place before that fence (L3 holds at the caller's first store after the batch).
    pub(crate) fn log_batch(&self, saves: &mut dyn FnMut()) {
        let outer = {
            let mut st = self.state();
            let outer = st.fences.batch;
            // A batch inside a batch joins it (and keeps what it owes).
            st.fences.batch = Batch::Open {
                fence_owed: outer == (Batch::Open { fence_owed: true }),
            };
            outer
        };
        saves();
        let mut st = self.state();
        if outer == Batch::Closed
            && std::mem::take(&mut st.fences.batch) == (Batch::Open { fence_owed: true })
        {
            self.before_fence(&mut st);
            // PERSIST: the batch's undo records are durable before the caller's in-place
            // stores (L3).
            self.persister().fence();
            self.fenced(&mut st);
        }
    }

    /// Remembers that `[ptr, ptr + len)` (fresh memory of this transaction) was written,
    /// to flush it at commit.
    pub(crate) fn note_written(&self, ptr: *const u8, len: usize) {
        if let Some(off) = self.offset_of(ptr, len) {
            let mut st = self.state();
            let end = off + len as u64;
            // Inside a range logged just before: it is written back at commit already.
            if st.writes.recently_saved(off, end) {
                return;
            }
            // A later `log_range` of the same range has nothing to add.
            if st.writes.logged.insert((off, len as u64)) {
                st.writes.written.push((ptr as usize, len));
            }
        }
    }

    /// Allocates a block for `size` bytes aligned to `align`, freed again if the
    /// transaction does not commit. Returns its pool offset.
    ///
    /// # Errors
    /// [`Error::OutOfSpace`], [`Error::UnsupportedAlignment`], [`Error::JournalFull`].
    pub(crate) fn alloc(&self, size: u64, align: u64) -> Result<PoolOff> {
        let (off, order) = self.pool.raw.heap().reserve(self.lane_idx, size, align)?;
        self.state().blocks.reserved.push(Reservation {
            off,
            order,
            recorded: false,
        });
        Ok(off)
    }

    /// Notes a fence of this transaction: every record so far is durable, so the
    /// lane's first record overwrote the previous transaction's log durably, and the
    /// blocks that log freed may be reused (F2).
    ///
    /// What that allows (settling the flushed truncations, publishing parked blocks)
    /// waits for the end of the transaction: its atomic read-modify-writes would wait
    /// here for the fence to complete, where the transaction's own work can overlap it.
    fn fenced(&self, st: &mut TxState) {
        st.fences.fenced(st.log.records);
    }

    /// The bookkeeping of a transaction's fences, once they are done (see
    /// [`Journal::fenced`]).
    fn after_fences(&self, st: &mut TxState) {
        if let Truncations::Flushed(claims) = std::mem::take(&mut st.fences.truncations) {
            self.pool.truncations.settle(claims);
        }
        if st.fences.fenced_in_lane {
            self.pool.raw.heap().unpark(self.lane_idx);
        }
    }

    /// Writes (and flushes) the records still pending: ALLOC records of the reserved
    /// blocks that have none yet, and FREE records of the deferred frees.
    ///
    /// # Errors
    /// The allocation errors of an extension block.
    fn record_pending(&self, st: &mut TxState) -> Result<()> {
        self.record_reservations(st)?;
        while st.blocks.frees_recorded < st.blocks.frees.len() {
            let (off, order) = st.blocks.frees[st.blocks.frees_recorded];
            let rec = NewRecord::plain(Kind::Free, u32::from(order), off.get());
            // SAFETY: (1) FREE records carry no payload.
            unsafe { self.append(st, rec) }?;
            st.blocks.frees_recorded += 1;
            st.fences.free_unfenced = true;
        }
        Ok(())
    }

    /// Writes (and flushes) the ALLOC records of the reserved blocks that have none yet.
    ///
    /// # Errors
    /// The allocation errors of an extension block.
    fn record_reservations(&self, st: &mut TxState) -> Result<()> {
        for i in 0..st.blocks.reserved.len() {
            let r = st.blocks.reserved[i];
            if r.recorded {
                continue;
            }
            let rec = NewRecord::plain(Kind::Alloc, u32::from(r.order), r.off.get());
            // SAFETY: (1) ALLOC records carry no payload.
            unsafe { self.append(st, rec) }?;
            st.blocks.reserved[i].recorded = true;
            st.fences.alloc_unfenced = true;
        }
        Ok(())
    }

    /// Writes the ALLOC records still missing, so that commit cannot fail; called at the
    /// end of the transaction's body, where a panic still rolls back.
    ///
    /// # Panics
    /// If the journal is full; the transaction then aborts and rolls back.
    pub(crate) fn prepare_commit(&self) {
        let mut st = self.state();
        if let Err(e) = self.record_pending(&mut st) {
            drop(st);
            self.fail(&e);
        }
        st.commit = if self.may_commit_by_redo(&st) {
            CommitKind::Redo
        } else {
            CommitKind::Classic
        };
    }

    /// Whether the transaction may commit by redo: its FREE records (if any) are
    /// durable already (its frees were requested before its last log fence), it has no
    /// extension block, wrote at most [`REDO_MAX`] bytes, and its REDO and COMMIT
    /// records fit in the current area (so commit cannot need an extension block).
    fn may_commit_by_redo(&self, st: &TxState) -> bool {
        if st.log.records == 0
            || st.fences.free_unfenced
            || !st.log.extensions.is_empty()
            || st.blocks.cancelled_recorded
        {
            return false;
        }
        let bytes: usize = st.writes.written.iter().map(|&(_, len)| len).sum();
        let room: usize = st
            .writes
            .written
            .iter()
            .map(|&(_, len)| record_len(len))
            .sum::<usize>()
            + REC_HEADER;
        let area = st.log.current(self.lane);
        bytes <= REDO_MAX && st.log.pos + room <= area.capacity()
    }

    /// Frees the block of `order` at `off` after the transaction commits (never before:
    /// the undo log may still restore a pointer to it).
    ///
    /// # Panics
    /// If the journal is full; the transaction then aborts and rolls back.
    pub(crate) fn defer_free(&self, off: PoolOff, order: u8) {
        let mut st = self.state();
        // A block this transaction reserved was never marked used: nothing in the pool
        // refers to it once the transaction ends, whatever its outcome.
        if let Some(i) = st
            .blocks
            .reserved
            .iter()
            .position(|r| r.off == off && r.order == order)
        {
            st.blocks.cancelled_recorded |= st.blocks.reserved[i].recorded;
            st.blocks.reserved.swap_remove(i);
            st.blocks.cancelled.push((off, order));
            return;
        }
        // Its FREE record is written later, with the pending ALLOC records: a flush here
        // would make the transaction's next atomic read-modify-write (an allocation's
        // lock, say) wait for the write-back as a fence does.
        st.blocks.frees.push((off, order));
    }

    /// Whether a block starts at pool offset `off` that is allocated for this
    /// transaction: used in the map, or reserved by this transaction (rule P2,
    /// `stm::placement`).
    pub(crate) fn block_is_live(&self, off: PoolOff) -> bool {
        self.pool.raw.heap().is_used_head(off)
            || self.state().blocks.reserved.iter().any(|r| r.off == off)
    }

    /// Whether an abort of this transaction would restore any byte of the `len` bytes
    /// at `ptr`: they overlap a range it logged with an undo record (ranges of blocks it
    /// reserved are freed by an abort, not restored). Linear in the logged ranges: for
    /// the `VCell` rule V1 (`stm::placement`), off the hot paths.
    pub(crate) fn would_restore(&self, ptr: *const u8, len: usize) -> bool {
        let Some(off) = self.offset_of(ptr, len) else {
            return false;
        };
        let end = off + len as u64;
        let st = self.state();
        if st.blocks.holds(off, end) {
            return false;
        }
        st.writes
            .logged
            .iter()
            .any(|&(a, l)| a < end && off < a + l)
    }

    /// Notes the stamp of a `VCell` that this transaction used inside a range it logged:
    /// a rollback resets it (V1, `stm::placement`).
    pub(crate) fn reset_on_abort(&self, stamp: *const u64) {
        let mut st = self.state();
        if !st.writes.volatile_stamps.contains(&(stamp as usize)) {
            st.writes.volatile_stamps.push(stamp as usize);
        }
    }

    /// This transaction's identity among the running ones.
    pub(crate) fn owner(&self) -> Owner {
        Owner {
            lane: self.lane_idx,
            epoch: self.epoch,
        }
    }

    /// Locks the object at pool offset `off` until this transaction ends (two-phase
    /// locking), waiting while another transaction holds it. Re-locking is free.
    ///
    /// # Panics
    /// If waiting would deadlock (the holder waits, directly or through others, for a
    /// lock this transaction holds: `stm::locks` K3): this transaction aborts, which
    /// releases its locks so the others go on.
    #[track_caller]
    pub(crate) fn lock_object(&self, off: PoolOff) {
        match self.pool.locks.lock(off, self.owner()) {
            Ok(Taken::New) => self.state().locks.held.push(off),
            Ok(Taken::Again) => {}
            Err(d) => self.fail(&format_args!(
                "deadlock: the lock at offset {off:#x} is held by the transaction of lane \
                 {}, which waits (directly or through others) for a lock this transaction \
                 holds; this transaction aborts so the others go on (take locks in one \
                 order, or retry)",
                d.holder.lane
            )),
        }
    }

    /// Like [`lock_object`](Self::lock_object), but fails at once if another
    /// transaction holds the lock.
    pub(crate) fn try_lock_object(&self, off: PoolOff) -> bool {
        match self.pool.locks.try_lock(off, self.owner()) {
            Some(Taken::New) => {
                self.state().locks.held.push(off);
                true
            }
            Some(Taken::Again) => true,
            None => false,
        }
    }

    /// Registers a guard on the locked object `off`; false if one is alive already.
    pub(crate) fn enter_guard(&self, off: PoolOff) -> bool {
        self.state().locks.enter_guard(off)
    }

    /// Unregisters the guard on `off`.
    pub(crate) fn exit_guard(&self, off: PoolOff) {
        self.state().locks.exit_guard(off);
    }

    /// Runs `f(committed)` when the transaction ends, after its commit point or its
    /// rollback (a volatile record: nothing of it is in the pool).
    pub(crate) fn on_end(&self, f: impl FnOnce(bool) + 'static) {
        self.state().end.hooks.push(Box::new(f));
    }

    /// This transaction's value of `T`, the per-transaction state of a layer above
    /// (T17), made by `T::default()` on its first use in the thread.
    ///
    /// # Panics
    /// If the journal's state is borrowed (the caller must drop the value before it calls
    /// the journal again).
    pub(crate) fn local<T: TxLocal + Default>(&self) -> std::cell::RefMut<'_, T> {
        std::cell::RefMut::map(self.state(), |st| {
            let slot = &mut st.locals.slot;
            if !slot
                .as_deref()
                .is_some_and(|l| (l as &dyn std::any::Any).is::<T>())
            {
                *slot = Some(Box::new(T::default()));
            }
            let l: &mut dyn std::any::Any = &mut **slot.as_mut().expect("set above");
            l.downcast_mut::<T>().expect("of type T, checked above")
        })
    }

    /// The open pool this journal writes to.
    pub(crate) fn open_pool(&self) -> &OpenPool {
        &self.pool
    }

    /// Makes volatile weak pointers to the object at `off` dead once this transaction
    /// commits (its block is freed then); nothing changes if it aborts.
    pub(crate) fn forget_vweaks_on_commit(&self, off: PoolOff) {
        let pool = self.pool.clone();
        self.on_end(move |committed| {
            if committed {
                pool.forget_vweaks(off);
            }
        });
    }

    /// Releases the locks and runs the volatile records of a finished transaction.
    ///
    /// The volatile records run first, while the locks are still held: forgetting a
    /// freed object must be visible before another transaction can lock it (K2).
    fn finish(&self, st: &mut TxState, committed: bool) {
        self.after_fences(st);
        if committed {
            self.pool.raw.heap().count_used(&st.blocks.reserved_blocks);
        }
        for f in st.end.hooks.drain(..) {
            f(committed);
        }
        self.pool.locks.unlock_all(&st.locks.held, self.owner());
        // The log is gone (truncated, or never written), so no replay can name these
        // blocks any more: they may be handed out again (F2).
        let heap = self.pool.raw.heap();
        if !committed {
            // Objects of this transaction never existed: volatile weak pointers made to
            // them must not reach a later object in the same block.
            let offs = st.blocks.reserved.iter().map(|r| r.off);
            for off in offs.chain(st.blocks.cancelled.iter().map(|b| b.0)) {
                self.pool.forget_vweaks(off);
            }
            st.blocks.reserved_blocks.clear();
            st.blocks.collect_reserved();
            heap.unreserve_aborted(self.lane_idx, &st.blocks.reserved_blocks);
        }
        heap.unreserve(self.lane_idx, &st.blocks.cancelled);
    }

    /// Makes the transaction durable and gives the lane back, in the order of
    /// docs/PROTOCOL.md: the reserved blocks become used (A1), then the commit the
    /// transaction's kind calls for (decided by `prepare_commit`), then its end.
    pub(crate) fn commit(&self) {
        let st = &mut *self.state();
        debug_assert!(st.blocks.all_recorded(), "prepare_commit ran");
        self.mark_reserved_used(st);
        match (st.log.records, st.commit) {
            // Nothing logged (T1): nothing to commit.
            (0, _) => {}
            (_, CommitKind::Redo) => self.commit_by_redo(st),
            (_, CommitKind::Classic) => self.commit_classic(st),
        }
        self.finish(st, true);
        self.pool.release_lane(self.lane_idx);
    }

    /// Commit step 1 (A1): once the ALLOC records are durable, marks the reserved blocks
    /// used (their heads are flushed; the commit's fence makes them durable).
    fn mark_reserved_used(&self, st: &mut TxState) {
        if st.blocks.reserved.is_empty() {
            return;
        }
        if st.fences.alloc_unfenced {
            self.before_fence(st);
            // PERSIST: the ALLOC records are durable before the used heads (A1).
            self.persister().fence();
            self.fenced(st);
        }
        st.blocks.collect_reserved();
        self.pool.raw.heap().mark_used(&st.blocks.reserved_blocks);
    }

    /// The classic commit: every written range is durable (L4), then the truncation is
    /// the commit point, or, with blocks to free, a COMMIT record with the freed heads.
    fn commit_classic(&self, st: &mut TxState) {
        self.make_writes_durable(st);
        // Extension blocks are freed with the deferred frees.
        let mut frees = std::mem::take(&mut st.blocks.frees);
        frees.extend_from_slice(&st.log.extensions);
        if frees.is_empty() {
            self.commit_by_truncation();
        } else {
            self.commit_with_frees(st, &frees);
        }
        // Back, emptied, so the thread's next transaction reuses its capacity.
        frees.clear();
        st.blocks.frees = frees;
    }

    /// Classic commit step 2 (L4): flushes every range written in place, then fences.
    fn make_writes_durable(&self, st: &mut TxState) {
        let p = self.persister();
        for &(addr, len) in &st.writes.written {
            // SAFETY: every range was checked to lie in the pool mapping, which
            // `self.pool` keeps alive.
            unsafe { p.flush(addr as *const u8, len) };
        }
        self.before_fence(st);
        // PERSIST: every change is durable before the commit point (L4).
        p.fence();
        self.fenced(st);
    }

    /// Classic commit step 3, without frees: truncating the log is the commit point.
    fn commit_by_truncation(&self) {
        let p = self.persister();
        crash_point("commit-before-truncate");
        self.lane.truncate(p);
        // PERSIST: the commit point: the log is gone, the changes stay.
        p.fence();
    }

    /// Classic commit step 3, with frees (F1): a COMMIT record and the freed heads become
    /// durable under one fence, the commit point; then the log is left (R1, F2).
    fn commit_with_frees(&self, st: &mut TxState, frees: &[(PoolOff, u8)]) {
        let p = self.persister();
        // SAFETY: (1) COMMIT carries no payload; room for it is always kept.
        let r = unsafe { self.append_here(st, NewRecord::plain(Kind::Commit, 0, 0)) };
        debug_assert!(r.is_ok(), "room for COMMIT is reserved by append");
        crash_point("commit-before-frees");
        let mut freed = std::mem::take(&mut st.blocks.freed);
        self.pool.raw.heap().free_in_place(frees, &mut freed);
        // PERSIST: the commit point: the COMMIT record and the freed heads are durable
        // together (recovery undoes freed heads of a log without COMMIT record).
        p.fence();
        crash_point("commit-before-truncate");
        self.leave_log(st, &freed);
        st.blocks.freed = freed;
    }

    /// The redo commit: the final bytes of every written range go into REDO records,
    /// then a COMMIT record; one fence makes them, the ranges themselves and the used
    /// heads durable together. Recovery rolls a log ending so forward, so the ranges need
    /// not be durable before the commit point; the truncation is left unflushed (R1).
    fn commit_by_redo(&self, st: &mut TxState) {
        // Before anything that commits (a killed process leaves every store in the file).
        crash_point("commit-before-truncate");
        self.write_redo_records(st);
        // Frees in place: their FREE records are durable (`may_commit_by_redo`), so the
        // heads may become durable with the COMMIT record (recovery undoes them without
        // it, and finishes them with it).
        let mut freed = std::mem::take(&mut st.blocks.freed);
        self.pool
            .raw
            .heap()
            .free_in_place(&st.blocks.frees, &mut freed);
        st.blocks.frees.clear();
        self.reach_redo_commit_point(st);
        self.leave_log(st, &freed);
        st.blocks.freed = freed;
    }

    /// Redo commit step 1: REDO records of every written range and the COMMIT(redo)
    /// record, appended unflushed, then flushed as one range.
    fn write_redo_records(&self, st: &mut TxState) {
        let base = self.base() as usize;
        let area = st.log.current(self.lane);
        let start = st.log.pos;
        let redo = st.writes.written.iter().map(|&(addr, len)| NewRecord {
            kind: Kind::Redo,
            aux: u32::try_from(len).unwrap_or(u32::MAX),
            off: (addr - base) as u64,
            payload: addr as *const u8,
        });
        for rec in redo.chain([NewRecord::plain(Kind::Commit, COMMIT_REDO, 0)]) {
            // A REDO payload is heap or header bytes, never a journal; `len` ≤ REDO_MAX
            // fits the `u32`.
            // SAFETY: (1) a REDO payload was checked to lie in the mapping `self.pool`
            // keeps alive; COMMIT carries no payload.
            let next = unsafe { area.append_unflushed(st.log.pos, self.epoch, rec) };
            debug_assert!(next.is_some(), "prepare_commit made room for the records");
            st.log.pos = next.unwrap_or(st.log.pos);
            st.log.records += 1;
        }
        if st.log.area.is_none() {
            st.log.lane_end = st.log.pos;
        }
        // PERSIST: the REDO and COMMIT records are durable at the fence below.
        area.flush_range(start, st.log.pos, self.persister());
    }

    /// Redo commit step 3: the written ranges are flushed, and one fence makes them, the
    /// REDO and COMMIT records and the used and freed heads durable together.
    fn reach_redo_commit_point(&self, st: &mut TxState) {
        let p = self.persister();
        for &(addr, len) in &st.writes.written {
            // PERSIST: the written ranges are durable before the truncation can be (R1).
            // SAFETY: every range was checked to lie in the pool mapping, which
            // `self.pool` keeps alive.
            unsafe { p.flush(addr as *const u8, len) };
        }
        self.before_fence(st);
        // PERSIST: the commit point: the REDO and COMMIT records, the written ranges and
        // the used heads are durable together; recovery rolls this log forward.
        p.fence();
        self.fenced(st);
    }

    /// After a commit point reached by a COMMIT record: truncates the log without
    /// flushing it (the next transaction to fence makes that durable, R1) and gives the
    /// blocks freed in place back to the allocator, which keeps them from other lanes
    /// until then (F2).
    fn leave_log(&self, st: &TxState, freed: &[(u64, u8)]) {
        self.lane.invalidate();
        self.pool.truncations.leave(
            self.lane_idx,
            self.epoch,
            st.log.lane_start,
            st.log.lane_end,
        );
        let word = self.lane.truncation_word();
        // SAFETY: (1) the truncated word is in this lane's first line, in the mapping
        // `self.pool` keeps alive as long as the heap.
        unsafe { self.pool.raw.heap().take_back(self.lane_idx, freed, word) };
    }

    /// V1: after the rollback restored the logged bytes, forgets the value of every
    /// noted `VCell` whose stamp is this open's token (bytes that are not such a stamp
    /// were some other value before the transaction and stay as restored).
    fn reset_volatile_stamps(&self, st: &mut TxState) {
        let token = P::__slot().volatile_token();
        for &stamp in &st.writes.volatile_stamps {
            let p = stamp as *mut u64;
            // SAFETY: a noted stamp lies in a range this transaction logged (checked
            // when noted), in the heap of the mapping `self.pool` keeps alive; it is
            // 8-aligned (a `u64` field of a `VCell`). No reference to it is alive: the
            // body has returned or unwound, and its references with it.
            let v = unsafe { p.read() };
            if v == token {
                // SAFETY: as above. The write is volatile state, never flushed: after
                // a crash the next open's token differs anyway.
                unsafe { p.write(0) };
            }
        }
    }

    /// Undoes everything the transaction did and gives the lane back.
    pub(crate) fn rollback(&self) {
        let st = &mut *self.state();
        if st.log.records > 0 {
            self.undo_log(st);
        }
        self.finish(st, false);
        self.pool.release_lane(self.lane_idx);
    }

    /// Rollback: restores the UNDO records newest first, frees the ALLOC blocks and
    /// truncates, with recovery's fences; then resets the noted `VCell` stamps (V1).
    fn undo_log(&self, st: &mut TxState) {
        // R1: recovery's fence comes before the restored bytes are reused.
        self.before_fence(st);
        let r = recover_lane(&self.pool.raw, self.lane_idx, &self.lane);
        debug_assert!(r.is_ok(), "our own records name our own pool: {r:?}");
        self.reset_volatile_stamps(st);
        // Recovery's fences made this transaction's first record durable.
        self.fenced(st);
    }
}
