//! Name resolution: how a channel's target becomes the addresses it connects to.
//!
//! The target's scheme picks the resolver, as in gRPC's naming document:
//!
//! | target | addresses |
//! | --- | --- |
//! | `HOST:PORT`, `http://`, `https://`, `unix:` | that one (the system resolves a host name when dialling) |
//! | `ipv4:ADDR:PORT,...`, `ipv6:[ADDR]:PORT,...` | that fixed list |
//! | `dns:///HOST:PORT` | every A and AAAA record of `HOST`, from the system's resolver |
//! | `dns://DNS_IP:DNS_PORT/HOST:PORT` | the same, asking that DNS server (feature `dns`) |
//! | `etcd://HOST:PORT/PREFIX` | the servers registered under `PREFIX` in that etcd, kept current by a watch (see [`etcd`](crate::etcd)) |
//!
//! DNS targets are resolved again when a connection fails or ends, at most every 30 seconds.
//! Any other source of addresses plugs in as a [`Resolver`]:
//!
//! ```
//! use protoless::resolve::{Resolver, ResolverUpdates};
//! use protoless::Channel;
//!
//! /// The replicas a configuration file lists, read once.
//! struct FromFile(std::path::PathBuf);
//!
//! impl Resolver for FromFile {
//!     fn resolve(&self, updates: ResolverUpdates) -> protoless::resolve::ResolveFuture {
//!         let path = self.0.clone();
//!         Box::pin(async move {
//!             match std::fs::read_to_string(&path) {
//!                 Ok(text) => updates.update(text.lines().map(str::to_owned).collect()),
//!                 Err(error) => updates.fail(protoless::Status::unavailable(error.to_string())),
//!             }
//!         })
//!     }
//! }
//!
//! # fn run() -> Result<(), protoless::Status> {
//! let channel = Channel::resolving(FromFile("replicas.txt".into())).lazy()?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::client::balance::Balancer;
use crate::transport::Address;
use crate::Status;

/// The least time between two DNS lookups of one target that succeeded.
const MIN_DNS_INTERVAL: Duration = Duration::from_secs(30);
/// After a failed lookup, the wait before the next (doubling up to [`MIN_DNS_INTERVAL`]).
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// What [`Resolver::resolve`] returns: the resolver's work, for the channel to run.
pub type ResolveFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of addresses for a channel: DNS, a registry, a file.
///
/// The channel calls [`resolve`](Self::resolve) once, when its first call starts, and runs the
/// future until the channel is dropped. The future reports each new list of addresses through
/// its [`ResolverUpdates`], and may wait for
/// [`ResolverUpdates::re_resolution_requested`] to look again.
pub trait Resolver: Send + Sync + 'static {
    /// Resolves for as long as the channel lives, reporting through `updates`.
    fn resolve(&self, updates: ResolverUpdates) -> ResolveFuture;
}

/// How a [`Resolver`] tells its channel what it found.
pub struct ResolverUpdates {
    balancer: Weak<Balancer>,
    re_resolve: Arc<Notify>,
}

impl ResolverUpdates {
    pub(crate) fn new(balancer: Weak<Balancer>, re_resolve: Arc<Notify>) -> ResolverUpdates {
        ResolverUpdates {
            balancer,
            re_resolve,
        }
    }

    /// The addresses now: each `HOST:PORT` (an IPv6 host in brackets), or `unix:PATH`. The
    /// channel keeps its connections to addresses still listed, connects to new ones (as its
    /// picker says) and closes the rest once their calls end.
    pub fn update(&self, addresses: Vec<String>) {
        if let Some(balancer) = self.balancer.upgrade() {
            let addresses = addresses
                .into_iter()
                .map(|address| match address.strip_prefix("unix:") {
                    Some(path) => Address::Unix(path.trim_start_matches("//").into()),
                    None => Address::Tcp(address),
                })
                .collect();
            balancer.set_addresses(addresses);
        }
    }

