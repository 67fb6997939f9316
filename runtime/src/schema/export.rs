//! Writing every package's `.proto` file into a folder, and checking that committed files are
//! current (and that a change does not break the wire for existing peers).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::diff::{breaking_changes, line_diff};
use super::{ProtoFile, SchemaError, ServiceSchema};

/// The `.proto` text of each package the services belong to, keyed by the file's path (see
/// [`file_name`]).
///
/// Services of one package share a file, and types they share are defined once in it.
pub fn render_packages(
    services: impl IntoIterator<Item = ServiceSchema>,
) -> Result<BTreeMap<String, String>, SchemaError> {
    let mut files: BTreeMap<&'static str, ProtoFile> = BTreeMap::new();
    let mut rich_errors = false;
    for service in services {
        rich_errors |= service.rich_errors;
        files
            .entry(service.package)
            .or_insert_with(|| ProtoFile::new(service.package))
            .add_service(service)?;
    }
    let mut rendered = files
        .into_iter()
        .map(|(package, file)| Ok((file_name(package), file.render()?)))
        .collect::<Result<BTreeMap<_, _>, SchemaError>>()?;
    if rich_errors {
        rendered.extend(google_rpc_files()?);
    }
    Ok(rendered)
}

/// `google/rpc/status.proto` and `google/rpc/error_details.proto`, rendered from the rich-error
/// types ([`crate::error_details`]): what other languages' clients compile to read the details
/// of a `#[service(rich_errors)]` service, equal to googleapis' own files descriptor for
/// descriptor (options aside), with their options.
fn google_rpc_files() -> Result<Vec<(String, String)>, SchemaError> {
    use crate::error_details::*;
    use crate::Message;
    let options = |outer: &str, go_package: &str| {
        vec![
            ("go_package", go_package.to_owned()),
            ("java_multiple_files", "true".to_owned()),
            ("java_outer_classname", outer.to_owned()),
            ("java_package", "com.google.rpc".to_owned()),
            ("objc_class_prefix", "RPC".to_owned()),
        ]
    };
    let status = ProtoFile::of_types(
        "google.rpc",
        vec![RpcStatus::schema()],
        options(
            "StatusProto",
            "google.golang.org/genproto/googleapis/rpc/status;status",
        ),
    );
    let details = ProtoFile::of_types(
        "google.rpc",
        vec![
            ErrorInfo::schema(),
            RetryInfo::schema(),
            DebugInfo::schema(),
            QuotaFailure::schema(),
            PreconditionFailure::schema(),
            BadRequest::schema(),
            RequestInfo::schema(),
            ResourceInfo::schema(),
            Help::schema(),
            LocalizedMessage::schema(),
        ],
        options(
            "ErrorDetailsProto",
            "google.golang.org/genproto/googleapis/rpc/errdetails;errdetails",
        ),
    );
    Ok(vec![
        ("google/rpc/status.proto".to_owned(), status.render()?),
        (
            "google/rpc/error_details.proto".to_owned(),
            details.render()?,
        ),
    ])
}

