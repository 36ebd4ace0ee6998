//! Expansion of `#[derive(Root)]` and `#[derive(RootLayout)]`.

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
    let layout = expand_layout(input)?;
    Ok(quote! {
        impl #impl_generics ::crndm::RootObj<#pool> for #name #ty_generics
        where #( #bounds ),*
        {
            fn init(j: &::crndm::Journal<#pool>) -> Self {
                #body
            }
        }

        #layout
    })
}

/// The name a type's fingerprint uses: `#[root(name = "...")]` or its identifier.
fn layout_name(input: &DeriveInput) -> syn::Result<String> {
    let mut name = input.ident.to_string();
    for attr in &input.attrs {
        if !attr.path().is_ident("root") {
            continue;
        }
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let s: syn::LitStr = meta.value()?.parse()?;
                name = s.value();
                Ok(())
            } else {
                Err(meta.error("expected `#[root(name = \"...\")]`"))
            }
        })?;
    }
    Ok(name)
}

/// The statements feeding one struct's (or variant's) fields to the layout hasher `h`.
/// `offsets` says whether `offset_of!(Self, field)` applies (structs, not variants).
fn fields_layout(fields: &Fields, offsets: bool) -> TokenStream {
    let stmts = fields.iter().enumerate().map(|(i, f)| {
        let ty = &f.ty;
        let (label, member) = match &f.ident {
            Some(id) => (id.to_string(), quote!(#id)),
            None => {
                let idx = syn::Index::from(i);
                (i.to_string(), quote!(#idx))
            }
        };
        let off = if offsets {
            quote!(h.write_u64(::core::mem::offset_of!(Self, #member) as u64);)
        } else {
            quote!()
        };
        quote! {
            h.write_str(#label);
            #off
            h.part::<#ty>();
        }
    });
    let n = fields.len() as u64;
    quote! {
        h.write_u64(#n);
        #( #stmts )*
    }
}

/// The label of field `i` (its name, or its index for a tuple field).
fn field_label(i: usize, f: &syn::Field) -> String {
    f.ident
        .as_ref()
        .map_or_else(|| i.to_string(), ToString::to_string)
}

/// The body of `visit_pointers`: each field of the struct, or of the variant `self`
/// holds, is shown to the visitor `v` under its name (`variant.field` for an enum).
fn visit_body(data: &Data) -> TokenStream {
    match data {
        Data::Struct(d) => {
            let calls = d.fields.iter().enumerate().map(|(i, f)| {
                let label = field_label(i, f);
                let member = match &f.ident {
                    Some(id) => quote!(#id),
                    None => {
                        let idx = syn::Index::from(i);
                        quote!(#idx)
                    }
                };
                // At the field's type: a type without `RootLayout` is reported there.
                quote_spanned!(syn::spanned::Spanned::span(&f.ty) =>
                    v.field(#label, &self.#member);)
            });
            quote!( #( #calls )* )
        }
        Data::Enum(e) if e.variants.is_empty() => quote!(match *self {}),
        Data::Enum(e) => {
            let arms = e.variants.iter().map(|var| {
                let vname = &var.ident;
                let binds: Vec<syn::Ident> = (0..var.fields.len())
                    .map(|i| quote::format_ident!("__crndm_f{}", i))
                    .collect();
                let calls = var.fields.iter().enumerate().map(|(i, f)| {
                    let label = format!("{vname}.{}", field_label(i, f));
                    let b = &binds[i];
                    quote_spanned!(syn::spanned::Spanned::span(&f.ty) => v.field(#label, #b);)
                });
                let pat = match &var.fields {
                    Fields::Named(f) => {
                        let names = f.named.iter().map(|f| &f.ident);
                        quote!(Self::#vname { #( #names: #binds ),* })
                    }
                    Fields::Unnamed(_) => quote!(Self::#vname ( #( #binds ),* )),
                    Fields::Unit => quote!(Self::#vname),
                };
                quote!(#pat => { #( #calls )* })
            });
            quote!(match self { #( #arms )* })
        }
        Data::Union(_) => quote!(),
    }
}

/// `impl RootLayout` for a struct or an enum: its name (or `#[root(name)]`), then each
/// field's name, offset (structs) and type fingerprint; for an enum each variant's name
/// and fields. `visit_pointers` shows the visitor every field (of the variant held).
pub(crate) fn expand_layout(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let label = layout_name(input)?;
    let mut generics = input.generics.clone();
    match &input.data {
        Data::Struct(_) | Data::Enum(_) => {}
        Data::Union(_) => {
            return Err(syn::Error::new_spanned(
                name,
                "#[derive(RootLayout)] supports structs and enums, not unions",
            ));
        }
    };
    // The reachability scan (`crndm-pool check`) reads persistent pointers as aligned
    // words; a packed type could store one at any address, hidden from it.
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        let mut packed = false;
        let _ = attr.parse_nested_meta(|m| {
            packed |= m.path.is_ident("packed");
            if m.input.peek(syn::token::Paren) {
                let _ = m.input.parse::<proc_macro2::Group>();
            }
            Ok(())
        });
        if packed {
            return Err(syn::Error::new_spanned(
                attr,
                "#[derive(RootLayout)] refuses #[repr(packed)]: a persistent pointer in a \
                 packed type can sit at an address that is not a multiple of 8, where the \
                 leak check (`crndm-pool check`) would not see it and could free a live object",
            ));
        }
    }
    // No bounds on field types: those would overflow for recursive types (a node
    // holding a `Prc` of itself, perhaps through an alias), and each field's impl is
    // checked where the body names it. Instead each type parameter is bounded: a pool
    // type (declared `: MemPool`) by `'static` only, any other by `RootLayout + PSafe`.
    let pools = pool_params(&input.generics);
    {
        let wc = generics.make_where_clause();
        for p in input.generics.type_params() {
            let id = &p.ident;
            if pools.contains(id) {
                wc.predicates.push(syn::parse_quote!(#id: 'static));
            } else {
                wc.predicates
                    .push(syn::parse_quote!(#id: ::crndm::RootLayout + ::crndm::PSafe));
            }
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let body = match &input.data {
        Data::Struct(d) => {
            let f = fields_layout(&d.fields, true);
            quote! {
                h.write_str("struct");
                h.write_str(#label);
                #f
            }
        }
        Data::Enum(e) => {
            let n = e.variants.len() as u64;
            let vs = e.variants.iter().map(|v| {
                let vname = v.ident.to_string();
                let f = fields_layout(&v.fields, false);
                quote! {
                    h.write_str(#vname);
                    #f
                }
            });
            quote! {
                h.write_str("enum");
                h.write_str(#label);
                h.write_u64(#n);
                #( #vs )*
            }
        }
        Data::Union(_) => unreachable!("refused above"),
    };
    let visit = visit_body(&input.data);
    // A type that is (part of) a root is stored in the pool: it is `PSafe`, each field
    // checked at the field.
    let psafe = crate::markers::expand(input, "PSafe");
    Ok(quote! {
        #psafe

        impl #impl_generics ::crndm::RootLayout for #name #ty_generics #where_clause {
            fn layout(h: &mut ::crndm::LayoutHasher) {
                #body
            }

            fn visit_pointers(&self, v: &mut ::crndm::PointerVisitor<'_>) {
                let _ = &v;
                #visit
            }
        }
    })
}

/// The type parameters declared with a `MemPool` (or `PoolType`) bound (inline or in the
/// where clause).
fn pool_params(g: &syn::Generics) -> Vec<syn::Ident> {
    let is_pool = |b: &syn::TypeParamBound| {
        matches!(b, syn::TypeParamBound::Trait(t)
            if t.path.segments.last().is_some_and(|s| s.ident == "MemPool" || s.ident == "PoolType"))
    };
    let mut out: Vec<syn::Ident> = g
        .type_params()
        .filter(|p| p.bounds.iter().any(is_pool))
        .map(|p| p.ident.clone())
        .collect();
    if let Some(w) = &g.where_clause {
        for pred in &w.predicates {
            if let syn::WherePredicate::Type(t) = pred
                && let syn::Type::Path(tp) = &t.bounded_ty
                && let Some(id) = tp.path.get_ident()
                && t.bounds.iter().any(is_pool)
            {
                out.push(id.clone());
            }
        }
    }
    out
}
