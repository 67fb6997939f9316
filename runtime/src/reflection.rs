//! gRPC server reflection, `grpc.reflection.v1` and `grpc.reflection.v1alpha`: what `grpcurl`,
//! `buf curl` and reflection-based UIs ask to call a server without its `.proto` files.
//!
//! One line turns it on: [`Server::reflection`](crate::Server::reflection). The descriptors are
//! built from the services' schemas when the server starts, with no build step and no
//! descriptor files: each package's `FileDescriptorProto` is what protoc produces from the
//! exported `.proto` (options and source info aside), and the well-known types it imports are
//! served as protoc produces them from protobuf's own files.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! protoless::Server::builder()
//!     .reflection()
//!     .serve("127.0.0.1:50051")
//!     .await
//! # }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use protoless_macros::Message;

use crate::schema::descriptor::{file_descriptor, FileDescriptor};
use crate::schema::{file_name, SchemaError, ServiceSchema};
use crate::stream::{self, Stream};
use crate::{Code, Status, Streaming};

/// `ServerReflectionRequest`: one question about the server's schema.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct ServerReflectionRequest {
    /// The host the client asked about (unused: a server serves one schema).
    pub host: String,
    /// The question.
    #[proto(oneof)]
    pub message_request: Option<MessageRequest>,
}

/// The questions reflection answers.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub enum MessageRequest {
    /// The file of this name, such as `helloworld/helloworld.proto`, and the files it imports.
    #[proto(tag = 3)]
    FileByFilename(String),
    /// The file declaring this fully-qualified symbol (service, method, message, enum).
    #[proto(tag = 4)]
    FileContainingSymbol(String),
    /// The file declaring this extension.
    #[proto(tag = 5)]
    FileContainingExtension(ExtensionRequest),
    /// The extension numbers of this message type.
    #[proto(tag = 6)]
    AllExtensionNumbersOfType(String),
    /// Every service (the value is ignored).
    #[proto(tag = 7)]
    ListServices(String),
}

/// `ExtensionRequest`: an extension of a message type, by number.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct ExtensionRequest {
    /// The extended message type, fully qualified.
    pub containing_type: String,
    /// The extension's field number.
    pub extension_number: i32,
}

/// `ServerReflectionResponse`: the answer to one request.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct ServerReflectionResponse {
    /// The request's host.
    pub valid_host: String,
    /// The request answered.
    pub original_request: Option<ServerReflectionRequest>,
    /// The answer.
    #[proto(oneof)]
    pub message_response: Option<MessageResponse>,
}

/// The answers reflection gives.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub enum MessageResponse {
    /// Serialized `FileDescriptorProto`s: the file asked for, then the files it imports that
    /// this stream has not sent yet.
    #[proto(tag = 4, name = "file_descriptor_response")]
    FileDescriptors(FileDescriptorResponse),
    /// A type's extension numbers.
    #[proto(tag = 5, name = "all_extension_numbers_response")]
    ExtensionNumbers(ExtensionNumberResponse),
    /// The services.
    #[proto(tag = 6, name = "list_services_response")]
    Services(ListServiceResponse),
    /// Why the request could not be answered.
    #[proto(tag = 7, name = "error_response")]
    Error(ErrorResponse),
}

/// `FileDescriptorResponse`.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct FileDescriptorResponse {
    /// Serialized `google.protobuf.FileDescriptorProto` messages.
    pub file_descriptor_proto: Vec<Bytes>,
}

/// `ExtensionNumberResponse`.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct ExtensionNumberResponse {
    /// The message type, fully qualified.
    pub base_type_name: String,
    /// Its extension numbers.
    pub extension_number: Vec<i32>,
}

/// `ListServiceResponse`.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct ListServiceResponse {
    /// The services, by full name.
    pub service: Vec<ServiceResponse>,
}

/// `ServiceResponse`.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct ServiceResponse {
    /// The service's full name, such as `helloworld.Greeter`.
    pub name: String,
}

/// `ErrorResponse`: a gRPC status code and message for one request; the stream goes on.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct ErrorResponse {
    /// The status code.
    pub error_code: i32,
    /// What went wrong.
    pub error_message: String,
}

