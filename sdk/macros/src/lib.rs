//! `#[derive(Config)]`, re-exported by `tenon-sdk` as `tenon_sdk::config::Config`:
//! a plugin's configuration as a struct with named fields. Each field is a
//! config key of the same name; its doc comment is the key's description; it
//! is required unless it is an `Option`, a list or a map, or has a
//! `#[config(default = "...")]`. The derive writes `Config::keys` (for
//! `describe`) and `Config::load` (for the calls), so the two cannot drift.

use proc_macro::TokenStream;
use quote::quote;
use syn::{Attribute, Data, DeriveInput, Expr, Fields, Lit, LitStr, Meta, parse_macro_input};

#[proc_macro_derive(Config, attributes(config))]
pub fn derive_config(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => &fields.named,
            _ => return Err(not_a_struct(input)),
        },
        _ => return Err(not_a_struct(input)),
    };
    let mut keys = Vec::new();
    let mut loads = Vec::new();
    for field in fields {
        let ident = field.ident.as_ref().expect("named fields have names");
        let name = ident.to_string();
        let description = doc(&field.attrs);
        let ty = &field.ty;
        let (required, default) = match default(&field.attrs)? {
            Some(value) => (
                quote!(false),
                quote!(::std::option::Option::Some(#value.to_owned())),
            ),
            None => (
                quote!(<#ty as ::tenon_sdk::config::Value>::REQUIRED),
                quote!(::std::option::Option::None),
            ),
        };
        keys.push(quote! {
            ::tenon_sdk::ConfigKey {
                name: #name.to_owned(),
                description: #description.to_owned(),
                required: #required,
                default: #default,
            }
        });
        loads.push(quote! { #ident: ::tenon_sdk::config::value::<#ty>(#name)? });
    }
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::tenon_sdk::config::Config for #name #type_generics #where_clause {
            fn keys() -> ::std::vec::Vec<::tenon_sdk::ConfigKey> {
                ::std::vec![#(#keys),*]
            }
            fn load() -> ::std::result::Result<Self, ::tenon_sdk::Error> {
                ::std::result::Result::Ok(Self { #(#loads),* })
            }
        }
    })
}

fn not_a_struct(input: &DeriveInput) -> syn::Error {
    syn::Error::new_spanned(
        &input.ident,
        "#[derive(Config)] takes a struct with named fields: each field is a config key",
    )
}

/// The doc comment's lines, trimmed and joined by spaces.
fn doc(attrs: &[Attribute]) -> String {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(lit) => match &lit.lit {
                    Lit::Str(text) => Some(text.value().trim().to_owned()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The value of `#[config(default = "...")]`, if the field has one.
fn default(attrs: &[Attribute]) -> syn::Result<Option<LitStr>> {
    let mut value = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("config")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                value = Some(meta.value()?.parse::<LitStr>()?);
                Ok(())
            } else {
                Err(meta.error("the only option is `default = \"...\"`"))
            }
        })?;
    }
    Ok(value)
}
