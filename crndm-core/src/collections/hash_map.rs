//! [`PHashMap`], a persistent hash map (a typed shell over the raw table core), and
//! its iterators.

use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;

use super::hash::{PHash, PHasher};
use super::raw::pool_base;
use super::raw_table::{RawTable, SlotShape, cap_for};
use crate::clone::PClone;
use crate::error::Result;
use crate::marker::PSafe;
use crate::marker::phantom::{NotSend, NotTxIn};
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;
use crate::stm::tx::with_current;

/// A hash map from `K` to `V` in pool `P`, like `HashMap<K, V>`.
///
/// Entries live in one table block of the pool (open addressing with linear probing,
/// grown at 3/4 full and shrunk below 1/8, so operations take expected O(1) time and
/// memory follows the number of entries). Keys hash with the stable [`PHash`], so the
/// buckets stay valid across runs. Every change takes a journal and logs what it
/// changes; growth builds a new table and swaps it in with one logged store.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let root = BuddyAlloc::open::<PRefCell<PHashMap<u64, PString>>>(dir.path().join("m.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let mut m = root.borrow_mut(j);
///     m.insert(1, "one".to_pstring(j), j);
///     m.insert(2, "two".to_pstring(j), j);
/// })?;
/// let m = root.borrow();
/// assert_eq!(m.get(&1).unwrap(), "one");
/// assert_eq!(m.len(), 2);
/// # Ok(())
/// # }
/// ```
#[repr(C)]
pub struct PHashMap<K: PSafe, V: PSafe, P: PoolType> {
    /// Holds `Slot<K, V>`s of pool `P`, with invariants H1–H4, every key hashed with
    /// [`PHasher::hash_one`].
    raw: RawTable,
    /// Not `Send` (`Sync`), not `UnwindSafe` on stable: it owns pool blocks.
    _marker: PhantomData<(K, V, P, NotSend, NotTxIn)>,
}

impl<K: PSafe, V: PSafe, P: PoolType> PHashMap<K, V, P> {
    const SHAPE: SlotShape = SlotShape::of::<K, V>();

    /// An empty map; it allocates nothing until an entry is added.
    ///
    /// ```
    /// use crndm::default::*;
    /// let m: PHashMap<u32, u32> = PHashMap::new();
    /// assert!(m.is_empty());
    /// ```
    pub const fn new() -> Self {
        PHashMap {
            raw: RawTable::new(),
            _marker: PhantomData,
        }
    }

    /// An empty map with room for `n` entries without growing.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let m = PHashMap::<u32, u32>::with_capacity(100, j);
    ///     assert!(m.capacity() >= 100);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts).
    #[track_caller]
    pub fn with_capacity(n: usize, j: &Journal<P>) -> Self {
        let mut m = Self::new();
        m.reserve(n, j);
        m
    }

    /// The number of entries.
    ///
    /// ```
    /// use crndm::default::*;
    /// assert_eq!(PHashMap::<u8, u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the map has no entries.
    ///
    /// ```
    /// use crndm::default::*;
    /// assert!(PHashMap::<u8, u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of entries the map holds without growing.
    ///
    /// ```
    /// use crndm::default::*;
    /// assert_eq!(PHashMap::<u8, u8>::new().capacity(), 0);
    /// ```
    pub fn capacity(&self) -> usize {
        self.raw.capacity() / 4 * 3
    }

