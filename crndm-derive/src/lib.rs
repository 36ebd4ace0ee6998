//! Procedural macros of [crndm](https://docs.rs/crndm); use them through `crndm`'s
//! re-exports (`crndm::pool!`), not from this crate directly.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, Token, Visibility};

mod markers;
mod pclone;
mod pool;
mod root;

/// Declares a pool module: a zero-sized pool type with its own private state, its
/// `PoolType` implementation (which makes it a `MemPool`), and the aliases of crndm's
/// types bound to it.
///
/// `pool!(name)` makes `mod name` with pool type `name::BuddyAlloc`; a visibility and a
/// type name may be given: `pool!(pub name, MyPool)`.
#[proc_macro]
pub fn pool(input: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(input as PoolArgs);
    pool::expand(&args).into()
}

/// Makes a struct a root object (`RootObj`): on first open of a pool, each field is
/// initialised with its own `RootObj::init` (which is `Default::default()` for every
/// `Default` type, and allocates for `Pbox`).
///
/// Do not also derive `Default` on the same struct: every `Default` type already is a
/// `RootObj`.
///
/// Also implements `crndm::RootLayout` (the structural fingerprint a pool stores for
/// its root): the struct's name, then each field's name, offset and type fingerprint.
/// `#[root(name = "Old")]` uses `Old` as the name, so a struct renamed on purpose still
/// opens the pools made under its old name. Its `visit_pointers` shows every field to
/// the check of the root's persistent pointers made at open. Do not also derive
/// `RootLayout`.
///
/// Also implements `crndm::PSafe` as `#[derive(PSafe)]` does (each field must be
/// `PSafe`, checked at the field); do not also derive `PSafe`.
#[proc_macro_derive(Root, attributes(root))]
pub fn derive_root(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    match root::expand(&input) {
        Ok(t) => t.into(),
        Err(e) => compile_error(e).into(),
    }
}

/// Implements `crndm::RootLayout` for a struct or enum that is part of a root (a field
/// type, a `Pbox`'s content): its name (or `#[root(name = "...")]`), then each field's
/// name, offset and type fingerprint (for an enum, each variant's name and fields).
/// Every field type must implement `RootLayout`. Its `visit_pointers` shows every field
/// (of the variant held) to the check of the root's persistent pointers made at open.
/// Unions are refused.
///
/// Also implements `crndm::PSafe` as `#[derive(PSafe)]` does (a type that is part of a
/// root is stored in the pool); do not also derive `PSafe`.
#[proc_macro_derive(RootLayout, attributes(root))]
pub fn derive_root_layout(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    match root::expand_layout(&input) {
        Ok(t) => t.into(),
        Err(e) => compile_error(e).into(),
    }
}

/// Implements `crndm::PClone` for a struct or enum by cloning each field with its own
/// `PClone` (in the same transaction), for every pool its fields can be cloned in.
///
/// Unions are refused with a compile error.
#[proc_macro_derive(PClone)]
pub fn derive_pclone(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    match pclone::expand(&input) {
        Ok(t) => t.into(),
        Err(e) => compile_error(e).into(),
    }
}

/// Implements `crndm::PSafe` (may be stored in persistent memory) for a struct, enum or
/// union whose every field is `PSafe`; a field that is not is a compile error at that
/// field. Every type parameter gets a `PSafe` bound.
///
/// Needed on stable Rust for a type stored in a pool outside a root (a `Pbox`'s
/// content); `#[derive(Root)]` and `#[derive(RootLayout)]` imply it (do not derive both).
/// With crndm's `nightly` feature `PSafe` is an auto trait and this derive emits the same
/// impl, so a program compiles on both.
#[proc_macro_derive(PSafe)]
pub fn derive_psafe(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    markers::expand(&input, "PSafe").into()
}

/// Implements `crndm::PSend` (may be reached from another thread through a
/// `sync::VWeak`) for a type whose every field is `PSend`; a field that is not is a
/// compile error at that field. Every type parameter gets a `PSend` bound.
#[proc_macro_derive(PSend)]
pub fn derive_psend(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    markers::expand(&input, "PSend").into()
}

/// Implements `crndm::VSafe` (may live in a `VCell`) for a type whose every field is
/// `VSafe`; a field that is not (a persistent pointer) is a compile error at that field.
/// Every type parameter gets a `VSafe` bound.
#[proc_macro_derive(VSafe)]
pub fn derive_vsafe(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    markers::expand(&input, "VSafe").into()
}

/// Implements `crndm::TxOutSafe` (may be returned from a transaction) for a type whose
/// every field is `TxOutSafe`; a field that is not (a persistent pointer, a cell, a
/// guard, a reference) is a compile error at that field. Every type parameter gets a
/// `TxOutSafe` bound.
#[proc_macro_derive(TxOutSafe)]
pub fn derive_txoutsafe(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    markers::expand(&input, "TxOutSafe").into()
}

/// The arguments of `pool!`: `[vis] name [, TypeName]`.
struct PoolArgs {
    vis: Visibility,
    module: Ident,
    ty: Ident,
}

impl Parse for PoolArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let vis: Visibility = input.parse()?;
        let module: Ident = input.parse()?;
        let ty = if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                Ident::new("BuddyAlloc", module.span())
            } else {
                input.parse()?
            }
        } else {
            Ident::new("BuddyAlloc", module.span())
        };
        if !input.is_empty() {
            return Err(input.error("expected `pool!([vis] module_name [, TypeName])`"));
        }
        Ok(PoolArgs { vis, module, ty })
    }
}

fn compile_error(e: syn::Error) -> TokenStream2 {
    let tokens = e.to_compile_error();
    quote!(#tokens)
}
