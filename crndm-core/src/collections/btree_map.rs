//! [`PBTreeMap`], a persistent ordered map (a typed shell over the raw B-tree core),
//! and its iterators.

use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Bound, RangeBounds};

use super::raw::pool_base;
use super::raw_btree::{NodeShape, Path, RawBTree, Search};
use crate::clone::PClone;
use crate::error::Result;
use crate::marker::PSafe;
use crate::marker::phantom::{NotSend, NotTxIn};
use crate::offset::PoolOff;
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;
use crate::stm::tx::with_current;

/// An ordered map from `K` to `V` in pool `P`, like `BTreeMap<K, V>`.
///
/// A B-tree of nodes holding 5 to 11 entries, each node one block of the pool, so
/// lookups, insertions and removals take O(log n) time and touch O(log n) nodes.
/// Iteration is in key order, in both directions, and over ranges. Every change takes
/// a journal and logs exactly the entries, edges and lengths it moves; splits and
/// merges allocate or free whole nodes, freed only after commit.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let root = BuddyAlloc::open::<PRefCell<PBTreeMap<u32, char>>>(dir.path().join("t.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let mut m = root.borrow_mut(j);
///     for (k, v) in [(3, 'c'), (1, 'a'), (2, 'b')] {
///         m.insert(k, v, j);
///     }
/// })?;
/// let m = root.borrow();
/// assert_eq!(m.iter().map(|(_, v)| *v).collect::<String>(), "abc");
/// assert_eq!(m.range(2..).count(), 2);
/// # Ok(())
/// # }
/// ```
#[repr(C)]
pub struct PBTreeMap<K: PSafe, V: PSafe, P: PoolType> {
    /// Holds nodes of `K`s and `V`s of pool `P`, with invariants T1–T5 (T4 by `K: Ord`).
    raw: RawBTree,
    /// Not `Send` (`Sync`), not `UnwindSafe` on stable: it owns pool blocks.
    _marker: PhantomData<(K, V, P, NotSend, NotTxIn)>,
}

impl<K: PSafe, V: PSafe, P: PoolType> PBTreeMap<K, V, P> {
    const SHAPE: NodeShape = NodeShape::of::<K, V>();

    /// An empty map; it allocates nothing until an entry is added.
    ///
    /// ```
    /// use crndm::default::*;
    /// let m: PBTreeMap<u8, u8> = PBTreeMap::new();
    /// assert!(m.is_empty());
    /// ```
    pub const fn new() -> Self {
        PBTreeMap {
            raw: RawBTree::new(),
            _marker: PhantomData,
        }
    }

