//! Renders schemas as `.proto` text: deterministic, one file per package, with the imports the
//! types need.

use std::collections::{BTreeSet, HashMap};
use std::fmt::{self, Write};

use super::{
    EnumSchema, FieldSchema, FieldType, Idempotency, MessageSchema, ServiceSchema, ValueType,
};

/// One `.proto` file: the services of one package and every type they reach.
///
/// ```
/// # use protoless::{Message, Status};
/// # #[derive(Message)] pub struct HelloRequest { pub name: String }
/// # #[derive(Message)] pub struct HelloReply { pub message: String }
/// #[protoless::service(package = "helloworld")]
/// pub trait Greeter {
///     async fn say_hello(&self, req: HelloRequest) -> Result<HelloReply, Status>;
/// }
///
/// let mut file = protoless::schema::ProtoFile::new("helloworld");
/// file.add_service(GreeterServer::schema()).unwrap();
/// let text = file.render().unwrap();
/// assert!(text.contains("package helloworld;"));
/// assert!(text.contains("message HelloReply {\n  string message = 1;\n}"));
/// ```
#[derive(Debug)]
pub struct ProtoFile {
    package: &'static str,
    services: Vec<ServiceSchema>,
    /// Messages declared for their own sake (a file of types, such as google.rpc's).
    messages: Vec<MessageSchema>,
    /// File options given outright, instead of the services'.
    options: Option<Vec<(&'static str, String)>>,
}

/// Why a set of schemas cannot be rendered as one `.proto` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SchemaError {}

/// The file options of `package`'s file, sorted by name, with their values: what its
/// services set (they must agree), and a `go_package` derived from the crate and package when
/// none does, so that protoc-gen-go needs no `M` flags.
pub(super) fn file_options(
    package: &str,
    services: &[ServiceSchema],
) -> Result<Vec<(&'static str, String)>, SchemaError> {
    let mut options: Vec<(&'static str, String, &'static str)> = Vec::new();
    for service in services {
        for &(name, value) in service.file_options {
            match options.iter().find(|(known, _, _)| *known == name) {
                Some((_, earlier, by)) if earlier != value => {
                    return Err(SchemaError {
                        message: format!(
                            "services {by} and {} of package `{package}` set option {name} to \
                             {earlier} and {value}: one file has one value; set it on one \
                             service, or the same on each",
                            service.name
                        ),
                    })
                }
                Some(_) => {}
                None => options.push((name, value.to_owned(), service.name)),
            }
        }
    }
    if !options.iter().any(|(name, _, _)| *name == "go_package") {
        let crate_name = services
            .first()
            .map_or("protoless", |service| service.crate_name);
        options.push(("go_package", default_go_package(crate_name, package), ""));
    }
    options.sort_by_key(|(name, _, _)| *name);
    Ok(options
        .into_iter()
        .map(|(name, value, _)| (name, value))
        .collect())
}

/// Whether a file option takes `true`/`false` (the others take strings).
pub(super) fn is_bool_option(name: &str) -> bool {
    name == "java_multiple_files"
}

/// `text` as a `.proto` string literal.
fn proto_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `CRATE/PACKAGE/PATH;NAME`: the import path under the crate's name, and a Go package name from
/// the proto package's last part (with the part before it when that is a version: `healthv1`).
fn default_go_package(crate_name: &str, package: &str) -> String {
    let parts: Vec<String> = package
        .split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_lowercase)
        .collect();
    let is_version = |part: &str| {
        part.strip_prefix('v')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    let name = match parts.as_slice() {
        [] => crate_name.replace('-', "_"),
        [.., before, last] if is_version(last) => format!("{before}{last}"),
        [.., last] => last.clone(),
    };
    let mut path = crate_name.to_owned();
    for part in &parts {
        path.push('/');
        path.push_str(part);
    }
    format!("{path};{name}")
}

impl ProtoFile {
    /// An empty file for `package`.
    pub fn new(package: &'static str) -> Self {
        Self {
            package,
            services: Vec::new(),
            messages: Vec::new(),
            options: None,
        }
    }

    /// Adds a service; it must belong to this file's package.
    pub fn add_service(&mut self, service: ServiceSchema) -> Result<&mut Self, SchemaError> {
        if service.package != self.package {
            return Err(SchemaError {
                message: format!(
                    "service {} is in package `{}`, not `{}`: each package gets its own file",
                    service.name, service.package, self.package
                ),
            });
        }
        self.services.push(service);
        Ok(self)
    }

