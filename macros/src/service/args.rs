//! The arguments of `#[service(...)]`: `package = "..."`, `name = "..."`, `crate = "..."`.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{LitStr, Path};

use crate::attr::is_proto_identifier;
use crate::errors::Errors;

#[derive(Default)]
pub(super) struct Args {
    /// The proto package, dotted, or empty for none.
    pub(super) package: Option<LitStr>,
    /// A proto name replacing the trait's.
    pub(super) name: Option<LitStr>,
    /// Where the protoless crate is, when it was renamed in Cargo.toml.
    pub(super) krate: Option<Path>,
    /// File options for the package's `.proto` file (`go_package = "..."`, ...): the option's
    /// name and its value (a string's text, or `true`/`false`).
    pub(super) file_options: Vec<(String, String)>,
    /// `rich_errors`: the service's errors carry google.rpc details, so its export includes
    /// google/rpc/status.proto and google/rpc/error_details.proto.
    pub(super) rich_errors: bool,
}

/// The file options `#[service]` takes, and whether each is a bool (the others are strings).
pub(super) const FILE_OPTIONS: [(&str, bool); 9] = [
    ("go_package", false),
    ("java_package", false),
    ("java_outer_classname", false),
    ("java_multiple_files", true),
    ("csharp_namespace", false),
    ("objc_class_prefix", false),
    ("php_namespace", false),
    ("ruby_package", false),
    ("swift_prefix", false),
];

impl Args {
    pub(super) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
        let mut args = Args::default();
        let parser = syn::meta::parser(|meta| args.key(&meta, errors));
        if let Err(error) = parser.parse2(tokens) {
            errors.push(error);
        }
        args
    }

    fn key(&mut self, meta: &ParseNestedMeta, errors: &mut Errors) -> syn::Result<()> {
        let duplicate = |key: &str, errors: &mut Errors| {
            errors.at(&meta.path, format!("duplicate `{key}` in #[service]"));
        };
        if meta.path.is_ident("package") {
            let package: LitStr = meta.value()?.parse()?;
            if !package.value().split('.').all(is_proto_identifier) {
                errors.at(
                    &package,
                    "invalid package name: use dot-separated identifiers such as \"pi\" or \"acme.cache.v1\"",
                );
            }
            if self.package.replace(package).is_some() {
                duplicate("package", errors);
            }
        } else if meta.path.is_ident("name") {
            let name: LitStr = meta.value()?.parse()?;
            if !is_proto_identifier(&name.value()) {
                errors.at(
                    &name,
                    "a service name starts with a letter and holds only letters, digits and `_`",
                );
            }
            if self.name.replace(name).is_some() {
                duplicate("name", errors);
            }
        } else if meta.path.is_ident("crate") {
            let path: LitStr = meta.value()?.parse()?;
            if self.krate.replace(path.parse()?).is_some() {
                duplicate("crate", errors);
            }
        } else if meta.path.is_ident("rich_errors") {
            if std::mem::replace(&mut self.rich_errors, true) {
                duplicate("rich_errors", errors);
            }
        } else if let Some((name, boolean)) = FILE_OPTIONS
            .iter()
            .find(|(name, _)| meta.path.is_ident(name))
        {
            let value = if *boolean {
                let value: syn::LitBool = meta.value()?.parse()?;
                value.value().to_string()
            } else {
                let value: LitStr = meta.value()?.parse()?;
                value.value()
            };
            if self.file_options.iter().any(|(known, _)| known == name) {
                duplicate(name, errors);
            }
            self.file_options.push(((*name).to_owned(), value));
        } else {
            return Err(meta.error(
                "unknown #[service] argument: expected `package = \"...\"`, `name = \"...\"`, \
                 `crate = \"...\"`, `rich_errors` or a file option (`go_package`, `java_package`, \
                 `java_outer_classname`, `java_multiple_files`, `csharp_namespace`, \
                 `objc_class_prefix`, `php_namespace`, `ruby_package`, `swift_prefix`)",
            ));
        }
        Ok(())
    }
}
