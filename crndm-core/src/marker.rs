//! The marker traits that turn persistent-memory bugs into compile errors (DESIGN §8).
//!
//! | trait       | holds for                                   | keeps out                                     |
//! |-------------|---------------------------------------------|-----------------------------------------------|
//! | [`PSafe`]   | types that may live in PM                   | raw pointers, references, `UnsafeCell`, fn pointers, `File`, std heap types |
//! | [`TxInSafe`]| values a transaction body may capture       | `&mut`, `UnsafeCell` (`Cell`, `RefCell`, atomics), journals, owned persistent pointers |
//! | [`TxRefSafe`]| values a body may capture by `&`           | `UnsafeCell`, journals                        |
//! | [`TxOutSafe`]| values a transaction may return            | persistent pointers, cells, guards, journals, references |
//! | [`VSafe`]   | values a `VCell` may hold                   | persistent pointers and cells                 |
//! | [`PSend`]   | values reachable from another thread        | single-thread persistent pointers and cells   |
//!
//! # Stable Rust and the `nightly` feature
//!
//! The traits are written once (the `marker_trait!` macro) and compiled one of two ways:
//!
//! - **stable** (the default): [`PSafe`], [`TxOutSafe`], [`VSafe`] and [`PSend`] are
//!   ordinary `unsafe trait`s, implemented for the std types that qualify and for the
//!   crate's own types (the crate's `impls` module), and for a user's type by its derive
//!   (`#[derive(PSafe)]`, `#[derive(TxOutSafe)]`, ...; `#[derive(Root)]` and
//!   `#[derive(RootLayout)]` imply `PSafe`), which checks every field. [`TxInSafe`] and
//!   [`TxRefSafe`] are what std's `UnwindSafe` and `RefUnwindSafe` say (blanket impls):
//!   those already refuse `&mut` and `&Cell`-like captures, and the crate's owned
//!   persistent pointers, collections, root handles and borrow guards carry a private
//!   [`NotTxIn`](phantom::NotTxIn) marker that makes them `!UnwindSafe`. [`AssertTxInSafe`]
//!   wraps only `Send` values (journals and owned persistent pointers are not `Send`).
//! - **`nightly`** (`#![feature(auto_traits, negative_impls)]`): they are auto traits; a
//!   type has them when all its fields do, unless a negative impl in `impls` says
//!   otherwise, so no annotation is needed. The derives still compile there and emit the
//!   same impls, so one program builds on both.
//!
//! `Send` and `Sync` are the same on both: the crate's types carry the zero-sized markers
//! of [`phantom`] instead of negative impls.
//!
//! This module defines the traits (with [`AssertTxInSafe`], the one wrapper that
//! overrides one of them, and the markers), so that every layer may import it; every
//! implementation for the crate's other types and for std types, positive and negative,
//! is in the crate's `impls` module, the one file to review for what may live in PM.

use std::panic::{RefUnwindSafe, UnwindSafe};

/// Defines a marker trait once for both toolchains: an `unsafe auto trait` with the
/// `nightly` feature, an `unsafe trait` without it, with the same docs and
/// `on_unimplemented` message. `stable_blanket: Bound` gives the stable trait a blanket
/// impl for every type with `Bound` (the traits that std's auto traits stand in for).
macro_rules! marker_trait {
    ($(#[$attr:meta])* $name:ident $(, stable_blanket: $bound:path)?) => {
        trait_item! { $(#[$attr])* $name }

        $(
            // SAFETY: on stable the std auto trait `$bound` is the rule (module docs).
            #[cfg(not(feature = "nightly"))]
            unsafe impl<T: ?Sized + $bound> $name for T {}
        )?
    };
}

/// The trait item of `marker_trait!` for one toolchain. (Two macros, not one macro with
/// two `#[cfg]` items: stable's parser warns about `auto trait` even in an item that is
/// configured out, but never looks inside the body of a macro that is.)
#[cfg(feature = "nightly")]
macro_rules! trait_item {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        pub unsafe auto trait $name {}
    };
}

/// See the `nightly` version above.
#[cfg(not(feature = "nightly"))]
macro_rules! trait_item {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        pub unsafe trait $name {}
    };
}

marker_trait! {
    /// May be stored in persistent memory: its bytes stay meaningful after the process
    /// that wrote them is gone.
    ///
    /// On stable Rust, implemented for the std types that qualify (primitives, arrays,
    /// tuples, `Option`, `Result`, `PhantomData`, `NonZero`, `Wrapping`, `Duration`, ...)
    /// and the crate's persistent types; derive it for your own
    /// (`#[derive(PSafe)]`; `#[derive(Root)]` and `#[derive(RootLayout)]` imply it).
    /// With the `nightly` feature it is an auto trait.
    ///
    /// ```
    /// use crndm::default::*;
    ///
    /// #[derive(PSafe)]
    /// struct Point {
    ///     x: i64,
    ///     y: i64,
    ///     label: Option<Pbox<PString>>,
    /// }
    ///
    /// fn stored<T: PSafe>() {}
    /// stored::<PCell<Point>>();
    /// ```
    ///
    /// # Safety
    /// Implement only for types whose every bit pattern written by safe code is valid in
    /// another process: no addresses of volatile memory, no handles of the process.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be stored in persistent memory",
        label = "`{Self}` is not `PSafe`",
        note = "pointers, references, `UnsafeCell`, fn pointers, files and std heap types (`Box`, `Vec`, `String`, `Rc`, `Arc`) point into volatile memory or the process; use `Pbox`, `Prc`, `Parc`, `PCell` and the persistent collections instead",
        note = "on stable Rust a struct or enum of your own needs `#[derive(PSafe)]` (`#[derive(Root)]` and `#[derive(RootLayout)]` imply it)"
    )]
    PSafe
}

