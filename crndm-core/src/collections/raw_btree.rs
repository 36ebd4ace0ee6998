//! The raw core of `PBTreeMap`: a B-tree of order 6 (5 to 11 entries per node, as
//! std's), one block of the pool per node, changed through logged byte moves.
//!
//! # Memory layout
//! ```text
//! header (24 B, wherever the map lives)
//! +0   root:   u64   pool offset of the root node; 0 = empty map
//! +8   height: u64   levels below the root (0: the root is a leaf)
//! +16  len:    u64   entries
//!
//! node block (order order_for(leaf_size or internal_size, align))
//! +0         len: u64
//! +keys_at   keys:  [K; 11]     (at K's alignment)
//! +vals_at   vals:  [V; 11]     (at V's alignment)
//! +edges_at  edges: [u64; 12]   pool offsets of the children (internal nodes only)
//! ```
//! Nodes have no parent pointers: operations walk down from the root and keep the
//! path in DRAM, so a split or merge never rewrites the children it moves.
//!
//! # Invariants
//! - **T1** `root == 0` ⇔ `len == 0`, and then `height == 0`.
//! - **T2** a node at level `l` (leaves at 0) is a used block of order
//!   `order_for(size(l), align)` owned by one parent edge (or the header).
//! - **T3** the root holds 1..=11 entries, every other node 5..=11 ([`MIN_LEN`]..=
//!   [`CAP`]); keys and values `[0, len)` are initialised, the rest are dead bytes;
//!   an internal node's edges `[0, len]` name nodes one level down.
//! - **T4** keys increase strictly in order (by the shell's `Ord`), and every key of
//!   the subtree under edge `i` lies between keys `i - 1` and `i`.
//! - **T5** every leaf is at depth `height`.
//!
//! # Persistence order
//! Within a node, the entries and edges that were live at the start of the transaction
//! are logged before they move or are overwritten; the others (dead then: an undo of
//! `len` leaves them dead) are only noted, and so is everything in a node the
//! transaction allocated (see `raw`, "Live at the start"). The header is logged before
//! it changes. Blocks are allocated before any change (so an
//! insert that cannot get its nodes changes nothing) and freed only after commit.

use super::raw::{
    Elem, RawJournal, live_at_start, mark_fresh, read_word, save, save_slots, write_word,
};
use crate::alloc::buddy::order_for;
use crate::convert::to_usize;
use crate::error::Result;
use crate::offset::PoolOff;

/// B: the minimum number of children of a non-root internal node.
const B: usize = 6;
/// The most entries a node holds.
pub(crate) const CAP: usize = 2 * B - 1;
/// The fewest entries a non-root node holds (T3).
pub(crate) const MIN_LEN: usize = B - 1;

const fn round_up(x: usize, align: usize) -> usize {
    x.div_ceil(align) * align
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// Where the parts of a node of `K`s and `V`s sit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeShape {
    key: Elem,
    val: Elem,
    keys_at: usize,
    vals_at: usize,
    edges_at: usize,
    leaf_size: usize,
    internal_size: usize,
    align: usize,
}

impl NodeShape {
    /// The node shape for keys `K` and values `V`.
    pub(crate) const fn of<K, V>() -> NodeShape {
        let key = Elem::of::<K>();
        let val = Elem::of::<V>();
        let keys_at = round_up(8, key.align);
        let vals_at = round_up(keys_at + CAP * key.size, val.align);
        let leaf_size = vals_at + CAP * val.size;
        let edges_at = round_up(leaf_size, 8);
        NodeShape {
            key,
            val,
            keys_at,
            vals_at,
            edges_at,
            leaf_size,
            internal_size: edges_at + (CAP + 1) * 8,
            align: max(8, max(key.align, val.align)),
        }
    }

    fn size(&self, level: usize) -> usize {
        if level == 0 {
            self.leaf_size
        } else {
            self.internal_size
        }
    }

    /// The block order of a node at `level` (T2).
    fn order(&self, level: usize) -> Option<u8> {
        order_for(self.size(level) as u64, self.align as u64).ok()
    }

    fn key(&self, n: *mut u8, i: usize) -> *mut u8 {
        n.wrapping_add(self.keys_at + i * self.key.size)
    }

    fn val(&self, n: *mut u8, i: usize) -> *mut u8 {
        n.wrapping_add(self.vals_at + i * self.val.size)
    }

    fn edge(&self, n: *mut u8, i: usize) -> *mut u8 {
        n.wrapping_add(self.edges_at + i * 8)
    }
}

/// Reads the `len` of node `n`.
///
/// # Safety
/// 1. `n` is the address of a live node of an open pool (T2).
unsafe fn len_of(n: *mut u8) -> usize {
    // SAFETY: (1) the node's first word, 8-aligned (A2).
    to_usize(unsafe { read_word(n) })
}

/// Reads edge `i` of internal node `n`.
///
/// # Safety
/// 1. As [`len_of`] (1), `n` is internal and `i <= CAP`.
unsafe fn edge_of(s: NodeShape, n: *mut u8, i: usize) -> PoolOff {
    debug_assert!(i <= CAP);
    // SAFETY: (1) inside the internal node's block, 8-aligned.
    PoolOff::new(unsafe { read_word(s.edge(n, i)) })
}

/// A position in the tree: the internal nodes above it with the edge taken, then the
/// node and index of one entry. For search paths, only the edges.
pub(crate) type Path = Vec<(PoolOff, usize)>;

/// The result of a search.
#[derive(Debug)]
pub(crate) enum Search {
    /// The key is entry `idx` of `node` at `level`; `path` holds the nodes above it.
    Found {
        node: PoolOff,
        idx: usize,
        level: usize,
    },
    /// The key would be inserted at `idx` of leaf `node`.
    Vacant { node: PoolOff, idx: usize },
    /// The tree is empty.
    Empty,
}

/// The side of a node its sibling stands on, in [`W::steal`].
#[derive(Clone, Copy, Debug)]
enum Side {
    Left,
    Right,
}

/// The writer of one operation: the pool base, the node shape, the journal.
struct W<'a> {
    base: *mut u8,
    s: NodeShape,
    j: &'a dyn RawJournal,
}

