//! Every implementation of the marker traits (`crate::marker`) for std types and for
//! the crate's own types, positive and negative, in one reviewable file (zerocopy's
//! `impls.rs`): what may live in PM, be captured by or returned from a transaction,
//! kept in a `VCell` or reached from another thread. Only [`AssertTxInSafe`]'s own
//! impls stay with it in `marker.rs`. At the end, the impls of `RootObj` (a trait above
//! the pointer types) for `Prc` and `Parc`.
//!
//! It sits above every type it names (docs/ARCHITECTURE.md), so the traits themselves
//! stay at the bottom of the layers. Its parts:
//!
//! 1. positive impls for the crate's types (and the std collections' `TxOutSafe`),
//!    written once for both toolchains: on stable they are the whole rule, with the
//!    `nightly` feature they state explicitly what the auto traits would give;
//! 2. `RefUnwindSafe` for the cells (what `&cell` in a transaction body needs), and
//!    `Send`/`Sync` for `PMutex`; every other `Send`/`Sync`/`UnwindSafe` opt-out is a
//!    marker field (`crate::marker::phantom`) of the type itself;
//! 3. with the `nightly` feature only: the negative impls of the auto traits, the
//!    positive `TxInSafe`/`TxRefSafe` impls (on stable those follow `UnwindSafe` and
//!    `RefUnwindSafe`), and `RefUnwindSafe` for `Journal`;
//! 4. without it (stable): the impls for std types, which the auto traits give on
//!    nightly.
//!
//! [`AssertTxInSafe`]: crate::marker::AssertTxInSafe

use std::panic::RefUnwindSafe;

use crate::boxed::Pbox;
use crate::cell::{PCell, PRefCell, VCell};
use crate::collections::{PBTreeMap, PHashMap, PString, PVec};
use crate::layout::{LayoutHasher, PointerVisitor, RootLayout};
use crate::marker::{PSafe, PSend, TxOutSafe, VSafe};
use crate::prc::{PWeak, Prc, VWeak};
use crate::root::{RootCell, RootObj};
use crate::stm::journal::Journal;
use crate::stm::pool_type::{PoolGuard, PoolType};
use crate::sync::{PMutex, PWeak as SyncPWeak, Parc, VWeak as SyncVWeak};

// ==== 1. Positive impls for the crate's types (both toolchains) ====

// ---- PSafe: what may live in PM ----
// SAFETY: a Pbox is a pool offset of an object of the same pool that it alone owns, and
// changes it only through methods that take the journal and log first.
unsafe impl<T: PSafe, P: PoolType> PSafe for Pbox<T, P> {}
// SAFETY: a pool offset of a reference-counted object of the same pool; the counts and
// the value change only through logged methods.
unsafe impl<T: PSafe, P: PoolType> PSafe for Prc<T, P> {}
// SAFETY: as Prc.
unsafe impl<T: PSafe, P: PoolType> PSafe for PWeak<T, P> {}
// SAFETY: as Prc; the counts change under the object lock.
unsafe impl<T: PSafe, P: PoolType> PSafe for Parc<T, P> {}
// SAFETY: as Parc.
unsafe impl<T: PSafe, P: PoolType> PSafe for SyncPWeak<T, P> {}
// SAFETY: a PCell's interior mutability is only through `set`/`replace`/`take`, which
// take a journal and log the old value; the value itself must be PSafe.
unsafe impl<T: PSafe + ?Sized, P: PoolType> PSafe for PCell<T, P> {}
// SAFETY: as PCell: mutation only through `borrow_mut(j)`, which logs; the borrow flag
// is volatile, tagged with the pool generation, so every open reads it as free
// (invariants B1, B2 in cell/prefcell.rs).
unsafe impl<T: PSafe + ?Sized, P: PoolType> PSafe for PRefCell<T, P> {}
// SAFETY: a PMutex's interior mutability goes through `lock(j)`, which takes the object
// lock and logs before any change; its lock state is in DRAM, not in the pool.
unsafe impl<T: PSafe, P: PoolType> PSafe for PMutex<T, P> {}
// SAFETY: a VCell's bytes are never trusted across opens: its generation stamp makes it
// reset to `Default` on the first access of each generation.
unsafe impl<T, P: PoolType> PSafe for VCell<T, P> {}
// SAFETY: the collections hold pool offsets and counts (their blocks are in the same
// pool, owned by them alone) and change only through methods that take the journal
// and log first; the elements must be PSafe themselves.
unsafe impl<T: PSafe, P: PoolType> PSafe for PVec<T, P> {}
// SAFETY: as PVec.
unsafe impl<P: PoolType> PSafe for PString<P> {}
// SAFETY: as PVec.
unsafe impl<K: PSafe, V: PSafe, P: PoolType> PSafe for PHashMap<K, V, P> {}
// SAFETY: as PVec.
unsafe impl<K: PSafe, V: PSafe, P: PoolType> PSafe for PBTreeMap<K, V, P> {}
// Not PSafe: journals, `RootCell` and `PoolGuard` (process-local pins on the open pool:
// stored in PM they would be dangling handles in the next process), the volatile weak
// pointers (they mean nothing after the process that made them is gone), and the borrow
// guards (references).