marker_trait! {
    /// May be captured by a transaction body: changing it cannot escape the undo log, and
    /// it carries nothing of another transaction.
    ///
    /// A shared reference `&T` is `TxInSafe` when `T` is [`TxRefSafe`]. Owned persistent
    /// pointers (`Pbox`) are not `TxInSafe`: moving one into the body of a transaction of
    /// another pool is how an inter-pool pointer would be made.
    ///
    /// On stable Rust it is implemented exactly for the `UnwindSafe` types (the crate's
    /// owned persistent pointers, collections, root handles and borrow guards are not);
    /// with the `nightly` feature it is an auto trait with negative impls.
    ///
    /// # Safety
    /// Implement only for types whose interior mutation through `&self` is logged in the
    /// journal of the transaction it happens in.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be captured by a transaction body",
        label = "`{Self}` is not `TxInSafe`",
        note = "a transaction must not capture `&mut` references, volatile interior mutability (`Cell`, `RefCell`, atomics), another transaction's journal or borrow guard, or an owned persistent pointer (`Pbox`, `Prc`, `Parc`, weak pointers: store those in the pool instead): their changes would not be rolled back, or would cross pools; wrap a volatile value you have checked in `AssertTxInSafe`"
    )]
    TxInSafe, stable_blanket: UnwindSafe
}

marker_trait! {
    /// May be captured by a transaction body *by shared reference*: no volatile interior
    /// mutability (`Cell`, `RefCell`, atomics) and no journal. Unlike [`TxInSafe`], it holds
    /// for persistent pointers, which a shared reference only reads.
    ///
    /// On stable Rust it is implemented exactly for the `RefUnwindSafe` types (journals
    /// are not; std's atomics and locks are, see the README's Guarantees); with the
    /// `nightly` feature it is an auto trait with negative impls.
    ///
    /// # Safety
    /// Implement only for types whose interior mutation through `&self` is logged in the
    /// journal of the transaction it happens in.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be used by reference in a transaction body",
        label = "`{Self}` is not `TxRefSafe`",
        note = "volatile interior mutability (`Cell`, `RefCell`, atomics, `Mutex`) and journals cannot be used inside a transaction: their changes would not be rolled back"
    )]
    TxRefSafe, stable_blanket: RefUnwindSafe
}

marker_trait! {
    /// May be returned from a transaction.
    ///
    /// On stable Rust, implemented for plain std values (primitives, tuples, arrays,
    /// `Option`, `Result`, `String`, `Vec`, `Box`, the std collections, ...), the crate's
    /// volatile weak pointers and errors; derive it for your own (`#[derive(TxOutSafe)]`).
    /// With the `nightly` feature it is an auto trait.
    ///
    /// ```
    /// # fn main() -> crndm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use crndm::default::*;
    ///
    /// #[derive(TxOutSafe)]
    /// struct Summary {
    ///     total: u64,
    ///     names: Vec<String>,
    /// }
    ///
    /// let root = BuddyAlloc::open::<PCell<u64>>(dir.path().join("s.pool"), O_CF)?;
    /// let s = BuddyAlloc::transaction(|j| {
    ///     root.set(root.get() + 5, j);
    ///     Summary { total: root.get(), names: vec!["five".into()] }
    /// })?;
    /// assert_eq!((s.total, s.names.len()), (5, 1));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Safety
    /// Implement only for values that neither point into the pool nor carry a journal.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be returned from a transaction",
        label = "`{Self}` is not `TxOutSafe`",
        note = "persistent pointers, cells, borrow guards, journals and references must stay inside the transaction that made them; store them in the pool, or return plain values (copies, `String`s)",
        note = "on stable Rust a struct or enum of your own needs `#[derive(TxOutSafe)]`"
    )]
    TxOutSafe
}

