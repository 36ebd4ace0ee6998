//! Expansion of `#[derive(Root)]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{Data, DeriveInput, Fields};

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Root)] supports structs only: a root is built field by field",
        ));
    };
    let pool = syn::Ident::new("__CrndmPool", proc_macro2::Span::call_site());
    let mut generics = input.generics.clone();
    generics
        .params
        .push(syn::parse_quote!(#pool: ::crndm::MemPool));
    let (impl_generics, _, _) = generics.split_for_impl();
    let (_, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut bounds: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    let tys: Vec<&syn::Type> = data.fields.iter().map(|f| &f.ty).collect();
    for ty in &tys {
        bounds.push(quote!(#ty: ::crndm::RootObj<#pool>));
    }
    let body = match &data.fields {
        Fields::Named(f) => {
            let names = f.named.iter().map(|f| &f.ident);
            quote!(#name { #( #names: <#tys as ::crndm::RootObj<#pool>>::init(j), )* })
        }
        Fields::Unnamed(_) => quote!(#name ( #( <#tys as ::crndm::RootObj<#pool>>::init(j), )* )),
        Fields::Unit => quote!(#name),
    };
    // Each field must be able to live in PM; say so per field, at the field's type.
    // (Generic structs are checked at `open`, where their parameters are known.)
    let psafe_checks = if input.generics.params.is_empty() {
        let checks = tys.iter().map(|ty| {
            quote_spanned!(syn::spanned::Spanned::span(ty) =>
                __crndm_field_is_psafe::<#ty>();)
        });
        quote! {
            const _: fn() = || {
                fn __crndm_field_is_psafe<T: ::crndm::PSafe + ?::core::marker::Sized>() {}
                #( #checks )*
            };
        }
    } else {
        quote!()
    };
    Ok(quote! {
        #psafe_checks

        impl #impl_generics ::crndm::RootObj<#pool> for #name #ty_generics
        where #( #bounds ),*
        {
            fn init(j: &::crndm::Journal<#pool>) -> Self {
                #body
            }
        }
    })
}
