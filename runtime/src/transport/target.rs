//! The target grammar a client dials, as gRPC's naming document writes it: `HOST:PORT`,
//! `http://HOST:PORT`, `https://HOST:PORT`, `unix:PATH`, `unix:///ABSOLUTE/PATH`, fixed lists
//! (`ipv4:ADDR:PORT,...`, `ipv6:[ADDR]:PORT,...`), `dns:[//DNS_IP:DNS_PORT/]HOST[:PORT]` and
//! `etcd://HOST:PORT/PREFIX`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::DuplexStream;

use http::uri::{Authority, Scheme};
use http::Uri;

use crate::Status;

/// The port of a `dns:` or `ipv4:`/`ipv6:` target that names none, as in gRPC.
const DEFAULT_PORT: u16 = 443;

/// Where a channel connects, and how.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// How the target becomes addresses.
    pub(crate) resolution: Resolution,
    /// `https://`: TLS whatever else is configured.
    pub(crate) tls: bool,
    /// The request URIs' scheme.
    pub(crate) scheme: Scheme,
    /// Every request's `:authority`; `None`: the address the call goes to (fixed lists and
    /// etcd, whose addresses are all a caller knows).
    pub(crate) authority: Option<Authority>,
}

/// How a target becomes the addresses a channel connects to.
#[derive(Clone)]
pub(crate) enum Resolution {
    /// These, for ever.
    Fixed(Vec<Address>),
    /// Every A and AAAA record of `host`, each with `port`; asking the system's resolver, or
    /// the DNS server at `server`.
    Dns {
        server: Option<SocketAddr>,
        host: String,
        port: u16,
    },
    /// The servers registered in the etcd at `endpoint` (`HOST:PORT`) under `prefix`.
    Etcd { endpoint: String, prefix: String },
    /// What an application's resolver reports.
    Custom(Arc<dyn crate::resolve::Resolver>),
}

impl std::fmt::Debug for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resolution::Fixed(addresses) => f.debug_tuple("Fixed").field(addresses).finish(),
            Resolution::Dns { server, host, port } => f
                .debug_struct("Dns")
                .field("server", server)
                .field("host", host)
                .field("port", port)
                .finish(),
            Resolution::Etcd { endpoint, prefix } => f
                .debug_struct("Etcd")
                .field("endpoint", endpoint)
                .field("prefix", prefix)
                .finish(),
            Resolution::Custom(_) => f.write_str("Custom"),
        }
    }
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

