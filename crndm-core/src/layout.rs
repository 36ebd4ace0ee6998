//! Structural root identity: [`RootLayout`], the layout fingerprint a pool stores for
//! its root type.
//!
//! A pool's header records the root's size, alignment and a 64-bit fingerprint of its
//! *structure* (see [`RootLayout`]); `open::<R>` refuses a pool whose stored values
//! differ from `R`'s. The fingerprint does not depend on where a type is declared
//! (module paths, the pool module's name), only on what it is made of, so renaming a
//! pool module or moving a struct keeps existing pools openable, while a type with
//! another structure (a field renamed, a field of another type, even of the same size)
//! is refused.
//!
//! Layer 3 (docs/ARCHITECTURE.md): below the handles and collections, which show their
//! stored pointers to a [`PointerVisitor`] through their own `visit_stored`; the trait's
//! impls for the crate's persistent types live in `impls.rs`.

use std::any::TypeId;
use std::cell::UnsafeCell;
use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::offset::PoolOff;

/// A type whose persistent layout has a stable structural fingerprint, so that it can
/// be (part of) a pool's root: `open::<R>` requires `R: RootLayout`.
///
/// The fingerprint is made of, recursively: a stable kind name (`"u64"`, `"PCell"`,
/// a struct's name), the type's size and alignment, and its parts' fingerprints — for
/// a struct each field's name, offset and type; for crndm's persistent types their
/// parameters' fingerprints, **never the pool type**. It therefore does not change when
/// the pool module (`crndm::pool!(name)`) or the module declaring a struct is renamed.
///
/// Implemented for the primitive integers, floats, `bool`, `char`, `()`, arrays,
/// tuples (up to 12), `Option`, `PhantomData` (which contributes nothing of its
/// parameter), and every persistent crndm type. [`VCell`](crate::VCell) contributes the size and
/// alignment of its volatile value only (its content is reset on every open).
///
/// Derive it with `#[derive(Root)]` (for a root struct) or `#[derive(RootLayout)]` (for
/// a struct or enum used inside a root); not both on one type. A struct's name is part
/// of its fingerprint: `#[root(name = "Old")]` keeps the old name after an intentional
/// rename, so pools made before the rename still open. Closures, references, `Box`,
/// `Vec`, `String` and other volatile types have no `RootLayout`, so a root holding one
/// is a compile error.
///
/// Implementing it by hand: feed a stable description of the type to the hasher, with
/// [`LayoutHasher::part`] for each part. Two types with different persistent
/// representations must not feed the same description. If the type holds crndm
/// persistent pointers (a `Pbox`, a `PVec`, a cell holding one, ...), also implement
/// [`visit_pointers`](Self::visit_pointers) so that they are checked when a pool is
/// opened; the default reports nothing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no structural root identity (`RootLayout`)",
    label = "not `RootLayout`: cannot be part of a pool's root",
    note = "derive `Root` for a root struct, `RootLayout` for a struct or enum inside a root; \
            closures, references and volatile heap types cannot be part of a root"
)]
pub trait RootLayout: 'static {
    /// Feeds `Self`'s structure (its kind name and parts, not its size and alignment,
    /// which [`LayoutHasher::part`] adds) to `h`.
    fn layout(h: &mut LayoutHasher);

    /// Shows `v` every part of `self` that holds a persistent pointer, so that opening a
    /// pool can check, before the program gets its root, that each pointer the root
    /// object holds *in place* names a live block of the right size (a corrupt or
    /// foreign file is then refused with [`Error::CorruptRoot`](crate::Error::CorruptRoot)
    /// instead of being dereferenced). The walk is shallow: crndm's pointers report
    /// their own stored offset and do not follow it.
    ///
    /// The default reports nothing, which is right for a type without persistent
    /// pointers (numbers, `PhantomData`, a [`VCell`](crate::VCell)'s volatile value). A type with
    /// parts passes each to [`PointerVisitor::field`] or [`PointerVisitor::element`];
    /// `#[derive(Root)]` and `#[derive(RootLayout)]` do so for every field. crndm's own
    /// types (`Pbox`, `Prc`, `Parc`, their weak pointers, the cells, the collections,
    /// `Option`, arrays, tuples) implement it.
    ///
    /// ```
    /// use crndm::{LayoutHasher, PointerVisitor, RootLayout};
    /// use crndm::default::*;
    ///
    /// /// A hand-written implementation for a pair of lists.
    /// struct Two {
    ///     left: PVec<u64>,
    ///     right: PVec<u64>,
    /// }
    ///
    /// impl RootLayout for Two {
    ///     fn layout(h: &mut LayoutHasher) {
    ///         h.write_str("Two");
    ///         h.part::<PVec<u64>>();
    ///         h.part::<PVec<u64>>();
    ///     }
    ///
    ///     fn visit_pointers(&self, v: &mut PointerVisitor<'_>) {
    ///         v.field("left", &self.left);
    ///         v.field("right", &self.right);
    ///     }
    /// }
    /// ```
    fn visit_pointers(&self, v: &mut PointerVisitor<'_>) {
        let _ = v;
    }
}

