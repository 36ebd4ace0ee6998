//! `PString`: a UTF-8 string in persistent memory, a typed shell over [`RawVec`].

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ops::Deref;

use super::raw::{Elem, RawVec, pool_base};
use crate::clone::PClone;
use crate::error::Result;
use crate::marker::phantom::{NotSend, NotTxIn};
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;
use crate::stm::tx::with_current;

const BYTE: Elem = Elem::of::<u8>();

/// A growable UTF-8 string in pool `P`, like `String`.
///
/// Made from any `&str` (or anything `Display`) with
/// [`to_pstring(j)`](crate::ToPString::to_pstring); read as a `&str` (it derefs to
/// `str`); changed only through methods that take a journal and log what they change.
/// There is no `&mut str` into it.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let root = BuddyAlloc::open::<PRefCell<PString>>(dir.path().join("s.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let mut s = root.borrow_mut(j);
///     s.push_str("hello", j);
///     s.push('!', j);
/// })?;
/// assert_eq!(*root.borrow(), "hello!");
/// assert!(root.borrow().starts_with("hell"));
/// # Ok(())
/// # }
/// ```
#[repr(C)]
pub struct PString<P: PoolType> {
    /// Bytes of pool `P` (V1–V3), which are always valid UTF-8 (**S1**): every method
    /// writes whole `str`s and cuts only at char boundaries.
    raw: RawVec,
    /// Not `Send` (`Sync`), not `UnwindSafe` on stable: it owns pool blocks.
    _pool: PhantomData<(P, NotSend, NotTxIn)>,
}

impl<P: PoolType> PString<P> {
    /// An empty string; it allocates nothing until text is added.
    ///
    /// ```
    /// use crndm::default::*;
    /// assert_eq!(PString::new(), "");
    /// ```
    pub const fn new() -> Self {
        PString {
            raw: RawVec::new(),
            _pool: PhantomData,
        }
    }

    /// An empty string with room for at least `n` bytes, allocated in `j`.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| assert!(PString::with_capacity(100, j).capacity() >= 100))?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts).
    #[track_caller]
    pub fn with_capacity(n: usize, j: &Journal<P>) -> Self {
        let mut s = Self::new();
        if let Err(e) = s.raw.reserve_exact(n, BYTE, j) {
            j.fail(&format_args!("PString::with_capacity: {e}"));
        }
        s
    }

    /// The length in bytes.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| assert_eq!("né".to_pstring(j).len(), 3))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the string is empty.
    ///
    /// ```
    /// use crndm::default::*;
    /// assert!(PString::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the buffer holds without growing.
    ///
    /// ```
    /// use crndm::default::*;
    /// assert_eq!(PString::new().capacity(), 0);
    /// ```
    pub fn capacity(&self) -> usize {
        self.raw.capacity(BYTE)
    }