impl PartialEq for Address {
    fn eq(&self, other: &Address) -> bool {
        match (self, other) {
            (Address::Tcp(a), Address::Tcp(b)) => a == b,
            (Address::Unix(a), Address::Unix(b)) => a == b,
            (Address::InProcess(a), Address::InProcess(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
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

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp(address) => f.write_str(address),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::InProcess(_) => f.write_str("in-process"),
        }
    }
}

impl Address {
    /// The `:authority` of a call to this address when the target names none.
    pub(crate) fn authority(&self) -> Authority {
        match self {
            Address::Tcp(address) => address
                .parse()
                .unwrap_or_else(|_| Authority::from_static("localhost")),
            // What grpc-go and grpcio send as :authority for a Unix socket.
            Address::Unix(_) => Authority::from_static("localhost"),
            Address::InProcess(_) => Authority::from_static("in-process"),
        }
    }

    /// The host TLS verifies and `no_proxy` lists, when the target names none.
    pub(crate) fn host(&self) -> &str {
        match self {
            Address::Tcp(address) => match address.rsplit_once(':') {
                Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
                None => address,
            },
            Address::Unix(_) => "localhost",
            Address::InProcess(_) => "in-process",
        }
    }
}

impl Target {
    /// Parses `target`; `INVALID_ARGUMENT` for a malformed one, `UNIMPLEMENTED` for a scheme
    /// this client does not resolve.
    pub(crate) fn parse(target: &str) -> Result<Target, Status> {
        let invalid =
            |why: &str| Status::invalid_argument(format!("invalid target {target:?}: {why}"));
        if let Some(path) = target.strip_prefix("unix:") {
            return Self::unix(target, path);
        }
        for (scheme, v6) in [("ipv4:", false), ("ipv6:", true)] {
            if let Some(list) = target.strip_prefix(scheme) {
                let addresses = list
                    .split(',')
                    .map(|address| ip_list_entry(address, v6).map_err(|why| invalid(&why)))
                    .collect::<Result<_, _>>()?;
                return Ok(Target::fixed(addresses));
            }
        }
        if let Some(rest) = target.strip_prefix("dns:") {
            return Self::dns(rest).map_err(|why| invalid(&why));
        }
        if let Some(rest) = target.strip_prefix("etcd://") {
            let (endpoint, prefix) = rest
                .split_once('/')
                .filter(|(endpoint, prefix)| !endpoint.is_empty() && !prefix.is_empty())
                .ok_or_else(|| invalid("expected etcd://HOST:PORT/PREFIX"))?;
            let prefix = prefix.trim_end_matches('/');
            return Ok(Target {
                resolution: Resolution::Etcd {
                    endpoint: endpoint.to_owned(),
                    prefix: prefix.to_owned(),
                },
                tls: false,
                scheme: Scheme::HTTP,
                authority: None,
            });
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
                "target scheme {scheme} is not supported: use HOST:PORT, http://, https://, \
                 unix:, ipv4:, ipv6:, dns: or etcd://"
            )));
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| Status::invalid_argument(format!("target {target:?} has no host")))?;
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let address = Address::Tcp(format!("{}:{port}", authority.host()));
        Ok(Target {
            resolution: Resolution::Fixed(vec![address]),
            tls,
            scheme,
            authority: Some(authority),
        })
    }

    /// A fixed list of TCP addresses, each its own `:authority`.
    fn fixed(addresses: Vec<Address>) -> Target {
        Target {
            resolution: Resolution::Fixed(addresses),
            tls: false,
            scheme: Scheme::HTTP,
            authority: None,
        }
    }

    /// `dns:[//DNS_IP:DNS_PORT/]HOST[:PORT]`, after the `dns:`.
    fn dns(rest: &str) -> Result<Target, String> {
        let (server, name) = match rest.strip_prefix("//") {
            Some(rest) => {
                let (server, name) = rest
                    .split_once('/')
                    .ok_or("expected dns:///HOST:PORT or dns://DNS_IP:DNS_PORT/HOST:PORT")?;
                let server = if server.is_empty() {
                    None
                } else {
                    let server = server
                        .parse::<SocketAddr>()
                        .or_else(|_| server.parse().map(|ip| SocketAddr::new(ip, 53)))
                        .map_err(|_| format!("the DNS server {server:?} is not IP[:PORT]"))?;
                    Some(server)
                };
                (server, name)
            }
            None => (None, rest),
        };
        let authority: Authority = name
            .parse()
            .map_err(|error| format!("{name:?} is not HOST[:PORT]: {error}"))?;
        if authority.host().is_empty() {
            return Err("no host to resolve".to_owned());
        }
        let port = authority.port_u16().unwrap_or(DEFAULT_PORT);
        Ok(Target {
            resolution: Resolution::Dns {
                server,
                host: authority
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port,
            },
            tls: false,
            scheme: Scheme::HTTP,
            authority: Some(authority),
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
            resolution: Resolution::Fixed(vec![Address::Unix(PathBuf::from(path))]),
            tls: false,
            scheme: Scheme::HTTP,
            // What grpc-go and grpcio send as :authority for a Unix socket.
            authority: Some(Authority::from_static("localhost")),
        })
    }

    /// A server in this process, reached through `connect`.
    pub(crate) fn in_process(connect: Arc<dyn Fn() -> DuplexStream + Send + Sync>) -> Target {
        Target {
            resolution: Resolution::Fixed(vec![Address::InProcess(connect)]),
            tls: false,
            scheme: Scheme::HTTP,
            authority: Some(Authority::from_static("in-process")),
        }
    }

    /// Whatever an application's `resolver` reports, each address its own `:authority`.
    pub(crate) fn custom(resolver: Arc<dyn crate::resolve::Resolver>) -> Target {
        Target {
            resolution: Resolution::Custom(resolver),
            tls: false,
            scheme: Scheme::HTTP,
            authority: None,
        }
    }

    /// The target's host, if it names one: the name TLS verifies the server's certificate
    /// against, and the one `no_proxy` lists.
    pub(crate) fn host(&self) -> Option<&str> {
        self.authority.as_ref().map(Authority::host)
    }
}