    /// The slot of the key equal to `k`.
    fn find<Q>(&self, k: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: PHash + Eq + ?Sized,
    {
        if self.raw.len() == 0 {
            return None;
        }
        let hash = PHasher::hash_one(k);
        // SAFETY: (1) `raw` holds Slot<K, V>s of P (field invariant), reachable only
        // while the pool is open (S2).
        unsafe { self.raw.find_key::<K, V, Q>(pool_base::<P>(), hash, k) }
    }

    /// The value of key `k`, if present.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::new();
    ///     m.insert("a".to_pstring(j), 1, j);
    ///     assert_eq!(m.get("a"), Some(&1)); // look up a PString key by &str
    ///     assert_eq!(m.get("b"), None);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: PHash + Eq + ?Sized,
    {
        self.get_key_value(k).map(|(_, v)| v)
    }

    /// The stored key and the value of key `k`, if present.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::new();
    ///     m.insert(3, 4, j);
    ///     assert_eq!(m.get_key_value(&3), Some((&3, &4)));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_key_value<Q>(&self, k: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: PHash + Eq + ?Sized,
    {
        let i = self.find(k)?;
        // SAFETY: (1) field invariant, pool open (S2); (2) `find` returns occupied slots.
        Some(unsafe { self.raw.entry::<K, V>(pool_base::<P>(), i) })
    }

    /// Whether key `k` is present.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::new();
    ///     m.insert(1u8, (), j);
    ///     assert!(m.contains_key(&1) && !m.contains_key(&2));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: PHash + Eq + ?Sized,
    {
        self.find(k).is_some()
    }

    /// The value of key `k`, mutable after logging it in `j`.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let root = BuddyAlloc::open::<PRefCell<PHashMap<u8, u32>>>(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| root.borrow_mut(j).insert(1, 10, j))?;
    /// BuddyAlloc::transaction(|j| *root.borrow_mut(j).get_mut(&1, j).unwrap() += 1)?;
    /// assert_eq!(root.borrow().get(&1), Some(&11));
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_mut<'a, Q>(&'a mut self, k: &Q, j: &'a Journal<P>) -> Option<&'a mut V>
    where
        K: Borrow<Q>,
        Q: PHash + Eq + ?Sized,
    {
        let _poison = j.poison_on_unwind();
        let i = self.find(k)?;
        // SAFETY: (1) field invariant, `j` a transaction of P; (2) occupied slot.
        Some(unsafe { self.raw.value_mut_logged::<K, V>(i, j) })
    }

    /// Inserts `v` under `k`; returns the old value if `k` was present (the stored key
    /// is kept and `k` is dropped, as in std).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::new();
    ///     assert_eq!(m.insert(1, 'a', j), None);
    ///     assert_eq!(m.insert(1, 'b', j), Some('a'));
    ///     assert_eq!(m.get(&1), Some(&'b'));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space for a bigger table (the transaction then aborts).
    #[track_caller]
    pub fn insert(&mut self, k: K, v: V, j: &Journal<P>) -> Option<V>
    where
        K: PHash + Eq,
    {
        // A panic of crndm or of the user's code called here (`Ord`/`Hash`/`Eq` of the
        // keys, the closure) poisons the transaction even if the body catches it.
        let _poison = crate::stm::tx::PoisonOnUnwind::new(j);
        if let Some(i) = self.find(&k) {
            // SAFETY: (1) field invariant, `j` a transaction of P; (2) occupied slot.
            let slot = unsafe { self.raw.value_mut_logged::<K, V>(i, j) };
            return Some(std::mem::replace(slot, v));
        }
        self.insert_new(k, v, j);
        None
    }

    /// Inserts a key known to be absent; returns its slot.
    ///
    /// # Panics
    /// If the pool is out of space for a bigger table.
    #[track_caller]
    fn insert_new(&mut self, k: K, v: V, j: &Journal<P>) -> usize
    where
        K: PHash,
    {
        let hash = PHasher::hash_one(&k);
        if let Err(e) = self.raw.reserve_one(Self::SHAPE, j) {
            j.fail(&format_args!("PHashMap: {e}"));
        }
        // SAFETY: (1) field invariant, `j` a transaction of P; room reserved.
        let i = unsafe { self.raw.claim(hash, Self::SHAPE, j) };
        // SAFETY: (1) as above; (2) `i` was just claimed.
        unsafe { self.raw.write_entry(i, k, v, j.base()) };
        i
    }

    /// The value of `k`, inserting `f()` first if `k` is absent; mutable (an existing
    /// value is logged first).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut counts = PHashMap::new();
    ///     for w in ["a", "b", "a"] {
    ///         *counts.get_or_insert_with(w.to_pstring(j), || 0, j) += 1;
    ///     }
    ///     assert_eq!(counts.get("a"), Some(&2));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space for a bigger table (the transaction then aborts).
    #[track_caller]
    pub fn get_or_insert_with<'a>(
        &'a mut self,
        k: K,
        f: impl FnOnce() -> V,
        j: &'a Journal<P>,
    ) -> &'a mut V
    where
        K: PHash + Eq,
    {
        // A panic of crndm or of the user's code called here (`Ord`/`Hash`/`Eq` of the
        // keys, the closure) poisons the transaction even if the body catches it.
        let _poison = crate::stm::tx::PoisonOnUnwind::new(j);
        if let Some(i) = self.find(&k) {
            // SAFETY: (1) field invariant, `j` a transaction of P; (2) occupied slot.
            return unsafe { self.raw.value_mut_logged::<K, V>(i, j) };
        }
        let v = f();
        let i = self.insert_new(k, v, j);
        // SAFETY: (1) field invariant, `j` a transaction of P; (2) claimed just now.
        unsafe { self.raw.value_mut_claimed::<K, V>(j.base(), i) }
    }