    /// The contents as a byte slice.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| assert_eq!("ab".to_pstring(j).as_bytes(), b"ab"))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: (1) `raw` holds bytes of P (field invariant); a string with a buffer
        // is reachable only while its pool is open (S2); an empty one reads nothing.
        unsafe { self.raw.as_slice::<u8>(pool_base::<P>()) }
    }

    /// The contents as a `&str`.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| assert_eq!("abc".to_pstring(j).as_str(), "abc"))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn as_str(&self) -> &str {
        // SAFETY: the bytes are valid UTF-8 (S1).
        unsafe { std::str::from_utf8_unchecked(self.as_bytes()) }
    }

    /// Appends `s`.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut s = "ab".to_pstring(j);
    ///     s.push_str("cd", j);
    ///     assert_eq!(s, "abcd");
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts).
    #[track_caller]
    pub fn push_str(&mut self, s: &str, j: &Journal<P>) {
        let len = self.len();
        self.insert_str(len, s, j);
    }

    /// Appends the char `c`.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut s = PString::new();
    ///     s.push('é', j);
    ///     assert_eq!(s, "é");
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts).
    #[track_caller]
    pub fn push(&mut self, c: char, j: &Journal<P>) {
        self.push_str(c.encode_utf8(&mut [0; 4]), j);
    }

    /// Removes the last char and returns it, or `None` if empty.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut s = "hé".to_pstring(j);
    ///     assert_eq!(s.pop(j), Some('é'));
    ///     assert_eq!(s, "h");
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pop(&mut self, j: &Journal<P>) -> Option<char> {
        let c = self.as_str().chars().next_back()?;
        self.raw.set_len(self.len() - c.len_utf8(), j);
        Some(c)
    }

    /// Inserts the char `c` at byte position `idx`, shifting the rest up (logged).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut s = "ac".to_pstring(j);
    ///     s.insert(1, 'b', j);
    ///     assert_eq!(s, "abc");
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `idx` is not a char boundary of the string, or the pool is out of space.
    #[track_caller]
    pub fn insert(&mut self, idx: usize, c: char, j: &Journal<P>) {
        self.insert_str(idx, c.encode_utf8(&mut [0; 4]), j);
    }

    /// Inserts `s` at byte position `idx`, shifting the rest up (logged).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut s = "ad".to_pstring(j);
    ///     s.insert_str(1, "bc", j);
    ///     assert_eq!(s, "abcd");
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `idx` is not a char boundary of the string, or the pool is out of space.
    #[track_caller]
    pub fn insert_str(&mut self, idx: usize, s: &str, j: &Journal<P>) {
        assert!(
            self.as_str().is_char_boundary(idx),
            "PString::insert_str: {idx} is not a char boundary"
        );
        if s.is_empty() {
            return;
        }
        if let Err(e) = self.raw.reserve(s.len(), BYTE, j) {
            j.fail(&format_args!("PString: {e}"));
        }
        let len = self.len();
        self.raw.shift_up(idx, s.len(), BYTE, j);
        // S1 holds after the new length: `s` is whole UTF-8 inserted at a char boundary.
        // SAFETY: (1) field invariant, `j` a transaction of P; (2) the slots were saved by
        // `shift_up` and hold plain bytes.
        unsafe { self.raw.write_copy(idx, s.as_bytes(), j) };
        self.raw.set_len(len + s.len(), j);
    }

    /// Removes the char at byte position `idx` and returns it, shifting the rest down
    /// (logged).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut s = "abc".to_pstring(j);
    ///     assert_eq!(s.remove(1, j), 'b');
    ///     assert_eq!(s, "ac");
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `idx` is not a char boundary or is the end of the string.
    #[track_caller]
    pub fn remove(&mut self, idx: usize, j: &Journal<P>) -> char {
        let Some(c) = self.as_str().get(idx..).and_then(|t| t.chars().next()) else {
            panic!("PString::remove: no char at byte {idx}");
        };
        let len = self.len();
        self.raw.shift_down(idx, c.len_utf8(), BYTE, j);
        self.raw.set_len(len - c.len_utf8(), j);
        c
    }

    /// Shortens the string to `n` bytes (no effect if `n >= len`).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut s = "hello".to_pstring(j);
    ///     s.truncate(2, j);
    ///     assert_eq!(s, "he");
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `n` is not a char boundary.
    #[track_caller]
    pub fn truncate(&mut self, n: usize, j: &Journal<P>) {
        if n >= self.len() {
            return;
        }
        assert!(
            self.as_str().is_char_boundary(n),
            "PString::truncate: {n} is not a char boundary"
        );
        self.raw.set_len(n, j);
    }

    /// Empties the string (the capacity is kept).
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut s = "hello".to_pstring(j);
    ///     s.clear(j);
    ///     assert!(s.is_empty());
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn clear(&mut self, j: &Journal<P>) {
        self.truncate(0, j);
    }

    /// Makes room for at least `additional` more bytes.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut s = PString::new();
    ///     s.try_reserve(10, j).unwrap();
    ///     assert!(s.capacity() >= 10);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::OutOfSpace`](crate::Error::OutOfSpace) and the other allocation errors;
    /// the string is unchanged.
    pub fn try_reserve(&mut self, additional: usize, j: &Journal<P>) -> Result<()> {
        self.raw.reserve(additional, BYTE, j)
    }

    /// Moves the text to the smallest block that holds it, or frees the buffer of an
    /// empty string.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| {
    ///     let mut s = PString::with_capacity(1000, j);
    ///     s.push_str("x", j);
    ///     s.shrink_to_fit(j);
    ///     assert!(s.capacity() < 1000);
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space for the smaller block (the transaction then aborts).
    #[track_caller]
    pub fn shrink_to_fit(&mut self, j: &Journal<P>) {
        if let Err(e) = self.raw.shrink_to_fit(BYTE, j) {
            j.fail(&format_args!("PString::shrink_to_fit: {e}"));
        }
    }
}