    /// A file declaring `messages` (and the types they reach) with `options`, and no service.
    pub(crate) fn of_types(
        package: &'static str,
        messages: Vec<MessageSchema>,
        options: Vec<(&'static str, String)>,
    ) -> Self {
        Self {
            package,
            services: Vec::new(),
            messages,
            options: Some(options),
        }
    }

    /// The file's text.
    pub fn render(&self) -> Result<String, SchemaError> {
        let types = TypeCollector::collect(&self.services, &self.messages)?;
        let options = match &self.options {
            Some(options) => options.clone(),
            None => file_options(self.package, &self.services)?,
        };
        let mut out = String::new();
        self.write(&types, &options, &mut out)
            .expect("writing to a String cannot fail");
        Ok(out)
    }

    fn write(
        &self,
        types: &TypeCollector,
        options: &[(&'static str, String)],
        out: &mut String,
    ) -> fmt::Result {
        if self.services.is_empty() {
            writeln!(out, "// Generated by protoless. Do not edit by hand.")?;
        } else {
            let names: Vec<_> = self.services.iter().map(|service| service.name).collect();
            writeln!(
                out,
                "// Generated by protoless from the Rust service trait(s) {}. Do not edit by hand.",
                names.join(", ")
            )?;
        }
        writeln!(out, "syntax = \"proto3\";\n\npackage {};", self.package)?;
        if !types.imports.is_empty() {
            writeln!(out)?;
            for import in &types.imports {
                writeln!(out, "import \"{import}\";")?;
            }
        }
        writeln!(out)?;
        for (name, value) in options {
            if is_bool_option(name) {
                writeln!(out, "option {name} = {value};")?;
            } else {
                writeln!(out, "option {name} = {};", proto_string(value))?;
            }
        }
        for service in &self.services {
            writeln!(out)?;
            write_service(service, out)?;
        }
        for item in types
            .order
            .iter()
            .filter(|item| scope_of(item.name()).is_none())
        {
            writeln!(out)?;
            write_defined(item, types, "", out)?;
        }
        Ok(())
    }
}

pub(super) enum Defined {
    Message(MessageSchema),
    Enum(EnumSchema),
}

impl Defined {
    /// The name relative to the package: `Outer.Inner` for a nested type.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Defined::Message(message) => message.name,
            Defined::Enum(schema) => schema.name,
        }
    }
}

/// The message a type is declared in, for a nested type (`Outer` of `Outer.Inner`).
pub(super) fn scope_of(name: &str) -> Option<&str> {
    name.rsplit_once('.').map(|(scope, _)| scope)
}

/// The name a declaration uses: the last part of a nested type's name.
fn simple_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// Writes a type, the types nested in it inside it, every line indented by `indent`.
fn write_defined(
    item: &Defined,
    types: &TypeCollector,
    indent: &str,
    out: &mut String,
) -> fmt::Result {
    let mut text = String::new();
    match item {
        Defined::Message(message) => write_message(message, &mut text)?,
        Defined::Enum(schema) => write_enum(schema, &mut text)?,
    }
    let children: Vec<&Defined> = types
        .order
        .iter()
        .filter(|child| scope_of(child.name()) == Some(item.name()))
        .collect();
    if !children.is_empty() {
        let mut inner = String::new();
        for (index, child) in children.into_iter().enumerate() {
            if index > 0 {
                inner.push('\n');
            }
            write_defined(child, types, "  ", &mut inner)?;
        }
        // Nested declarations come first in the message, as in protobuf's own files.
        let opening = format!("message {} {{", simple_name(item.name()));
        let at = text.find(&opening).expect("a message opens with its name") + opening.len();
        if text[at..].starts_with("}\n") {
            text.replace_range(at..at + 2, &format!("\n{inner}}}\n"));
        } else {
            text.insert_str(at + 1, &format!("{inner}\n"));
        }
    }
    for line in text.lines() {
        if line.is_empty() {
            writeln!(out)?;
        } else {
            writeln!(out, "{indent}{line}")?;
        }
    }
    Ok(())
}

/// Walks from the methods to every type they reach, in discovery order, each defined once.
#[derive(Default)]
pub(super) struct TypeCollector {
    pub(super) order: Vec<Defined>,
    /// Rust type and rendered text of each defined name, to tell a second definition of the
    /// same name apart.
    seen: HashMap<&'static str, (&'static str, String)>,
    pub(super) imports: BTreeSet<&'static str>,
}

impl TypeCollector {
    pub(super) fn collect(
        services: &[ServiceSchema],
        roots: &[MessageSchema],
    ) -> Result<Self, SchemaError> {
        let mut collector = Self::default();
        // Messages a file declares for their own sake come first, in the order given.
        let mut walks = Vec::new();
        for root in roots {
            walks.extend(collector.define(root.clone())?);
        }
        for fields in walks {
            collector.walk(&fields)?;
        }
        for method in services.iter().flat_map(|service| &service.methods) {
            collector.message((method.input)())?;
            collector.message((method.output)())?;
        }
        for item in &collector.order {
            let Some(scope) = scope_of(item.name()) else {
                continue;
            };
            let declared = collector
                .order
                .iter()
                .any(|other| matches!(other, Defined::Message(message) if message.name == scope));
            if !declared {
                return Err(SchemaError {
                    message: format!(
                        "`{}` is declared inside message `{scope}`, which no method of this \
                         package reaches: use `{scope}` in a method, or give the type a \
                         top-level name",
                        item.name()
                    ),
                });
            }
        }
        Ok(collector)
    }