impl W<'_> {
    fn node(&self, off: PoolOff) -> *mut u8 {
        self.base.wrapping_add(off.to_usize())
    }

    /// The length of node `n`, and the entries it held when the running transaction
    /// first touched it (registered now if this is the first touch; `None` for a node
    /// the transaction allocated).
    ///
    /// # Safety
    /// 1. As [`len_of`] (1); called before the operation's first change of `n`.
    unsafe fn open(&self, n: *mut u8) -> (usize, Option<usize>) {
        // SAFETY: (1).
        let len = unsafe { len_of(n) };
        (len, live_at_start(self.j, n, len))
    }

    /// Logs the whole node `n` (of a level with `internal == (level > 0)`) if it was
    /// live at the start of the transaction (`start`): one undo record for everything a
    /// change of the node may touch, after which the finer saves are no-ops. A node the
    /// transaction allocated needs none.
    fn save_node(&self, n: *mut u8, start: Option<usize>, internal: bool) {
        if start.is_some() {
            self.j.log_range(n, self.s.size(usize::from(internal)));
        }
    }

    /// Saves the keys and values `[from, to)` of `n` (whose entries at the start of the
    /// transaction were `start`) before they are written: logs the part live at the
    /// start, notes the rest.
    fn save_kvs(&self, n: *mut u8, start: Option<usize>, from: usize, to: usize) {
        let s = self.s;
        save_slots(self.j, s.key(n, 0), s.key.size, (from, to), start);
        save_slots(self.j, s.val(n, 0), s.val.size, (from, to), start);
    }

    /// Saves the edges `[from, to)` of internal node `n` before they are written (an
    /// internal node with `l` entries has `l + 1` live edges).
    fn save_edges(&self, n: *mut u8, start: Option<usize>, from: usize, to: usize) {
        save_slots(
            self.j,
            self.s.edge(n, 0),
            8,
            (from, to),
            start.map(|l| l + 1),
        );
    }

    /// Sets the `len` of `n`, saving it first.
    ///
    /// # Safety
    /// 1. As [`len_of`] (1); `start` is `n`'s; the caller keeps T3.
    unsafe fn set_len(&self, n: *mut u8, start: Option<usize>, len: usize) {
        save(self.j, n, 8, start.is_some());
        // SAFETY: (1) the node's first word; saved above.
        unsafe { write_word(n, len as u64) };
    }

    /// Copies `count` keys and values from `src[si..]` to `dst[di..]` (may overlap).
    ///
    /// # Safety
    /// 1. Both ranges are inside live nodes (T2) and `si + count, di + count <= CAP`.
    /// 2. The destination was saved by the caller.
    unsafe fn move_kvs(&self, src: *mut u8, si: usize, dst: *mut u8, di: usize, count: usize) {
        debug_assert!(si + count <= CAP && di + count <= CAP);
        let s = self.s;
        // SAFETY: (1), (2); `copy` allows overlap.
        unsafe { std::ptr::copy(s.key(src, si), s.key(dst, di), count * s.key.size) };
        // SAFETY: as above.
        unsafe { std::ptr::copy(s.val(src, si), s.val(dst, di), count * s.val.size) };
    }

    /// Copies `count` edges from `src[si..]` to `dst[di..]` (may overlap).
    ///
    /// # Safety
    /// 1. Both nodes are internal, live, and `si + count, di + count <= CAP + 1`.
    /// 2. The destination was saved by the caller.
    unsafe fn move_edges(&self, src: *mut u8, si: usize, dst: *mut u8, di: usize, count: usize) {
        debug_assert!(si + count <= CAP + 1 && di + count <= CAP + 1);
        let s = self.s;
        // SAFETY: (1), (2); `copy` allows overlap.
        unsafe { std::ptr::copy(s.edge(src, si), s.edge(dst, di), count * 8) };
    }

    /// Writes edge `i` of internal node `n` (saved by the caller).
    ///
    /// # Safety
    /// 1. As [`edge_of`] (1).
    unsafe fn set_edge(&self, n: *mut u8, i: usize, off: PoolOff) {
        debug_assert!(i <= CAP);
        // SAFETY: (1) inside the block, 8-aligned.
        unsafe { write_word(self.s.edge(n, i), off.get()) };
    }

    /// Copies a key and a value from `k`, `v` into entry `i` of `n` (saved by the
    /// caller).
    ///
    /// # Safety
    /// 1. `n` is a live node, `i < CAP`; `k`/`v` point at a key and a value of the
    ///    tree's types, outside entry `i`.
    unsafe fn put_kv(&self, n: *mut u8, i: usize, k: *const u8, v: *const u8) {
        let s = self.s;
        // SAFETY: (1).
        unsafe { std::ptr::copy_nonoverlapping(k, s.key(n, i), s.key.size) };
        // SAFETY: (1).
        unsafe { std::ptr::copy_nonoverlapping(v, s.val(n, i), s.val.size) };
    }

    /// Allocates an empty node for `level` (registered as fresh).
    ///
    /// # Errors
    /// The allocation errors.
    fn new_node(&self, level: usize) -> Result<PoolOff> {
        let off = self
            .j
            .alloc(self.s.size(level) as u64, self.s.align as u64)?;
        let n = self.node(off);
        mark_fresh(self.j, n);
        // SAFETY: (1) a fresh block for a node of this level (A2 alignment ≥ 8).
        unsafe { self.set_len(n, None, 0) };
        Ok(off)
    }

    /// Inserts the entry `(k, v)` at `idx` of `n` (which has room), and for an internal
    /// node the edge `edge` right after it (at `idx + 1`).
    ///
    /// # Safety
    /// 1. `n` is a live node at a level with `internal == (level > 0)`, `len < CAP`,
    ///    `idx <= len`.
    /// 2. `k`/`v` point at a key and a value of the tree's types, outside `n`; the
    ///    node takes them over (the caller must not drop them).
    ///
    /// # Panics
    /// If (1) is broken: the node is full or `idx` past its end (T3).
    unsafe fn insert_fit(
        &self,
        n: *mut u8,
        internal: bool,
        idx: usize,
        (k, v, edge): (*const u8, *const u8, PoolOff),
    ) {
        // SAFETY: (1).
        let (len, st) = unsafe { self.open(n) };
        assert!(len < CAP && idx <= len, "T3: insert into a node with room");
        // Everything this insert changes, saved under one fence.
        self.j.log_batch(&mut || {
            self.save_node(n, st, internal);
            self.save_kvs(n, st, idx, len + 1);
            if internal {
                self.save_edges(n, st, idx + 1, len + 2);
            }
            save(self.j, n, 8, st.is_some());
        });
        // SAFETY: (1) ranges inside the node; saved above.
        unsafe { self.move_kvs(n, idx, n, idx + 1, len - idx) };
        // SAFETY: (2); entry `idx` saved above.
        unsafe { self.put_kv(n, idx, k, v) };
        if internal {
            self.save_edges(n, st, idx + 1, len + 2);
            // SAFETY: (1) internal; ranges inside; saved above.
            unsafe { self.move_edges(n, idx + 1, n, idx + 2, len - idx) };
            // SAFETY: (1); saved above.
            unsafe { self.set_edge(n, idx + 1, edge) };
        }
        // SAFETY: (1); T3 holds with one more entry.
        unsafe { self.set_len(n, st, len + 1) };
    }

    /// Moves the entries `[from, len)` of the full node `n` (and its edges after the
    /// first, `[from + 1, len]`) into the empty fresh node `r`, whose first edge becomes
    /// `first_edge` (or `n`'s edge `from`); `n` keeps `keep` entries.
    ///
    /// # Safety
    /// 1. `n` and `r` are live nodes at the same level, `internal == (level > 0)`,
    ///    `r` fresh and empty; `from <= len(n)`, `keep <= from`.
    unsafe fn split_into(
        &self,
        n: *mut u8,
        r: *mut u8,
        internal: bool,
        from: usize,
        keep: usize,
        first_edge: Option<PoolOff>,
    ) {
        // SAFETY: (1).
        let (len, st_n) = unsafe { self.open(n) };
        // SAFETY: (1).
        let (_, st_r) = unsafe { self.open(r) };
        let count = len - from;
        self.save_kvs(r, st_r, 0, count);
        // SAFETY: (1) ranges inside the nodes; `r` saved above.
        unsafe { self.move_kvs(n, from, r, 0, count) };
        if internal {
            self.save_edges(r, st_r, 0, count + 1);
            // SAFETY: (1) internal.
            let e0 = first_edge.unwrap_or_else(|| unsafe { edge_of(self.s, n, from) });
            // SAFETY: (1); saved above.
            unsafe { self.set_edge(r, 0, e0) };
            // SAFETY: (1); saved above.
            unsafe { self.move_edges(n, from + 1, r, 1, count) };
        }
        // SAFETY: (1).
        unsafe { self.set_len(r, st_r, count) };
        // SAFETY: (1); the entries past `keep` are moved out or dead now.
        unsafe { self.set_len(n, st_n, keep) };
    }

    /// Removes entry `idx` of `n` (moved out by the caller) and, if `with_edge`, the
    /// edge after it.
    ///
    /// # Safety
    /// 1. `n` is live, `idx < len`; `with_edge` only for an internal node.
    unsafe fn remove_kv(&self, n: *mut u8, idx: usize, with_edge: bool) {
        // SAFETY: (1).
        let (len, st) = unsafe { self.open(n) };
        debug_assert!(idx < len);
        // Everything this removal changes, saved under one fence.
        self.j.log_batch(&mut || {
            self.save_node(n, st, with_edge);
            self.save_kvs(n, st, idx, len - 1);
            if with_edge {
                self.save_edges(n, st, idx + 1, len);
            }
            save(self.j, n, 8, st.is_some());
        });
        // SAFETY: (1); saved above.
        unsafe { self.move_kvs(n, idx + 1, n, idx, len - idx - 1) };
        if with_edge {
            self.save_edges(n, st, idx + 1, len);
            // SAFETY: (1); saved above.
            unsafe { self.move_edges(n, idx + 2, n, idx + 1, len - idx - 1) };
        }
        // SAFETY: (1).
        unsafe { self.set_len(n, st, len - 1) };
    }

    /// Moves one entry from the sibling `donor` of `node` through the parent: the
    /// parent's entry between the two comes down into `node` (at the front when the
    /// donor is on the left, at the end when it is on the right), and the donor's
    /// nearest entry goes up in its place, with the donor's nearest edge moving to
    /// `node`. The two sides are one operation, mirrored.
    ///
    /// # Safety
    /// 1. `node` is child `pidx` of `parent`; `donor` is child `pidx - 1` for
    ///    [`Side::Left`], `pidx + 1` for [`Side::Right`]; both at a level with
    ///    `internal == (level > 0)`; `len(donor) > MIN_LEN`, `len(node) < CAP`.
    unsafe fn steal(
        &self,
        side: Side,
        parent: *mut u8,
        pidx: usize,
        node: *mut u8,
        donor: *mut u8,
        internal: bool,
    ) {
        let s = self.s;
        // SAFETY: (1): three live nodes, registered before any change.
        let (nl, st_n) = unsafe { self.open(node) };
        // SAFETY: as above.
        let (dl, st_d) = unsafe { self.open(donor) };
        // SAFETY: as above.
        let (_, st_p) = unsafe { self.open(parent) };
        let left = matches!(side, Side::Left);
        // The parent's entry between the two; the donor's entry and edge that move; the
        // entries and edges of `node` that change (shifted right by one from the left).
        let pk = if left { pidx - 1 } else { pidx };
        let (dk, de) = if left { (dl - 1, dl) } else { (0, 0) };
        let (nk, ne) = if left { (0, 0) } else { (nl, nl + 1) };
        // Everything this steal changes, saved under one fence (the saves below repeat
        // nothing then).
        self.j.log_batch(&mut || {
            self.save_node(node, st_n, internal);
            self.save_node(donor, st_d, internal);
            self.save_node(parent, st_p, true);
            self.save_kvs(node, st_n, nk, nl + 1);
            self.save_kvs(parent, st_p, pk, pk + 1);
            if internal {
                self.save_edges(node, st_n, ne, nl + 2);
            }
            if !left {
                self.save_kvs(donor, st_d, 0, dl - 1);
                if internal {
                    self.save_edges(donor, st_d, 0, dl);
                }
            }
            save(self.j, donor, 8, st_d.is_some());
            save(self.j, node, 8, st_n.is_some());
        });
        self.save_kvs(node, st_n, nk, nl + 1);
        if internal {
            self.save_edges(node, st_n, ne, nl + 2);
        }
        if left {
            // Make room at the front of `node`.
            // SAFETY: (1): `nl < CAP`; saved above.
            unsafe { self.move_kvs(node, 0, node, 1, nl) };
            if internal {
                // SAFETY: (1): `node` is internal with edges [0, nl]; saved above.
                unsafe { self.move_edges(node, 0, node, 1, nl + 1) };
            }
        }
        // SAFETY: (1); entry `nk` of node saved above; the parent's entry is intact.
        unsafe { self.put_kv(node, nk, s.key(parent, pk), s.val(parent, pk)) };
        if internal {
            // SAFETY: (1): `donor` is internal with edges [0, dl].
            let e = unsafe { edge_of(s, donor, de) };
            // SAFETY: (1); saved above.
            unsafe { self.set_edge(node, ne, e) };
        }
        self.save_kvs(parent, st_p, pk, pk + 1);
        // SAFETY: (1); the parent's entry was copied down and saved above.
        unsafe { self.put_kv(parent, pk, s.key(donor, dk), s.val(donor, dk)) };
        if !left {
            // Close the gap at the front of the donor.
            self.save_kvs(donor, st_d, 0, dl - 1);
            // SAFETY: (1); saved above.
            unsafe { self.move_kvs(donor, 1, donor, 0, dl - 1) };
            if internal {
                self.save_edges(donor, st_d, 0, dl);
                // SAFETY: (1): `donor` is internal with edges [0, dl]; saved above.
                unsafe { self.move_edges(donor, 1, donor, 0, dl) };
            }
        }
        // SAFETY: (1); the donor's entry and edge moved out.
        unsafe { self.set_len(donor, st_d, dl - 1) };
        // SAFETY: (1).
        unsafe { self.set_len(node, st_n, nl + 1) };
    }

    /// Merges `right` (child `kidx + 1` of `parent`) and the parent's entry `kidx` into
    /// `left` (child `kidx`), removes both from the parent, and frees `right` after
    /// commit.
    ///
    /// # Safety
    /// 1. As described, at a level with `internal == (level > 0)`, and
    ///    `len(left) + 1 + len(right) <= CAP`; `roff` is `right`'s offset.
    ///
    /// # Panics
    /// If (1) is broken: the merged node would not fit (T3).
    unsafe fn merge(
        &self,
        parent: *mut u8,
        kidx: usize,
        left: *mut u8,
        right: *mut u8,
        roff: PoolOff,
        level: usize,
    ) {
        let s = self.s;
        // SAFETY: (1): live nodes, registered before any change.
        let (ll, st_l) = unsafe { self.open(left) };
        // SAFETY: as above.
        let rl = unsafe { len_of(right) };
        assert!(ll + 1 + rl <= CAP, "T3: merged node fits");
        // SAFETY: as above.
        let (pl, st_p) = unsafe { self.open(parent) };
        // Everything this merge changes, the parent's removal included, saved under
        // one fence, which also makes the free of `right` durable (its record is
        // written with the first undo record), so the commit can be a redo commit.
        if let Some(order) = s.order(level) {
            self.j.defer_free(roff, order);
        }
        self.j.log_batch(&mut || {
            self.save_node(left, st_l, level > 0);
            self.save_node(parent, st_p, true);
            self.save_kvs(left, st_l, ll, ll + 1 + rl);
            if level > 0 {
                self.save_edges(left, st_l, ll + 1, ll + 2 + rl);
            }
            save(self.j, left, 8, st_l.is_some());
            self.save_kvs(parent, st_p, kidx, pl - 1);
            self.save_edges(parent, st_p, kidx + 1, pl);
            save(self.j, parent, 8, st_p.is_some());
        });
        self.save_kvs(left, st_l, ll, ll + 1 + rl);
        // SAFETY: (1); saved above.
        unsafe { self.put_kv(left, ll, s.key(parent, kidx), s.val(parent, kidx)) };
        // SAFETY: (1); saved above.
        unsafe { self.move_kvs(right, 0, left, ll + 1, rl) };
        if level > 0 {
            self.save_edges(left, st_l, ll + 1, ll + 2 + rl);
            // SAFETY: (1); saved above.
            unsafe { self.move_edges(right, 0, left, ll + 1, rl + 1) };
        }
        // SAFETY: (1).
        unsafe { self.set_len(left, st_l, ll + 1 + rl) };
        // SAFETY: (1): the parent's entry `kidx` was copied down, edge `kidx + 1` is
        // `right`, now empty.
        unsafe { self.remove_kv(parent, kidx, true) };
    }
}

