//! Expansion of `#[derive(PClone)]`.
//!
//! For `struct S<P: MemPool, T> { a: PString<P>, b: PVec<T, P> }` it emits
//! ```text
//! impl<P: MemPool, T> ::crndm::PClone<P> for S<P, T>
//! where T: ::crndm::PClone<P>, PVec<T, P>: ::crndm::PClone<P>
//! {
//!     fn pclone(&self, __crndm_j: &::crndm::Journal<P>) -> Self {
//!         S { a: <PString<P> as ::crndm::PClone<P>>::pclone(&self.a, __crndm_j), .. }
//!     }
//! }
//! ```
//! The pool is the type parameter bounded by `MemPool`; a type without one gets a new
//! parameter `__CrndmPool: ::crndm::MemPool`. Bounds: every other type parameter is
//! `PClone` (as std's derives do), and so is every field type that mentions one (it may
//! need more, as `PHashMap<K, V, P>` needs `K: PHash + Eq`). Field types that mention
//! no type parameter are not bounds: they are checked in the body, which is what lets
//! a recursive type (`next: Option<Pbox<Node<P>, P>>`) derive at all. Without a pool
//! parameter every field type is a bound, so that fields of a fixed pool (the pool
//! module's aliases) tie the impl to that pool.
//!
//! Every path is absolute (`::crndm::...`) and every local starts with `__crndm_`, so
//! the code compiles under `#![no_implicit_prelude]` and beside any user names.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, GenericParam, Ident, TypeParamBound, WherePredicate};

/// Whether `bound` names a pool-type trait: `MemPool` or its lower half `PoolType`
/// (`MemPool`, `crndm::MemPool`, `crndm::PoolType`, ...).
fn is_mempool(bound: &TypeParamBound) -> bool {
    matches!(bound, TypeParamBound::Trait(t)
        if t.path.segments.last().is_some_and(|s| s.ident == "MemPool" || s.ident == "PoolType"))
}

/// The type parameter bounded by `MemPool`, inline or in the where clause.
fn pool_param(input: &DeriveInput) -> Option<Ident> {
    for p in &input.generics.params {
        if let GenericParam::Type(t) = p
            && t.bounds.iter().any(is_mempool)
        {
            return Some(t.ident.clone());
        }
    }
    let preds = input
        .generics
        .where_clause
        .iter()
        .flat_map(|w| &w.predicates);
    for pred in preds {
        if let WherePredicate::Type(t) = pred
            && let syn::Type::Path(tp) = &t.bounded_ty
            && let Some(id) = tp.path.get_ident()
            && t.bounds.iter().any(is_mempool)
        {
            return Some(id.clone());
        }
    }
    None
}