/// `grpc.reflection.v1`.
pub mod v1 {
    use super::{ServerReflectionRequest, ServerReflectionResponse};
    use crate::stream::Stream;
    use crate::{Status, Streaming};

    /// Server reflection, as `grpc/reflection/v1/reflection.proto` declares it.
    #[protoless_macros::service(
        package = "grpc.reflection.v1",
        crate = "crate",
        // grpc/reflection/v1/reflection.proto's own options.
        go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1",
        java_multiple_files = true,
        java_outer_classname = "ServerReflectionProto",
        java_package = "io.grpc.reflection.v1"
    )]
    pub trait ServerReflection {
        /// Answers each request on the stream, in order.
        async fn server_reflection_info(
            &self,
            reqs: Streaming<ServerReflectionRequest>,
        ) -> Result<impl Stream<Item = Result<ServerReflectionResponse, Status>> + Send, Status>;
    }
}

/// `grpc.reflection.v1alpha`, the version older clients (grpcurl before 1.9, for one) ask.
pub mod v1alpha {
    use super::{ServerReflectionRequest, ServerReflectionResponse};
    use crate::stream::Stream;
    use crate::{Status, Streaming};

    /// Server reflection, as `grpc/reflection/v1alpha/reflection.proto` declares it.
    #[protoless_macros::service(
        package = "grpc.reflection.v1alpha",
        crate = "crate",
        // grpc/reflection/v1alpha/reflection.proto's own options.
        go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1alpha",
        java_multiple_files = true,
        java_outer_classname = "ServerReflectionProto",
        java_package = "io.grpc.reflection.v1alpha",
        objc_class_prefix = "GRPC"
    )]
    pub trait ServerReflection {
        /// Answers each request on the stream, in order.
        async fn server_reflection_info(
            &self,
            reqs: Streaming<ServerReflectionRequest>,
        ) -> Result<impl Stream<Item = Result<ServerReflectionResponse, Status>> + Send, Status>;
    }
}

/// The well-known files the derives may import, as protoc produces them from protobuf's own
/// `.proto` files (the copies grpcio-tools bundles; `tests/reflection.rs` checks they still
/// match): name, the symbol each declares, serialized `FileDescriptorProto`.
const WELL_KNOWN: [(&str, &str, &[u8]); 4] = [
    (
        "google/protobuf/any.proto",
        "google.protobuf.Any",
        include_bytes!("schema/well_known/any.pb"),
    ),
    (
        "google/protobuf/empty.proto",
        "google.protobuf.Empty",
        include_bytes!("schema/well_known/empty.pb"),
    ),
    (
        "google/protobuf/duration.proto",
        "google.protobuf.Duration",
        include_bytes!("schema/well_known/duration.pb"),
    ),
    (
        "google/protobuf/timestamp.proto",
        "google.protobuf.Timestamp",
        include_bytes!("schema/well_known/timestamp.pb"),
    ),
];

/// Every file a server's services need, and where each symbol is declared.
#[derive(Debug)]
pub(crate) struct Index {
    files: HashMap<String, FileDescriptor>,
    by_symbol: HashMap<String, String>,
    services: Vec<String>,
}

impl Index {
    /// The index of `services` (the reflection services among them).
    pub(crate) fn build(services: Vec<ServiceSchema>) -> Result<Index, SchemaError> {
        let mut index = Index {
            files: HashMap::new(),
            by_symbol: HashMap::new(),
            services: services.iter().map(ServiceSchema::full_name).collect(),
        };
        let mut packages: BTreeMap<&'static str, Vec<ServiceSchema>> = BTreeMap::new();
        for service in services {
            packages.entry(service.package).or_default().push(service);
        }
        let mut files: Vec<FileDescriptor> = packages
            .into_iter()
            .map(|(package, services)| file_descriptor(&file_name(package), package, &services))
            .collect::<Result<_, _>>()?;
        files.extend(
            WELL_KNOWN
                .iter()
                .map(|(name, symbol, bytes)| FileDescriptor {
                    name: (*name).to_owned(),
                    bytes: Bytes::from_static(bytes),
                    dependencies: Default::default(),
                    symbols: vec![(*symbol).to_owned()],
                }),
        );
        for file in files {
            for symbol in &file.symbols {
                index.by_symbol.insert(symbol.clone(), file.name.clone());
            }
            index.files.insert(file.name.clone(), file);
        }
        Ok(index)
    }