/// One `ADDR[:PORT]` of an `ipv4:` list, or `[ADDR]:PORT` / `ADDR` of an `ipv6:` list.
fn ip_list_entry(entry: &str, v6: bool) -> Result<Address, String> {
    let bad = || format!("{entry:?} is not an IPv{} address", if v6 { 6 } else { 4 });
    let (ip, port) = if v6 {
        match entry.strip_prefix('[') {
            Some(rest) => {
                let (ip, port) = rest.split_once(']').ok_or_else(bad)?;
                let port = match port.strip_prefix(':') {
                    Some(port) => port.parse().map_err(|_| bad())?,
                    None if port.is_empty() => DEFAULT_PORT,
                    None => return Err(bad()),
                };
                (ip, port)
            }
            None => (entry, DEFAULT_PORT),
        }
    } else {
        match entry.split_once(':') {
            Some((ip, port)) => (ip, port.parse().map_err(|_| bad())?),
            None => (entry, DEFAULT_PORT),
        }
    };
    let valid = if v6 {
        ip.parse::<Ipv6Addr>().is_ok()
    } else {
        ip.parse::<Ipv4Addr>().is_ok()
    };
    if !valid {
        return Err(bad());
    }
    Ok(Address::Tcp(if v6 {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }))
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.resolution {
            Resolution::Fixed(addresses) => match &addresses[..] {
                [Address::Tcp(address)] => write!(f, "{}://{address}", self.scheme),
                [address] => write!(f, "{address}"),
                addresses => {
                    let listed: Vec<String> = addresses.iter().map(ToString::to_string).collect();
                    write!(f, "{}", listed.join(","))
                }
            },
            Resolution::Dns { server, host, port } => match server {
                Some(server) => write!(f, "dns://{server}/{host}:{port}"),
                None => write!(f, "dns:///{host}:{port}"),
            },
            Resolution::Etcd { endpoint, prefix } => write!(f, "etcd://{endpoint}/{prefix}"),
            Resolution::Custom(_) => write!(f, "custom resolver"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(target: &str) -> Vec<Address> {
        match Target::parse(target).unwrap().resolution {
            Resolution::Fixed(addresses) => addresses,
            other => panic!("{target} parsed as {other:?}"),
        }
    }

    fn unix_path(target: &str) -> PathBuf {
        match &addresses(target)[..] {
            [Address::Unix(path)] => path.clone(),
            other => panic!("{target} parsed as {other:?}"),
        }
    }

    fn tcp(list: &[&str]) -> Vec<Address> {
        list.iter().map(|a| Address::Tcp((*a).to_owned())).collect()
    }

    #[test]
    fn every_form_of_the_grammar() {
        let plain = Target::parse("127.0.0.1:50051").unwrap();
        assert!(!plain.tls);
        assert_eq!(addresses("127.0.0.1:50051"), tcp(&["127.0.0.1:50051"]));
        let http = Target::parse("http://localhost:8080").unwrap();
        assert!(!http.tls && http.authority.unwrap() == "localhost:8080");
        let https = Target::parse("https://example.com").unwrap();
        assert!(https.tls);
        assert_eq!(https.host(), Some("example.com"));
        assert_eq!(addresses("https://example.com"), tcp(&["example.com:443"]));
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
    fn fixed_lists_dns_and_etcd() {
        assert_eq!(
            addresses("ipv4:127.0.0.1:1,127.0.0.2:2,10.0.0.1"),
            tcp(&["127.0.0.1:1", "127.0.0.2:2", "10.0.0.1:443"])
        );
        assert_eq!(
            addresses("ipv6:[::1]:50051,::2"),
            tcp(&["[::1]:50051", "[::2]:443"])
        );
        let list = Target::parse("ipv4:127.0.0.1:1").unwrap();
        assert!(
            list.authority.is_none(),
            "each address is its own authority"
        );
        for (target, server, host, port) in [
            (
                "dns:///greeter.internal:50051",
                None,
                "greeter.internal",
                50051,
            ),
            ("dns:greeter.internal", None, "greeter.internal", 443),
            (
                "dns://127.0.0.1:5353/svc.test:80",
                Some("127.0.0.1:5353"),
                "svc.test",
                80,
            ),
            (
                "dns://10.0.0.2/svc.test:80",
                Some("10.0.0.2:53"),
                "svc.test",
                80,
            ),
        ] {
            match Target::parse(target).unwrap().resolution {
                Resolution::Dns {
                    server: s,
                    host: h,
                    port: p,
                } => {
                    assert_eq!(s.map(|s| s.to_string()).as_deref(), server, "{target}");
                    assert_eq!((h.as_str(), p), (host, port), "{target}");
                }
                other => panic!("{target} parsed as {other:?}"),
            }
        }
        match Target::parse("etcd://127.0.0.1:2379/services/greeter/")
            .unwrap()
            .resolution
        {
            Resolution::Etcd { endpoint, prefix } => {
                assert_eq!(
                    (endpoint.as_str(), prefix.as_str()),
                    ("127.0.0.1:2379", "services/greeter")
                );
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn malformed_targets_say_what_is_wrong() {
        for (target, code) in [
            ("unix:", crate::Code::InvalidArgument),
            ("unix://host/path", crate::Code::InvalidArgument),
            ("http://", crate::Code::InvalidArgument),
            ("ftp://host:1", crate::Code::Unimplemented),
            ("ipv4:127.0.0.1:1,localhost:2", crate::Code::InvalidArgument),
            ("ipv4:127.0.0.1:x", crate::Code::InvalidArgument),
            ("ipv6:[::1:1", crate::Code::InvalidArgument),
            ("dns://not-an-ip/host:1", crate::Code::InvalidArgument),
            ("dns:///", crate::Code::InvalidArgument),
            ("etcd://127.0.0.1:2379", crate::Code::InvalidArgument),
            ("etcd://127.0.0.1:2379/", crate::Code::InvalidArgument),
        ] {
            let status = Target::parse(target).unwrap_err();
            assert_eq!(status.code(), code, "{target}: {status}");
        }
    }
}