    /// Resolution failed: while the channel has no addresses, its calls fail with `status`
    /// (which should be `UNAVAILABLE`). Addresses reported before stay in use.
    pub fn fail(&self, status: Status) {
        if let Some(balancer) = self.balancer.upgrade() {
            balancer.resolution_failed(status);
        }
    }

    /// Waits until the channel asks for a fresh look: a connection failed or ended.
    pub async fn re_resolution_requested(&self) {
        self.re_resolve.notified().await;
    }

    /// Whether the channel is gone, so that reporting is pointless.
    pub fn is_closed(&self) -> bool {
        self.balancer.strong_count() == 0
    }
}

impl std::fmt::Debug for ResolverUpdates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolverUpdates")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// `dns:` targets: every A and AAAA record of a host, looked up again when the channel asks,
/// at most every 30 seconds.
pub(crate) struct Dns {
    host: String,
    port: u16,
    server: Option<SocketAddr>,
}

impl Dns {
    pub(crate) fn new(host: String, port: u16, server: Option<SocketAddr>) -> Dns {
        Dns { host, port, server }
    }
}

impl Resolver for Dns {
    fn resolve(&self, updates: ResolverUpdates) -> ResolveFuture {
        let (host, port, server) = (self.host.clone(), self.port, self.server);
        Box::pin(async move {
            let mut retry = FIRST_RETRY;
            loop {
                let looked_up = Instant::now();
                match lookup(&host, port, server).await {
                    Ok(addresses) => {
                        retry = FIRST_RETRY;
                        updates.update(
                            addresses
                                .into_iter()
                                .map(|address| address.to_string())
                                .collect(),
                        );
                        updates.re_resolution_requested().await;
                        tokio::time::sleep_until(looked_up + MIN_DNS_INTERVAL).await;
                    }
                    Err(status) => {
                        // With no addresses nothing asks again: look again after a backoff.
                        updates.fail(status);
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(MIN_DNS_INTERVAL);
                    }
                }
            }
        })
    }
}

/// `host`'s addresses, each with `port`.
async fn lookup(
    host: &str,
    port: u16,
    server: Option<SocketAddr>,
) -> Result<Vec<SocketAddr>, Status> {
    let failed = |error: &dyn std::fmt::Display| {
        Status::unavailable(format!("DNS lookup of {host} failed: {error}"))
    };
    match server {
        None => {
            let mut addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
                .await
                .map_err(|error| failed(&error))?
                .collect();
            addresses.dedup();
            Ok(addresses)
        }
        Some(server) => dns_server::lookup(server, host, port)
            .await
            .map_err(|error| failed(&error)),
    }
}

#[cfg(feature = "dns")]
mod dns_server {
    //! Lookups at a chosen DNS server, through hickory.

    use std::net::SocketAddr;

    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    use hickory_resolver::name_server::TokioConnectionProvider;
    use hickory_resolver::Resolver;

    pub(super) async fn lookup(
        server: SocketAddr,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, String> {
        let mut config = ResolverConfig::new();
        config.add_name_server(NameServerConfig::new(
            server,
            hickory_resolver::proto::xfer::Protocol::Udp,
        ));
        let resolver =
            Resolver::builder_with_config(config, TokioConnectionProvider::default()).build();
        let found = resolver
            .lookup_ip(host)
            .await
            .map_err(|error| error.to_string())?;
        Ok(found.iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }
}

#[cfg(not(feature = "dns"))]
mod dns_server {
    use std::net::SocketAddr;

    pub(super) async fn lookup(
        server: SocketAddr,
        _host: &str,
        _port: u16,
    ) -> Result<Vec<SocketAddr>, String> {
        Err(format!(
            "asking the DNS server {server} needs the `dns` feature of protoless \
             (dns:///HOST:PORT asks the system's resolver without it)"
        ))
    }
}
