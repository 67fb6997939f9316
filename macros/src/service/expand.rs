//! Writes the trait back, plus the server, the client and the schema.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};

use super::ast::{Idempotency, Kind, Method, Service, METHOD_ATTRIBUTES};

pub(super) fn generate(service: &Service) -> TokenStream {
    let mut tokens = rewrite_trait(service);
    for method in &service.methods {
        tokens.extend(method_type(service, method));
    }
    tokens.extend(server(service));
    tokens.extend(client(service));
    tokens
}

/// The `Idempotency` variant a method declares.
fn idempotency_variant(idempotency: Idempotency) -> TokenStream {
    match idempotency {
        Idempotency::Unknown => quote!(Unknown),
        Idempotency::NoSideEffects => quote!(NoSideEffects),
        Idempotency::Idempotent => quote!(Idempotent),
    }
}

/// The type that names one method: `__PiCalculatorCalc`.
fn method_ident(service: &Service, method: &Method) -> syn::Ident {
    format_ident!("__{}{}", service.item.ident, method.proto_name)
}

/// A type per method whose `Method` impl states the request and response types once: a type
/// that is not a message is reported there, at the type, and nowhere else.
fn method_type(service: &Service, method: &Method) -> TokenStream {
    let krate = &service.krate;
    let cfgs = &method.cfgs;
    let ident = method_ident(service, method);
    let request = method.request;
    let response = &method.response;
    let path = method_path(service, method);
    let doc = format!("The RPC method `{path}`, for generated code.");
    let kind = match method.kind {
        Kind::Unary => quote!(Unary),
        Kind::ServerStreaming => quote!(ServerStreaming),
        Kind::ClientStreaming => quote!(ClientStreaming),
        Kind::BidiStreaming => quote!(BidiStreaming),
    };
    let idempotency = idempotency_variant(method.idempotency);
    let (service_name, method_name) = path[1..]
        .split_once('/')
        .expect("a method path is /service/method");
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        struct #ident;

        #(#cfgs)*
        impl #krate::__private::Method for #ident {
            type Request = #request;
            type Response = #response;
            const PATH: &'static str = #path;
            const INFO: #krate::MethodInfo = #krate::MethodInfo::generated(
                #path,
                #service_name,
                #method_name,
                #krate::CallKind::#kind,
                #krate::__private::Idempotency::#idempotency,
            );
        }
    }
}