// ---- TxOutSafe: what may leave its transaction ----
// Owned volatile values are fine to return when their contents are.
// SAFETY: a `Box` owns its contents; it is as safe to return as they are.
unsafe impl<T: ?Sized + TxOutSafe> TxOutSafe for Box<T> {}
// SAFETY: as Box.
unsafe impl<T: TxOutSafe> TxOutSafe for Vec<T> {}
// SAFETY: as Box.
unsafe impl<T: TxOutSafe> TxOutSafe for std::collections::VecDeque<T> {}
// SAFETY: as Box (the hasher state is a volatile value too).
unsafe impl<K: TxOutSafe, V: TxOutSafe, S: TxOutSafe> TxOutSafe
    for std::collections::HashMap<K, V, S>
{
}
// SAFETY: as Box.
unsafe impl<T: TxOutSafe, S: TxOutSafe> TxOutSafe for std::collections::HashSet<T, S> {}
// SAFETY: as Box.
unsafe impl<K: TxOutSafe, V: TxOutSafe> TxOutSafe for std::collections::BTreeMap<K, V> {}
// SAFETY: as Box.
unsafe impl<T: TxOutSafe> TxOutSafe for std::collections::BTreeSet<T> {}
// SAFETY: plain volatile bytes.
unsafe impl TxOutSafe for String {}
// SAFETY: a volatile weak pointer may leave its transaction (not its thread); it is
// checked against the pool's generation and the object's identity when promoted.
unsafe impl<T: PSafe, P: PoolType> TxOutSafe for VWeak<T, P> {}
// SAFETY: as prc::VWeak.
unsafe impl<T: PSafe, P: PoolType> TxOutSafe for SyncVWeak<T, P> {}
// SAFETY: a pin on the open pool, no pointer into it.
unsafe impl<P: PoolType> TxOutSafe for PoolGuard<P> {}

// ---- VSafe: no persistent pointers in volatile cells ----
// SAFETY: a volatile weak pointer owns nothing in the pool (it does not keep the object).
unsafe impl<T: PSafe + VSafe, P: PoolType> VSafe for VWeak<T, P> {}
// SAFETY: as prc::VWeak.
unsafe impl<T: PSafe, P: PoolType> VSafe for SyncVWeak<T, P> {}
// SAFETY: a VCell's value is itself volatile and VSafe.
unsafe impl<T: VSafe, P: PoolType> VSafe for VCell<T, P> {}
// SAFETY: the root handle owns no pool object (the root belongs to the pool).
unsafe impl<T: VSafe, P: PoolType> VSafe for RootCell<T, P> {}
// SAFETY: a pin on the open pool, no pointer into it.
unsafe impl<P: PoolType> VSafe for PoolGuard<P> {}

// ---- PSend: what may be reached from another thread ----
// SAFETY: an owned pointer is reached through its owner, which `PSend` already vouches
// for; its contents must be PSend themselves.
unsafe impl<T: PSafe + PSend, P: PoolType> PSend for Pbox<T, P> {}
// SAFETY: a Parc's counts change under the object lock; its value must be PSend.
unsafe impl<T: PSafe + PSend, P: PoolType> PSend for Parc<T, P> {}
// SAFETY: as Parc.
unsafe impl<T: PSafe + PSend, P: PoolType> PSend for SyncPWeak<T, P> {}
// SAFETY: a `sync::VWeak` reaches its value only by promotion, which checks `T: PSend`.
unsafe impl<T: PSafe, P: PoolType> PSend for SyncVWeak<T, P> {}
// SAFETY: as Pbox: owned blocks of PSend elements.
unsafe impl<T: PSafe + PSend, P: PoolType> PSend for PVec<T, P> {}
// SAFETY: as Pbox: owned bytes.
unsafe impl<P: PoolType> PSend for PString<P> {}
// SAFETY: as PVec.
unsafe impl<K: PSafe + PSend, V: PSafe + PSend, P: PoolType> PSend for PHashMap<K, V, P> {}
// SAFETY: as PVec.
unsafe impl<K: PSafe + PSend, V: PSafe + PSend, P: PoolType> PSend for PBTreeMap<K, V, P> {}
// SAFETY: the value is reached by one transaction at a time (the object lock), and what
// it holds may itself be reached from another thread (`T: PSend`): a `Prc` inside could
// otherwise be cloned from two threads at once through two mutexes.
unsafe impl<T: PSafe + PSend, P: PoolType> PSend for PMutex<T, P> {}
// SAFETY: the root handle gives `&T` only, which `T: PSend` vouches for.
unsafe impl<T: PSend, P: PoolType> PSend for RootCell<T, P> {}
// SAFETY: a pin on the open pool, no pointer into it.
unsafe impl<P: PoolType> PSend for PoolGuard<P> {}
// Not PSend: `PCell`, `PRefCell`, `VCell` (its generation check and value are not
// synchronised), `Prc` and its weak pointers, journals, the borrow guards.

// ---- The crate's plain values: errors, statistics, modes ----
macro_rules! plain_values {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: plain volatile values: no pointer into a pool, no journal.
        unsafe impl TxOutSafe for $t {}
        // SAFETY: as above.
        unsafe impl VSafe for $t {}
        // SAFETY: as above.
        unsafe impl PSend for $t {}
    )*};
}
plain_values!(
    crate::Error,
    crate::Region,
    crate::Mode,
    crate::FlushInstr,
    crate::PersistCounters,
    crate::AllocStats,
    crate::ClassStats,
    crate::Reachability,
);

// The crate's pool offsets: plain numbers (what nightly's auto traits give a `u64`
// wrapper); a handle that stores one has its own impls above.
plain_values!(crate::offset::PoolOff, crate::offset::NonZeroOff);
// SAFETY: an offset is position-independent: the same bytes name the same place in the
// pool in every process (no address of this process).
unsafe impl PSafe for crate::offset::PoolOff {}
// SAFETY: as above.
unsafe impl PSafe for crate::offset::NonZeroOff {}

