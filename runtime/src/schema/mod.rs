//! A description of services, messages and enums, from which the `.proto` export is rendered.
//!
//! The derives and `#[service]` build these values; [`ProtoFile`] renders them.

pub(crate) mod descriptor;
pub(crate) mod diff;
mod export;
mod render;

pub use export::{check_exported, export, file_name, render_packages, Stale};
pub use render::{ProtoFile, SchemaError};

/// A proto3 scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the variants are the spec's type names
pub enum Scalar {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
}

impl Scalar {
    /// The type's name in a `.proto` file.
    pub fn proto_name(self) -> &'static str {
        match self {
            Self::Double => "double",
            Self::Float => "float",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::Uint32 => "uint32",
            Self::Uint64 => "uint64",
            Self::Sint32 => "sint32",
            Self::Sint64 => "sint64",
            Self::Fixed32 => "fixed32",
            Self::Fixed64 => "fixed64",
            Self::Sfixed32 => "sfixed32",
            Self::Sfixed64 => "sfixed64",
            Self::Bool => "bool",
            Self::String => "string",
            Self::Bytes => "bytes",
        }
    }
}

/// The type of one value: a scalar, a message or an enum.
#[derive(Clone, Copy, Debug)]
pub enum ValueType {
    /// A scalar.
    Scalar(Scalar),
    /// A message, described on demand (so recursive messages work).
    Message(fn() -> MessageSchema),
    /// An enum.
    Enum(fn() -> EnumSchema),
}

/// The shape of a field.
#[derive(Clone, Copy, Debug)]
pub enum FieldType {
    /// A plain field.
    Singular(ValueType),
    /// `optional` (or, for messages, a field with presence).
    Optional(ValueType),
    /// `repeated`.
    Repeated(ValueType),
    /// `map<key, value>`.
    Map(ValueType, ValueType),
}

/// A message field.
#[derive(Clone, Debug)]
pub struct FieldSchema {
    /// The field's proto name.
    pub name: &'static str,
    /// The field number.
    pub number: u32,
    /// Its shape and type.
    pub field_type: FieldType,
    /// Its doc comment, one line per element.
    pub docs: &'static [&'static str],
    /// The `oneof` it belongs to, if any.
    pub oneof: Option<&'static str>,
    /// Its name in proto3 JSON when `#[proto(json_name = "...")]` sets one; otherwise the
    /// name in lowerCamelCase (see [`FieldSchema::json_name`]).
    pub json_name: Option<&'static str>,
}

impl FieldSchema {
    /// The field's name in proto3 JSON: the one `json_name` sets, else its name in
    /// lowerCamelCase, as protoc derives it.
    pub fn json_name(&self) -> std::borrow::Cow<'static, str> {
        match self.json_name {
            Some(name) => std::borrow::Cow::Borrowed(name),
            None => std::borrow::Cow::Owned(crate::json::json_name(self.name)),
        }
    }
}

/// A message.
#[derive(Clone, Debug)]
pub struct MessageSchema {
    /// The message's proto name (fully qualified for well-known types).
    pub name: &'static str,
    /// Its doc comment.
    pub docs: &'static [&'static str],
    /// Its fields, in declaration order.
    pub fields: Vec<FieldSchema>,
    /// For a type defined in another file (such as `google.protobuf.Empty`), the file to import.
    pub import: Option<&'static str>,
    /// The Rust type, for error messages.
    pub rust_name: &'static str,
    /// Reserved field numbers, as inclusive ranges.
    pub reserved_numbers: &'static [(u32, u32)],
    /// Reserved field names.
    pub reserved_names: &'static [&'static str],
}

impl MessageSchema {
    /// A well-known type defined in `import`.
    pub fn well_known(name: &'static str, import: &'static str) -> Self {
        Self {
            name,
            docs: &[],
            fields: Vec::new(),
            import: Some(import),
            rust_name: "",
            reserved_numbers: &[],
            reserved_names: &[],
        }
    }
}

/// An enum value.
#[derive(Clone, Debug)]
pub struct EnumValueSchema {
    /// The value's proto name, such as `COLOR_RED`.
    pub name: &'static str,
    /// Its number.
    pub number: i32,
    /// Its doc comment.
    pub docs: &'static [&'static str],
}

/// An enum.
#[derive(Clone, Debug)]
pub struct EnumSchema {
    /// The enum's proto name.
    pub name: &'static str,
    /// Its doc comment.
    pub docs: &'static [&'static str],
    /// Its values; the first is zero.
    pub values: Vec<EnumValueSchema>,
}

/// An RPC method.
#[derive(Clone, Debug)]
pub struct MethodSchema {
    /// The method's proto name, such as `Calc`.
    pub name: &'static str,
    /// Its doc comment.
    pub docs: &'static [&'static str],
    /// The request message.
    pub input: fn() -> MessageSchema,
    /// The response message.
    pub output: fn() -> MessageSchema,
    /// Whether the client sends a stream of requests.
    pub client_streaming: bool,
    /// Whether the server answers with a stream.
    pub server_streaming: bool,
    /// What calling it twice does: `#[idempotent]` and `#[no_side_effects]` set this.
    pub idempotency: Idempotency,
}

/// protobuf's `idempotency_level` method option, which clients use to decide what is safe to
/// retry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Idempotency {
    /// Nothing is promised.
    #[default]
    Unknown,
    /// Calling the method has no side effects (`#[no_side_effects]`).
    NoSideEffects,
    /// Calling it again with the same request has no further effect (`#[idempotent]`).
    Idempotent,
}

/// A service, as `#[service]` describes it.
#[derive(Clone, Debug)]
pub struct ServiceSchema {
    /// The proto package, such as `pi`.
    pub package: &'static str,
    /// The service's proto name, such as `PiCalculator`.
    pub name: &'static str,
    /// Its doc comment.
    pub docs: &'static [&'static str],
    /// Its methods, in declaration order.
    pub methods: Vec<MethodSchema>,
    /// Options for its package's file, such as `("go_package", "example.com/pi;pi")`: the
    /// option's name and its value (a string's text; `true` or `false` for
    /// `java_multiple_files`).
    pub file_options: &'static [(&'static str, &'static str)],
    /// The Rust crate declaring the service, for the default `go_package`.
    pub crate_name: &'static str,
    /// Whether its errors carry google.rpc details (`#[service(rich_errors)]`): its export then
    /// includes `google/rpc/status.proto` and `google/rpc/error_details.proto`.
    pub rich_errors: bool,
}

impl ServiceSchema {
    /// The service's fully qualified name, such as `pi.PiCalculator` (the bare name in the
    /// root package).
    pub fn full_name(&self) -> String {
        match self.package {
            "" => self.name.to_owned(),
            package => format!("{package}.{}", self.name),
        }
    }

    /// The `.proto` file of this service's package, holding just this service and its types.
    ///
    /// ```
    /// # use protoless::{Message, Status};
    /// # #[derive(Message)] pub struct PiRequest { pub n: i32 }
    /// # #[derive(Message)] pub struct PiResponse { pub value: f64 }
    /// #[protoless::service(package = "pi")]
    /// pub trait PiCalculator {
    ///     async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status>;
    /// }
    ///
    /// let proto = PiCalculatorServer::schema().to_proto().unwrap();
    /// assert!(proto.contains("rpc Calc(PiRequest) returns (PiResponse);"));
    /// ```
    pub fn to_proto(&self) -> Result<String, SchemaError> {
        let mut file = ProtoFile::new(self.package);
        file.add_service(self.clone())?;
        file.render()
    }
}