/// The header of a persistent B-tree.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RawBTree {
    /// Pool offset of the root node, null when empty (T1).
    root: PoolOff,
    /// Levels below the root (T5).
    height: u64,
    /// Entries (T1).
    len: u64,
}

const _: () = assert!(size_of::<RawBTree>() == 24);

impl RawBTree {
    /// An empty tree.
    pub(crate) const fn new() -> RawBTree {
        RawBTree {
            root: PoolOff::NULL,
            height: 0,
            len: 0,
        }
    }

    /// Entries.
    pub(crate) fn len(&self) -> usize {
        to_usize(self.len)
    }

    fn height(&self) -> usize {
        to_usize(self.height)
    }

    fn log_header(&self, j: &dyn RawJournal) {
        j.log_range(std::ptr::from_ref(self).cast(), size_of::<RawBTree>());
    }

    /// Inserts the entry at `k`/`v` at the vacant position `(leaf, idx)` found by a
    /// search with path `path`, splitting full nodes on the way up. All blocks are
    /// allocated first, so on an error nothing changed.
    ///
    /// # Safety
    /// 1. `base` is offset 0 of the open pool this tree belongs to, `base == j.base()`,
    ///    and `s` its node shape.
    /// 2. `(leaf, idx)` and `path` come from a [`Search::Vacant`] of this tree with no
    ///    change since; T4 holds with the new key at that position.
    /// 3. `k`/`v` point at a key and a value of the tree's types, outside the pool; on
    ///    `Ok` the tree owns them (the caller must not drop them).
    ///
    /// # Errors
    /// The allocation errors; the tree is unchanged and the caller still owns `k`/`v`.
    pub(crate) unsafe fn insert(
        &mut self,
        s: NodeShape,
        j: &dyn RawJournal,
        path: &[(PoolOff, usize)],
        vacant: Option<(PoolOff, usize)>,
        k: *const u8,
        v: *const u8,
    ) -> Result<()> {
        let w = W {
            base: j.base(),
            s,
            j,
        };
        let Some((leaf, idx)) = vacant else {
            // The empty tree: one leaf becomes the root.
            debug_assert!(self.root.is_null());
            let off = w.new_node(0)?;
            // SAFETY: (3); a fresh leaf with room.
            unsafe { w.insert_fit(w.node(off), false, 0, (k, v, PoolOff::NULL)) };
            self.log_header(j);
            self.root = off;
            self.height = 0;
            self.len = 1;
            return Ok(());
        };
        // Count the full nodes from the leaf up; each splits, and a full root needs a
        // new root above it.
        let mut splits = 0;
        let mut node = leaf;
        loop {
            // SAFETY: (1), (2): a live node of the path.
            if unsafe { len_of(w.node(node)) } < CAP {
                break;
            }
            splits += 1;
            if splits > path.len() {
                break;
            }
            node = path[path.len() - splits].0;
        }
        let new_root = splits > path.len();
        let mut fresh = Vec::with_capacity(splits + 1);
        for level in 0..splits + usize::from(new_root) {
            match w.new_node(level) {
                Ok(off) => fresh.push(off),
                Err(e) => {
                    for (l, &off) in fresh.iter().enumerate() {
                        if let Some(order) = s.order(l) {
                            j.defer_free(off, order);
                        }
                    }
                    return Err(e);
                }
            }
        }
        // From here on nothing fails (but logging, which aborts the transaction).
        let kv_len = s.key.size + s.val.size;
        let mut bufs = [vec![0u8; kv_len], vec![0u8; kv_len]];
        let mut ins = (k, v, PoolOff::NULL);
        let (mut node, mut idx, mut level) = (leaf, idx, 0);
        let mut depth = path.len();
        loop {
            let n = w.node(node);
            let internal = level > 0;
            // SAFETY: (1), (2).
            if unsafe { len_of(n) } < CAP {
                // SAFETY: (1), (2); room checked; (3) or a median copied out of the
                // tree, which the tree owns again after this.
                unsafe { w.insert_fit(n, internal, idx, ins) };
                break;
            }
            let roff = fresh[level];
            let r = w.node(roff);
            let (cur, next) = bufs.split_at_mut(1);
            let median = if ins.0 == cur[0].as_ptr() {
                &mut next[0]
            } else {
                &mut cur[0]
            };
            // SAFETY: (1), (2); `n` is full, `r` fresh and empty at the same level;
            // `median` is a buffer distinct from the one `ins` may point into.
            unsafe { split_insert(&w, n, r, internal, idx, ins, median) };
            let (mk, mv) = median.split_at(s.key.size);
            ins = (mk.as_ptr(), mv.as_ptr(), roff);
            if depth == 0 {
                // The root split: a new root above it, with the median between them.
                let nroff = fresh[level + 1];
                let nr = w.node(nroff);
                w.save_edges(nr, None, 0, 1);
                // SAFETY: a fresh internal node: edge 0 is the old root (noted above)...
                unsafe { w.set_edge(nr, 0, node) };
                // SAFETY: ...then the median, with the new right node after it.
                unsafe { w.insert_fit(nr, true, 0, ins) };
                self.log_header(j);
                self.root = nroff;
                self.height += 1;
                break;
            }
            depth -= 1;
            (node, idx) = path[depth];
            level += 1;
        }
        j.log_range(std::ptr::from_ref(&self.len).cast(), 8);
        self.len += 1;
        Ok(())
    }

