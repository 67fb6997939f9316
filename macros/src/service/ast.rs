//! The model of a service trait: parsed from syn, checked, with the original nodes kept for spans.

use proc_macro2::TokenStream;
use syn::{
    FnArg, GenericArgument, Ident, Item, ItemTrait, Pat, PathArguments, ReturnType, TraitItem,
    TraitItemFn, Type,
};

use super::args::Args;
use crate::docs::doc_lines;
use crate::errors::Errors;
use crate::names::{unraw, upper_camel};

pub(super) struct Service<'a> {
    pub(super) item: &'a ItemTrait,
    /// The path of the protoless crate in generated code.
    pub(super) krate: syn::Path,
    pub(super) package: String,
    pub(super) proto_name: String,
    /// File options for the package's file: name and value (a string's text, or `true`/`false`).
    pub(super) file_options: Vec<(String, String)>,
    /// Whether the service's errors carry google.rpc details.
    pub(super) rich_errors: bool,
    pub(super) methods: Vec<Method<'a>>,
}

/// The shape of an RPC method, read off its signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Unary,
    /// The response is `impl Stream<Item = Result<Response, Status>>`.
    ServerStreaming,
    /// The request is `Streaming<Request>`.
    ClientStreaming,
    BidiStreaming,
}

impl Kind {
    fn of(client_streaming: bool, server_streaming: bool) -> Kind {
        match (client_streaming, server_streaming) {
            (false, false) => Kind::Unary,
            (false, true) => Kind::ServerStreaming,
            (true, false) => Kind::ClientStreaming,
            (true, true) => Kind::BidiStreaming,
        }
    }

    pub(super) fn client_streaming(self) -> bool {
        matches!(self, Kind::ClientStreaming | Kind::BidiStreaming)
    }

    pub(super) fn server_streaming(self) -> bool {
        matches!(self, Kind::ServerStreaming | Kind::BidiStreaming)
    }
}

pub(super) struct Method<'a> {
    pub(super) item: &'a TraitItemFn,
    pub(super) ident: &'a Ident,
    pub(super) proto_name: String,
    pub(super) kind: Kind,
    pub(super) request_arg: &'a Ident,
    /// The parameter's type: the request message, or `Streaming<Request>`.
    pub(super) request_param: &'a Type,
    /// The request message.
    pub(super) request: &'a Type,
    /// The response message (the stream's item for a streaming response; `()` for none).
    pub(super) response: Type,
    /// The whole declared return type, `Result<Response, Status>`; `None` for a method that
    /// returns nothing.
    pub(super) output: Option<&'a Type>,
    /// Whether the handler takes a `Context` after the request.
    pub(super) takes_context: bool,
    /// `#[oneway]`: the client returns once the request is sent.
    pub(super) oneway: bool,
    /// `#[cfg(...)]` attributes, repeated on every item generated for the method.
    pub(super) cfgs: Vec<&'a syn::Attribute>,
    /// `#[idempotent]` or `#[no_side_effects]`.
    pub(super) idempotency: Idempotency,
    pub(super) docs: TokenStream,
}

/// What a method promises about calling it again, for the `.proto` and for retries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Idempotency {
    Unknown,
    NoSideEffects,
    Idempotent,
}

/// Attributes `#[service]` reads on methods and removes from the trait.
pub(super) const METHOD_ATTRIBUTES: &[&str] = &["idempotent", "no_side_effects", "oneway", "proto"];

/// Reads `#[idempotent]`, `#[no_side_effects]` and `#[proto(name = "...")]` on a method.
fn method_attributes(
    attrs: &[syn::Attribute],
    errors: &mut Errors,
) -> (Idempotency, Option<syn::LitStr>) {
    let mut idempotency: Option<(Idempotency, &syn::Attribute)> = None;
    let mut name = None;
    for attr in attrs {
        let level = if attr.path().is_ident("idempotent") {
            Idempotency::Idempotent
        } else if attr.path().is_ident("no_side_effects") {
            Idempotency::NoSideEffects
        } else if attr.path().is_ident("proto") {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    let value: syn::LitStr = meta.value()?.parse()?;
                    if !crate::attr::is_proto_identifier(&value.value()) {
                        errors.at(&value, "a proto name starts with a letter and holds only letters, digits and `_`");
                    }
                    if name.replace(value).is_some() {
                        errors.at(&meta.path, "duplicate #[proto(name)]");
                    }
                    Ok(())
                } else {
                    Err(meta.error("unknown #[proto] key on a method: expected `name = \"...\"`"))
                }
            });
            if let Err(error) = parsed {
                errors.push(error);
            }
            continue;
        } else {
            continue;
        };
        if let syn::Meta::List(list) = &attr.meta {
            errors.push(syn::Error::new(
                list.delimiter.span().join(),
                "this attribute takes no arguments",
            ));
        }
        match idempotency {
            Some((_, first)) => errors.at(
                attr,
                format!(
                    "a method is either #[idempotent] or #[no_side_effects] (which implies it), once; \
                     it already has {}",
                    quote::ToTokens::to_token_stream(first)
                ),
            ),
            None => idempotency = Some((level, attr)),
        }
    }
    (
        idempotency.map_or(Idempotency::Unknown, |(level, _)| level),
        name,
    )
}