// ==== 2. std's auto traits ====

// What `&cell` in a transaction body needs (`UnwindSafe` of the closure asks
// `RefUnwindSafe` of what it captures by reference; on stable that is `TxRefSafe`).
// A cell's mutation through `&self` is logged, so it is as unwind-safe as its value.
impl<T: ?Sized + RefUnwindSafe, P: PoolType> RefUnwindSafe for PCell<T, P> {}
impl<T: ?Sized + RefUnwindSafe, P: PoolType> RefUnwindSafe for PRefCell<T, P> {}
// A VCell is volatile by design; through `&VCell` it is only read (or reset to its
// default, which is not a change the program can observe across the transaction).
impl<T: RefUnwindSafe, P: PoolType> RefUnwindSafe for VCell<T, P> {}
// Mutation through `&PMutex` is locked and logged.
impl<T: PSafe + RefUnwindSafe, P: PoolType> RefUnwindSafe for PMutex<T, P> {}

// SAFETY: the value is reached only under the object lock, one transaction at a time;
// `T: PSend` says it may be reached from another thread at all.
unsafe impl<T: PSafe + PSend, P: PoolType> Send for PMutex<T, P> {}
// SAFETY: as Send.
unsafe impl<T: PSafe + PSend, P: PoolType> Sync for PMutex<T, P> {}

// ==== 3. nightly: the auto traits' negative impls ====
#[cfg(feature = "nightly")]
mod nightly {
    use std::cell::UnsafeCell;

    use crate::boxed::Pbox;
    use crate::cell::{PCell, PRefCell, Ref, RefMut, VCell};
    use crate::collections::{PBTreeMap, PHashMap, PString, PVec};
    use crate::marker::{PSafe, PSend, TxAssertable, TxInSafe, TxOutSafe, TxRefSafe, VSafe};
    use crate::prc::{PWeak, Prc, VWeak};
    use crate::root::RootCell;
    use crate::stm::journal::Journal;
    use crate::stm::pool_type::{PoolGuard, PoolType};
    use crate::sync::{PMutex, PMutexGuard, PWeak as SyncPWeak, Parc, VWeak as SyncVWeak};

    // A journal's own state stays consistent across a panic (its borrows are internal
    // and short); after one it is only used to roll back. This also keeps capture errors
    // to the one that says what is wrong (`TxInSafe`). Not on stable, where
    // `RefUnwindSafe` is the rule that keeps `&Journal` out of other transactions.
    impl<P: PoolType> std::panic::RefUnwindSafe for Journal<P> {}

    // ---- PSafe: what may not live in PM ----
    impl<T: ?Sized> !PSafe for *const T {}
    impl<T: ?Sized> !PSafe for *mut T {}
    impl<T: ?Sized> !PSafe for &T {}
    impl<T: ?Sized> !PSafe for &mut T {}
    impl<T: ?Sized> !PSafe for UnsafeCell<T> {}
    impl !PSafe for std::fs::File {}
    // Already excluded through its pointer; named so the error names it.
    impl !PSafe for String {}
    // Process handles: a later process would close (or use) an unrelated descriptor.
    impl !PSafe for std::os::fd::OwnedFd {}
    impl !PSafe for std::net::TcpListener {}
    impl !PSafe for std::net::TcpStream {}
    impl !PSafe for std::net::UdpSocket {}
    impl<P: PoolType> !PSafe for Journal<P> {}
    // The pool handle is a process-local pin on the open pool: stored in PM it would be
    // a dangling handle in the next process.
    impl<T, P: PoolType> !PSafe for RootCell<T, P> {}
    // The same for the root-less handle: dropped by a later process it would close a
    // pool it never opened (under that process's own handles).
    impl<P: PoolType> !PSafe for PoolGuard<P> {}
    // Volatile weak pointers mean nothing after the process that made them is gone.
    impl<T: PSafe, P: PoolType> !PSafe for VWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !PSafe for SyncVWeak<T, P> {}