    /// Heap bytes the map's nodes occupy (feature `internals`, for leak checks).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn heap_bytes(&self) -> u64 {
        // SAFETY: (1) the map's field invariant: `raw` holds `K`s and `V`s of `P`, whose
        // pool is open while the map is reachable.
        unsafe { self.raw.heap_bytes::<K, V>(pool_base::<P>()) }
    }

    /// The number of entries.
    ///
    /// ```
    /// use crndm::default::*;
    /// assert_eq!(PBTreeMap::<u8, u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the map has no entries.
    ///
    /// ```
    /// use crndm::default::*;
    /// assert!(PBTreeMap::<u8, u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn search<Q>(&self, k: &Q, path: Option<&mut Path>) -> Search
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        // SAFETY: (1) `raw` holds K/V nodes of P (field invariant), reachable only
        // while the pool is open (S2); an empty tree reads nothing.
        unsafe { self.raw.search::<K, V, Q>(pool_base::<P>(), k, path) }
    }

    /// The value of key `k`, if present.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert("k".to_pstring(j), 1, j);
    ///     assert_eq!(m.get("k"), Some(&1));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.get_key_value(k).map(|(_, v)| v)
    }

    /// The stored key and the value of key `k`, if present.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert(1, 2, j);
    ///     assert_eq!(m.get_key_value(&1), Some((&1, &2)));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_key_value<Q>(&self, k: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self.search(k, None) {
            Search::Found { node, idx, .. } => {
                // SAFETY: (1) field invariant, pool open; the search found a live entry.
                Some(unsafe { self.raw.kv::<K, V>(pool_base::<P>(), node, idx) })
            }
            _ => None,
        }
    }

    /// Whether key `k` is present.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert(1, (), j);
    ///     assert!(m.contains_key(&1) && !m.contains_key(&0));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.get(k).is_some()
    }

    /// The value of key `k`, mutable after logging it in `j`.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let root = BuddyAlloc::open::<PRefCell<PBTreeMap<u8, u32>>>(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| root.borrow_mut(j).insert(1, 10, j))?;
    /// BuddyAlloc::transaction(|j| *root.borrow_mut(j).get_mut(&1, j).unwrap() *= 3)?;
    /// assert_eq!(root.borrow().get(&1), Some(&30));
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_mut<'a, Q>(&'a mut self, k: &Q, j: &'a Journal<P>) -> Option<&'a mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let _poison = j.poison_on_unwind();
        match self.search(k, None) {
            Search::Found { node, idx, .. } => {
                // SAFETY: (1) field invariant, `j` a transaction of P; a live entry.
                Some(unsafe { self.raw.value_mut_logged::<K, V>(node, idx, j) })
            }
            _ => None,
        }
    }

    /// Inserts `v` under `k`; returns the old value if `k` was present (the stored key
    /// is kept and `k` is dropped, as in std).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     assert_eq!(m.insert(5, 'a', j), None);
    ///     assert_eq!(m.insert(5, 'b', j), Some('a'));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space for new nodes (the transaction then aborts); see
    /// [`try_insert`](Self::try_insert).
    #[track_caller]
    pub fn insert(&mut self, k: K, v: V, j: &Journal<P>) -> Option<V>
    where
        K: Ord,
    {
        // A panic of crndm or of the user's code called here (`Ord`/`Hash`/`Eq` of the
        // keys, the closure) poisons the transaction even if the body catches it.
        let _poison = crate::stm::tx::PoisonOnUnwind::new(j);
        match self.try_insert(k, v, j) {
            Ok(old) => old,
            Err(e) => j.fail(&format_args!("PBTreeMap::insert: {e}")),
        }
    }

    /// Like [`insert`](Self::insert), but returns the error instead of panicking.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     assert_eq!(m.try_insert(1, 1, j).unwrap(), None);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::OutOfSpace`](crate::Error::OutOfSpace) and the other allocation errors;
    /// the map is unchanged and `k`, `v` are dropped.
    pub fn try_insert(&mut self, k: K, v: V, j: &Journal<P>) -> Result<Option<V>>
    where
        K: Ord,
    {
        let _poison = j.poison_on_unwind();
        let mut path = Vec::new();
        let vacant = match self.search(&k, Some(&mut path)) {
            Search::Found { node, idx, .. } => {
                // SAFETY: (1) field invariant, `j` a transaction of P; a live entry.
                let slot = unsafe { self.raw.value_mut_logged::<K, V>(node, idx, j) };
                return Ok(Some(std::mem::replace(slot, v)));
            }
            Search::Vacant { node, idx } => Some((node, idx)),
            Search::Empty => None,
        };
        let (k, v) = (ManuallyDrop::new(k), ManuallyDrop::new(v));
        let kp = std::ptr::from_ref::<K>(&k).cast::<u8>();
        let vp = std::ptr::from_ref::<V>(&v).cast::<u8>();
        // (3): `k`, `v` are locals, which the tree takes over on `Ok` (never dropped here:
        // `ManuallyDrop`).
        // SAFETY: (1) field invariant, `j` a transaction of P; (2) the search just made,
        // nothing changed since, T4 by `K: Ord`; (3) as above.
        let r = unsafe { self.raw.insert(Self::SHAPE, j, &path, vacant, kp, vp) };
        match r {
            Ok(()) => Ok(None),
            Err(e) => {
                drop(ManuallyDrop::into_inner(k));
                drop(ManuallyDrop::into_inner(v));
                Err(e)
            }
        }
    }

    /// Removes key `k`; returns its value if it was present.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert(1, 'x', j);
    ///     assert_eq!(m.remove(&1, j), Some('x'));
    ///     assert!(m.is_empty());
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn remove<Q>(&mut self, k: &Q, j: &Journal<P>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let _poison = j.poison_on_unwind();
        self.remove_entry(k, j).map(|(_, v)| v)
    }

    /// Removes key `k`; returns the stored key and its value if it was present.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert(1, 'x', j);
    ///     assert_eq!(m.remove_entry(&1, j), Some((1, 'x')));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn remove_entry<Q>(&mut self, k: &Q, j: &Journal<P>) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let _poison = j.poison_on_unwind();
        let mut path = Vec::new();
        let Search::Found { node, idx, level } = self.search(k, Some(&mut path)) else {
            return None;
        };
        Some(self.remove_found(&mut path, node, idx, level, j))
    }

    fn remove_found(
        &mut self,
        path: &mut Path,
        node: PoolOff,
        idx: usize,
        level: usize,
        j: &Journal<P>,
    ) -> (K, V) {
        // SAFETY: (1) field invariant; (2) the entry is removed just below; until then
        // the tree owns it (`ManuallyDrop`).
        let entry = ManuallyDrop::new(unsafe { self.raw.read_kv::<K, V>(j.base(), node, idx) });
        // SAFETY: (1) field invariant, `j` a transaction of P; (2) a fresh search result
        // whose entry was moved out above.
        unsafe { self.raw.remove(Self::SHAPE, j, path, node, idx, level) };
        ManuallyDrop::into_inner(entry)
    }

    /// The entry with the smallest key.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert(2, 'b', j);
    ///     m.insert(1, 'a', j);
    ///     assert_eq!(m.first_key_value(), Some((&1, &'a')));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        self.iter().next()
    }

    /// The entry with the largest key.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert(2, 'b', j);
    ///     m.insert(1, 'a', j);
    ///     assert_eq!(m.last_key_value(), Some((&2, &'b')));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn last_key_value(&self) -> Option<(&K, &V)> {
        self.iter().next_back()
    }

    /// Removes and returns the entry with the smallest key.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert(2, 'b', j);
    ///     m.insert(1, 'a', j);
    ///     assert_eq!(m.pop_first(j), Some((1, 'a')));
    ///     assert_eq!(m.len(), 1);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pop_first(&mut self, j: &Journal<P>) -> Option<(K, V)> {
        // SAFETY: (1) field invariant, pool open (`j`).
        let mut c = unsafe { self.raw.first(j.base(), Self::SHAPE) }?;
        let (node, idx) = c.pop()?;
        // The first entry is always in a leaf: the path holds the internal nodes above.
        Some(self.remove_found(&mut c, node, idx, 0, j))
    }

    /// Removes and returns the entry with the largest key.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert(2, 'b', j);
    ///     m.insert(1, 'a', j);
    ///     assert_eq!(m.pop_last(j), Some((2, 'b')));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pop_last(&mut self, j: &Journal<P>) -> Option<(K, V)> {
        // SAFETY: (1) field invariant, pool open (`j`).
        let mut c = unsafe { self.raw.last(j.base(), Self::SHAPE) }?;
        let (node, idx) = c.pop()?;
        // The last entry is always in a leaf, like the first.
        Some(self.remove_found(&mut c, node, idx, 0, j))
    }

    /// Removes every entry (dropping them) and frees every node after commit.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert(1, 1, j);
    ///     m.clear(j);
    ///     assert!(m.is_empty());
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn clear(&mut self, j: &Journal<P>) {
        let _poison = j.poison_on_unwind();
        let entries = ManuallyDrop::new(self.take_all(j));
        // SAFETY: (1) field invariant, `j` a transaction of P; every entry was moved
        // out above.
        unsafe { self.raw.free_all(Self::SHAPE, j) };
        drop(ManuallyDrop::into_inner(entries));
    }

    /// Moves every entry out of the nodes (bitwise), for the caller to forget them.
    fn take_all(&self, j: &Journal<P>) -> Vec<(K, V)> {
        if !std::mem::needs_drop::<(K, V)>() {
            return Vec::new();
        }
        // SAFETY: (1) field invariant, pool open (`j`); (2) the caller forgets the
        // nodes next.
        unsafe { self.raw.take_all::<K, V>(j.base()) }
    }

    /// An iterator over the entries in key order (double-ended).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     for k in [3, 1, 2] {
    ///         m.insert(k, k * 10, j);
    ///     }
    ///     let keys: Vec<_> = m.iter().rev().map(|(k, _)| *k).collect();
    ///     assert_eq!(keys, [3, 2, 1]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V, P> {
        let base = pool_base::<P>();
        // SAFETY: (1) field invariant, pool open (S2); an empty tree reads nothing.
        let front = unsafe { self.raw.first(base, Self::SHAPE) };
        // SAFETY: as above.
        let back = unsafe { self.raw.last(base, Self::SHAPE) };
        Iter {
            inner: RawIter {
                map: self,
                front,
                back,
            },
            left: self.len(),
        }
    }

    /// An iterator over the keys in order.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert(2, (), j);
    ///     m.insert(1, (), j);
    ///     assert_eq!(m.keys().copied().collect::<Vec<_>>(), [1, 2]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.iter().map(|(k, _)| k)
    }

    /// An iterator over the values in key order.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     m.insert(2, 'b', j);
    ///     m.insert(1, 'a', j);
    ///     assert_eq!(m.values().collect::<String>(), "ab");
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.iter().map(|(_, v)| v)
    }

    /// An iterator over the entries whose keys lie in `range`, in key order
    /// (double-ended). A range whose start is after its end is empty.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PBTreeMap::new();
    ///     for k in 0..100 {
    ///         m.insert(k, (), j);
    ///     }
    ///     let keys: Vec<_> = m.range(10..=12).map(|(k, _)| *k).collect();
    ///     assert_eq!(keys, [10, 11, 12]);
    ///     assert_eq!(m.range(50..).rev().next(), Some((&99, &())));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn range<Q, R>(&self, range: R) -> Range<'_, K, V, P>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
        R: RangeBounds<Q>,
    {
        let base = pool_base::<P>();
        // SAFETY (every block below): (1) field invariant, pool open (S2); an empty
        // tree reads nothing.
        let front = match range.start_bound() {
            // SAFETY: see above.
            Bound::Unbounded => unsafe { self.raw.first(base, Self::SHAPE) },
            // SAFETY: see above.
            Bound::Included(q) => unsafe { self.raw.lower_bound::<K, V, Q>(base, q, false) },
            // SAFETY: see above.
            Bound::Excluded(q) => unsafe { self.raw.lower_bound::<K, V, Q>(base, q, true) },
        };
        let back = match range.end_bound() {
            // SAFETY: see above.
            Bound::Unbounded => unsafe { self.raw.last(base, Self::SHAPE) },
            // SAFETY: see above.
            Bound::Included(q) => unsafe { self.raw.upper_bound::<K, V, Q>(base, q, false) },
            // SAFETY: see above.
            Bound::Excluded(q) => unsafe { self.raw.upper_bound::<K, V, Q>(base, q, true) },
        };
        let mut inner = RawIter {
            map: self,
            front,
            back,
        };
        let empty = match (inner.peek_front(), inner.peek_back()) {
            (Some(f), Some(b)) => f.0.borrow() > b.0.borrow(),
            _ => true,
        };
        if empty {
            inner.front = None;
            inner.back = None;
        }
        Range { inner }
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> Drop for PBTreeMap<K, V, P> {
    fn drop(&mut self) {
        // As `PVec`: outside a transaction the nodes are kept (leaked), never freed
        // under a live pointer.
        with_current::<P, _>(|j| {
            let Some(j) = j else { return };
            // A panic of an element's `Drop` poisons the transaction.
            let _poison = j.poison_on_unwind();
            let entries = ManuallyDrop::new(self.take_all(j));
            // SAFETY: (1) field invariant, `j` a transaction of P; entries moved out.
            unsafe { self.raw.free_all(Self::SHAPE, j) };
            drop(ManuallyDrop::into_inner(entries));
        });
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> Default for PBTreeMap<K, V, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V, P> PClone<P> for PBTreeMap<K, V, P>
where
    K: PSafe + Ord + PClone<P>,
    V: PSafe + PClone<P>,
    P: PoolType,
{
    fn pclone(&self, j: &Journal<P>) -> Self {
        let _poison = j.poison_on_unwind();
        // On a panic in `pclone`, the half-built map drops and frees what it holds.
        let mut m = Self::new();
        for (k, v) in self {
            m.insert(k.pclone(j), v.pclone(j), j);
        }
        m
    }
}

impl<K: PSafe + fmt::Debug, V: PSafe + fmt::Debug, P: PoolType> fmt::Debug for PBTreeMap<K, V, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: PSafe + PartialEq, V: PSafe + PartialEq, P: PoolType> PartialEq for PBTreeMap<K, V, P> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<K: PSafe + Eq, V: PSafe + Eq, P: PoolType> Eq for PBTreeMap<K, V, P> {}

impl<'a, K: PSafe, V: PSafe, P: PoolType> IntoIterator for &'a PBTreeMap<K, V, P> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V, P>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Two positions, front and back, walking towards each other; empty when both are
/// `None`.
struct RawIter<'a, K: PSafe, V: PSafe, P: PoolType> {
    map: &'a PBTreeMap<K, V, P>,
    front: Option<Path>,
    back: Option<Path>,
}

impl<'a, K: PSafe, V: PSafe, P: PoolType> RawIter<'a, K, V, P> {
    fn at(&self, c: &Path) -> (&'a K, &'a V) {
        let (node, idx) = c[c.len() - 1];
        // SAFETY: (1) the map's field invariant, pool open while it is borrowed; `c` is
        // a position of the map, which cannot change while borrowed.
        unsafe { self.map.raw.kv::<K, V>(pool_base::<P>(), node, idx) }
    }

    fn peek_front(&self) -> Option<(&'a K, &'a V)> {
        self.front.as_ref().map(|c| self.at(c))
    }

    fn peek_back(&self) -> Option<(&'a K, &'a V)> {
        self.back.as_ref().map(|c| self.at(c))
    }

    /// Whether front and back are at the same entry.
    fn meet(&self) -> bool {
        match (&self.front, &self.back) {
            (Some(f), Some(b)) => f.last() == b.last(),
            _ => true,
        }
    }

    fn next(&mut self) -> Option<(&'a K, &'a V)> {
        let kv = self.peek_front()?;
        if self.meet() {
            self.front = None;
            self.back = None;
        } else if let Some(c) = &mut self.front {
            // SAFETY: (1) as in `at`; `c` is a position of the map.
            let more = unsafe {
                self.map
                    .raw
                    .advance(pool_base::<P>(), PBTreeMap::<K, V, P>::SHAPE, c)
            };
            debug_assert!(more, "the back position is still ahead");
        }
        Some(kv)
    }

    fn next_back(&mut self) -> Option<(&'a K, &'a V)> {
        let kv = self.peek_back()?;
        if self.meet() {
            self.front = None;
            self.back = None;
        } else if let Some(c) = &mut self.back {
            // SAFETY: as in `next`.
            let more = unsafe {
                self.map
                    .raw
                    .retreat(pool_base::<P>(), PBTreeMap::<K, V, P>::SHAPE, c)
            };
            debug_assert!(more, "the front position is still behind");
        }
        Some(kv)
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> Clone for RawIter<'_, K, V, P> {
    fn clone(&self) -> Self {
        RawIter {
            map: self.map,
            front: self.front.clone(),
            back: self.back.clone(),
        }
    }
}

/// An iterator over the entries of a [`PBTreeMap`] in key order, from
/// [`PBTreeMap::iter`].
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let mut m = PBTreeMap::new();
///     m.insert(1, 2, j);
///     let it: crndm::btree_map::Iter<'_, _, _, _> = m.iter();
///     assert_eq!(it.len(), 1);
/// })?;
/// # Ok(())
/// # }
/// ```
pub struct Iter<'a, K: PSafe, V: PSafe, P: PoolType> {
    inner: RawIter<'a, K, V, P>,
    left: usize,
}

impl<'a, K: PSafe, V: PSafe, P: PoolType> Iterator for Iter<'a, K, V, P> {
    type Item = (&'a K, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        let kv = self.inner.next()?;
        // Saturating: a corrupt pool may hold more entries than its length says.
        self.left = self.left.saturating_sub(1);
        Some(kv)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> DoubleEndedIterator for Iter<'_, K, V, P> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let kv = self.inner.next_back()?;
        // Saturating: a corrupt pool may hold more entries than its length says.
        self.left = self.left.saturating_sub(1);
        Some(kv)
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> ExactSizeIterator for Iter<'_, K, V, P> {}

impl<K: PSafe, V: PSafe, P: PoolType> Clone for Iter<'_, K, V, P> {
    fn clone(&self) -> Self {
        Iter {
            inner: self.inner.clone(),
            left: self.left,
        }
    }
}

impl<K: PSafe + fmt::Debug, V: PSafe + fmt::Debug, P: PoolType> fmt::Debug for Iter<'_, K, V, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// An iterator over a range of the entries of a [`PBTreeMap`], from
/// [`PBTreeMap::range`].
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let _pool = BuddyAlloc::open_no_root(dir.path().join("t.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let mut m = PBTreeMap::new();
///     m.insert(1, 2, j);
///     let r: crndm::btree_map::Range<'_, _, _, _> = m.range(..5);
///     assert_eq!(r.count(), 1);
/// })?;
/// # Ok(())
/// # }
/// ```
pub struct Range<'a, K: PSafe, V: PSafe, P: PoolType> {
    inner: RawIter<'a, K, V, P>,
}

impl<'a, K: PSafe, V: PSafe, P: PoolType> Iterator for Range<'a, K, V, P> {
    type Item = (&'a K, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> DoubleEndedIterator for Range<'_, K, V, P> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back()
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> Clone for Range<'_, K, V, P> {
    fn clone(&self) -> Self {
        Range {
            inner: self.inner.clone(),
        }
    }
}

impl<K: PSafe + fmt::Debug, V: PSafe + fmt::Debug, P: PoolType> fmt::Debug for Range<'_, K, V, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> PBTreeMap<K, V, P> {
    /// Shows the root pointer check its root node (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>) {
        self.raw.visit_stored(Self::SHAPE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemPool;

    crate::pool!(btree_unit_pool);
    type P = btree_unit_pool::BuddyAlloc;

    fn validate(m: &PBTreeMap<u32, u64, P>) {
        // SAFETY: (1) the map's field invariant; its pool is open.
        let r = unsafe { m.raw.validate::<u32, u64>(pool_base::<P>()) };
        assert_eq!(r, Ok(()));
    }

    /// Random inserts and removals keep every node between 5 and 11 entries, the keys
    /// in order and all leaves at one depth, after every transaction.
    #[test]
    fn random_changes_keep_the_b_tree_invariants() {
        let dir = tempfile::tempdir().unwrap();
        let root = P::open::<crate::PRefCell<PBTreeMap<u32, u64, P>, P>>(
            dir.path().join("t.pool"),
            crate::O_CF,
        )
        .unwrap();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut model = std::collections::BTreeMap::new();
        for round in 0..200 {
            let keys: Vec<(u32, bool)> = (0..40)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Grow for a while, then shrink to nothing.
                    let insert = (x % 100) < if round < 120 { 70 } else { 20 };
                    (u32::try_from((x >> 20) % 3000).unwrap(), insert)
                })
                .collect();
            P::transaction(|j| {
                let mut m = root.borrow_mut(j);
                for &(k, insert) in &keys {
                    if insert {
                        m.insert(k, u64::from(k), j);
                    } else {
                        m.remove(&k, j);
                    }
                }
            })
            .unwrap();
            for &(k, insert) in &keys {
                if insert {
                    model.insert(k, u64::from(k));
                } else {
                    model.remove(&k);
                }
            }
            let m = (*root).borrow();
            validate(&m);
            assert!(m.iter().map(|(k, v)| (*k, *v)).eq(model.clone()));
        }
        P::transaction(|j| root.borrow_mut(j).clear(j)).unwrap();
        validate(&(*root).borrow());
    }
}