    fn message(&mut self, message: MessageSchema) -> Result<(), SchemaError> {
        match self.define(message)? {
            Some(fields) => self.walk(&fields),
            None => Ok(()),
        }
    }

    /// Adds a message defined in this file, unless it was already; returns its fields to walk.
    fn define(&mut self, message: MessageSchema) -> Result<Option<Vec<FieldSchema>>, SchemaError> {
        if let Some(import) = message.import {
            self.imports.insert(import);
            return Ok(None);
        }
        for (index, field) in message.fields.iter().enumerate() {
            if let Some(first) = message.fields[..index]
                .iter()
                .find(|other| other.number == field.number)
            {
                return Err(SchemaError {
                    message: format!(
                        "message {} gives number {} to both `{}` and `{}` (a member of a \
                         #[proto(oneof)] field and a field of the struct): pin another number \
                         with #[proto(tag = N)]",
                        message.name, field.number, first.name, field.name
                    ),
                });
            }
        }
        let mut text = String::new();
        write_message(&message, &mut text).expect("writing to a String cannot fail");
        if !self.first_definition(message.name, message.rust_name, text)? {
            return Ok(None);
        }
        let fields = message.fields.clone();
        self.order.push(Defined::Message(message));
        Ok(Some(fields))
    }

    /// Adds the types `fields` reach.
    fn walk(&mut self, fields: &[FieldSchema]) -> Result<(), SchemaError> {
        for field in fields {
            match field.field_type {
                FieldType::Singular(value)
                | FieldType::Optional(value)
                | FieldType::Repeated(value) => self.value(value)?,
                FieldType::Map(key, value) => {
                    self.value(key)?;
                    self.value(value)?;
                }
            }
        }
        Ok(())
    }

    fn value(&mut self, value: ValueType) -> Result<(), SchemaError> {
        match value {
            ValueType::Scalar(_) => Ok(()),
            ValueType::Message(schema) => self.message(schema()),
            ValueType::Enum(schema) => {
                let schema = schema();
                let mut text = String::new();
                write_enum(&schema, &mut text).expect("writing to a String cannot fail");
                if self.first_definition(schema.name, "", text)? {
                    self.order.push(Defined::Enum(schema));
                }
                Ok(())
            }
        }
    }

    /// Whether `name` is new; an error if another type was defined with that name before.
    fn first_definition(
        &mut self,
        name: &'static str,
        rust_name: &'static str,
        text: String,
    ) -> Result<bool, SchemaError> {
        match self.seen.get(name) {
            None => {
                self.seen.insert(name, (rust_name, text));
                Ok(true)
            }
            Some((previous_rust, previous)) if *previous_rust == rust_name && *previous == text => {
                Ok(false)
            }
            Some((previous_rust, previous)) => Err(SchemaError {
                message: format!(
                    "two different Rust types claim the proto name `{name}`: `{previous_rust}` and \
                     `{rust_name}`; rename one of them with #[proto(name = \"...\")]\n\
                     first:\n{previous}second:\n{text}"
                ),
            }),
        }
    }
}

fn write_docs(docs: &[&str], indent: &str, out: &mut String) -> fmt::Result {
    for line in docs {
        let line = line.strip_prefix(' ').unwrap_or(line).trim_end();
        if line.is_empty() {
            writeln!(out, "{indent}//")?;
        } else {
            writeln!(out, "{indent}// {line}")?;
        }
    }
    Ok(())
}

fn write_service(service: &ServiceSchema, out: &mut String) -> fmt::Result {
    write_docs(service.docs, "", out)?;
    writeln!(out, "service {} {{", service.name)?;
    for (index, method) in service.methods.iter().enumerate() {
        if index > 0 && !method.docs.is_empty() {
            writeln!(out)?;
        }
        write_docs(method.docs, "  ", out)?;
        let stream = |streaming: bool| if streaming { "stream " } else { "" };
        // Inside a service, a method's name hides a message of the same name: qualify it.
        let type_name = |name: &'static str| -> String {
            if name == method.name && !service.package.is_empty() {
                format!(".{}.{name}", service.package)
            } else if name == method.name {
                format!(".{name}")
            } else {
                name.to_owned()
            }
        };
        write!(
            out,
            "  rpc {}({}{}) returns ({}{})",
            method.name,
            stream(method.client_streaming),
            type_name((method.input)().name),
            stream(method.server_streaming),
            type_name((method.output)().name),
        )?;
        match method.idempotency {
            Idempotency::Unknown => writeln!(out, ";")?,
            Idempotency::NoSideEffects => writeln!(
                out,
                " {{\n    option idempotency_level = NO_SIDE_EFFECTS;\n  }}"
            )?,
            Idempotency::Idempotent => {
                writeln!(out, " {{\n    option idempotency_level = IDEMPOTENT;\n  }}")?
            }
        }
    }
    writeln!(out, "}}")
}