    /// Removes key `k`; returns its value if it was present.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::new();
    ///     m.insert(1, 2, j);
    ///     assert_eq!(m.remove(&1, j), Some(2));
    ///     assert_eq!(m.remove(&1, j), None);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn remove<Q>(&mut self, k: &Q, j: &Journal<P>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: PHash + Eq + ?Sized,
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
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::new();
    ///     m.insert(1, 2, j);
    ///     assert_eq!(m.remove_entry(&1, j), Some((1, 2)));
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn remove_entry<Q>(&mut self, k: &Q, j: &Journal<P>) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: PHash + Eq + ?Sized,
    {
        let _poison = j.poison_on_unwind();
        let i = self.find(k)?;
        // SAFETY: (1) field invariant; (2) occupied slot, erased just below; until then
        // the table still owns the entry (`ManuallyDrop`).
        let entry = ManuallyDrop::new(unsafe { self.raw.read_entry::<K, V>(j.base(), i) });
        // SAFETY: (1) field invariant, `j` a transaction of P; (2) the entry was moved
        // out above.
        unsafe { self.raw.erase(i, Self::SHAPE, j) };
        Some(ManuallyDrop::into_inner(entry))
    }

    /// Removes every entry (dropping them) and frees the table after commit.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::new();
    ///     m.insert(1, 2, j);
    ///     m.clear(j);
    ///     assert!(m.is_empty() && m.capacity() == 0);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn clear(&mut self, j: &Journal<P>) {
        let _poison = j.poison_on_unwind();
        let entries = ManuallyDrop::new(self.take_all(j));
        self.raw.clear_moved_out(Self::SHAPE, j);
        drop(ManuallyDrop::into_inner(entries));
    }

    /// Moves every entry out of the table (bitwise), for the caller to forget the table.
    fn take_all(&self, j: &Journal<P>) -> Vec<(K, V)> {
        if !std::mem::needs_drop::<(K, V)>() {
            return Vec::new();
        }
        let base = j.base();
        let mut out = Vec::with_capacity(self.len());
        let mut from = 0;
        // SAFETY: (1) field invariant, `j` a transaction of P.
        while let Some(i) = unsafe { self.raw.next_occupied(base, from, Self::SHAPE) } {
            // SAFETY: (1) field invariant; (2) the caller forgets the table next.
            out.push(unsafe { self.raw.read_entry::<K, V>(base, i) });
            from = i + 1;
        }
        out
    }

    /// Makes room for `additional` more entries without growing.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::<u8, u8>::new();
    ///     m.reserve(50, j);
    ///     assert!(m.capacity() >= 50);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts); see
    /// [`try_reserve`](Self::try_reserve).
    #[track_caller]
    pub fn reserve(&mut self, additional: usize, j: &Journal<P>) {
        let _poison = j.poison_on_unwind();
        if let Err(e) = self.try_reserve(additional, j) {
            j.fail(&format_args!("PHashMap::reserve: {e}"));
        }
    }

    /// Like [`reserve`](Self::reserve), but returns the error instead of panicking.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::<u64, u64>::new();
    ///     assert!(m.try_reserve(1 << 40, j).is_err());
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::OutOfSpace`](crate::Error::OutOfSpace) and the other allocation errors;
    /// the map is unchanged.
    pub fn try_reserve(&mut self, additional: usize, j: &Journal<P>) -> Result<()> {
        let _poison = j.poison_on_unwind();
        let n = self
            .len()
            .checked_add(additional)
            .ok_or_else(super::raw::capacity_overflow)?;
        self.raw.reserve_total(n, Self::SHAPE, j)
    }

    /// Moves the entries to the smallest table that holds them, or frees the table of
    /// an empty map.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::<u8, u8>::with_capacity(200, j);
    ///     m.insert(1, 1, j);
    ///     m.shrink_to_fit(j);
    ///     assert!(m.capacity() < 200);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space for the smaller table (the transaction then aborts).
    #[track_caller]
    pub fn shrink_to_fit(&mut self, j: &Journal<P>) {
        let _poison = j.poison_on_unwind();
        let want = if self.is_empty() {
            0
        } else {
            cap_for(self.len()).unwrap_or(usize::MAX)
        };
        if want < self.raw.capacity()
            && let Err(e) = self.raw.resize(want, Self::SHAPE, j)
        {
            j.fail(&format_args!("PHashMap::shrink_to_fit: {e}"));
        }
    }

    /// An iterator over the entries, in table order.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::new();
    ///     m.insert(1, 10, j);
    ///     m.insert(2, 20, j);
    ///     let mut all: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
    ///     all.sort();
    ///     assert_eq!(all, [(1, 10), (2, 20)]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V, P> {
        Iter {
            map: self,
            next: 0,
            left: self.len(),
        }
    }

    /// An iterator over the keys, in table order.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::new();
    ///     m.insert(7, (), j);
    ///     assert_eq!(m.keys().copied().collect::<Vec<_>>(), [7]);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V, P> {
        Keys(self.iter())
    }

    /// An iterator over the values, in table order.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut m = PHashMap::new();
    ///     m.insert(1, 5, j);
    ///     m.insert(2, 6, j);
    ///     assert_eq!(m.values().sum::<i32>(), 11);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn values(&self) -> Values<'_, K, V, P> {
        Values(self.iter())
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> Drop for PHashMap<K, V, P> {
    fn drop(&mut self) {
        // As `PVec`: outside a transaction the table is kept (leaked), never freed
        // under a live pointer.
        with_current::<P, _>(|j| {
            let Some(j) = j else { return };
            // A panic of an element's `Drop` poisons the transaction.
            let _poison = j.poison_on_unwind();
            let entries = ManuallyDrop::new(self.take_all(j));
            self.raw.free_table(Self::SHAPE, j);
            drop(ManuallyDrop::into_inner(entries));
        });
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> Default for PHashMap<K, V, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V, P> PClone<P> for PHashMap<K, V, P>
where
    K: PSafe + PHash + Eq + PClone<P>,
    V: PSafe + PClone<P>,
    P: PoolType,
{
    fn pclone(&self, j: &Journal<P>) -> Self {
        let _poison = j.poison_on_unwind();
        // On a panic in `pclone`, the half-built map drops and frees what it holds.
        let mut m = Self::with_capacity(self.len(), j);
        for (k, v) in self {
            m.insert_new(k.pclone(j), v.pclone(j), j);
        }
        m
    }
}

impl<K: PSafe + fmt::Debug, V: PSafe + fmt::Debug, P: PoolType> fmt::Debug for PHashMap<K, V, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V, P> PartialEq for PHashMap<K, V, P>
where
    K: PSafe + PHash + Eq,
    V: PSafe + PartialEq,
    P: PoolType,
{
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<K: PSafe + PHash + Eq, V: PSafe + Eq, P: PoolType> Eq for PHashMap<K, V, P> {}

impl<'a, K: PSafe, V: PSafe, P: PoolType> IntoIterator for &'a PHashMap<K, V, P> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V, P>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// An iterator over the entries of a [`PHashMap`], from [`PHashMap::iter`].
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let mut m = PHashMap::new();
///     m.insert(1, 2, j);
///     let it: crndm::hash_map::Iter<'_, _, _, _> = m.iter();
///     assert_eq!(it.len(), 1);
/// })?;
/// # Ok(())
/// # }
/// ```
pub struct Iter<'a, K: PSafe, V: PSafe, P: PoolType> {
    map: &'a PHashMap<K, V, P>,
    /// The slot to look at next.
    next: usize,
    /// Entries not yet yielded.
    left: usize,
}