impl<P: PoolType> Drop for PString<P> {
    fn drop(&mut self) {
        // As `PVec`: outside a transaction the buffer is kept (leaked), never freed
        // under a live pointer. Bytes need no drop.
        with_current::<P, _>(|j| {
            if let Some(j) = j {
                self.raw.free_buffer(BYTE, j);
            }
        });
    }
}

impl<P: PoolType> Default for PString<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: PoolType> Deref for PString<P> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<P: PoolType> AsRef<str> for PString<P> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<P: PoolType> AsRef<[u8]> for PString<P> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<P: PoolType> Borrow<str> for PString<P> {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl<P: PoolType> PClone<P> for PString<P> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        let mut s = Self::with_capacity(self.len(), j);
        s.push_str(self, j);
        s
    }
}

impl<P: PoolType> fmt::Display for PString<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl<P: PoolType> fmt::Debug for PString<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Hashes like `str`, so that `Borrow<str>` lookups agree.
impl<P: PoolType> Hash for PString<P> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl<P: PoolType> PartialEq for PString<P> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<P: PoolType> Eq for PString<P> {}

impl<P: PoolType> PartialOrd for PString<P> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<P: PoolType> Ord for PString<P> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

macro_rules! eq_str {
    ($($t:ty),*) => {$(
        impl<P: PoolType> PartialEq<$t> for PString<P> {
            fn eq(&self, other: &$t) -> bool {
                self.as_str() == &other[..]
            }
        }
        impl<P: PoolType> PartialEq<PString<P>> for $t {
            fn eq(&self, other: &PString<P>) -> bool {
                &self[..] == other.as_str()
            }
        }
    )*};
}
eq_str!(str, &str, String);

/// Makes a [`PString`] of a value's `Display` text, like `ToString` (so `"text"`,
/// numbers and anything `Display` work).
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// let root = BuddyAlloc::open::<PRefCell<PVec<PString>>>(dir.path().join("s.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let mut v = root.borrow_mut(j);
///     v.push("hello".to_pstring(j), j);
///     v.push(42.to_pstring(j), j);
/// })?;
/// assert_eq!(root.borrow()[1], "42");
/// # Ok(())
/// # }
/// ```
pub trait ToPString {
    /// The text of `self` as a new string of `j`'s pool.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    /// let _pool = BuddyAlloc::open_no_root(dir.path().join("s.pool"), O_CF)?;
    /// BuddyAlloc::transaction(|j| assert_eq!('x'.to_pstring(j), "x"))?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the pool is out of space (the transaction then aborts), or the `Display`
    /// implementation returns an error.
    fn to_pstring<P: PoolType>(&self, j: &Journal<P>) -> PString<P>;
}

impl<T: fmt::Display + ?Sized> ToPString for T {
    #[track_caller]
    fn to_pstring<P: PoolType>(&self, j: &Journal<P>) -> PString<P> {
        /// Appends what `Display` writes to a persistent string, in a transaction.
        struct Sink<'a, P: PoolType> {
            s: PString<P>,
            j: &'a Journal<P>,
        }
        impl<P: PoolType> fmt::Write for Sink<'_, P> {
            fn write_str(&mut self, t: &str) -> fmt::Result {
                self.s.push_str(t, self.j);
                Ok(())
            }
        }
        let mut sink = Sink {
            s: PString::new(),
            j,
        };
        if fmt::write(&mut sink, format_args!("{self}")).is_err() {
            panic!("a Display implementation returned an error unexpectedly");
        }
        sink.s
    }
}

impl<P: PoolType> PString<P> {
    /// Shows the root pointer check its buffer (`RootLayout::visit_pointers`).
    pub(crate) fn visit_stored(&self, v: &mut crate::layout::PointerVisitor<'_>) {
        self.raw.visit_stored(BYTE, v);
    }
}