/// One step of the path from the root object to a part, for error messages.
#[derive(Clone, Copy, Debug)]
enum Step {
    Field(&'static str),
    Index(usize),
}

/// What a stored offset must name: `Ok` if it does, else why not.
pub(crate) type BlockCheck<'a> =
    dyn FnMut(PoolOff, u64, u64) -> std::result::Result<(), String> + 'a;

/// The walk of a root object's persistent pointers made when a pool is opened (see
/// [`RootLayout::visit_pointers`]): it checks each stored offset against the pool's
/// allocator, remembers the first that fails, with the path of fields leading to it,
/// and then skips the rest.
///
/// Only crndm makes one, for the root object of a pool being opened, before the
/// program has any handle to that root.
pub struct PointerVisitor<'a> {
    /// Whether `(off, size, align)` names a used block of the order the allocator gives
    /// a `size`-byte, `align`-aligned allocation.
    check: &'a mut BlockCheck<'a>,
    /// The root object's address range: the cells read their values in place only
    /// inside it (no `&mut` into it exists while the open checks it).
    root: (usize, usize),
    path: Vec<Step>,
    bad: Option<(String, PoolOff, String)>,
}

impl std::fmt::Debug for PointerVisitor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointerVisitor")
            .field("path", &self.path)
            .field("bad", &self.bad)
            .finish_non_exhaustive()
    }
}

impl<'a> PointerVisitor<'a> {
    /// Visits the pointers of `value`, a named part (a struct field, an enum variant's
    /// field, a tuple's field) of the value being visited.
    pub fn field<T: RootLayout>(&mut self, name: &'static str, value: &T) {
        if self.bad.is_none() {
            self.path.push(Step::Field(name));
            value.visit_pointers(self);
            self.path.pop();
        }
    }

    /// Visits the pointers of `value`, element `index` of the array being visited.
    pub fn element<T: RootLayout>(&mut self, index: usize, value: &T) {
        if self.bad.is_none() {
            self.path.push(Step::Index(index));
            value.visit_pointers(self);
            self.path.pop();
        }
    }

    /// Checks a stored pool offset that must be a used block of the order of a `size`
    /// bytes, `align`-aligned allocation (every crndm pointer's block is allocated so).
    pub(crate) fn pointer(&mut self, off: PoolOff, size: u64, align: u64) {
        if self.bad.is_none()
            && let Err(why) = (self.check)(off, size, align)
        {
            self.fail(off, why);
        }
    }

    /// Reports a stored header that no valid value has (a collection whose length
    /// exceeds its capacity, say); `off` is the offset it stores.
    pub(crate) fn invalid(&mut self, off: PoolOff, why: String) {
        if self.bad.is_none() {
            self.fail(off, why);
        }
    }

    /// Whether `[ptr, ptr + len)` lies inside the root object being checked: a cell may
    /// read its value in place only then (see [`visit_root`]).
    fn in_root(&self, ptr: *const u8, len: usize) -> bool {
        let a = ptr as usize;
        a >= self.root.0 && a.checked_add(len).is_some_and(|e| e <= self.root.1)
    }

    /// Visits the pointers of the value of a cell (`PCell`, `PRefCell`, `PMutex`: `cell`
    /// is the whole cell, `value` its interior), read in place without logging,
    /// borrowing or locking, and only if the cell lies inside the root object being
    /// checked; a cell anywhere else is skipped.
    pub(crate) fn cell_value<C, T: RootLayout>(&mut self, cell: &C, value: &UnsafeCell<T>) {
        if self.in_root(std::ptr::from_ref(cell).cast(), size_of::<C>()) {
            // SAFETY: the cell lies in the root object of a pool being opened, which
            // nobody can reach yet (`visit_root`), so no `&mut` to its value exists
            // while this shared reference lives.
            let value = unsafe { &*value.get() };
            value.visit_pointers(self);
        }
    }