    // ---- fn pointers: never PSafe ----
    //
    // A fn pointer is a code address of this process's image: the next process (another
    // build, another ASLR slide) would call garbage. Auto traits hold for fn pointers
    // whatever their argument types, so each shape needs its own negative impl.
    // `not_psafe_fn!` writes them for every arity from 0 to 32 arguments, safe and
    // `unsafe`, in each ABI that stable Rust accepts for fn pointers on x86_64 Linux:
    // `fn` (= `extern "Rust"`), "C", "C-unwind", "system", "system-unwind", "sysv64",
    // "sysv64-unwind", "win64", "win64-unwind", "efiapi" ("cdecl" is accepted only with a
    // not-supported-ABI warning on x86_64 and is left out: such a pointer stays `PSafe`); and the
    // variadic `extern "C" fn(A, ...)` / `extern "C-unwind" fn(A, ...)` with 1 to 32 fixed
    // arguments. Higher-ranked pointers (`for<'a> fn(&'a u8)`) are covered by the impl of
    // their arity (checked in ui-tests/fail/marker_misuse/fn_pointer_*).
    //
    // Remaining limit: a fn pointer with more than 32 arguments (or in an ABI added to
    // the language later) is not named here and so is still `PSafe`. Store a function as
    // an index into a table of the program instead.
    macro_rules! not_psafe_fn {
        // One arity: every ABI, safe and unsafe.
        (@one $($arg:ident)*) => {
            not_psafe_fn!(@abi [$($arg)*] "C" "C-unwind" "system" "system-unwind" "sysv64"
                "sysv64-unwind" "win64" "win64-unwind" "efiapi");
            impl<Ret, $($arg),*> !PSafe for fn($($arg),*) -> Ret {}
            impl<Ret, $($arg),*> !PSafe for unsafe fn($($arg),*) -> Ret {}
        };
        (@abi $args:tt $($abi:literal)*) => {
            $(not_psafe_fn!(@abi1 $abi $args);)*
        };
        (@abi1 $abi:literal [$($arg:ident)*]) => {
            impl<Ret, $($arg),*> !PSafe for extern $abi fn($($arg),*) -> Ret {}
            impl<Ret, $($arg),*> !PSafe for unsafe extern $abi fn($($arg),*) -> Ret {}
        };
        // Variadic pointers need at least one fixed argument.
        (@variadic $($arg:ident)+) => {
            impl<Ret, $($arg),*> !PSafe for extern "C" fn($($arg),*, ...) -> Ret {}
            impl<Ret, $($arg),*> !PSafe for unsafe extern "C" fn($($arg),*, ...) -> Ret {}
            impl<Ret, $($arg),*> !PSafe for extern "C-unwind" fn($($arg),*, ...) -> Ret {}
            impl<Ret, $($arg),*> !PSafe for unsafe extern "C-unwind" fn($($arg),*, ...) -> Ret {}
        };
        // Every prefix of the list: the arity of the prefix, then the shorter ones.
        () => {
            not_psafe_fn!(@one);
        };
        ($first:ident $($rest:ident)*) => {
            not_psafe_fn!(@one $first $($rest)*);
            not_psafe_fn!(@variadic $first $($rest)*);
            not_psafe_fn!($($rest)*);
        };
    }
    not_psafe_fn!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13 A14 A15 A16 A17 A18 A19 A20 A21 A22
        A23 A24 A25 A26 A27 A28 A29 A30 A31 A32);

    // ---- TxInSafe: what a body may own ----
    impl<T: ?Sized> !TxInSafe for &mut T {}
    impl<T: ?Sized> !TxInSafe for UnsafeCell<T> {}
    impl<P: PoolType> !TxInSafe for Journal<P> {}
    impl<T: PSafe, P: PoolType> !TxInSafe for Pbox<T, P> {}
    // Moved into a body and dropped there, the handle would close the pool under the
    // transaction, and a rollback could not bring it back.
    impl<T, P: PoolType> !TxInSafe for RootCell<T, P> {}
    // A borrow guard carries its transaction's right to change a cell: moved into
    // another pool's transaction it would let that one store pointers of the first.
    impl<T: ?Sized, P: PoolType> !TxInSafe for RefMut<'_, T, P> {}
    impl<T: PSafe, P: PoolType> !TxInSafe for PMutexGuard<'_, T, P> {}
    impl<T: PSafe, P: PoolType> !TxInSafe for Prc<T, P> {}
    impl<T: PSafe, P: PoolType> !TxInSafe for PWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !TxInSafe for Parc<T, P> {}
    impl<T: PSafe, P: PoolType> !TxInSafe for SyncPWeak<T, P> {}
    // Owned collections own pool blocks, like `Pbox`.
    impl<T: PSafe, P: PoolType> !TxInSafe for PVec<T, P> {}
    impl<P: PoolType> !TxInSafe for PString<P> {}
    impl<K: PSafe, V: PSafe, P: PoolType> !TxInSafe for PHashMap<K, V, P> {}
    impl<K: PSafe, V: PSafe, P: PoolType> !TxInSafe for PBTreeMap<K, V, P> {}
    // SAFETY: a PMutex changes its value only through a guard, which logs; an owned one
    // is as safe to move in as its contents.
    unsafe impl<T: PSafe + TxInSafe, P: PoolType> TxInSafe for PMutex<T, P> {}
    // SAFETY: a shared reference only reads, or mutates through cells that log; what it
    // may point to is exactly what `TxRefSafe` admits (as std makes `&T: Send` from
    // `T: Sync`).
    unsafe impl<T: ?Sized + TxRefSafe> TxInSafe for &T {}
    // SAFETY: mutation through `&PCell` is logged (see the PSafe impl); an owned cell is
    // as safe to move in as its contents.
    unsafe impl<T: ?Sized + TxInSafe, P: PoolType> TxInSafe for PCell<T, P> {}
    // SAFETY: as PCell.
    unsafe impl<T: ?Sized + TxInSafe, P: PoolType> TxInSafe for PRefCell<T, P> {}
    // SAFETY: a VCell is volatile by design; through `&VCell` it is only read (or reset
    // to its default, which is not a change the program can observe across the
    // transaction).
    unsafe impl<T: TxInSafe, P: PoolType> TxInSafe for VCell<T, P> {}

    // ---- TxRefSafe: what a body may use through `&` ----
    impl<T: ?Sized> !TxRefSafe for UnsafeCell<T> {}
    impl<P: PoolType> !TxRefSafe for Journal<P> {}
    // SAFETY: mutation through `&PCell` is logged (see the PSafe impl); taking a value
    // out needs the journal of the cell's own pool.
    unsafe impl<T: ?Sized + TxRefSafe, P: PoolType> TxRefSafe for PCell<T, P> {}
    // SAFETY: as PCell.
    unsafe impl<T: ?Sized + TxRefSafe, P: PoolType> TxRefSafe for PRefCell<T, P> {}
    // SAFETY: as the TxInSafe impl of VCell.
    unsafe impl<T: TxRefSafe, P: PoolType> TxRefSafe for VCell<T, P> {}
    // SAFETY: mutation through `&PMutex` is locked and logged.
    unsafe impl<T: PSafe + TxRefSafe, P: PoolType> TxRefSafe for PMutex<T, P> {}

    // ---- TxAssertable ----
    impl<P: PoolType> !TxAssertable for Journal<P> {}
    impl<T: PSafe, P: PoolType> !TxAssertable for Pbox<T, P> {}
    impl<T: PSafe, P: PoolType> !TxAssertable for Prc<T, P> {}
    impl<T: PSafe, P: PoolType> !TxAssertable for PWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !TxAssertable for Parc<T, P> {}
    impl<T: PSafe, P: PoolType> !TxAssertable for SyncPWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !TxAssertable for PVec<T, P> {}
    impl<P: PoolType> !TxAssertable for PString<P> {}
    impl<K: PSafe, V: PSafe, P: PoolType> !TxAssertable for PHashMap<K, V, P> {}
    impl<K: PSafe, V: PSafe, P: PoolType> !TxAssertable for PBTreeMap<K, V, P> {}

    // ---- TxOutSafe: what must stay inside its transaction ----
    // (std's heap types hold raw pointers, which alone are not `TxOutSafe`: the owned
    // ones have positive impls in part 1.)
    impl<T: ?Sized> !TxOutSafe for *const T {}
    impl<T: ?Sized> !TxOutSafe for *mut T {}
    impl<T: ?Sized> !TxOutSafe for &T {}
    impl<T: ?Sized> !TxOutSafe for &mut T {}
    impl<P: PoolType> !TxOutSafe for Journal<P> {}
    impl<T: PSafe, P: PoolType> !TxOutSafe for Pbox<T, P> {}
    impl<T: ?Sized, P: PoolType> !TxOutSafe for PCell<T, P> {}
    impl<T: ?Sized, P: PoolType> !TxOutSafe for PRefCell<T, P> {}
    impl<T, P: PoolType> !TxOutSafe for VCell<T, P> {}
    impl<T: ?Sized, P: PoolType> !TxOutSafe for Ref<'_, T, P> {}
    impl<T: ?Sized, P: PoolType> !TxOutSafe for RefMut<'_, T, P> {}
    impl<T, P: PoolType> !TxOutSafe for RootCell<T, P> {}
    impl<T: PSafe, P: PoolType> !TxOutSafe for Prc<T, P> {}
    impl<T: PSafe, P: PoolType> !TxOutSafe for PWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !TxOutSafe for Parc<T, P> {}
    impl<T: PSafe, P: PoolType> !TxOutSafe for SyncPWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !TxOutSafe for PMutex<T, P> {}
    impl<T: PSafe, P: PoolType> !TxOutSafe for PMutexGuard<'_, T, P> {}
    impl<T: PSafe, P: PoolType> !TxOutSafe for PVec<T, P> {}
    impl<P: PoolType> !TxOutSafe for PString<P> {}
    impl<K: PSafe, V: PSafe, P: PoolType> !TxOutSafe for PHashMap<K, V, P> {}
    impl<K: PSafe, V: PSafe, P: PoolType> !TxOutSafe for PBTreeMap<K, V, P> {}

    // ---- VSafe: no persistent pointers in volatile cells ----
    impl<T: PSafe, P: PoolType> !VSafe for Pbox<T, P> {}
    impl<T: ?Sized, P: PoolType> !VSafe for PCell<T, P> {}
    impl<T: ?Sized, P: PoolType> !VSafe for PRefCell<T, P> {}
    impl<P: PoolType> !VSafe for Journal<P> {}
    impl<T: PSafe, P: PoolType> !VSafe for Prc<T, P> {}
    impl<T: PSafe, P: PoolType> !VSafe for PWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !VSafe for Parc<T, P> {}
    impl<T: PSafe, P: PoolType> !VSafe for SyncPWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !VSafe for PMutex<T, P> {}
    impl<T: PSafe, P: PoolType> !VSafe for PVec<T, P> {}
    impl<P: PoolType> !VSafe for PString<P> {}
    impl<K: PSafe, V: PSafe, P: PoolType> !VSafe for PHashMap<K, V, P> {}
    impl<K: PSafe, V: PSafe, P: PoolType> !VSafe for PBTreeMap<K, V, P> {}

    // ---- PSend: single-thread persistent types ----
    impl<T: ?Sized, P: PoolType> !PSend for PCell<T, P> {}
    impl<T: ?Sized, P: PoolType> !PSend for PRefCell<T, P> {}
    impl<P: PoolType> !PSend for Journal<P> {}
    impl<T: PSafe, P: PoolType> !PSend for Prc<T, P> {}
    impl<T: PSafe, P: PoolType> !PSend for PWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !PSend for VWeak<T, P> {}
    // A VCell's generation check and value are not synchronised.
    impl<T, P: PoolType> !PSend for VCell<T, P> {}

    // ---- Send / Sync, named ----
    // The marker fields (`marker::phantom`) already make these types `!Send`/`!Sync` on
    // both toolchains; the negative impls repeat it so that nightly's errors name the
    // crndm type ("`Prc<..>` cannot be sent between threads") instead of a marker.
    impl<T: PSafe, P: PoolType> !Send for Pbox<T, P> {}
    impl<P: PoolType> !Send for Journal<P> {}
    impl<P: PoolType> !Sync for Journal<P> {}
    impl<T: PSafe, P: PoolType> !Send for PMutexGuard<'_, T, P> {}
    impl<T: ?Sized, P: PoolType> !Sync for PCell<T, P> {}
    impl<T: ?Sized, P: PoolType> !Sync for PRefCell<T, P> {}
    impl<T: PSafe, P: PoolType> !Send for Prc<T, P> {}
    impl<T: PSafe, P: PoolType> !Sync for Prc<T, P> {}
    impl<T: PSafe, P: PoolType> !Send for PWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !Sync for PWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !Send for VWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !Sync for VWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !Send for Parc<T, P> {}
    impl<T: PSafe, P: PoolType> !Sync for Parc<T, P> {}
    impl<T: PSafe, P: PoolType> !Send for SyncPWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !Sync for SyncPWeak<T, P> {}
    impl<T: PSafe, P: PoolType> !Send for PVec<T, P> {}
    impl<P: PoolType> !Send for PString<P> {}
    impl<K: PSafe, V: PSafe, P: PoolType> !Send for PHashMap<K, V, P> {}
    impl<K: PSafe, V: PSafe, P: PoolType> !Send for PBTreeMap<K, V, P> {}
}