    /// `name` and the files it imports, transitively, leaving out those already `sent`.
    fn files_from(&self, name: &str, sent: &mut HashSet<String>) -> Option<Vec<Bytes>> {
        let file = self.files.get(name)?;
        let mut out = vec![file.bytes.clone()];
        sent.insert(file.name.clone());
        let mut pending: Vec<&String> = file.dependencies.iter().collect();
        while let Some(dependency) = pending.pop() {
            if !sent.insert(dependency.clone()) {
                continue;
            }
            if let Some(file) = self.files.get(dependency) {
                out.push(file.bytes.clone());
                pending.extend(&file.dependencies);
            }
        }
        Some(out)
    }

    fn answer(
        &self,
        request: &ServerReflectionRequest,
        sent: &mut HashSet<String>,
    ) -> MessageResponse {
        let not_found = |what: String| {
            MessageResponse::Error(ErrorResponse {
                error_code: Code::NotFound.as_i32(),
                error_message: what,
            })
        };
        let files = |files: Vec<Bytes>| {
            MessageResponse::FileDescriptors(FileDescriptorResponse {
                file_descriptor_proto: files,
            })
        };
        match &request.message_request {
            Some(MessageRequest::FileByFilename(name)) => match self.files_from(name, sent) {
                Some(found) => files(found),
                None => not_found(format!("no file {name:?}")),
            },
            Some(MessageRequest::FileContainingSymbol(symbol)) => {
                let symbol = symbol.strip_prefix('.').unwrap_or(symbol);
                match self
                    .by_symbol
                    .get(symbol)
                    .and_then(|name| self.files_from(name, sent))
                {
                    Some(found) => files(found),
                    None => not_found(format!("no symbol {symbol:?}")),
                }
            }
            Some(MessageRequest::FileContainingExtension(extension)) => not_found(format!(
                "no extension {} of {:?}: this server declares no extensions",
                extension.extension_number, extension.containing_type
            )),
            Some(MessageRequest::AllExtensionNumbersOfType(name)) => {
                let name = name.strip_prefix('.').unwrap_or(name);
                if self.by_symbol.contains_key(name) {
                    MessageResponse::ExtensionNumbers(ExtensionNumberResponse {
                        base_type_name: name.to_owned(),
                        extension_number: Vec::new(),
                    })
                } else {
                    not_found(format!("no type {name:?}"))
                }
            }
            Some(MessageRequest::ListServices(_)) => {
                MessageResponse::Services(ListServiceResponse {
                    service: self
                        .services
                        .iter()
                        .map(|name| ServiceResponse { name: name.clone() })
                        .collect(),
                })
            }
            None => MessageResponse::Error(ErrorResponse {
                error_code: Code::InvalidArgument.as_i32(),
                error_message: "the request asks nothing: set one of its message_request fields"
                    .to_owned(),
            }),
        }
    }

    /// Answers a reflection stream.
    fn serve(
        self: Arc<Index>,
        mut requests: Streaming<ServerReflectionRequest>,
    ) -> impl Stream<Item = Result<ServerReflectionResponse, Status>> + Send {
        stream::generate(move |mut out| async move {
            let mut sent = HashSet::new();
            while let Some(request) = requests.message().await? {
                let answer = self.answer(&request, &mut sent);
                out.send(ServerReflectionResponse {
                    valid_host: request.host.clone(),
                    original_request: Some(request),
                    message_response: Some(answer),
                })
                .await;
            }
            Ok(())
        })
    }
}

/// Both reflection services, answering from one index.
#[derive(Clone)]
pub(crate) struct Reflection(pub(crate) Arc<Index>);

impl v1::ServerReflection for Reflection {
    async fn server_reflection_info(
        &self,
        reqs: Streaming<ServerReflectionRequest>,
    ) -> Result<impl Stream<Item = Result<ServerReflectionResponse, Status>> + Send, Status> {
        Ok(self.0.clone().serve(reqs))
    }
}

impl v1alpha::ServerReflection for Reflection {
    async fn server_reflection_info(
        &self,
        reqs: Streaming<ServerReflectionRequest>,
    ) -> Result<impl Stream<Item = Result<ServerReflectionResponse, Status>> + Send, Status> {
        Ok(self.0.clone().serve(reqs))
    }
}