impl<'a, K: PSafe, V: PSafe, P: PoolType> Iterator for Iter<'a, K, V, P> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let raw = &self.map.raw;
        let base = pool_base::<P>();
        // SAFETY: (1) the map's field invariant; the pool is open while the map is
        // borrowed (S2).
        let i = unsafe { raw.next_occupied(base, self.next, PHashMap::<K, V, P>::SHAPE) }?;
        self.next = i + 1;
        // Saturating: a corrupt pool may hold more entries than its length says.
        self.left = self.left.saturating_sub(1);
        // SAFETY: (1) as above; (2) `i` is occupied.
        Some(unsafe { raw.entry::<K, V>(base, i) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> ExactSizeIterator for Iter<'_, K, V, P> {}

impl<K: PSafe, V: PSafe, P: PoolType> Clone for Iter<'_, K, V, P> {
    fn clone(&self) -> Self {
        Iter { ..*self }
    }
}

impl<K: PSafe + fmt::Debug, V: PSafe + fmt::Debug, P: PoolType> fmt::Debug for Iter<'_, K, V, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// An iterator over the keys of a [`PHashMap`], from [`PHashMap::keys`].
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let mut m = PHashMap::new();
///     m.insert(1, 2, j);
///     let keys: crndm::hash_map::Keys<'_, _, _, _> = m.keys();
///     assert_eq!(keys.len(), 1);
/// })?;
/// # Ok(())
/// # }
/// ```
pub struct Keys<'a, K: PSafe, V: PSafe, P: PoolType>(Iter<'a, K, V, P>);