    fn fail(&mut self, off: PoolOff, why: String) {
        let mut path = String::from("root");
        for s in &self.path {
            match s {
                Step::Field(f) => {
                    path.push('.');
                    path.push_str(f);
                }
                Step::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        self.bad = Some((path, off, why));
    }
}

/// Checks the persistent pointers `root` holds in place (see
/// [`RootLayout::visit_pointers`]) with `check`.
///
/// `root` must be the root object of a pool being opened, to which no `&mut` exists
/// and none is made until this returns (nobody has a handle to it yet): the cells read
/// their values in place, without borrow bookkeeping, inside its bytes.
///
/// # Errors
/// [`Error::CorruptRoot`] for the first pointer `check` refuses.
pub(crate) fn visit_root<R: RootLayout>(root: &R, check: &mut BlockCheck<'_>) -> Result<()> {
    let start = std::ptr::from_ref(root) as usize;
    let mut v = PointerVisitor {
        check,
        root: (start, start + size_of::<R>()),
        path: Vec::new(),
        bad: None,
    };
    root.visit_pointers(&mut v);
    match v.bad {
        None => Ok(()),
        Some((path, off, why)) => Err(Error::CorruptRoot {
            root: std::any::type_name::<R>(),
            path,
            off: off.get(),
            why,
        }),
    }
}

/// The stable hasher (64-bit FNV-1a over length-prefixed items) that computes a
/// [`RootLayout`] fingerprint; it detects recursive types (a list node holding a
/// pointer to its own type) and encodes each back-reference by its depth.
#[derive(Debug)]
pub struct LayoutHasher {
    state: u64,
    /// The types being described, outermost first (for back-references).
    stack: Vec<TypeId>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl LayoutHasher {
    fn new() -> LayoutHasher {
        LayoutHasher {
            state: FNV_OFFSET,
            stack: Vec::new(),
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.state ^= u64::from(x);
            self.state = self.state.wrapping_mul(FNV_PRIME);
        }
    }

    /// Feeds a number.
    pub fn write_u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// Feeds a string (length-prefixed, so `"ab","c"` and `"a","bc"` differ).
    pub fn write_str(&mut self, s: &str) {
        self.write_u64(s.len() as u64);
        self.bytes(s.as_bytes());
    }

    /// Feeds the fingerprint of part type `T`: its size, alignment and structure, or,
    /// if `T` is already being described further out (a recursive type), a
    /// back-reference to it.
    pub fn part<T: RootLayout>(&mut self) {
        let id = TypeId::of::<T>();
        if let Some(depth) = self.stack.iter().position(|t| *t == id) {
            self.write_str("<back>");
            self.write_u64(depth as u64);
            return;
        }
        self.write_str("<type>");
        self.write_u64(size_of::<T>() as u64);
        self.write_u64(align_of::<T>() as u64);
        self.stack.push(id);
        T::layout(self);
        self.stack.pop();
    }
}

/// The structural fingerprint of `T` (what a pool's header stores as the root hash).
pub(crate) fn fingerprint<T: RootLayout>() -> u64 {
    let mut h = LayoutHasher::new();
    h.part::<T>();
    h.state
}

macro_rules! leaf {
    ($($t:ty),*) => {$(
        impl RootLayout for $t {
            fn layout(h: &mut LayoutHasher) {
                h.write_str(stringify!($t));
            }
        }
    )*};
}
leaf!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    char,
    ()
);

impl<T: RootLayout, const N: usize> RootLayout for [T; N] {
    fn layout(h: &mut LayoutHasher) {
        h.write_str("array");
        h.write_u64(N as u64);
        h.part::<T>();
    }

    fn visit_pointers(&self, v: &mut PointerVisitor<'_>) {
        for (i, x) in self.iter().enumerate() {
            v.element(i, x);
        }
    }
}

impl<T: RootLayout> RootLayout for Option<T> {
    fn layout(h: &mut LayoutHasher) {
        h.write_str("Option");
        h.part::<T>();
    }

    fn visit_pointers(&self, v: &mut PointerVisitor<'_>) {
        if let Some(x) = self {
            x.visit_pointers(v);
        }
    }
}

impl<T: ?Sized + 'static> RootLayout for PhantomData<T> {
    fn layout(h: &mut LayoutHasher) {
        h.write_str("PhantomData");
    }
}

macro_rules! tuple {
    ($($n:literal: ($($i:tt $t:ident),+))*) => {$(
        impl<$($t: RootLayout),+> RootLayout for ($($t,)+) {
            fn layout(h: &mut LayoutHasher) {
                h.write_str("tuple");
                h.write_u64($n);
                // Field offsets too: the compiler may reorder a tuple's fields.
                $(
                    h.write_u64(std::mem::offset_of!(Self, $i) as u64);
                    h.part::<$t>();
                )+
            }

            fn visit_pointers(&self, v: &mut PointerVisitor<'_>) {
                $( v.field(stringify!($i), &self.$i); )+
            }
        }
    )*};
}
tuple! {
    1: (0 T0)
    2: (0 T0, 1 T1)
    3: (0 T0, 1 T1, 2 T2)
    4: (0 T0, 1 T1, 2 T2, 3 T3)
    5: (0 T0, 1 T1, 2 T2, 3 T3, 4 T4)
    6: (0 T0, 1 T1, 2 T2, 3 T3, 4 T4, 5 T5)
    7: (0 T0, 1 T1, 2 T2, 3 T3, 4 T4, 5 T5, 6 T6)
    8: (0 T0, 1 T1, 2 T2, 3 T3, 4 T4, 5 T5, 6 T6, 7 T7)
    9: (0 T0, 1 T1, 2 T2, 3 T3, 4 T4, 5 T5, 6 T6, 7 T7, 8 T8)
    10: (0 T0, 1 T1, 2 T2, 3 T3, 4 T4, 5 T5, 6 T6, 7 T7, 8 T8, 9 T9)
    11: (0 T0, 1 T1, 2 T2, 3 T3, 4 T4, 5 T5, 6 T6, 7 T7, 8 T8, 9 T9, 10 T10)
    12: (0 T0, 1 T1, 2 T2, 3 T3, 4 T4, 5 T5, 6 T6, 7 T7, 8 T8, 9 T9, 10 T10, 11 T11)
}