// ==== 4. stable: std types (the auto traits give these on nightly) ====
//
// Positive impls only: what is not listed is refused, which is stricter than the
// nightly negative impls and complete (fn pointers of any arity and ABI, raw pointers,
// references, `UnsafeCell`, files and sockets simply have no `PSafe` impl).
#[cfg(not(feature = "nightly"))]
mod stable {
    use std::cell::{Cell, RefCell};
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasherDefault;
    use std::marker::{PhantomData, PhantomPinned};
    use std::mem::ManuallyDrop;
    use std::num::{Saturating, Wrapping};
    use std::rc::Rc;
    use std::sync::atomic::{
        AtomicBool, AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16,
        AtomicU32, AtomicU64, AtomicUsize,
    };
    use std::sync::{Arc, Mutex, RwLock};
    use std::time::{Duration, Instant, SystemTime};

    use crate::marker::{PSafe, PSend, TxOutSafe, VSafe};

    /// `unsafe impl` of each trait of the list for each type, bounded by the same trait
    /// on each type parameter (a structural impl: `Option<T>: PSafe` when `T: PSafe`).
    macro_rules! structural {
        ([$($tr:ident)*] $items:tt) => {
            $( structural!(@trait $tr $items); )*
        };
        (@trait $tr:ident { $( [$($p:ident),*] $t:ty; )* }) => {$(
            // SAFETY: the type is its parameters' values laid out by std (or plain data
            // without any): it has the trait exactly when they do.
            unsafe impl<$($p: $tr),*> $tr for $t {}
        )*};
    }