marker_trait! {
    /// May live in a [`VCell`](crate::VCell): a volatile value, reset on each open of the pool.
    ///
    /// On stable Rust, implemented for the std types that hold no persistent pointer
    /// (primitives, `String`, `Vec`, `Box`, `Rc`, `Arc`, cells, locks, atomics, the std
    /// collections, ...) and the crate's volatile types; derive it for your own
    /// (`#[derive(VSafe)]`). With the `nightly` feature it is an auto trait.
    ///
    /// ```
    /// use crndm::default::*;
    ///
    /// #[derive(VSafe, Default)]
    /// struct Cache {
    ///     hits: u64,
    ///     recent: Vec<String>,
    /// }
    ///
    /// #[derive(Root)]
    /// struct Node {
    ///     value: PCell<u64>,
    ///     cache: VCell<Cache>,
    /// }
    /// ```
    ///
    /// # Safety
    /// Implement only for types that hold no persistent pointer.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be kept in a volatile cell",
        label = "`{Self}` is not `VSafe`",
        note = "a `VCell` is reset on every open, so a persistent pointer in it would leak its object",
        note = "on stable Rust a struct or enum of your own needs `#[derive(VSafe)]`"
    )]
    VSafe
}

marker_trait! {
    /// May be reached from another thread (through `sync::VWeak`).
    ///
    /// On stable Rust, implemented for the std types that are `PSafe`, `Parc`, `PMutex`
    /// (of `PSend` contents), `Pbox` and the collections of `PSend` contents; derive it
    /// for your own (`#[derive(PSend)]`). With the `nightly` feature it is an auto trait.
    ///
    /// ```
    /// use crndm::default::*;
    /// use crndm::PSend;
    ///
    /// #[derive(RootLayout, PSend)]
    /// struct Account {
    ///     balance: PMutex<u64>,
    ///     owner: Parc<PString>,
    /// }
    ///
    /// fn shareable<T: PSend>() {}
    /// shareable::<Parc<Account>>();
    /// ```
    ///
    /// # Safety
    /// Implement only for types whose shared access from several threads is synchronised.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be shared with another thread",
        label = "`{Self}` is not `PSend`",
        note = "single-thread persistent pointers and cells (`Pbox`, `Prc`, `PCell`, `PRefCell`) are not synchronised; use `Parc` and `PMutex`",
        note = "on stable Rust a struct or enum of your own needs `#[derive(PSend)]`"
    )]
    PSend
}

marker_trait! {
    /// What [`AssertTxInSafe`] may wrap: anything but journals and owned persistent
    /// pointers, which no assertion can make safe to move into another transaction.
    ///
    /// On stable Rust it is implemented exactly for the `Send` types (journals and owned
    /// persistent pointers are not `Send`); this is stricter than the `nightly` auto
    /// trait, which also admits `&Cell` and `Rc`.
    #[doc(hidden)]
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be wrapped in `AssertTxInSafe`",
        label = "a journal or an owned persistent pointer",
        note = "no assertion lets a journal or an owned persistent pointer (`Pbox`, `Prc`, `Parc`, weak pointers) into another transaction: that is how pointers between pools and unlogged updates are made"
    )]
    TxAssertable, stable_blanket: Send
}

/// Asserts that a captured value is safe to use in a transaction although it is not
/// [`TxInSafe`] (for example a `Cell` counter used only for statistics).
///
/// It cannot wrap a journal or an owned persistent pointer (or anything holding one):
/// a journal of another transaction, or a pointer of another pool, stays a compile
/// error.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// use std::cell::Cell;
/// let root = BuddyAlloc::open::<PCell<i32>>(dir.path().join("a.pool"), O_CF)?;
/// let calls = AssertTxInSafe(Cell::new(0));
/// BuddyAlloc::transaction(|j| {
///     calls.set(calls.get() + 1);
///     root.set(7, j);
/// })?;
/// assert_eq!(calls.get(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct AssertTxInSafe<T>(pub T);

impl<T> std::ops::Deref for AssertTxInSafe<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for AssertTxInSafe<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

// SAFETY: the user asserts it; journals and owned persistent pointers are excluded by
// the `TxAssertable` bound. (On stable the blanket impls from `UnwindSafe` and
// `RefUnwindSafe` do the same through the two impls below.)
#[cfg(feature = "nightly")]
unsafe impl<T: TxAssertable> TxInSafe for AssertTxInSafe<T> {}
// SAFETY: as above.
#[cfg(feature = "nightly")]
unsafe impl<T: TxAssertable> TxRefSafe for AssertTxInSafe<T> {}
// On nightly `TxInSafe` carries the rule; an unconditional `UnwindSafe` keeps its errors
// to the one that says what is wrong.
#[cfg(feature = "nightly")]
impl<T> UnwindSafe for AssertTxInSafe<T> {}
#[cfg(feature = "nightly")]
impl<T> RefUnwindSafe for AssertTxInSafe<T> {}
// On stable these two are the rule (`TxInSafe`/`TxRefSafe` follow them).
#[cfg(not(feature = "nightly"))]
impl<T: TxAssertable> UnwindSafe for AssertTxInSafe<T> {}
#[cfg(not(feature = "nightly"))]
impl<T: TxAssertable> RefUnwindSafe for AssertTxInSafe<T> {}