/// Inherent methods of the generated client; an RPC method of the same name would clash.
const CLIENT_METHODS: &[&str] = &["new", "connect", "channel"];

impl<'a> Service<'a> {
    pub(super) fn parse(args: TokenStream, item: &'a Item) -> syn::Result<Service<'a>> {
        let mut errors = Errors::default();
        let args = Args::parse(args, &mut errors);
        let Item::Trait(item) = item else {
            errors.at(
                item_keyword(item),
                "#[service] goes on a trait: declare the RPC methods as `async fn` in a trait",
            );
            return Err(errors.finish().expect_err("an error was recorded"));
        };
        if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
            errors.at(&item.generics, "a service trait cannot be generic");
        }
        let methods: Vec<Method> = item
            .items
            .iter()
            .filter_map(|trait_item| Method::parse(trait_item, &mut errors))
            .collect();
        check_unique_names(&methods, &mut errors);
        errors.finish()?;
        let proto_name = args
            .name
            .map_or_else(|| unraw(&item.ident), |name| name.value());
        Ok(Service {
            item,
            krate: args.krate.unwrap_or_else(|| syn::parse_quote!(::protoless)),
            package: args
                .package
                .map(|package| package.value())
                .unwrap_or_default(),
            proto_name,
            file_options: args.file_options,
            rich_errors: args.rich_errors,
            methods,
        })
    }

    /// `package.Service`, or `Service` without a package: the first part of every method path.
    pub(super) fn full_name(&self) -> String {
        if self.package.is_empty() {
            self.proto_name.clone()
        } else {
            format!("{}.{}", self.package, self.proto_name)
        }
    }
}

fn item_keyword(item: &Item) -> TokenStream {
    use quote::ToTokens;
    match item {
        Item::Struct(item) => item.struct_token.to_token_stream(),
        Item::Enum(item) => item.enum_token.to_token_stream(),
        Item::Fn(item) => item.sig.fn_token.to_token_stream(),
        Item::Impl(item) => item.impl_token.to_token_stream(),
        Item::Mod(item) => item.mod_token.to_token_stream(),
        other => other.to_token_stream(),
    }
}