    /// Tuples of 1 to 12 elements, for each trait of the list.
    macro_rules! tuples {
        ([$($tr:ident)*]) => {
            $( tuples!(@trait $tr A B C D E F G H I J K L); )*
        };
        (@trait $tr:ident) => {};
        (@trait $tr:ident $first:ident $($rest:ident)*) => {
            // SAFETY: a tuple is its elements: it has the trait when they all do.
            unsafe impl<$first: $tr, $($rest: $tr),*> $tr for ($first, $($rest,)*) {}
            tuples!(@trait $tr $($rest)*);
        };
    }

    /// Arrays, slices, `str`, `Box<T: ?Sized>` and `PhantomData<T: ?Sized>` for each
    /// trait of the list.
    macro_rules! unsized_and_arrays {
        ([$($tr:ident)*]) => {$(
            // SAFETY: an array is its elements.
            unsafe impl<T: $tr, const N: usize> $tr for [T; N] {}
            // SAFETY: a slice is its elements.
            unsafe impl<T: $tr> $tr for [T] {}
            // SAFETY: UTF-8 bytes.
            unsafe impl $tr for str {}
            // SAFETY: no value at all; what it stands for must qualify.
            unsafe impl<T: ?Sized + $tr> $tr for PhantomData<T> {}
        )*};
    }

    // Plain values: everything that qualifies for one of the four traits qualifies for
    // all of them.
    structural!([PSafe TxOutSafe VSafe PSend] {
        [] u8; [] u16; [] u32; [] u64; [] u128; [] usize;
        [] i8; [] i16; [] i32; [] i64; [] i128; [] isize;
        [] f32; [] f64; [] bool; [] char; [] ();
        [] std::num::NonZeroU8; [] std::num::NonZeroU16; [] std::num::NonZeroU32;
        [] std::num::NonZeroU64; [] std::num::NonZeroU128; [] std::num::NonZeroUsize;
        [] std::num::NonZeroI8; [] std::num::NonZeroI16; [] std::num::NonZeroI32;
        [] std::num::NonZeroI64; [] std::num::NonZeroI128; [] std::num::NonZeroIsize;
        [] Duration; [] std::cmp::Ordering; [] PhantomPinned;
        [T] Option<T>; [T, E] Result<T, E>; [T] Wrapping<T>; [T] Saturating<T>;
        [T] std::cmp::Reverse<T>; [T] ManuallyDrop<T>;
    });
    tuples!([PSafe TxOutSafe VSafe PSend]);
    unsized_and_arrays!([PSafe TxOutSafe VSafe PSend]);