    /// Removes the entry `idx` of `node` at `level` found by a search with path `path`
    /// (whose key and value the caller has moved out), replacing it with its
    /// predecessor if it is in an internal node, and rebalances up the path.
    ///
    /// # Safety
    /// 1. As [`insert`](Self::insert) (1).
    /// 2. `node`, `idx`, `level`, `path` come from a [`Search::Found`] of this tree with
    ///    no change since; the entry's key and value were moved out (they are not
    ///    dropped here, and are overwritten or made dead).
    pub(crate) unsafe fn remove(
        &mut self,
        s: NodeShape,
        j: &dyn RawJournal,
        path: &mut Path,
        node: PoolOff,
        idx: usize,
        level: usize,
    ) {
        let w = W {
            base: j.base(),
            s,
            j,
        };
        let n = w.node(node);
        let leaf = if level == 0 {
            // SAFETY: (1), (2).
            unsafe { w.remove_kv(n, idx, false) };
            node
        } else {
            // The predecessor: the last entry of the rightmost leaf under edge `idx`.
            path.push((node, idx));
            // SAFETY: (2): an internal node, `idx <= len`.
            let mut m = unsafe { edge_of(s, n, idx) };
            for _ in 1..level {
                // SAFETY: (1) live internal nodes on the way down (T3, T5).
                let l = unsafe { len_of(w.node(m)) };
                path.push((m, l));
                // SAFETY: as above.
                m = unsafe { edge_of(s, w.node(m), l) };
            }
            let ml = w.node(m);
            // SAFETY: (1) a live leaf, non-empty (T3); registered before any change.
            let (ll, st_leaf) = unsafe { w.open(ml) };
            // SAFETY: (2) a live node, registered before any change.
            let (_, st_n) = unsafe { w.open(n) };
            w.save_kvs(n, st_n, idx, idx + 1);
            // SAFETY: entry `idx` was moved out (2) and saved; the predecessor moves up.
            unsafe { w.put_kv(n, idx, s.key(ml, ll - 1), s.val(ml, ll - 1)) };
            // SAFETY: the leaf's last entry moved up.
            unsafe { w.set_len(ml, st_leaf, ll - 1) };
            m
        };
        // SAFETY: (1); the path and the leaf are this tree's.
        unsafe { self.rebalance(&w, path, leaf) };
        j.log_range(std::ptr::from_ref(&self.len).cast(), 8);
        self.len -= 1;
    }

