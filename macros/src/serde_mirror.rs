//! serde for derived types through a "remote" mirror of the type, so that serde_derive does the
//! work and the user's type needs no serde attributes of its own. Shared by the derives.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

/// The mirror's name for `ident`.
pub(crate) fn mirror_name(ident: &Ident) -> Ident {
    format_ident!("__{}Serde", ident)
}

/// The mirror `definition` (a struct or enum named [`mirror_name`] with the same shape as
/// `ident`) and the `Serialize` and `Deserialize` impls of `ident` that go through it. Expects
/// `__p` to name the protoless private module.
pub(crate) fn impls(ident: &Ident, definition: TokenStream) -> TokenStream {
    let remote = ident.to_string();
    let mirror = mirror_name(ident);
    quote! {
        #[derive(__p::serde::Serialize, __p::serde::Deserialize)]
        #[serde(crate = "__p::serde", remote = #remote)]
        #definition

        impl __p::serde::Serialize for #ident {
            fn serialize<S: __p::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                #mirror::serialize(self, serializer)
            }
        }

        impl<'de> __p::serde::Deserialize<'de> for #ident {
            fn deserialize<D: __p::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                #mirror::deserialize(deserializer)
            }
        }
    }
}
