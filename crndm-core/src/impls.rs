//! Every implementation of the marker traits (`crate::marker`) for std types and for
//! the crate's own types, positive and negative, in one reviewable file (zerocopy's
//! `impls.rs`): what may live in PM, be captured by or returned from a transaction,
//! kept in a `VCell` or reached from another thread. Only [`AssertTxInSafe`]'s own
//! impls stay with it in `marker.rs`. At the end, the impls of `RootObj` (a trait above
//! the pointer types) for `Prc` and `Parc`.
//!
//! It sits above every type it names (docs/ARCHITECTURE.md), so the traits themselves
//! stay at the bottom of the layers. On stable Rust the traits would be ordinary
//! `unsafe trait`s and this file would hold their positive impls instead.
//!
//! [`AssertTxInSafe`]: crate::marker::AssertTxInSafe

use std::cell::UnsafeCell;

use crate::boxed::Pbox;
use crate::cell::{PCell, PRefCell, Ref, RefMut, VCell};
use crate::collections::{PBTreeMap, PHashMap, PString, PVec};
use crate::layout::{LayoutHasher, PointerVisitor, RootLayout};
use crate::marker::{PSafe, PSend, TxAssertable, TxInSafe, TxOutSafe, TxRefSafe, VSafe};
use crate::prc::{PWeak, Prc, VWeak};
use crate::root::{RootCell, RootObj};
use crate::stm::journal::Journal;
use crate::stm::pool_type::{PoolGuard, PoolType};
use crate::sync::{PMutex, PMutexGuard, PWeak as SyncPWeak, Parc, VWeak as SyncVWeak};

// A journal's own state stays consistent across a panic (its borrows are internal and
// short); after one it is only used to roll back. This also keeps capture errors to the
// one that says what is wrong (`TxInSafe`).
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
// The pool handle is a process-local pin on the open pool: stored in PM it would be a
// dangling handle in the next process.
impl<T, P: PoolType> !PSafe for RootCell<T, P> {}
// The same for the root-less handle: dropped by a later process it would close a pool it
// never opened (under that process's own handles).
impl<P: PoolType> !PSafe for PoolGuard<P> {}

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
// Volatile weak pointers mean nothing after the process that made them is gone.
impl<T: PSafe, P: PoolType> !PSafe for VWeak<T, P> {}
impl<T: PSafe, P: PoolType> !PSafe for SyncVWeak<T, P> {}

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

// ---- TxInSafe: what a body may own ----
impl<T: ?Sized> !TxInSafe for &mut T {}
impl<T: ?Sized> !TxInSafe for UnsafeCell<T> {}
impl<P: PoolType> !TxInSafe for Journal<P> {}
impl<T: PSafe, P: PoolType> !TxInSafe for Pbox<T, P> {}
// Moved into a body and dropped there, the handle would close the pool under the
// transaction, and a rollback could not bring it back.
impl<T, P: PoolType> !TxInSafe for RootCell<T, P> {}
// A borrow guard carries its transaction's right to change a cell: moved into another
// pool's transaction it would let that one store pointers of the first.
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
// SAFETY: a PMutex changes its value only through a guard, which logs; an owned one is
// as safe to move in as its contents.
unsafe impl<T: PSafe + TxInSafe, P: PoolType> TxInSafe for PMutex<T, P> {}
// SAFETY: a shared reference only reads, or mutates through cells that log; what it may
// point to is exactly what `TxRefSafe` admits (as std makes `&T: Send` from `T: Sync`).
unsafe impl<T: ?Sized + TxRefSafe> TxInSafe for &T {}
// SAFETY: mutation through `&PCell` is logged (see the PSafe impl); an owned cell is as
// safe to move in as its contents.
unsafe impl<T: ?Sized + TxInSafe, P: PoolType> TxInSafe for PCell<T, P> {}
// SAFETY: as PCell.
unsafe impl<T: ?Sized + TxInSafe, P: PoolType> TxInSafe for PRefCell<T, P> {}
// SAFETY: a VCell is volatile by design; through `&VCell` it is only read (or reset to
// its default, which is not a change the program can observe across the transaction).
unsafe impl<T: TxInSafe, P: PoolType> TxInSafe for VCell<T, P> {}