    /// Restores T3 from `node` (a leaf that lost an entry) up the path.
    ///
    /// # Safety
    /// 1. As [`remove`](Self::remove) (1); `path` leads to `node`.
    unsafe fn rebalance(&mut self, w: &W<'_>, path: &mut Path, mut node: PoolOff) {
        let s = w.s;
        let mut level = 0;
        loop {
            let n = w.node(node);
            // SAFETY: (1) live nodes of the path.
            let nl = unsafe { len_of(n) };
            let Some((parent, pidx)) = path.pop() else {
                if nl == 0 {
                    // The root emptied: its only child (if any) becomes the root.
                    self.log_header(w.j);
                    if level > 0 {
                        // SAFETY: an internal root with one edge.
                        self.root = unsafe { edge_of(s, n, 0) };
                        self.height -= 1;
                    } else {
                        self.root = PoolOff::NULL;
                        self.height = 0;
                    }
                    if let Some(order) = s.order(level) {
                        w.j.defer_free(node, order);
                    }
                }
                return;
            };
            if nl >= MIN_LEN {
                return;
            }
            let p = w.node(parent);
            let internal = level > 0;
            // SAFETY: (1) the parent is a live internal node with edges [0, len].
            let pl = unsafe { len_of(p) };
            // SAFETY: as above.
            let left = (pidx > 0).then(|| unsafe { edge_of(s, p, pidx - 1) });
            // SAFETY: as above.
            let right = (pidx < pl).then(|| unsafe { edge_of(s, p, pidx + 1) });
            // SAFETY: (1) siblings are live nodes of the same level (T5).
            let len_l = left.map(|l| unsafe { len_of(w.node(l)) });
            // SAFETY: as above.
            let len_r = right.map(|r| unsafe { len_of(w.node(r)) });
            if let (Some(l), Some(ll)) = (left, len_l)
                && ll > MIN_LEN
            {
                // SAFETY: (1): siblings, `ll > MIN_LEN`, `nl < MIN_LEN < CAP`.
                unsafe { w.steal(Side::Left, p, pidx, n, w.node(l), internal) };
                return;
            }
            if let (Some(r), Some(rl)) = (right, len_r)
                && rl > MIN_LEN
            {
                // SAFETY: as above, on the right.
                unsafe { w.steal(Side::Right, p, pidx, n, w.node(r), internal) };
                return;
            }
            if let Some(l) = left {
                // SAFETY: (1): `len(left) == MIN_LEN`, `nl < MIN_LEN`: the merge fits.
                unsafe { w.merge(p, pidx - 1, w.node(l), n, node, level) };
            } else if let Some(r) = right {
                // SAFETY: as above, with the right sibling.
                unsafe { w.merge(p, pidx, n, w.node(r), r, level) };
            } else {
                unreachable!("T3: a non-root node has a sibling");
            }
            node = parent;
            level += 1;
        }
    }