fn type_name(value: ValueType) -> &'static str {
    match value {
        ValueType::Scalar(scalar) => scalar.proto_name(),
        ValueType::Message(schema) => schema().name,
        ValueType::Enum(schema) => schema().name,
    }
}

fn write_message(message: &MessageSchema, out: &mut String) -> fmt::Result {
    write_docs(message.docs, "", out)?;
    let reserved = !message.reserved_numbers.is_empty() || !message.reserved_names.is_empty();
    if message.fields.is_empty() && !reserved {
        return writeln!(out, "message {} {{}}", simple_name(message.name));
    }
    writeln!(out, "message {} {{", simple_name(message.name))?;
    write_reserved(message, out)?;
    let mut fields = message.fields.iter().peekable();
    while let Some(field) = fields.next() {
        let Some(oneof) = field.oneof else {
            write_field(field, "  ", out)?;
            continue;
        };
        writeln!(out, "  oneof {oneof} {{")?;
        write_field(field, "    ", out)?;
        while let Some(member) = fields.next_if(|next| next.oneof == Some(oneof)) {
            write_field(member, "    ", out)?;
        }
        writeln!(out, "  }}")?;
    }
    writeln!(out, "}}")
}

fn write_field(field: &FieldSchema, indent: &str, out: &mut String) -> fmt::Result {
    write_docs(field.docs, indent, out)?;
    let declared = match field.field_type {
        FieldType::Singular(value) => type_name(value).to_owned(),
        // Messages have presence already, and oneof members too; `optional` is for the others.
        FieldType::Optional(value @ ValueType::Message(_)) => type_name(value).to_owned(),
        FieldType::Optional(value) if field.oneof.is_some() => type_name(value).to_owned(),
        FieldType::Optional(value) => format!("optional {}", type_name(value)),
        FieldType::Repeated(value) => format!("repeated {}", type_name(value)),
        FieldType::Map(key, value) => format!("map<{}, {}>", type_name(key), type_name(value)),
    };
    match field.json_name {
        Some(json_name) => writeln!(
            out,
            "{indent}{declared} {} = {} [json_name = {}];",
            field.name,
            field.number,
            proto_string(json_name)
        ),
        None => writeln!(out, "{indent}{declared} {} = {};", field.name, field.number),
    }
}

fn write_reserved(message: &MessageSchema, out: &mut String) -> fmt::Result {
    if !message.reserved_numbers.is_empty() {
        let ranges: Vec<String> = message
            .reserved_numbers
            .iter()
            .map(|&(start, end)| match (start, end) {
                (start, end) if start == end => start.to_string(),
                (start, crate::encoding::wire::MAX_FIELD_NUMBER) => format!("{start} to max"),
                (start, end) => format!("{start} to {end}"),
            })
            .collect();
        writeln!(out, "  reserved {};", ranges.join(", "))?;
    }
    if !message.reserved_names.is_empty() {
        let names: Vec<String> = message
            .reserved_names
            .iter()
            .map(|name| format!("\"{name}\""))
            .collect();
        writeln!(out, "  reserved {};", names.join(", "))?;
    }
    Ok(())
}

fn write_enum(schema: &EnumSchema, out: &mut String) -> fmt::Result {
    write_docs(schema.docs, "", out)?;
    writeln!(out, "enum {} {{", simple_name(schema.name))?;
    for value in &schema.values {
        write_docs(value.docs, "  ", out)?;
        writeln!(out, "  {} = {};", value.name, value.number)?;
    }
    writeln!(out, "}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_strings_are_written_as_proto_literals() {
        assert_eq!(proto_string("example.com/pi;pi"), "\"example.com/pi;pi\"");
        assert_eq!(proto_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\x0ad\"");
        assert_eq!(proto_string("Grpc.Health.V1"), "\"Grpc.Health.V1\"");
    }

    #[test]
    fn the_default_go_package_is_an_import_path_protoc_gen_go_accepts() {
        assert_eq!(
            default_go_package("protoless", "helloworld"),
            "protoless/helloworld;helloworld"
        );
        assert_eq!(
            default_go_package("my-app", "grpc.health.v1"),
            "my-app/grpc/health/v1;healthv1"
        );
        assert_eq!(default_go_package("my-app", ""), "my-app;my_app");
    }
}