impl<'a> Method<'a> {
    fn parse(trait_item: &'a TraitItem, errors: &mut Errors) -> Option<Method<'a>> {
        let item = match trait_item {
            TraitItem::Fn(item) => item,
            TraitItem::Type(item) => {
                errors.at(
                    item,
                    "a service trait holds only RPC methods: remove this associated type",
                );
                return None;
            }
            TraitItem::Const(item) => {
                errors.at(
                    item,
                    "a service trait holds only RPC methods: remove this associated const",
                );
                return None;
            }
            other => {
                errors.at(other, "a service trait holds only RPC methods (`async fn`)");
                return None;
            }
        };
        let sig = &item.sig;
        let (idempotency, renamed) = method_attributes(&item.attrs, errors);
        let found = std::cell::RefCell::new(Vec::new());
        let fail = |tokens: &dyn quote::ToTokens, message: &str| {
            found
                .borrow_mut()
                .push(syn::Error::new_spanned(tokens, message));
        };
        let fail_at_parens = |message: &str| {
            found
                .borrow_mut()
                .push(syn::Error::new(sig.paren_token.span.join(), message));
        };
        if sig.asyncness.is_none() {
            fail(&sig.fn_token, "an RPC method must be an `async fn`");
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            fail(&sig.generics, "an RPC method cannot have generic parameters or lifetimes: its request and response are fixed proto messages");
        }
        if let Some(variadic) = &sig.variadic {
            fail(variadic, "an RPC method cannot be variadic");
        }
        let mut inputs = sig.inputs.iter().peekable();
        match inputs.peek() {
            Some(FnArg::Receiver(_)) => {}
            // No receiver: report that once, and read the first parameter as the request.
            _ => fail(
                &sig.ident,
                "an RPC method takes `&self` as its first parameter",
            ),
        }
        match inputs.next_if(|input| matches!(input, FnArg::Receiver(_))) {
            Some(FnArg::Receiver(receiver))
                if receiver.reference.is_some()
                    && receiver.mutability.is_none()
                    && receiver.colon_token.is_none() => {}
            Some(FnArg::Receiver(receiver)) if receiver.mutability.is_some() => {
                fail(receiver, "an RPC method takes `&self`, not `&mut self`: calls run concurrently, so use interior mutability (a Mutex, an atomic) for state");
            }
            Some(FnArg::Receiver(receiver)) => {
                fail(
                    receiver,
                    "an RPC method takes `&self`: the server calls it many times, concurrently",
                );
            }
            _ => fail(
                &sig.ident,
                "an RPC method takes `&self` as its first parameter",
            ),
        }
        let request = inputs.next();
        // An optional `Context` after the request.
        let takes_context = inputs
            .next_if(|input| matches!(input, FnArg::Typed(arg) if is_context(&arg.ty)))
            .is_some();
        let request_is_context = matches!(request, Some(FnArg::Typed(arg)) if is_context(&arg.ty));
        if let Some(extra) = inputs.next().filter(|_| !request_is_context) {
            fail(
                extra,
                "an RPC method takes one request message (and optionally a `Context`): put the values in one struct",
            );
        }
        let (request_arg, request) = match request {
            Some(FnArg::Typed(arg)) if is_context(&arg.ty) => {
                fail(
                    arg,
                    "the request comes first, then the `Context`: `req: Request, ctx: Context`",
                );
                (None, None)
            }
            Some(FnArg::Typed(arg)) => {
                let ident = match &*arg.pat {
                    Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                        Some(&pat.ident)
                    }
                    other => {
                        fail(
                            other,
                            "name the request with a plain identifier, such as `req`",
                        );
                        None
                    }
                };
                if let Type::Reference(reference) = &*arg.ty {
                    fail(
                        reference,
                        "the request is received by value: remove the `&`",
                    );
                }
                (ident, Some(&*arg.ty))
            }
            _ => {
                fail_at_parens("an RPC method takes one request message after `&self`, such as `req: PiRequest`");
                (None, None)
            }
        };
        let oneway = item
            .attrs
            .iter()
            .find(|attr| attr.path().is_ident("oneway"));
        let (output, response) = match (result_types(&sig.output), &sig.output) {
            // No return value: the method answers google.protobuf.Empty.
            (_, ReturnType::Default) => (None, None),
            (Some((output, ok)), _) => (Some(output), Some(ok)),
            (None, ReturnType::Type(_, ty)) => {
                fail(ty, "an RPC method returns `Result<Response, Status>`, or nothing (google.protobuf.Empty)");
                (None, None)
            }
        };
        if let (Some(oneway), ReturnType::Type(_, ty)) = (oneway, &sig.output) {
            let _ = oneway;
            fail(
                ty,
                "a #[oneway] method returns nothing: its caller does not wait for an answer",
            );
        }
        let _ = fail_at_parens;
        if let Some(error) = output.and_then(error_type_other_than_status) {
            fail(error, "the error type of an RPC method is `protoless::Status`: gRPC carries a status code and message");
        }
        // Streaming shapes: `Streaming<Request>` in, `impl Stream<Item = Result<..>>` out.
        let streamed_request = request.and_then(streaming_message);
        if let (Some(oneway), Some(_)) = (oneway, streamed_request) {
            fail(
                oneway,
                "#[oneway] is for methods taking one request message, not a stream",
            );
        }
        let streamed_response = match response.map(stream_item) {
            Some(Some(Ok(item))) => Some(item),
            Some(Some(Err(bad_item))) => {
                fail(
                    bad_item,
                    "a response stream yields `Result<Response, Status>` items",
                );
                None
            }
            _ => None,
        };
        let found = found.into_inner();
        if !found.is_empty() {
            found.into_iter().for_each(|error| errors.push(error));
            return None;
        }
        let ident = &sig.ident;
        if CLIENT_METHODS.contains(&unraw(ident).as_str()) {
            errors.at(ident, format!("`{ident}` clashes with a method of the generated client: rename the RPC method"));
            return None;
        }
        Some(Method {
            item,
            ident,
            proto_name: renamed.map_or_else(|| upper_camel(&unraw(ident)), |name| name.value()),
            kind: Kind::of(streamed_request.is_some(), streamed_response.is_some()),
            request_arg: request_arg?,
            request_param: request?,
            request: streamed_request.or(request)?,
            response: streamed_response
                .or(response)
                .cloned()
                .unwrap_or_else(|| syn::parse_quote!(())),
            output,
            takes_context,
            oneway: oneway.is_some(),
            cfgs: item
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("cfg"))
                .collect(),
            idempotency,
            docs: doc_lines(&item.attrs),
        })
    }
}

