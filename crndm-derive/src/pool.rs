//! Expansion of `pool!`.

use proc_macro2::TokenStream;
use quote::quote;

use crate::PoolArgs;

pub(crate) fn expand(args: &PoolArgs) -> TokenStream {
    let PoolArgs { vis, module, ty } = args;
    let doc_mod =
        format!("Pool module `{module}`: the pool type [`{ty}`] and crndm's types bound to it.");
    let doc_ty =
        format!("The pool type of module `{module}`: names at most one open pool file at a time.");
    quote! {
        #[doc = #doc_mod]
        #vis mod #module {
            #[doc = #doc_ty]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum #ty {}

            static __CRNDM_SLOT: ::crndm::__private::PoolSlot = ::crndm::__private::PoolSlot::new();

            // SAFETY: (1) `__slot` always returns the same static; (2) the static is
            // private to this module, declared once per `pool!` invocation, so no other
            // pool type can return it.
            unsafe impl ::crndm::PoolType for #ty {
                fn __slot() -> &'static ::crndm::__private::PoolSlot {
                    &__CRNDM_SLOT
                }
            }

            // SAFETY: the pool type is an uninhabited enum: no value of it exists to be
            // stored, returned, kept or shared; it only names the pool. (On stable
            // these are the impls the auto traits give on nightly.)
            unsafe impl ::crndm::PSafe for #ty {}
            // SAFETY: as above.
            unsafe impl ::crndm::TxOutSafe for #ty {}
            // SAFETY: as above.
            unsafe impl ::crndm::VSafe for #ty {}
            // SAFETY: as above.
            unsafe impl ::crndm::PSend for #ty {}

            pub use ::crndm::{
                AssertTxInSafe, Error, Flags, MemPool, Mode, PClone, PHash, PHasher, PSafe,
                PoolGuard, PoolOptions, PoolType, Result, Root, RootLayout, RootObj, ToPString, TxInSafe, TxOutSafe,
                VSafe, O_C, O_CF, O_CFNE, O_CNE, O_F,
            };

            /// An owning pointer into this pool.
            pub type Pbox<T> = ::crndm::Pbox<T, #ty>;
            /// A logged copy-in/copy-out cell in this pool.
            pub type PCell<T> = ::crndm::PCell<T, #ty>;
            /// Another name for [`PCell`].
            pub type LogCell<T> = ::crndm::PCell<T, #ty>;
            /// A logged, borrow-checked cell in this pool.
            pub type PRefCell<T> = ::crndm::PRefCell<T, #ty>;
            /// Another name for [`PRefCell`].
            pub type LogRefCell<T> = ::crndm::PRefCell<T, #ty>;
            /// A shared borrow of a [`PRefCell`].
            pub type Ref<'a, T> = ::crndm::Ref<'a, T, #ty>;
            /// An exclusive borrow of a [`PRefCell`].
            pub type RefMut<'a, T> = ::crndm::RefMut<'a, T, #ty>;
            /// A volatile value inside a persistent object of this pool.
            pub type VCell<T> = ::crndm::VCell<T, #ty>;
            /// A single-thread reference-counted pointer into this pool.
            pub type Prc<T> = ::crndm::Prc<T, #ty>;
            /// A thread-safe reference-counted pointer into this pool.
            pub type Parc<T> = ::crndm::Parc<T, #ty>;
            /// A persistent mutex in this pool.
            pub type PMutex<T> = ::crndm::PMutex<T, #ty>;
            /// A growable array in this pool.
            pub type PVec<T> = ::crndm::PVec<T, #ty>;
            /// A UTF-8 string in this pool.
            pub type PString = ::crndm::PString<#ty>;
            /// A hash map in this pool (keys implement `PHash`).
            pub type PHashMap<K, V> = ::crndm::PHashMap<K, V, #ty>;
            /// An ordered map in this pool.
            pub type PBTreeMap<K, V> = ::crndm::PBTreeMap<K, V, #ty>;
            /// The handle to this pool's root object.
            pub type RootCell<T> = ::crndm::RootCell<T, #ty>;
            /// The journal of a transaction of this pool.
            pub type Journal = ::crndm::Journal<#ty>;
        }
    }
}