// SAFETY: the wrapper is its value: it is whatever its value is.
unsafe impl<T: PSafe> PSafe for AssertTxInSafe<T> {}
// SAFETY: as above.
unsafe impl<T: TxOutSafe> TxOutSafe for AssertTxInSafe<T> {}
// SAFETY: as above.
unsafe impl<T: VSafe> VSafe for AssertTxInSafe<T> {}
// SAFETY: as above.
unsafe impl<T: PSend> PSend for AssertTxInSafe<T> {}

/// Zero-sized marker types that the crate's types carry in a `PhantomData` field to opt
/// out of std's auto traits, on both toolchains (the stable replacement of negative
/// impls of `Send`, `Sync` and `UnwindSafe`). They are never constructed, and they do
/// not change a type's size, alignment or layout fingerprint.
///
/// With the `nightly` feature they implement every crndm marker trait, so they change
/// none (the crate's negative impls say what each type is not).
pub(crate) mod phantom {
    use std::cell::UnsafeCell;
    use std::marker::PhantomData;

    /// Not `Send`, but `Sync`: an owned persistent pointer (`Pbox`, the collections)
    /// stays on its thread (a `static`, which needs `Sync` and so `Send` contents, could
    /// otherwise carry one out of its transaction into another pool's), while `&` to it
    /// may be shared.
    pub(crate) struct NotSend(PhantomData<*const ()>);
    // SAFETY: a `NotSend` holds no data (it is never even constructed).
    unsafe impl Sync for NotSend {}

    /// Not `Sync`, but `Send`: a single-thread cell (`PCell`, `PRefCell`) may move to
    /// another thread but not be shared with one.
    pub(crate) struct NotSync(PhantomData<*const ()>);
    // SAFETY: a `NotSync` holds no data (it is never even constructed).
    unsafe impl Send for NotSync {}

    /// Neither `Send` nor `Sync`: journals, `Prc`/`Parc` and their weak pointers, whose
    /// counts and state are not synchronised.
    pub(crate) struct NotSendSync(PhantomData<*const ()>);

    /// Not `UnwindSafe` on stable Rust (so not `TxInSafe`), but `RefUnwindSafe`, `Send`
    /// and `Sync`: an owned persistent pointer, collection, root handle or borrow guard
    /// cannot be moved into a transaction body, while `&` to it can be captured. With the
    /// `nightly` feature it is `UnwindSafe` (the negative impls of `TxInSafe` say it).
    pub(crate) struct NotTxIn(PhantomData<&'static mut ()>);
    #[cfg(feature = "nightly")]
    impl std::panic::UnwindSafe for NotTxIn {}

    /// Not `RefUnwindSafe` (so not `TxRefSafe` on stable), but `Sync`: `&Journal` of one
    /// transaction cannot be captured by another's body. With the `nightly` feature the
    /// journal implements `RefUnwindSafe` explicitly (its negative `TxRefSafe` impl says
    /// it).
    pub(crate) struct NotTxRef(PhantomData<UnsafeCell<()>>);
    // SAFETY: a `NotTxRef` holds no data (it is never even constructed).
    unsafe impl Sync for NotTxRef {}

    /// With the `nightly` feature the marker traits are auto traits, and the raw pointer,
    /// `&mut` and `UnsafeCell` inside the markers would take them away from every type
    /// carrying one: these impls make the markers neutral.
    #[cfg(feature = "nightly")]
    macro_rules! neutral {
        ($($t:ident)*) => {$(
            // SAFETY: a marker holds no data (it is never constructed).
            unsafe impl crate::marker::PSafe for $t {}
            // SAFETY: as above.
            unsafe impl crate::marker::TxInSafe for $t {}
            // SAFETY: as above.
            unsafe impl crate::marker::TxRefSafe for $t {}
            // SAFETY: as above.
            unsafe impl crate::marker::TxOutSafe for $t {}
            // SAFETY: as above.
            unsafe impl crate::marker::VSafe for $t {}
            // SAFETY: as above.
            unsafe impl crate::marker::PSend for $t {}
            // SAFETY: as above.
            unsafe impl crate::marker::TxAssertable for $t {}
        )*};
    }
    #[cfg(feature = "nightly")]
    neutral!(NotSend NotSync NotSendSync NotTxIn NotTxRef);
}