/// The user's trait with each `async fn` spelled `fn … -> impl Future + Send`, so that servers
/// can run handlers on any tokio worker. Implementations may still write `async fn`.
fn rewrite_trait(service: &Service) -> TokenStream {
    let mut item = service.item.clone();
    for (trait_item, method) in item
        .items
        .iter_mut()
        .filter_map(|item| match item {
            syn::TraitItem::Fn(item) => Some(item),
            _ => None,
        })
        .zip(&service.methods)
    {
        let output = match method.output {
            Some(output) => {
                let mut output = output.clone();
                require_send_stream(&mut output);
                quote!(#output)
            }
            None => quote!(()),
        };
        trait_item.attrs.retain(|attr| {
            !METHOD_ATTRIBUTES
                .iter()
                .any(|name| attr.path().is_ident(name))
        });
        trait_item.sig.asyncness = None;
        trait_item.sig.output = syn::parse_quote! {
            -> impl ::core::future::Future<Output = #output> + ::core::marker::Send
        };
        if let Some(body) = &trait_item.default {
            trait_item.default = Some(syn::parse_quote!({ async move #body }));
        }
    }
    item.into_token_stream()
}

/// Adds `+ Send` to a response `impl Stream`, so that the server can run it on any worker.
fn require_send_stream(output: &mut syn::Type) {
    let syn::Type::Path(path) = output else {
        return;
    };
    let Some(syn::PathArguments::AngleBracketed(args)) = path
        .path
        .segments
        .last_mut()
        .map(|last| &mut last.arguments)
    else {
        return;
    };
    let Some(syn::GenericArgument::Type(syn::Type::ImplTrait(stream))) = args.args.first_mut()
    else {
        return;
    };
    let has_send = stream.bounds.iter().any(|bound| {
        matches!(bound, syn::TypeParamBound::Trait(bound)
            if bound.path.segments.last().is_some_and(|last| last.ident == "Send"))
    });
    if !has_send {
        stream.bounds.push(syn::parse_quote!(::core::marker::Send));
    }
}

fn names(service: &Service) -> (syn::Ident, syn::Ident) {
    let ident = &service.item.ident;
    (
        format_ident!("{}Server", ident),
        format_ident!("{}Client", ident),
    )
}

fn method_path(service: &Service, method: &Method) -> String {
    format!("/{}/{}", service.full_name(), method.proto_name)
}

fn server(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let vis = &service.item.vis;
    let trait_ident = &service.item.ident;
    let (server, _) = names(service);
    let full_name = service.full_name();
    let doc = format!(
        "Serves [`{trait_ident}`] over gRPC as `{full_name}`: add it to a [`Server`]({}::Server).",
        krate.to_token_stream().to_string().replace(' ', "")
    );
    let arms = service
        .methods
        .iter()
        .map(|method| dispatch_arm(service, method));
    let schema = schema(service);
    quote! {
        #[doc = #doc]
        #vis struct #server<T> {
            inner: ::std::sync::Arc<T>,
        }

        impl<T: #trait_ident + ::core::marker::Send + ::core::marker::Sync + 'static> #server<T> {
            /// Wraps an implementation of the trait for a server.
            pub fn new(service: T) -> Self {
                Self::from_arc(::std::sync::Arc::new(service))
            }

            /// Wraps an implementation the program also uses elsewhere.
            pub fn from_arc(service: ::std::sync::Arc<T>) -> Self {
                Self { inner: service }
            }
        }

        impl #server<()> {
            /// The service's schema, from which its `.proto` file is rendered.
            pub fn schema() -> #krate::__private::ServiceSchema {
                #schema
            }
        }

        impl<T> ::core::clone::Clone for #server<T> {
            fn clone(&self) -> Self {
                Self { inner: ::core::clone::Clone::clone(&self.inner) }
            }
        }

        impl<T> ::core::fmt::Debug for #server<T> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(::core::stringify!(#server))
            }
        }

        impl<T: #trait_ident + ::core::marker::Send + ::core::marker::Sync + 'static>
            #krate::__private::Service for #server<T>
        {
            fn name(&self) -> &'static str {
                #full_name
            }

            fn schema(&self) -> #krate::__private::ServiceSchema {
                #server::schema()
            }

            fn call(
                &self,
                method: &str,
                call: #krate::__private::ServerCall,
            ) -> ::core::result::Result<#krate::__private::CallHandle, #krate::__private::ServerCall> {
                match method {
                    #(#arms)*
                    _ => ::core::result::Result::Err(call),
                }
            }
        }
    }
}

fn dispatch_arm(service: &Service, method: &Method) -> TokenStream {
    let krate = &service.krate;
    let trait_ident = &service.item.ident;
    let cfgs = &method.cfgs;
    let name = &method.proto_name;
    let ident = method.ident;
    let param = method.request_param;
    let context = method.takes_context.then(|| quote!(, context));
    let call = quote!(#trait_ident::#ident(&*inner, request #context));
    // A handler that takes no context gets `()`, and no context is made for it.
    let context_param = if method.takes_context {
        quote!(context: #krate::Context)
    } else {
        quote!((): ())
    };
    // A method that returns nothing answers google.protobuf.Empty once it is done.
    let handle = if method.output.is_some() {
        call
    } else {
        quote! {{
            let done = #call;
            async move {
                done.await;
                ::core::result::Result::<(), #krate::Status>::Ok(())
            }
        }}
    };
    let method_type = method_ident(service, method);
    // The handler's and its future's types (and the reply stream's) are inferred.
    let placeholders = match method.kind {
        Kind::Unary | Kind::ClientStreaming => vec![quote!(_); 3],
        Kind::ServerStreaming | Kind::BidiStreaming => vec![quote!(_); 4],
    };
    let driver = match method.kind {
        Kind::Unary => quote!(serve_unary),
        Kind::ServerStreaming => quote!(serve_server_streaming),
        Kind::ClientStreaming => quote!(serve_client_streaming),
        Kind::BidiStreaming => quote!(serve_bidi_streaming),
    };
    let spawn = match method.kind {
        // The handler's own future owns the implementation's Arc: the driver's future is
        // started as it is, without a block around it that would keep the call beside it.
        Kind::Unary | Kind::ClientStreaming => quote! {
            #krate::__private::start_call(#krate::__private::#driver::<#method_type, #(#placeholders),*>(
                call,
                move |request: #param, #context_param| async move { #handle.await },
            ))
        },
        // A response stream may borrow `&self`, so it must not outlive the Arc: the block
        // around the driver owns it, and the handler borrows it.
        Kind::ServerStreaming | Kind::BidiStreaming => quote! {
            #krate::__private::start_call(async move {
                #krate::__private::#driver::<#method_type, #(#placeholders),*>(
                    call,
                    |request: #param, #context_param| #handle,
                )
                .await
            })
        },
    };
    quote! {
        #(#cfgs)*
        #name => {
            let inner = ::core::clone::Clone::clone(&self.inner);
            ::core::result::Result::Ok(#spawn)
        }
    }
}