// ---- TxRefSafe: what a body may use through `&` ----
impl<T: ?Sized> !TxRefSafe for UnsafeCell<T> {}
impl<P: PoolType> !TxRefSafe for Journal<P> {}
// SAFETY: mutation through `&PCell` is logged (see the PSafe impl); taking a value out
// needs the journal of the cell's own pool.
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
// Owned volatile values are fine to return when their contents are (std's heap types
// hold raw pointers, which alone are not `TxOutSafe`).
// SAFETY: a `Box` owns its contents; it is as safe to return as they are.
unsafe impl<T: ?Sized + TxOutSafe> TxOutSafe for Box<T> {}
// SAFETY: as Box.
unsafe impl<T: TxOutSafe> TxOutSafe for Vec<T> {}
// SAFETY: plain volatile bytes.
unsafe impl TxOutSafe for String {}
// SAFETY: an error is a plain volatile value.
unsafe impl TxOutSafe for crate::error::Error {}
// SAFETY: a volatile weak pointer may leave its transaction (not its thread); it is
// checked against the pool's generation and the object's identity when promoted.
unsafe impl<T: PSafe, P: PoolType> TxOutSafe for VWeak<T, P> {}
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

// ---- Send: an owned persistent pointer stays on its thread ----
// A `static` (which must be `Sync`, so its contents `Send`) could otherwise carry an
// owned `Pbox` out of its transaction and into another pool's. Sharing across threads
// goes through `Parc` and `sync::VWeak`. (A `thread_local!` needs no `Send`; that escape
// is still open, see the UI-test issue.)
impl<T: PSafe, P: PoolType> !Send for Pbox<T, P> {}
// Explicit, so that errors name these types rather than their private fields.
impl<P: PoolType> !Send for Journal<P> {}
impl<P: PoolType> !Sync for Journal<P> {}
impl<T: PSafe, P: PoolType> !Send for PMutexGuard<'_, T, P> {}
impl<T: PSafe, P: PoolType> !Send for VWeak<T, P> {}
impl<T: ?Sized, P: PoolType> !Sync for PCell<T, P> {}
impl<T: ?Sized, P: PoolType> !Sync for PRefCell<T, P> {}
impl<T: PSafe, P: PoolType> !Send for Prc<T, P> {}
// Not `Sync` either: two threads holding `&Prc` could `pclone` it at once and race on
// its (unsynchronised) count; containers of them inherit this.
impl<T: PSafe, P: PoolType> !Sync for Prc<T, P> {}
impl<T: PSafe, P: PoolType> !Send for PWeak<T, P> {}
impl<T: PSafe, P: PoolType> !Sync for PWeak<T, P> {}
impl<T: PSafe, P: PoolType> !Sync for VWeak<T, P> {}
impl<T: PSafe, P: PoolType> !Send for Parc<T, P> {}
impl<T: PSafe, P: PoolType> !Sync for Parc<T, P> {}
impl<T: PSafe, P: PoolType> !Send for SyncPWeak<T, P> {}
impl<T: PSafe, P: PoolType> !Sync for SyncPWeak<T, P> {}
impl<T: PSafe, P: PoolType> !Send for PVec<T, P> {}
impl<P: PoolType> !Send for PString<P> {}
impl<K: PSafe, V: PSafe, P: PoolType> !Send for PHashMap<K, V, P> {}
impl<K: PSafe, V: PSafe, P: PoolType> !Send for PBTreeMap<K, V, P> {}
// SAFETY: the value is reached only under the object lock, one transaction at a time;
// `T: PSend` says it may be reached from another thread at all.
unsafe impl<T: PSafe + PSend, P: PoolType> Send for PMutex<T, P> {}
// SAFETY: as Send.
unsafe impl<T: PSafe + PSend, P: PoolType> Sync for PMutex<T, P> {}

// ---- PSend: single-thread persistent types ----
impl<T: ?Sized, P: PoolType> !PSend for PCell<T, P> {}
impl<T: ?Sized, P: PoolType> !PSend for PRefCell<T, P> {}
impl<P: PoolType> !PSend for Journal<P> {}
impl<T: PSafe, P: PoolType> !PSend for Prc<T, P> {}
impl<T: PSafe, P: PoolType> !PSend for PWeak<T, P> {}
impl<T: PSafe, P: PoolType> !PSend for VWeak<T, P> {}
// SAFETY: the value is reached by one transaction at a time (the object lock), and what
// it holds may itself be reached from another thread (`T: PSend`): a `Prc` inside could
// otherwise be cloned from two threads at once through two mutexes.
unsafe impl<T: PSafe + PSend, P: PoolType> PSend for PMutex<T, P> {}
// A VCell's generation check and value are not synchronised.
impl<T, P: PoolType> !PSend for VCell<T, P> {}

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
