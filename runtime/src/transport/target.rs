//! The target grammar a client dials: `HOST:PORT`, `http://HOST:PORT`, `https://HOST:PORT`,
//! `unix:PATH` and `unix:///ABSOLUTE/PATH`, as gRPC's naming document writes them.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::DuplexStream;

use http::uri::{Authority, Scheme};
use http::Uri;

use crate::Status;

/// Where a channel connects, and how.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) address: Address,
    /// `https://`: TLS whatever else is configured.
    pub(crate) tls: bool,
    /// The request URIs' scheme and `:authority`.
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
}

/// What the dialer connects to.
#[derive(Clone)]
pub(crate) enum Address {
    /// `host:port`, resolved when dialling.
    Tcp(String),
    /// A Unix domain socket.
    Unix(PathBuf),
    /// A server in this process: each dial makes an in-memory stream it serves.
    InProcess(Arc<dyn Fn() -> DuplexStream + Send + Sync>),
}

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp(address) => f.debug_tuple("Tcp").field(address).finish(),
            Address::Unix(path) => f.debug_tuple("Unix").field(path).finish(),
            Address::InProcess(_) => f.write_str("InProcess"),
        }
    }
}

impl Target {
    /// Parses `target`; `INVALID_ARGUMENT` for a malformed one, `UNIMPLEMENTED` for a scheme
    /// this client does not resolve.
    pub(crate) fn parse(target: &str) -> Result<Target, Status> {
        if let Some(path) = target.strip_prefix("unix:") {
            return Self::unix(target, path);
        }
        let with_scheme;
        let uri_text = if target.contains("://") {
            target
        } else {
            with_scheme = format!("http://{target}");
            &with_scheme
        };
        let uri: Uri = uri_text.parse().map_err(|error| {
            Status::invalid_argument(format!("invalid target {target:?}: {error}"))
        })?;
        let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
        let tls = if scheme == Scheme::HTTPS {
            true
        } else if scheme == Scheme::HTTP {
            false
        } else {
            return Err(Status::unimplemented(format!(
                "target scheme {scheme} is not supported: use HOST:PORT, http://, https:// or unix:"
            )));
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| Status::invalid_argument(format!("target {target:?} has no host")))?;
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let address = Address::Tcp(format!("{}:{port}", authority.host()));
        Ok(Target {
            address,
            tls,
            scheme,
            authority,
        })
    }

    fn unix(target: &str, path: &str) -> Result<Target, Status> {
        // `unix:///abs/path` has an empty authority; `unix:path` and `unix:/abs/path` none.
        let path = match path.strip_prefix("//") {
            Some(rest) if rest.starts_with('/') => rest,
            Some(_) => {
                return Err(Status::invalid_argument(format!(
                    "invalid target {target:?}: unix:// needs an absolute path (unix:///PATH)"
                )))
            }
            None => path,
        };
        if path.is_empty() {
            return Err(Status::invalid_argument(format!(
                "invalid target {target:?}: no socket path"
            )));
        }
        Ok(Target {
            address: Address::Unix(PathBuf::from(path)),
            tls: false,
            scheme: Scheme::HTTP,
            // What grpc-go and grpcio send as :authority for a Unix socket.
            authority: Authority::from_static("localhost"),
        })
    }

    /// A server in this process, reached through `connect`.
    pub(crate) fn in_process(connect: Arc<dyn Fn() -> DuplexStream + Send + Sync>) -> Target {
        Target {
            address: Address::InProcess(connect),
            tls: false,
            scheme: Scheme::HTTP,
            authority: Authority::from_static("in-process"),
        }
    }

    /// The target's host: the name TLS verifies the server's certificate against, and the one
    /// `no_proxy` lists.
    pub(crate) fn host(&self) -> &str {
        self.authority.host()
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.address {
            Address::Tcp(address) => write!(f, "{}://{address}", self.scheme),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::InProcess(_) => f.write_str("in-process"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix_path(target: &str) -> PathBuf {
        match Target::parse(target).unwrap().address {
            Address::Unix(path) => path,
            other => panic!("{target} parsed as {other:?}"),
        }
    }

    #[test]
    fn every_form_of_the_grammar() {
        let plain = Target::parse("127.0.0.1:50051").unwrap();
        assert!(!plain.tls);
        assert!(matches!(plain.address, Address::Tcp(ref a) if a == "127.0.0.1:50051"));
        let http = Target::parse("http://localhost:8080").unwrap();
        assert!(!http.tls && http.authority == "localhost:8080");
        let https = Target::parse("https://example.com").unwrap();
        assert!(https.tls);
        assert!(matches!(https.address, Address::Tcp(ref a) if a == "example.com:443"));
        assert_eq!(https.host(), "example.com");
        assert_eq!(
            unix_path("unix:relative.sock"),
            PathBuf::from("relative.sock")
        );
        assert_eq!(unix_path("unix:/tmp/a.sock"), PathBuf::from("/tmp/a.sock"));
        assert_eq!(
            unix_path("unix:///tmp/a.sock"),
            PathBuf::from("/tmp/a.sock")
        );
    }

    #[test]
    fn malformed_targets_say_what_is_wrong() {
        for (target, code) in [
            ("unix:", crate::Code::InvalidArgument),
            ("unix://host/path", crate::Code::InvalidArgument),
            ("http://", crate::Code::InvalidArgument),
            ("ftp://host:1", crate::Code::Unimplemented),
        ] {
            let status = Target::parse(target).unwrap_err();
            assert_eq!(status.code(), code, "{target}: {status}");
        }
    }
}