    // Volatile values that may be returned from a transaction and kept in a `VCell`
    // (owned: no reference, no raw pointer; the std heap types with their own `Box`-like
    // positive impl are in part 1 for `TxOutSafe`). Not `PSafe`: they point into the
    // process or hold its handles.
    structural!([TxOutSafe VSafe] {
        [] Instant; [] SystemTime; [] RandomState; [] std::path::PathBuf;
        [] std::ffi::OsString;
        [H] BuildHasherDefault<H>;
        [T] Cell<T>; [T] RefCell<T>; [T] Mutex<T>; [T] RwLock<T>;
        [] AtomicBool; [] AtomicU8; [] AtomicU16; [] AtomicU32; [] AtomicU64;
        [] AtomicUsize; [] AtomicI8; [] AtomicI16; [] AtomicI32; [] AtomicI64;
        [] AtomicIsize;
    });
    // `VSafe` only: shared pointers into volatile memory (not `TxOutSafe`, as with the
    // `nightly` auto trait).
    structural!([VSafe] {
        [T] Vec<T>; [T] std::collections::VecDeque<T>; [] String;
        [T] Rc<T>; [T] Arc<T>;
        [K, V, S] std::collections::HashMap<K, V, S>; [T, S] std::collections::HashSet<T, S>;
        [K, V] std::collections::BTreeMap<K, V>; [T] std::collections::BTreeSet<T>;
    });
    // SAFETY: a `Box` owns its contents; it is as safe to keep as they are.
    unsafe impl<T: ?Sized + VSafe> VSafe for Box<T> {}
}

// ---- RootObj: the shared pointers may be a root ----
//
// Not a marker trait, but the same kind of impl: `RootObj` lives in `root.rs`, above
// `rc` and `sync`, so its impls for their pointers live here (as `Pbox`'s lives with the
// trait).
impl<T: PSafe + RootObj<P>, P: PoolType> RootObj<P> for Prc<T, P> {
    fn init(j: &Journal<P>) -> Self {
        Prc::new(T::init(j), j)
    }
}

impl<T: PSafe + RootObj<P>, P: PoolType> RootObj<P> for Parc<T, P> {
    fn init(j: &Journal<P>) -> Self {
        Parc::new(T::init(j), j)
    }
}

// ---- RootLayout for the crate's persistent types (the trait is in layout.rs) ----

/// A persistent crndm type: its kind name and its parameters' fingerprints, not the
/// pool type's; its pointers are shown by its own module's `visit_stored` (which alone
/// sees its fields).
macro_rules! persistent {
    ($($name:literal => [$($g:ident),*] $t:ty;)*) => {$(
        impl<$($g: RootLayout + PSafe,)* P: PoolType> RootLayout for $t {
            fn layout(h: &mut LayoutHasher) {
                h.write_str($name);
                $( h.part::<$g>(); )*
            }

            fn visit_pointers(&self, v: &mut PointerVisitor<'_>) {
                self.visit_stored(v);
            }
        }
    )*};
}
persistent! {
    "PCell" => [T] PCell<T, P>;
    "PRefCell" => [T] PRefCell<T, P>;
    "PMutex" => [T] PMutex<T, P>;
    "Pbox" => [T] Pbox<T, P>;
    "Prc" => [T] Prc<T, P>;
    "prc::PWeak" => [T] PWeak<T, P>;
    "Parc" => [T] Parc<T, P>;
    "sync::PWeak" => [T] SyncPWeak<T, P>;
    "PVec" => [T] PVec<T, P>;
    "PString" => [] PString<P>;
    "PHashMap" => [K, V] PHashMap<K, V, P>;
    "PBTreeMap" => [K, V] PBTreeMap<K, V, P>;
}

impl<T: 'static, P: PoolType> RootLayout for VCell<T, P> {
    fn layout(h: &mut LayoutHasher) {
        // The value is volatile (reset on every open): only the room it takes counts.
        h.write_str("VCell");
        h.write_u64(size_of::<T>() as u64);
        h.write_u64(align_of::<T>() as u64);
    }
}