/// Whether the tokens of `ty` contain one of `idents`.
fn mentions(ty: &syn::Type, idents: &[&Ident]) -> bool {
    fn walk(ts: TokenStream, idents: &[&Ident]) -> bool {
        ts.into_iter().any(|t| match t {
            TokenTree::Ident(i) => idents.iter().any(|x| **x == i),
            TokenTree::Group(g) => walk(g.stream(), idents),
            _ => false,
        })
    }
    walk(quote!(#ty), idents)
}

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let j = Ident::new("__crndm_j", Span::call_site());
    let mut generics = input.generics.clone();
    let given_pool = pool_param(input);
    let pool = match &given_pool {
        Some(p) => p.clone(),
        None => {
            let p = Ident::new("__CrndmPool", Span::call_site());
            generics
                .params
                .push(syn::parse_quote!(#p: ::crndm::MemPool));
            p
        }
    };
    let (impl_generics, _, _) = generics.split_for_impl();
    let (_, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut bounds: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    let params: Vec<&Ident> = input
        .generics
        .type_params()
        .map(|t| &t.ident)
        .filter(|t| given_pool.as_ref() != Some(*t))
        .collect();
    for t in &params {
        bounds.push(quote!(#t: ::crndm::PClone<#pool>));
    }
    let mut field_bound = |ty: &syn::Type| {
        if given_pool.is_none() || (mentions(ty, &params) && !mentions(ty, &[name])) {
            bounds.push(quote!(#ty: ::crndm::PClone<#pool>));
        }
    };
    let clone_of = |ty: &syn::Type, expr: TokenStream| quote!(<#ty as ::crndm::PClone<#pool>>::pclone(#expr, #j));
    let body = match &input.data {
        Data::Struct(data) => {
            data.fields.iter().for_each(|f| field_bound(&f.ty));
            match &data.fields {
                Fields::Named(fields) => {
                    let inits = fields.named.iter().map(|f| {
                        let id = &f.ident;
                        let c = clone_of(&f.ty, quote!(&self.#id));
                        quote!(#id: #c)
                    });
                    quote!(#name { #( #inits, )* })
                }
                Fields::Unnamed(fields) => {
                    let inits = fields.unnamed.iter().enumerate().map(|(i, f)| {
                        let idx = syn::Index::from(i);
                        clone_of(&f.ty, quote!(&self.#idx))
                    });
                    quote!(#name ( #( #inits, )* ))
                }
                Fields::Unit => quote!(#name),
            }
        }
        Data::Enum(data) => {
            let mut arms = Vec::new();
            for v in &data.variants {
                let vname = &v.ident;
                v.fields.iter().for_each(|f| field_bound(&f.ty));
                let binds: Vec<Ident> = (0..v.fields.len())
                    .map(|i| format_ident!("__crndm_f{}", i))
                    .collect();
                let clones = v
                    .fields
                    .iter()
                    .zip(&binds)
                    .map(|(f, b)| clone_of(&f.ty, quote!(#b)));
                arms.push(match &v.fields {
                    Fields::Named(fields) => {
                        let ids: Vec<_> = fields.named.iter().map(|f| &f.ident).collect();
                        quote! {
                            #name::#vname { #( #ids: #binds, )* } =>
                                #name::#vname { #( #ids: #clones, )* }
                        }
                    }
                    Fields::Unnamed(_) => quote! {
                        #name::#vname ( #( #binds, )* ) => #name::#vname ( #( #clones, )* )
                    },
                    Fields::Unit => quote!(#name::#vname => #name::#vname),
                });
            }
            if arms.is_empty() {
                quote!(match *self {})
            } else {
                quote!(match self { #( #arms, )* })
            }
        }
        Data::Union(u) => {
            return Err(syn::Error::new_spanned(
                u.union_token,
                "#[derive(PClone)] supports structs and enums, not unions: a union does not say which field to copy",
            ));
        }
    };
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::crndm::PClone<#pool> for #name #ty_generics
        where #( #bounds ),*
        {
            fn pclone(&self, #j: &::crndm::Journal<#pool>) -> Self {
                #body
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expansion as text without spaces (token spacing is not part of the output).
    fn expanded(input: DeriveInput) -> String {
        squash(expand(&input).unwrap().to_string())
    }

    fn squash(s: String) -> String {
        s.split_whitespace().collect()
    }

    #[test]
    fn a_struct_without_a_pool_gets_one_and_field_bounds() {
        let got = expanded(syn::parse_quote! {
            struct Item<T> where T: Copy { name: Name, n: T }
        });
        let want = quote! {
            #[automatically_derived]
            impl<T, __CrndmPool: ::crndm::MemPool> ::crndm::PClone<__CrndmPool> for Item<T>
            where T: Copy, T: ::crndm::PClone<__CrndmPool>,
                Name: ::crndm::PClone<__CrndmPool>, T: ::crndm::PClone<__CrndmPool>
            {
                fn pclone(&self, __crndm_j: &::crndm::Journal<__CrndmPool>) -> Self {
                    Item {
                        name: <Name as ::crndm::PClone<__CrndmPool>>::pclone(&self.name, __crndm_j),
                        n: <T as ::crndm::PClone<__CrndmPool>>::pclone(&self.n, __crndm_j),
                    }
                }
            }
        };
        assert_eq!(got, squash(want.to_string()));
    }

    #[test]
    fn a_struct_generic_over_its_pool_clones_in_that_pool() {
        let got = expanded(syn::parse_quote! {
            struct Node<P: crndm::MemPool, T: PSafe> {
                v: PVec<T, P>,
                name: PString<P>,
                next: Option<Pbox<Node<P, T>, P>>,
            }
        });
        let want = quote! {
            #[automatically_derived]
            impl<P: crndm::MemPool, T: PSafe> ::crndm::PClone<P> for Node<P, T>
            where T: ::crndm::PClone<P>, PVec<T, P>: ::crndm::PClone<P>
            {
                fn pclone(&self, __crndm_j: &::crndm::Journal<P>) -> Self {
                    Node {
                        v: <PVec<T, P> as ::crndm::PClone<P>>::pclone(&self.v, __crndm_j),
                        name: <PString<P> as ::crndm::PClone<P>>::pclone(&self.name, __crndm_j),
                        next: <Option<Pbox<Node<P, T>, P>> as ::crndm::PClone<P>>::pclone(&self.next, __crndm_j),
                    }
                }
            }
        };
        assert_eq!(got, squash(want.to_string()));
        let by_where = expanded(syn::parse_quote!(
            struct W<Q>
            where
                Q: MemPool,
            {
                s: PString<Q>,
            }
        ));
        assert!(by_where.contains("::crndm::PClone<Q>forW<Q>"), "{by_where}");
        // The lower trait names the pool too (it is the bound crndm's own types carry).
        let by_lower = expanded(syn::parse_quote!(
            struct L<R: crndm::PoolType> {
                s: PString<R>,
            }
        ));
        assert!(by_lower.contains("::crndm::PClone<R>forL<R>"), "{by_lower}");
        assert!(!by_lower.contains("__CrndmPool"), "{by_lower}");
    }

    #[test]
    fn tuple_and_unit_structs() {
        let got = expanded(syn::parse_quote!(
            struct Pair(u8, u16);
        ));
        assert!(
            got.contains("Pair(<u8as::crndm::PClone<__CrndmPool>>::pclone(&self.0,__crndm_j),")
        );
        let got = expanded(syn::parse_quote!(
            struct Unit;
        ));
        assert!(got.contains("->Self{Unit}"), "{got}");
    }

    #[test]
    fn an_enum_clones_the_variant_it_holds() {
        let got = expanded(syn::parse_quote! {
            enum Shape { Dot, Circle(u32), Rect { w: u32, h: u32 } }
        });
        let want_arms = quote! {
            match self {
                Shape::Dot => Shape::Dot,
                Shape::Circle(__crndm_f0,) => Shape::Circle(
                    <u32 as ::crndm::PClone<__CrndmPool>>::pclone(__crndm_f0, __crndm_j),
                ),
                Shape::Rect { w: __crndm_f0, h: __crndm_f1, } => Shape::Rect {
                    w: <u32 as ::crndm::PClone<__CrndmPool>>::pclone(__crndm_f0, __crndm_j),
                    h: <u32 as ::crndm::PClone<__CrndmPool>>::pclone(__crndm_f1, __crndm_j),
                },
            }
        };
        assert!(got.contains(&squash(want_arms.to_string())), "{got}");
        let empty = expanded(syn::parse_quote!(
            enum Never {}
        ));
        assert!(empty.contains("match*self{}"), "{empty}");
    }

    #[test]
    fn a_union_is_an_error_not_a_panic() {
        let e = expand(&syn::parse_quote!(union U { a: u8 })).unwrap_err();
        assert!(e.to_string().contains("not unions"));
    }
}