    /// Every node, children before parents, with its level (for drop and clear).
    ///
    /// # Safety
    /// 1. `base` is offset 0 of the open pool this tree belongs to, `s` its shape.
    unsafe fn nodes(&self, base: *mut u8, s: NodeShape) -> Vec<(PoolOff, usize)> {
        let mut out = Vec::new();
        if self.root.is_null() {
            return out;
        }
        let mut todo = vec![(self.root, self.height())];
        while let Some((off, level)) = todo.pop() {
            out.push((off, level));
            if level > 0 {
                let n = base.wrapping_add(off.to_usize());
                // SAFETY: (1) live internal nodes (T2, T3).
                let len = unsafe { len_of(n) };
                for i in 0..=len {
                    // SAFETY: as above.
                    todo.push((unsafe { edge_of(s, n, i) }, level - 1));
                }
            }
        }
        out.reverse();
        out
    }

    /// Frees every node after commit and forgets them, logging the header; the caller
    /// has moved every entry out ([`take_all`](Self::take_all)).
    ///
    /// # Safety
    /// 1. As [`insert`](Self::insert) (1).
    pub(crate) unsafe fn free_all(&mut self, s: NodeShape, j: &dyn RawJournal) {
        // SAFETY: (1).
        for (off, level) in unsafe { self.nodes(j.base(), s) } {
            if let Some(order) = s.order(level) {
                j.defer_free(off, order);
            }
        }
        self.log_header(j);
        *self = RawBTree::new();
    }

    /// Bytes of heap blocks the tree's nodes occupy (walks every node); for the crash
    /// tests' exact leak check.
    ///
    /// # Safety
    /// 1. As [`search`](Self::search) (1).
    #[cfg(feature = "internals")]
    pub(crate) unsafe fn heap_bytes<K, V>(&self, base: *mut u8) -> u64 {
        let s = NodeShape::of::<K, V>();
        if self.root.is_null() {
            return 0;
        }
        let mut todo = vec![(self.root, self.height())];
        let mut bytes = 0;
        while let Some((off, level)) = todo.pop() {
            let order = order_for(s.size(level) as u64, s.align as u64);
            bytes += order.map_or(0, crate::alloc::buddy::block_size);
            if level > 0 {
                let n = base.wrapping_add(off.to_usize());
                // SAFETY: (1) a live node (T2), walked from the root.
                let len = unsafe { len_of(n) };
                for i in 0..=len {
                    // SAFETY: (1) an internal node's edges.
                    todo.push((unsafe { edge_of(s, n, i) }, level - 1));
                }
            }
        }
        bytes
    }

    /// Checks T1, T3, T4 and T5 and the entry count; for tests.
    ///
    /// # Errors
    /// The first broken invariant.
    ///
    /// # Safety
    /// 1. As [`search`](Self::search) (1).
    #[cfg(test)]
    pub(crate) unsafe fn validate<K: Ord + std::fmt::Debug, V>(
        &self,
        base: *mut u8,
    ) -> std::result::Result<(), String> {
        let s = NodeShape::of::<K, V>();
        if self.root.is_null() {
            return if self.len == 0 && self.height == 0 {
                Ok(())
            } else {
                Err("T1: no root but entries".into())
            };
        }
        // (node, level, lower bound, upper bound) to visit.
        let mut todo: Vec<(PoolOff, usize, Option<&K>, Option<&K>)> =
            vec![(self.root, self.height(), None, None)];
        let mut count = 0;
        while let Some((off, level, lo, hi)) = todo.pop() {
            let n = base.wrapping_add(off.to_usize());
            // SAFETY: (1) live nodes (T2), walked from the root.
            let len = unsafe { len_of(n) };
            let min = if off == self.root { 1 } else { MIN_LEN };
            if !(min..=CAP).contains(&len) {
                return Err(format!("T3: node {off:#x} at level {level} holds {len}"));
            }
            let keys: Vec<&K> = (0..len)
                // SAFETY: (1) initialised keys (T3).
                .map(|i| unsafe { &*s.key(n, i).cast::<K>() })
                .collect();
            if keys.windows(2).any(|w| w[0] >= w[1])
                || lo.is_some_and(|lo| keys[0] <= lo)
                || hi.is_some_and(|hi| keys[len - 1] >= hi)
            {
                return Err(format!("T4: keys of node {off:#x} out of order: {keys:?}"));
            }
            count += len;
            if level > 0 {
                for i in 0..=len {
                    // SAFETY: (1) an internal node's edges.
                    let child = unsafe { edge_of(s, n, i) };
                    let lo = if i == 0 { lo } else { Some(keys[i - 1]) };
                    let hi = if i == len { hi } else { Some(keys[i]) };
                    todo.push((child, level - 1, lo, hi));
                }
            }
        }
        if count == self.len() {
            Ok(())
        } else {
            Err(format!("T1: {count} entries, the header says {}", self.len))
        }
    }

    // ---- typed access and navigation ----