/// What each marker says of the crate's types, checked at compile time on both
/// toolchains: the test module compiles only while every positive claim holds and every
/// negative one fails (a type that gained a trait makes a "not" check ambiguous).
#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::HashMap;

    use crate::cell::{Ref, RefMut};
    use crate::default::BuddyAlloc as P;
    use crate::marker::{AssertTxInSafe, PSafe, PSend, TxInSafe, TxOutSafe, TxRefSafe, VSafe};
    use crate::stm::journal::Journal;
    use crate::stm::pool_type::PoolGuard;
    use crate::sync::{PMutexGuard, VWeak as SyncVWeak};
    use crate::{PBTreeMap, PCell, PHashMap, PMutex, PRefCell, PString, PVec, Parc, Pbox, Prc};
    use crate::{RootCell, VCell};

    /// `not!(Trait: T, U, ...)`: each type does not implement `Trait`. With the impl, the
    /// two blanket impls below both apply and the name `check` is ambiguous.
    macro_rules! not {
        ($tr:path: $($t:ty),* $(,)?) => {$({
            trait Ambiguous<A> {
                fn check() {}
            }
            impl<T: ?Sized> Ambiguous<()> for T {}
            #[allow(dead_code, reason = "only names the second impl")]
            struct Has;
            impl<T: ?Sized + $tr> Ambiguous<Has> for T {}
            <$t as Ambiguous<_>>::check();
        })*};
    }

    /// `is!(Trait: T, U, ...)`: each type implements `Trait`.
    macro_rules! is {
        ($tr:path: $($t:ty),* $(,)?) => {$({
            fn check<T: ?Sized + $tr>() {}
            check::<$t>();
        })*};
    }

    #[test]
    fn owned_persistent_pointers_and_guards_cannot_be_moved_into_a_body() {
        not!(TxInSafe: Pbox<u8, P>, Prc<u8, P>, crate::prc::PWeak<u8, P>, Parc<u8, P>,
            crate::sync::PWeak<u8, P>, PVec<u8, P>, PString<P>, PHashMap<u8, u8, P>,
            PBTreeMap<u8, u8, P>, RootCell<u8, P>, RefMut<'static, u8, P>,
            PMutexGuard<'static, u8, P>, &'static Journal<P>, &'static mut u8,
            &'static Cell<u8>, AssertTxInSafe<&'static Journal<P>>,
            AssertTxInSafe<Pbox<u8, P>>);
        // ... while a shared reference to them, and cells of plain values, can.
        is!(TxInSafe: &'static Pbox<u8, P>, &'static PCell<u8, P>, &'static PRefCell<u8, P>,
            &'static PMutex<u8, P>, &'static VCell<u8, P>, &'static RootCell<PCell<u8, P>, P>,
            Ref<'static, u8, P>, PCell<u8, P>, AssertTxInSafe<Cell<u8>>, u64, String,
            crate::prc::VWeak<u8, P>);
        not!(TxRefSafe: Journal<P>, Cell<u8>, PCell<Cell<u8>, P>, VCell<Cell<u8>, P>);
    }

    #[test]
    fn what_may_leave_a_transaction() {
        is!(TxOutSafe: u64, (u8, String), Vec<Option<u32>>, Box<str>, [u8; 3],
            HashMap<String, u64>, Result<u8, crate::Error>, crate::prc::VWeak<u8, P>,
            SyncVWeak<u8, P>, PoolGuard<P>, AssertTxInSafe<u8>);
        not!(TxOutSafe: Pbox<u8, P>, Prc<u8, P>, Parc<u8, P>, PCell<u8, P>,
            PRefCell<u8, P>, VCell<u8, P>, PMutex<u8, P>, PVec<u8, P>, PString<P>,
            Ref<'static, u8, P>, RefMut<'static, u8, P>, PMutexGuard<'static, u8, P>,
            RootCell<u8, P>, &'static u8, *const u8, Option<Pbox<u8, P>>,
            Vec<Prc<u8, P>>);
    }

    #[test]
    fn what_may_live_in_pm() {
        is!(PSafe: u8, (u64, bool), [Option<char>; 4], std::num::NonZeroU32, P,
            std::num::Wrapping<i16>, std::marker::PhantomData<u8>, Pbox<Pbox<u8, P>, P>,
            Prc<PCell<u8, P>, P>, PMutex<PVec<u8, P>, P>, VCell<Vec<u8>, P>,
            PHashMap<u64, PString<P>, P>, Option<Parc<u8, P>>);
        not!(PSafe: String, Vec<u8>, Box<u8>, &'static u8, *const u8, Cell<u8>,
            std::sync::atomic::AtomicU8, fn(), extern "C" fn(u8, ...), std::fs::File,
            std::rc::Rc<u8>, Journal<P>, RootCell<u8, P>, PoolGuard<P>,
            crate::prc::VWeak<u8, P>, SyncVWeak<u8, P>, Option<Box<u8>>);
    }

    #[test]
    fn what_may_be_kept_in_a_vcell_or_reached_from_another_thread() {
        is!(VSafe: u8, String, Vec<u8>, Cell<u64>, std::rc::Rc<String>,
            crate::prc::VWeak<u8, P>);
        not!(VSafe: Pbox<u8, P>, Prc<u8, P>, PCell<u8, P>, PVec<u8, P>, PString<P>,
            Option<Pbox<u8, P>>, Vec<Prc<u8, P>>, Box<Parc<u8, P>>, Journal<P>);
        is!(PSend: u8, Parc<PMutex<u64, P>, P>, PMutex<Pbox<u8, P>, P>, Pbox<u8, P>,
            PVec<u8, P>);
        not!(PSend: PCell<u8, P>, PRefCell<u8, P>, VCell<u8, P>, Prc<u8, P>,
            PMutex<Prc<u8, P>, P>, Pbox<PCell<u8, P>, P>, Journal<P>);
    }

    #[test]
    fn send_and_sync_of_the_crates_types() {
        not!(Send: Pbox<u8, P>, Prc<u8, P>, Parc<u8, P>, crate::prc::VWeak<u8, P>,
            PVec<u8, P>, PString<P>, PHashMap<u8, u8, P>, PBTreeMap<u8, u8, P>, Journal<P>,
            PMutexGuard<'static, u8, P>, SyncVWeak<PCell<u8, P>, P>);
        not!(Sync: Prc<u8, P>, Parc<u8, P>, PCell<u8, P>, PRefCell<u8, P>, Journal<P>,
            crate::prc::VWeak<u8, P>, PMutex<Prc<u8, P>, P>);
        is!(Send: PCell<u8, P>, PRefCell<u8, P>, PMutex<u8, P>, SyncVWeak<u8, P>,
            RootCell<u8, P>);
        is!(Sync: Pbox<u8, P>, PVec<u8, P>, PString<P>, PMutex<u8, P>, SyncVWeak<u8, P>,
            RootCell<u8, P>);
    }
}