/// Where a package's file goes, relative to the export folder: one folder per package part,
/// as buf's `PACKAGE_DIRECTORY_MATCH` asks, and the file named after the last part that is
/// not a version (`unpackaged.proto` for services without a package). Reflection serves the
/// file under the same name.
///
/// ```
/// use protoless::schema::file_name;
///
/// assert_eq!(file_name("helloworld"), "helloworld/helloworld.proto");
/// assert_eq!(file_name("grpc.health.v1"), "grpc/health/v1/health.proto");
/// assert_eq!(file_name("acme.cache.v1beta2"), "acme/cache/v1beta2/cache.proto");
/// ```
pub fn file_name(package: &str) -> String {
    if package.is_empty() {
        return "unpackaged.proto".to_owned();
    }
    let parts: Vec<&str> = package.split('.').collect();
    let is_version = |part: &str| {
        part.strip_prefix('v')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    let leaf = parts
        .iter()
        .rev()
        .find(|part| !is_version(part))
        .unwrap_or(&parts[parts.len() - 1]);
    format!("{}/{leaf}.proto", parts.join("/"))
}

/// Writes one `.proto` file per package into `dir`, at [`file_name`]'s path (folders created
/// as needed), returning their paths.
///
/// ```no_run
/// # use protoless::{Message, Status};
/// # #[derive(Message)] pub struct PiRequest { pub n: i32 }
/// # #[derive(Message)] pub struct PiResponse { pub value: f64 }
/// # #[protoless::service(package = "pi")]
/// # pub trait PiCalculator { async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status>; }
/// let written = protoless::schema::export("proto", [PiCalculatorServer::schema()])?;
/// assert_eq!(written, [std::path::Path::new("proto/pi/pi.proto")]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn export(
    dir: impl AsRef<Path>,
    services: impl IntoIterator<Item = ServiceSchema>,
) -> std::io::Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let files = render_packages(services).map_err(std::io::Error::other)?;
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// Checks that the `.proto` files committed in `dir` are exactly what the services export now.
///
/// Meant for a test, so that other-language teams always build from the truth:
///
/// ```no_run
/// # use protoless::{Message, Status};
/// # #[derive(Message)] pub struct PiRequest { pub n: i32 }
/// # #[derive(Message)] pub struct PiResponse { pub value: f64 }
/// # #[protoless::service(package = "pi")]
/// # pub trait PiCalculator { async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status>; }
/// #[test]
/// fn committed_proto_files_are_current() {
///     protoless::schema::check_exported("proto", [PiCalculatorServer::schema()]).unwrap();
/// }
/// ```
///
/// A stale file fails with a readable diff that lists wire-breaking changes (a field
/// renumbered, retyped, or removed without reserving its number; a method removed or changed)
/// apart from harmless ones. Set `PROTOLESS_OVERWRITE=1` to write the new files instead.
pub fn check_exported(
    dir: impl AsRef<Path>,
    services: impl IntoIterator<Item = ServiceSchema>,
) -> Result<(), Stale> {
    let dir = dir.as_ref();
    let files = render_packages(services).map_err(|error| Stale {
        problems: vec![format!("the services cannot be exported: {error}")],
    })?;
    let overwrite = std::env::var_os("PROTOLESS_OVERWRITE").is_some_and(|value| value != "0");
    let mut problems = Vec::new();
    for (name, exported) in files {
        let path = dir.join(&name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed == exported {
            continue;
        }
        if overwrite {
            let folder = path.parent().unwrap_or(dir);
            if let Err(error) =
                std::fs::create_dir_all(folder).and_then(|()| std::fs::write(&path, &exported))
            {
                problems.push(format!("{}: cannot write: {error}", path.display()));
            }
            continue;
        }
        problems.push(describe_stale(&path, &committed, &exported));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Stale { problems })
    }
}

fn describe_stale(path: &Path, committed: &str, exported: &str) -> String {
    let mut text = if committed.is_empty() {
        format!("{} is missing.\n", path.display())
    } else {
        format!("{} is stale.\n", path.display())
    };
    let breaking = breaking_changes(committed, exported);
    if breaking.is_empty() {
        text.push_str("No change breaks the wire for existing peers.\n");
    } else {
        text.push_str(
            "Wire-breaking changes (peers built from the committed file would misread messages):\n",
        );
        for change in breaking {
            text.push_str(&format!("  - {change}\n"));
        }
    }
    text.push_str("--- committed\n+++ exported\n");
    text.push_str(&line_diff(committed, exported));
    text.push_str("Rerun with PROTOLESS_OVERWRITE=1 to write the exported file.\n");
    text
}

/// Committed `.proto` files that differ from what the services export.
pub struct Stale {
    problems: Vec<String>,
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("\n"))
    }
}

/// The same readable text as `Display`, so that `.unwrap()` in a test prints the diff.
impl fmt::Debug for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n{self}")
    }
}

impl std::error::Error for Stale {}
