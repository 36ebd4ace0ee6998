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
//! They are auto traits: a type has them when all its fields do, unless a negative impl
//! says otherwise. This module only defines them (with [`AssertTxInSafe`], the one
//! wrapper that overrides one of them), so that every layer may import it; every
//! implementation for the crate's other types and for std types, positive and negative,
//! is in the crate's `impls` module, the one file to review for what may live in PM.

/// May be stored in persistent memory: its bytes stay meaningful after the process
/// that wrote them is gone.
///
/// # Safety
/// Implement only for types whose every bit pattern written by safe code is valid in
/// another process: no addresses of volatile memory, no handles of the process.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in persistent memory",
    label = "`{Self}` is not `PSafe`",
    note = "pointers, references, `UnsafeCell`, fn pointers, files and std heap types (`Box`, `Vec`, `String`, `Rc`, `Arc`) point into volatile memory or the process; use `Pbox`, `Prc`, `Parc`, `PCell` and the persistent collections instead"
)]
pub unsafe auto trait PSafe {}

/// May be captured by a transaction body: changing it cannot escape the undo log, and
/// it carries nothing of another transaction.
///
/// A shared reference `&T` is `TxInSafe` when `T` is [`TxRefSafe`]. Owned persistent
/// pointers (`Pbox`) are not `TxInSafe`: moving one into the body of a transaction of
/// another pool is how an inter-pool pointer would be made.
///
/// # Safety
/// Implement only for types whose interior mutation through `&self` is logged in the
/// journal of the transaction it happens in.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be captured by a transaction body",
    label = "`{Self}` is not `TxInSafe`",
    note = "a transaction must not capture `&mut` references, volatile interior mutability (`Cell`, `RefCell`, atomics), another transaction's journal or borrow guard, or an owned persistent pointer (`Pbox`, `Prc`, `Parc`, weak pointers: store those in the pool instead): their changes would not be rolled back, or would cross pools; wrap a volatile value you have checked in `AssertTxInSafe`"
)]
pub unsafe auto trait TxInSafe {}

/// May be captured by a transaction body *by shared reference*: no volatile interior
/// mutability (`Cell`, `RefCell`, atomics) and no journal. Unlike [`TxInSafe`], it holds
/// for persistent pointers, which a shared reference only reads.
///
/// # Safety
/// Implement only for types whose interior mutation through `&self` is logged in the
/// journal of the transaction it happens in.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used by reference in a transaction body",
    label = "`{Self}` is not `TxRefSafe`",
    note = "volatile interior mutability (`Cell`, `RefCell`, atomics, `Mutex`) and journals cannot be used inside a transaction: their changes would not be rolled back"
)]
pub unsafe auto trait TxRefSafe {}

/// May be returned from a transaction.
///
/// # Safety
/// Implement only for values that neither point into the pool nor carry a journal.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a transaction",
    label = "`{Self}` is not `TxOutSafe`",
    note = "persistent pointers, cells, borrow guards, journals and references must stay inside the transaction that made them; store them in the pool, or return plain values (copies, `String`s)"
)]
pub unsafe auto trait TxOutSafe {}

/// May live in a [`VCell`](crate::VCell): a volatile value, reset on each open of the pool.
///
/// # Safety
/// Implement only for types that hold no persistent pointer.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be kept in a volatile cell",
    label = "`{Self}` is not `VSafe`",
    note = "a `VCell` is reset on every open, so a persistent pointer in it would leak its object"
)]
pub unsafe auto trait VSafe {}

/// May be reached from another thread (through `sync::VWeak`).
///
/// # Safety
/// Implement only for types whose shared access from several threads is synchronised.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be shared with another thread",
    label = "`{Self}` is not `PSend`",
    note = "single-thread persistent pointers and cells (`Pbox`, `Prc`, `PCell`, `PRefCell`) are not synchronised; use `Parc` and `PMutex`"
)]
pub unsafe auto trait PSend {}

/// What [`AssertTxInSafe`] may wrap: anything but journals and owned persistent
/// pointers, which no assertion can make safe to move into another transaction.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be wrapped in `AssertTxInSafe`",
    label = "a journal or an owned persistent pointer",
    note = "no assertion lets a journal or an owned persistent pointer (`Pbox`, `Prc`, `Parc`, weak pointers) into another transaction: that is how pointers between pools and unlogged updates are made"
)]
pub unsafe auto trait TxAssertable {}

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
// the `TxAssertable` bound.
unsafe impl<T: TxAssertable> TxInSafe for AssertTxInSafe<T> {}
// SAFETY: as above.
unsafe impl<T: TxAssertable> TxRefSafe for AssertTxInSafe<T> {}
impl<T> std::panic::UnwindSafe for AssertTxInSafe<T> {}
impl<T> std::panic::RefUnwindSafe for AssertTxInSafe<T> {}