fn schema(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let package = &service.package;
    let name = &service.proto_name;
    let docs = crate::docs::doc_lines(&service.item.attrs);
    let rich_errors = service.rich_errors;
    let option_name = service.file_options.iter().map(|(name, _)| name);
    let option_value = service.file_options.iter().map(|(_, value)| value);
    let methods = service.methods.iter().map(|method| {
        let cfgs = &method.cfgs;
        let name = &method.proto_name;
        let docs = &method.docs;
        let client_streaming = method.kind.client_streaming();
        let server_streaming = method.kind.server_streaming();
        let method_type = method_ident(service, method);
        let idempotency = idempotency_variant(method.idempotency);
        quote! {
            #(#cfgs)*
            methods.push(#krate::__private::MethodSchema {
                name: #name,
                docs: #docs,
                input: #krate::__private::request_schema::<#method_type>,
                output: #krate::__private::response_schema::<#method_type>,
                client_streaming: #client_streaming,
                server_streaming: #server_streaming,
                idempotency: #krate::__private::Idempotency::#idempotency,
            });
        }
    });
    quote! {
        let mut methods = ::std::vec::Vec::new();
        #(#methods)*
        #krate::__private::ServiceSchema {
            package: #package,
            name: #name,
            docs: #docs,
            methods,
            file_options: &[#( (#option_name, #option_value) ),*],
            crate_name: ::core::env!("CARGO_PKG_NAME"),
            rich_errors: #rich_errors,
        }
    }
}

fn client(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let vis = &service.item.vis;
    let trait_ident = &service.item.ident;
    let (_, client) = names(service);
    let doc = format!(
        "A client of [`{trait_ident}`] (`{}`): cheap to clone, usable from many tasks at once.",
        service.full_name()
    );
    let methods = service.methods.iter().map(|method| {
        let cfgs = &method.cfgs;
        let docs = method
            .item
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("doc"));
        let ident = method.ident;
        let arg = method.request_arg;
        let request = method.request;
        let response = &method.response;
        let path = method_path(service, method);
        let method_type = method_ident(service, method);
        let (call_type, shape, awaited) = match method.kind {
            Kind::Unary if method.oneway => (
                quote!(OnewayCall),
                quote!(Oneway),
                "`()` as soon as the request is sent, without waiting for the answer",
            ),
            Kind::Unary => (quote!(UnaryCall), quote!(Unary), "the response"),
            Kind::ServerStreaming => (
                quote!(ServerStreamingCall),
                quote!(ServerStreaming),
                "a `Streaming` of responses",
            ),
            Kind::ClientStreaming => (
                quote!(ClientStreamingCall),
                quote!(ClientStreaming),
                "a `ClientStream`: send the requests, then `finish` for the response",
            ),
            Kind::BidiStreaming => (
                quote!(BidiStreamingCall),
                quote!(BidiStreaming),
                "a `BidiStream` to send requests and read responses",
            ),
        };
        let call_doc = format!("Calls `{path}`; `.await` the returned call for {awaited}.");
        let response_type = if method.oneway {
            quote!()
        } else {
            quote!(#response)
        };
        let (param, argument) = if method.kind.client_streaming() {
            (quote!(), quote!(::core::option::Option::None))
        } else {
            (
                quote!(, #arg: #request),
                quote!(::core::option::Option::Some(#arg)),
            )
        };
        quote! {
            #(#cfgs)*
            #(#docs)*
            #[doc = ""]
            #[doc = #call_doc]
            pub fn #ident(&self #param) -> #krate::#call_type<#request, #response_type> {
                self.channel.method::<#method_type, #krate::kind::#shape>(#argument)
            }
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #client {
            channel: #krate::Channel,
        }

        impl #client {
            /// Connects to the server at `target`, such as `http://127.0.0.1:50051`.
            pub async fn connect(target: &str) -> ::core::result::Result<Self, #krate::Status> {
                ::core::result::Result::Ok(Self::new(#krate::Channel::connect(target).await?))
            }

            /// A client on an existing channel, which it shares with other clients.
            pub fn new(channel: #krate::Channel) -> Self {
                Self { channel }
            }

            /// The channel this client calls through.
            pub fn channel(&self) -> &#krate::Channel {
                &self.channel
            }

            #(#methods)*
        }
    }
}
