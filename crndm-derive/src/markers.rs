//! Expansion of `#[derive(PSafe)]`, `#[derive(PSend)]`, `#[derive(VSafe)]` and
//! `#[derive(TxOutSafe)]` (and the `PSafe` impl that `#[derive(Root)]` and
//! `#[derive(RootLayout)]` imply).
//!
//! For `struct S<T> { a: A, b: Pbox<T> }` and trait `PSafe` it emits
//! ```text
//! unsafe impl<T: ::crndm::PSafe> ::crndm::PSafe for S<T> {}
//! const _: () = {
//!     fn __crndm_assert<X: ?Sized + ::crndm::PSafe>() {}
//!     fn __crndm_fields<T: ::crndm::PSafe>() {
//!         __crndm_assert::<A>();        // spanned at field `a`
//!         __crndm_assert::<Pbox<T>>();  // spanned at field `b`
//!     }
//! };
//! ```
//! Every type parameter is bounded by the trait (as std's derives do), and every field
//! type is asserted to have it under those bounds: a field that does not is a compile
//! error at that field, naming its type and the trait's message. The impl itself carries
//! no field bounds, so recursive types (`next: Option<Pbox<Node<T>>>`) derive without
//! an overflowing cycle: proving the assertion for that field needs only `T`'s bound.
//!
//! The traits are `unsafe`; the impl is sound because the type compiles only when every
//! field has the trait, which is what the auto trait of the `nightly` feature asks.
//! There, the derive emits the same impl (an explicit impl of an auto trait), so one
//! program compiles on both toolchains.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Ident};

/// The impl of `::crndm::<trait_name>` for `input`, with one assertion per field.
pub(crate) fn expand(input: &DeriveInput, trait_name: &str) -> TokenStream {
    let name = &input.ident;
    let tr = Ident::new(trait_name, Span::call_site());
    let mut generics = input.generics.clone();
    for p in generics.type_params_mut() {
        p.bounds.push(syn::parse_quote!(::crndm::#tr));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let fields: Vec<&syn::Field> = match &input.data {
        Data::Struct(d) => d.fields.iter().collect(),
        Data::Enum(e) => e.variants.iter().flat_map(|v| &v.fields).collect(),
        Data::Union(u) => u.fields.named.iter().collect(),
    };
    let checks = fields.iter().map(|f| {
        let ty = &f.ty;
        // At the field's name (its type for a tuple field): the error names the field.
        let span = f.ident.as_ref().map_or_else(|| ty.span(), Ident::span);
        quote_spanned!(span => __crndm_assert::<#ty>();)
    });
    let reason = format!("only type-checked: each field of `{name}` must be `{trait_name}`");
    quote! {
        #[automatically_derived]
        unsafe impl #impl_generics ::crndm::#tr for #name #ty_generics #where_clause {}

        const _: () = {
            fn __crndm_assert<__CrndmField: ?::core::marker::Sized + ::crndm::#tr>() {}
            #[allow(dead_code, reason = #reason)]
            fn __crndm_fields #impl_generics () #where_clause {
                #( #checks )*
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squash(s: &str) -> String {
        s.split_whitespace().collect()
    }

    fn expanded(input: DeriveInput, tr: &str) -> String {
        squash(&expand(&input, tr).to_string())
    }

    #[test]
    fn every_field_is_asserted_and_every_parameter_bounded() {
        let got = expanded(
            syn::parse_quote! {
                struct Node<'a, T: Copy, const N: usize> where T: Default {
                    items: [T; N],
                    next: Option<Pbox<Node<'a, T, N>>>,
                    label: &'a str,
                }
            },
            "PSafe",
        );
        let want = quote! {
            #[automatically_derived]
            unsafe impl<'a, T: Copy + ::crndm::PSafe, const N: usize> ::crndm::PSafe
                for Node<'a, T, N> where T: Default {}
            const _: () = {
                fn __crndm_assert<__CrndmField: ?::core::marker::Sized + ::crndm::PSafe>() {}
                #[allow(dead_code, reason = "only type-checked: each field of `Node` must be `PSafe`")]
                fn __crndm_fields<'a, T: Copy + ::crndm::PSafe, const N: usize>() where T: Default {
                    __crndm_assert::<[T; N]>();
                    __crndm_assert::<Option<Pbox<Node<'a, T, N>>>>();
                    __crndm_assert::<&'a str>();
                }
            };
        };
        assert_eq!(got, squash(&want.to_string()));
    }

    #[test]
    fn enums_assert_the_fields_of_every_variant() {
        let got = expanded(
            syn::parse_quote! {
                enum Shape { Dot, Circle(u32), Rect { w: u32, h: String } }
            },
            "TxOutSafe",
        );
        assert!(
            got.contains("unsafeimpl::crndm::TxOutSafeforShape{}"),
            "{got}"
        );
        for ty in ["u32", "String"] {
            assert!(got.contains(&format!("__crndm_assert::<{ty}>();")), "{got}");
        }
        assert_eq!(got.matches("__crndm_assert::<").count(), 3, "{got}");
    }

    #[test]
    fn unions_assert_every_field() {
        let got = expanded(syn::parse_quote!(union U { a: u8, b: f32 }), "VSafe");
        assert!(
            got.contains("__crndm_assert::<u8>();__crndm_assert::<f32>();"),
            "{got}"
        );
    }

    #[test]
    fn a_unit_struct_has_nothing_to_assert() {
        let got = expanded(
            syn::parse_quote!(
                struct Unit;
            ),
            "PSend",
        );
        assert!(got.contains("unsafeimpl::crndm::PSendforUnit{}"), "{got}");
        assert!(got.contains("fn__crndm_fields(){}"), "{got}");
    }
}