    /// Searches for `q` from the root, recording the path of internal nodes in `path`
    /// if given (a lookup needs none, and allocates nothing).
    ///
    /// # Safety
    /// 1. `base` is offset 0 of the open pool this tree belongs to, and the tree holds
    ///    `K`s and `V`s.
    pub(crate) unsafe fn search<K, V, Q>(
        &self,
        base: *mut u8,
        q: &Q,
        mut path: Option<&mut Path>,
    ) -> Search
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let s = NodeShape::of::<K, V>();
        if self.root.is_null() {
            return Search::Empty;
        }
        let (mut node, mut level) = (self.root, self.height());
        loop {
            let n = base.wrapping_add(node.to_usize());
            // SAFETY: (1) a live node (T2).
            let len = unsafe { len_of(n) };
            let key = |i: usize| -> &K {
                // SAFETY: (1) called with `i < len`: an initialised, aligned key (T3, A2).
                unsafe { &*s.key(n, i).cast::<K>() }
            };
            // One comparison per key passed, as a sorted scan needs.
            let mut idx = 0;
            while idx < len && key(idx).borrow() < q {
                idx += 1;
            }
            if idx < len && key(idx).borrow() == q {
                return Search::Found { node, idx, level };
            }
            if level == 0 {
                return Search::Vacant { node, idx };
            }
            if let Some(path) = path.as_deref_mut() {
                path.push((node, idx));
            }
            // SAFETY: (1) an internal node, `idx <= len`.
            node = unsafe { edge_of(s, n, idx) };
            level -= 1;
        }
    }

    /// The key and value of entry `idx` of `node`.
    ///
    /// # Safety
    /// 1. As [`search`](Self::search) (1); `node` is a live node of this tree and
    ///    `idx < len`.
    pub(crate) unsafe fn kv<K, V>(&self, base: *mut u8, node: PoolOff, idx: usize) -> (&K, &V) {
        let s = NodeShape::of::<K, V>();
        let n = base.wrapping_add(node.to_usize());
        // SAFETY: (1) initialised, aligned (T3, A2); shared access only, changes need
        // `&mut self`.
        let k = unsafe { &*s.key(n, idx).cast::<K>() };
        // SAFETY: as above.
        let v = unsafe { &*s.val(n, idx).cast::<V>() };
        (k, v)
    }

    /// The value of entry `idx` of `node`, mutable after logging it.
    ///
    /// # Safety
    /// 1. As [`kv`](Self::kv) (1), with `base == j.base()`.
    pub(crate) unsafe fn value_mut_logged<'a, K, V>(
        &'a mut self,
        node: PoolOff,
        idx: usize,
        j: &dyn RawJournal,
    ) -> &'a mut V {
        let s = NodeShape::of::<K, V>();
        let n = j.base().wrapping_add(node.to_usize());
        // SAFETY: (1) a live node.
        let start = live_at_start(j, n, unsafe { len_of(n) });
        save_slots(j, s.val(n, 0), s.val.size, (idx, idx + 1), start);
        let p = s.val(n, idx);
        // SAFETY: (1); `&mut self` makes this the only access path; saved above.
        unsafe { &mut *p.cast::<V>() }
    }

    /// Moves the key and value of entry `idx` of `node` out (bitwise; bytes stay).
    ///
    /// # Safety
    /// 1. As [`kv`](Self::kv) (1).
    /// 2. The caller removes the entry ([`remove`](Self::remove)) before anything
    ///    reads it again, within the same transaction.
    pub(crate) unsafe fn read_kv<K, V>(&self, base: *mut u8, node: PoolOff, idx: usize) -> (K, V) {
        let s = NodeShape::of::<K, V>();
        let n = base.wrapping_add(node.to_usize());
        // SAFETY: (1), (2).
        let k = unsafe { s.key(n, idx).cast::<K>().read() };
        // SAFETY: (1), (2).
        let v = unsafe { s.val(n, idx).cast::<V>().read() };
        (k, v)
    }

    /// Moves every entry out (bitwise), in no particular order.
    ///
    /// # Safety
    /// 1. As [`search`](Self::search) (1).
    /// 2. The caller forgets the nodes ([`free_all`](Self::free_all), or the drop of the
    ///    tree) before anything reads them again, within the same transaction.
    pub(crate) unsafe fn take_all<K, V>(&self, base: *mut u8) -> Vec<(K, V)> {
        let s = NodeShape::of::<K, V>();
        let mut out = Vec::with_capacity(self.len());
        // SAFETY: (1).
        for (off, _) in unsafe { self.nodes(base, s) } {
            // SAFETY: (1) a live node.
            let len = unsafe { len_of(base.wrapping_add(off.to_usize())) };
            for i in 0..len {
                // SAFETY: (1), (2).
                out.push(unsafe { self.read_kv::<K, V>(base, off, i) });
            }
        }
        out
    }

    /// The position of the first entry.
    ///
    /// # Safety
    /// 1. `base` is offset 0 of the open pool this tree belongs to, `s` its shape.
    pub(crate) unsafe fn first(&self, base: *mut u8, s: NodeShape) -> Option<Path> {
        if self.root.is_null() {
            return None;
        }
        let mut c = Vec::with_capacity(self.height() + 1);
        let mut node = self.root;
        for _ in 0..self.height() {
            c.push((node, 0));
            // SAFETY: (1) a live internal node.
            node = unsafe { edge_of(s, base.wrapping_add(node.to_usize()), 0) };
        }
        c.push((node, 0));
        Some(c)
    }

    /// The position of the last entry.
    ///
    /// # Safety
    /// 1. As [`first`](Self::first) (1).
    pub(crate) unsafe fn last(&self, base: *mut u8, s: NodeShape) -> Option<Path> {
        if self.root.is_null() {
            return None;
        }
        let mut c = Vec::with_capacity(self.height() + 1);
        let mut node = self.root;
        for _ in 0..self.height() {
            let n = base.wrapping_add(node.to_usize());
            // SAFETY: (1) a live internal node.
            let len = unsafe { len_of(n) };
            c.push((node, len));
            // SAFETY: as above.
            node = unsafe { edge_of(s, n, len) };
        }
        // SAFETY: (1) a live, non-empty leaf (T3).
        let len = unsafe { len_of(base.wrapping_add(node.to_usize())) };
        c.push((node, len - 1));
        Some(c)
    }

    /// Moves the position `c` to the next entry; false (and `c` is garbage) at the end.
    ///
    /// # Safety
    /// 1. As [`first`](Self::first) (1); `c` is a position in this tree, unchanged
    ///    since it was made.
    pub(crate) unsafe fn advance(&self, base: *mut u8, s: NodeShape, c: &mut Path) -> bool {
        let d = c.len() - 1;
        let (node, i) = c[d];
        let n = base.wrapping_add(node.to_usize());
        let level = self.height() - d;
        if level > 0 {
            c[d].1 = i + 1;
            // SAFETY: (1) an internal node; `i + 1 <= len`.
            let mut m = unsafe { edge_of(s, n, i + 1) };
            for _ in 1..level {
                c.push((m, 0));
                // SAFETY: (1) live internal nodes down to the leaves (T5).
                m = unsafe { edge_of(s, base.wrapping_add(m.to_usize()), 0) };
            }
            c.push((m, 0));
            return true;
        }
        // SAFETY: (1) a live leaf.
        if i + 1 < unsafe { len_of(n) } {
            c[d].1 = i + 1;
            return true;
        }
        c.pop();
        while let Some((p, e)) = c.pop() {
            // SAFETY: (1) a live internal node of the path.
            if e < unsafe { len_of(base.wrapping_add(p.to_usize())) } {
                c.push((p, e));
                return true;
            }
        }
        false
    }

    /// Moves the position `c` to the previous entry; false at the start.
    ///
    /// # Safety
    /// 1. As [`advance`](Self::advance) (1).
    pub(crate) unsafe fn retreat(&self, base: *mut u8, s: NodeShape, c: &mut Path) -> bool {
        let d = c.len() - 1;
        let (node, i) = c[d];
        let n = base.wrapping_add(node.to_usize());
        let level = self.height() - d;
        if level > 0 {
            // SAFETY: (1) an internal node; `i <= len`.
            let mut m = unsafe { edge_of(s, n, i) };
            for _ in 1..level {
                let mn = base.wrapping_add(m.to_usize());
                // SAFETY: (1) live internal nodes down to the leaves.
                let l = unsafe { len_of(mn) };
                c.push((m, l));
                // SAFETY: as above.
                m = unsafe { edge_of(s, mn, l) };
            }
            // SAFETY: (1) a live, non-empty leaf.
            let l = unsafe { len_of(base.wrapping_add(m.to_usize())) };
            c.push((m, l - 1));
            return true;
        }
        if i > 0 {
            c[d].1 = i - 1;
            return true;
        }
        c.pop();
        while let Some((p, e)) = c.pop() {
            if e > 0 {
                c.push((p, e - 1));
                return true;
            }
        }
        false
    }

    /// The position of the first entry whose key is `>= q` (or `> q` if `exclusive`).
    ///
    /// # Safety
    /// 1. As [`search`](Self::search) (1).
    pub(crate) unsafe fn lower_bound<K, V, Q>(
        &self,
        base: *mut u8,
        q: &Q,
        exclusive: bool,
    ) -> Option<Path>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let s = NodeShape::of::<K, V>();
        let (mut c, leaf_len) =
            // SAFETY: (1).
            unsafe { self.descend::<K, V, Q>(base, |k| if exclusive { k > q } else { k >= q }) }?;
        let d = c.len() - 1;
        if c[d].1 < leaf_len {
            return Some(c);
        }
        // Past the leaf's end: the next entry up the path.
        c[d].1 = leaf_len - 1;
        // SAFETY: (1); `c` is a position of this tree.
        unsafe { self.advance(base, s, &mut c) }.then_some(c)
    }

    /// The position of the last entry whose key is `<= q` (or `< q` if `exclusive`).
    ///
    /// # Safety
    /// 1. As [`search`](Self::search) (1).
    pub(crate) unsafe fn upper_bound<K, V, Q>(
        &self,
        base: *mut u8,
        q: &Q,
        exclusive: bool,
    ) -> Option<Path>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let s = NodeShape::of::<K, V>();
        let (mut c, _) =
            // SAFETY: (1).
            unsafe { self.descend::<K, V, Q>(base, |k| if exclusive { k >= q } else { k > q }) }?;
        let d = c.len() - 1;
        if c[d].1 > 0 {
            c[d].1 -= 1;
            return Some(c);
        }
        // Before the leaf's start: the previous entry up the path.
        // SAFETY: (1); `c` is a position of this tree.
        unsafe { self.retreat(base, s, &mut c) }.then_some(c)
    }

    /// Walks down taking, at each node, the edge before the first key for which `stop`
    /// holds; returns the path (the last entry is the leaf with that index, which may
    /// be `len`) and the leaf's length.
    ///
    /// # Safety
    /// 1. As [`search`](Self::search) (1).
    unsafe fn descend<K, V, Q>(
        &self,
        base: *mut u8,
        stop: impl Fn(&Q) -> bool,
    ) -> Option<(Path, usize)>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let s = NodeShape::of::<K, V>();
        if self.root.is_null() {
            return None;
        }
        let mut c = Vec::with_capacity(self.height() + 1);
        let (mut node, mut level) = (self.root, self.height());
        loop {
            let n = base.wrapping_add(node.to_usize());
            // SAFETY: (1) a live node.
            let len = unsafe { len_of(n) };
            let idx = (0..len)
                // SAFETY: (1) initialised, aligned keys.
                .find(|&i| stop(unsafe { &*s.key(n, i).cast::<K>() }.borrow()))
                .unwrap_or(len);
            c.push((node, idx));
            if level == 0 {
                return Some((c, len));
            }
            // SAFETY: (1) an internal node, `idx <= len`.
            node = unsafe { edge_of(s, n, idx) };
            level -= 1;
        }
    }
}