/// `(whole, Response)` for a return type `Result<Response, Error>`.
fn result_types(output: &ReturnType) -> Option<(&Type, &Type)> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::Path(path) = &**ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    let response = types.next()?;
    types.next()?;
    Some((ty, response))
}

/// The `E` of `Result<_, E>`, when it does not name `Status`.
fn error_type_other_than_status(output: &Type) -> Option<&Type> {
    let Type::Path(path) = output else {
        return None;
    };
    let PathArguments::AngleBracketed(args) = &path.path.segments.last()?.arguments else {
        return None;
    };
    let error = args
        .args
        .iter()
        .filter_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .nth(1)?;
    match error {
        Type::Path(path)
            if path
                .path
                .segments
                .last()
                .is_some_and(|last| last.ident == "Status") =>
        {
            None
        }
        other => Some(other),
    }
}

/// Whether a parameter's type is `Context` (by its last path segment).
fn is_context(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.path.segments.last().is_some_and(|last| last.ident == "Context"))
}

/// `Request` for a parameter of type `Streaming<Request>`.
fn streaming_message(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Streaming" {
        return None;
    }
    single_type_argument(&last.arguments)
}

fn single_type_argument(arguments: &PathArguments) -> Option<&Type> {
    let PathArguments::AngleBracketed(args) = arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>()[..] {
        [GenericArgument::Type(ty)] => Some(ty),
        _ => None,
    }
}

/// For `impl Stream<Item = X>`: `Ok(Response)` when `X` is `Result<Response, _>`, `Err(X)`
/// otherwise. `None` when the type is not an `impl Stream`.
pub(super) fn stream_item(ty: &Type) -> Option<Result<&Type, &Type>> {
    let item = stream_bound(ty)?.args.iter().find_map(|arg| match arg {
        GenericArgument::AssocType(assoc) if assoc.ident == "Item" => Some(&assoc.ty),
        _ => None,
    })?;
    let response = match item {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .filter(|last| last.ident == "Result")
            .and_then(|last| match &last.arguments {
                PathArguments::AngleBracketed(args) => args.args.first(),
                _ => None,
            })
            .and_then(|first| match first {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            }),
        _ => None,
    };
    Some(response.ok_or(item))
}

/// The `Stream<...>` bound's arguments of an `impl Stream<...> + ...` type.
fn stream_bound(ty: &Type) -> Option<&syn::AngleBracketedGenericArguments> {
    let Type::ImplTrait(impl_trait) = ty else {
        return None;
    };
    impl_trait.bounds.iter().find_map(|bound| match bound {
        syn::TypeParamBound::Trait(bound) => {
            let last = bound.path.segments.last()?;
            match (&last.arguments, last.ident == "Stream") {
                (PathArguments::AngleBracketed(args), true) => Some(args),
                _ => None,
            }
        }
        _ => None,
    })
}

/// Two methods may not share a proto name (`calc_stream` and `CalcStream` would).
fn check_unique_names(methods: &[Method], errors: &mut Errors) {
    for (index, method) in methods.iter().enumerate() {
        if let Some(first) = methods[..index]
            .iter()
            .find(|m| m.proto_name == method.proto_name)
        {
            errors.at(
                method.ident,
                format!(
                    "`{}` and `{}` both become the RPC method `{}`: rename one",
                    first.ident, method.ident, method.proto_name
                ),
            );
        }
    }
}
