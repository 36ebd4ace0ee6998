//! Expansion of `pool!`.

use proc_macro2::TokenStream;
use quote::quote;

use crate::PoolArgs;

pub(crate) fn expand(args: &PoolArgs) -> TokenStream {
    let PoolArgs { vis, module, ty } = args;
    let doc_mod = format!("Pool module `{module}`: the pool type [`{ty}`] and crndm's types bound to it.");
    let doc_ty = format!(
        "The pool type of module `{module}`: names at most one open pool file at a time."
    );
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
            unsafe impl ::crndm::MemPool for #ty {
                fn __slot() -> &'static ::crndm::__private::PoolSlot {
                    &__CRNDM_SLOT
                }
            }

            pub use ::crndm::{
                Error, Flags, MemPool, Mode, PoolGuard, PoolOptions, Result, O_C, O_CF, O_CFNE,
                O_CNE, O_F,
            };
        }
    }
}