/// Splits the full node `n` while inserting `ins` at `idx`: `n` keeps the first 5 of
/// the 12 entries, the median is copied to `median`, the last 6 go to the fresh node
/// `r` (with the matching edges; `ins.2` is the edge right of the new entry).
///
/// # Safety
/// 1. `n` is a live full node, `r` a fresh empty node of the same level,
///    `internal == (level > 0)`, `idx <= CAP`.
/// 2. `ins.0`/`ins.1` point at a key and a value outside `n`, `r` and `median`;
///    `median` holds `key.size + val.size` bytes.
unsafe fn split_insert(
    w: &W<'_>,
    n: *mut u8,
    r: *mut u8,
    internal: bool,
    idx: usize,
    ins: (*const u8, *const u8, PoolOff),
    median: &mut [u8],
) {
    let s = w.s;
    let (mk, mv) = median.split_at_mut(s.key.size);
    let copy_out = |from: *const u8, to: &mut [u8]| {
        // SAFETY: (1), (2): `to.len()` bytes of a key or value to a distinct buffer.
        unsafe { std::ptr::copy_nonoverlapping(from, to.as_mut_ptr(), to.len()) };
    };
    if idx < MIN_LEN {
        // The new entry goes left: the median is entry 4.
        copy_out(s.key(n, MIN_LEN - 1), mk);
        copy_out(s.val(n, MIN_LEN - 1), mv);
        // SAFETY: (1).
        unsafe { w.split_into(n, r, internal, MIN_LEN, MIN_LEN - 1, None) };
        // SAFETY: (1) `n` has room now; (2).
        unsafe { w.insert_fit(n, internal, idx, ins) };
    } else if idx == MIN_LEN {
        // The new entry is the median; its right edge is `r`'s first.
        copy_out(ins.0, mk);
        copy_out(ins.1, mv);
        // SAFETY: (1).
        unsafe { w.split_into(n, r, internal, MIN_LEN, MIN_LEN, Some(ins.2)) };
    } else {
        // The new entry goes right: the median is entry 5.
        copy_out(s.key(n, MIN_LEN), mk);
        copy_out(s.val(n, MIN_LEN), mv);
        // SAFETY: (1).
        unsafe { w.split_into(n, r, internal, MIN_LEN + 1, MIN_LEN, None) };
        // SAFETY: (1) `r` has 5 entries; (2).
        unsafe { w.insert_fit(r, internal, idx - MIN_LEN - 1, ins) };
    }
}

impl RawBTree {
    /// Shows the root pointer check this header's root node, and refuses a header no
    /// tree has (T1) (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, s: NodeShape, v: &mut crate::layout::PointerVisitor<'_>) {
        let (root, height, len) = (self.root, self.height, self.len);
        if root.is_null() != (len == 0) || (root.is_null() && height != 0) {
            v.invalid(
                root,
                format!("the root node of a tree of {len} entries and height {height} (T1)"),
            );
        } else if !root.is_null() {
            let size = if height == 0 {
                s.leaf_size
            } else {
                s.internal_size
            };
            v.pointer(root, size as u64, s.align as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_layout_for_u64_pairs() {
        let s = NodeShape::of::<u64, u64>();
        assert_eq!((s.keys_at, s.vals_at, s.leaf_size), (8, 96, 184));
        assert_eq!((s.edges_at, s.internal_size, s.align), (184, 280, 8));
        assert_eq!(s.order(0), Some(2));
        assert_eq!(s.order(1), Some(3));
    }

    #[test]
    fn node_layout_respects_alignment() {
        let s = NodeShape::of::<u8, u128>();
        assert_eq!(s.keys_at, 8);
        assert_eq!(s.vals_at % 16, 0);
        assert_eq!(s.edges_at % 8, 0);
        assert_eq!(s.align, 16);
        let z = NodeShape::of::<(), ()>();
        assert_eq!((z.leaf_size, z.internal_size), (8, 8 + 96));
    }
}