impl<'a, K: PSafe, V: PSafe, P: PoolType> Iterator for Keys<'a, K, V, P> {
    type Item = &'a K;
    fn next(&mut self) -> Option<&'a K> {
        self.0.next().map(|(k, _)| k)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> ExactSizeIterator for Keys<'_, K, V, P> {}

impl<K: PSafe + fmt::Debug, V: PSafe, P: PoolType> fmt::Debug for Keys<'_, K, V, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.clone().map(|(k, _)| k))
            .finish()
    }
}

/// An iterator over the values of a [`PHashMap`], from [`PHashMap::values`].
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let _pool = BuddyAlloc::open_no_root(dir.path().join("m.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let mut m = PHashMap::new();
///     m.insert(1, 2, j);
///     let values: crndm::hash_map::Values<'_, _, _, _> = m.values();
///     assert_eq!(values.len(), 1);
/// })?;
/// # Ok(())
/// # }
/// ```
pub struct Values<'a, K: PSafe, V: PSafe, P: PoolType>(Iter<'a, K, V, P>);

impl<'a, K: PSafe, V: PSafe, P: PoolType> Iterator for Values<'a, K, V, P> {
    type Item = &'a V;
    fn next(&mut self) -> Option<&'a V> {
        self.0.next().map(|(_, v)| v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> ExactSizeIterator for Values<'_, K, V, P> {}

impl<K: PSafe, V: PSafe + fmt::Debug, P: PoolType> fmt::Debug for Values<'_, K, V, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.clone().map(|(_, v)| v))
            .finish()
    }
}

impl<K: PSafe, V: PSafe, P: PoolType> PHashMap<K, V, P> {
    /// Shows the root pointer check its table (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>) {
        self.raw.visit_stored(Self::SHAPE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemPool;

    crate::pool!(hash_unit_pool);
    type P = hash_unit_pool::BuddyAlloc;

    /// A key with few hashes: long runs, many shifts on removal.
    #[derive(Clone, Copy, PartialEq, Eq, Debug, crate::RootLayout)]
    struct Crowded(u32);

    impl PHash for Crowded {
        fn phash(&self, h: &mut PHasher) {
            h.write_u64(u64::from(self.0 % 13));
        }
    }

    fn validate(m: &PHashMap<Crowded, u32, P>) {
        // SAFETY: (1) the map's field invariant; its pool is open.
        let r = unsafe {
            m.raw
                .validate(pool_base::<P>(), PHashMap::<Crowded, u32, P>::SHAPE)
        };
        assert_eq!(r, Ok(()));
    }

    /// Random inserts and removals keep the table without holes (H4), after every
    /// transaction, through growth and shrinking.
    #[test]
    fn random_changes_keep_the_table_invariants() {
        let dir = tempfile::tempdir().unwrap();
        let root = P::open::<crate::PRefCell<PHashMap<Crowded, u32, P>, P>>(
            dir.path().join("m.pool"),
            crate::O_CF,
        )
        .unwrap();
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut model = std::collections::HashMap::new();
        for round in 0..150 {
            let keys: Vec<(u32, bool)> = (0..30)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let insert = (x % 100) < if round < 90 { 65 } else { 15 };
                    (u32::try_from((x >> 20) % 1500).unwrap(), insert)
                })
                .collect();
            P::transaction(|j| {
                let mut m = root.borrow_mut(j);
                for &(k, insert) in &keys {
                    if insert {
                        m.insert(Crowded(k), k, j);
                    } else {
                        m.remove(&Crowded(k), j);
                    }
                }
            })
            .unwrap();
            for &(k, insert) in &keys {
                if insert {
                    model.insert(k, k);
                } else {
                    model.remove(&k);
                }
            }
            let m = (*root).borrow();
            validate(&m);
            assert_eq!(m.len(), model.len());
            assert!(model.iter().all(|(k, v)| m.get(&Crowded(*k)) == Some(v)));
        }
    }
}
