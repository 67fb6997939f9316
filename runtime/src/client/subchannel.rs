//! Subchannels: one connection to one address each, with gRPC's connectivity states (idle,
//! connecting, ready, transient failure) and its connection backoff between failed attempts
//! (gRPC's `connection-backoff.md`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::uri::Authority;
use tokio::net::{TcpStream, UnixStream};

use super::balance::Balancer;
use super::health_check::{self, Health};
use crate::keepalive::Keepalive;
use crate::transport::{Address, Io, Proxy};
use crate::Status;

/// How many bytes the server may send on one call before this side reads them.
const STREAM_WINDOW: u32 = 1024 * 1024;
/// How many bytes the server may send on all calls before this side reads them.
const CONNECTION_WINDOW: u32 = 2 * 1024 * 1024;

/// gRPC's connection backoff: the first wait after a failed connection attempt.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// ... multiplied by this after each further failure ...
const BACKOFF_MULTIPLIER: f64 = 1.6;
/// ... up to this ...
const MAX_BACKOFF: Duration = Duration::from_secs(120);
/// ... each wait randomised by ± this fraction.
const BACKOFF_JITTER: f64 = 0.2;
/// The least time a connection attempt gets before it counts as failed.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A subchannel's (or a channel's) connectivity state, as gRPC names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectivityState {
    /// No connection, and none being made: the next call (or the balancer) starts one.
    Idle,
    /// A connection is being made.
    Connecting,
    /// Connected: calls go out.
    Ready,
    /// The last connection attempt failed; the next waits for the backoff to pass.
    TransientFailure,
}

/// How every subchannel of a channel dials: the proxy, TLS, and the h2 settings.
pub(crate) struct Connector {
    /// The proxy TCP connections go through: `None` as the environment says for each address,
    /// `Some(None)` never.
    pub(crate) proxy: Option<Option<Proxy>>,
    /// The name TLS verifies, when the target names a host; else each address's own.
    #[cfg(feature = "tls")]
    pub(crate) host: Option<String>,
    /// TLS for every connection, when the target or the builder asked for it.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::ClientTls>,
    /// Keepalive pings, when configured.
    pub(crate) keepalive: Option<Keepalive>,
    /// The service whose health decides whether a connection gets calls (gRFC A17), if any.
    pub(crate) health_check: Option<String>,
    /// The request URIs' scheme.
    pub(crate) scheme: http::uri::Scheme,
    /// The web protocol calls go as, instead of native gRPC, if any.
    pub(crate) web: Option<super::WebProtocol>,
}

/// What a connection's background task reports to its subchannel.
pub(crate) struct Watcher {
    /// Whether calls are open on the connection (keepalive pings only then, by default).
    busy: Box<dyn Fn() -> bool + Send>,
    /// Called once when the connection has ended.
    closed: Box<dyn FnOnce() + Send>,
}

impl Connector {
    /// An HTTP/2 connection to `address`, its connection task running in the background; the
    /// task calls `closed` when the connection ends. With a web protocol, the HTTP/2
    /// connection is in memory, to the gateway that makes each call a web request (see
    /// [`web`](super::web)); the first of its HTTP/1.1 connections is made here, so that an
    /// unreachable server fails the attempt as for native gRPC.
    async fn connect(
        self: &Arc<Self>,
        address: &Address,
        watcher: Watcher,
    ) -> Result<SendRequest<Bytes>, Status> {
        let stream = self.dial(address).await?;
        match self.web {
            // Read in slices, so that calls answered early overlap with the server's work.
            None => {
                let stream = super::slices::Slices::new(stream);
                handshake(address, stream, self.keepalive, watcher).await
            }
            Some(protocol) => {
                let (client, gateway) = tokio::io::duplex(super::web::BUFFER);
                tokio::spawn(super::web::serve(
                    gateway,
                    stream,
                    self.clone(),
                    address.clone(),
                    protocol,
                ));
                handshake(address, client, self.keepalive, watcher).await
            }
        }
    }

    /// A connection to `address` (through the proxy, and TLS, if any), before HTTP.
    pub(super) async fn dial(&self, address: &Address) -> Result<Box<dyn Io>, Status> {
        let unavailable = |error: &dyn std::fmt::Display| {
            Status::unavailable(format!("failed to connect to {address}: {error}"))
        };
        match address {
            Address::Tcp(host_port) => {
                let proxy = match &self.proxy {
                    Some(proxy) => proxy.clone(),
                    None => Proxy::from_environment(address.host()),
                };
                match proxy {
                    Some(proxy) => {
                        let stream = proxy.connect(host_port).await?;
                        self.secure(address, stream).await
                    }
                    None => {
                        let stream = TcpStream::connect(host_port)
                            .await
                            .map_err(|error| unavailable(&error))?;
                        let _ = stream.set_nodelay(true);
                        self.secure(address, stream).await
                    }
                }
            }
            Address::Unix(path) => {
                let stream = UnixStream::connect(path)
                    .await
                    .map_err(|error| unavailable(&error))?;
                self.secure(address, stream).await
            }
            // In memory there is nothing to encrypt.
            Address::InProcess(connect) => Ok(Box::new(connect())),
        }
    }

    /// Runs the TLS handshake on `stream` when this channel speaks TLS (offering HTTP/2 in
    /// ALPN, or HTTP/1.1 for a web protocol).
    async fn secure<IO: Io>(&self, address: &Address, stream: IO) -> Result<Box<dyn Io>, Status> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let failed = |what: String| {
                Status::unavailable(format!("TLS handshake with {address} failed: {what}"))
            };
            let connector = tls
                .connector(self.web.is_some())
                .map_err(|error| Status::invalid_argument(error.to_string()))?;
            let host = self.host.as_deref().unwrap_or_else(|| address.host());
            let name = tls
                .name_for(host)
                .map_err(|error| Status::invalid_argument(error.to_string()))?;
            let stream = connector
                .connect(name, stream)
                .await
                .map_err(|error| failed(crate::transport::tls::describe(&error)))?;
            return Ok(Box::new(stream));
        }
        let _ = address;
        Ok(Box::new(stream))
    }
}

/// HTTP/2's handshake on an established connection, whose task then runs in the background.
async fn handshake<IO: Io>(
    address: &Address,
    stream: IO,
    keepalive: Option<Keepalive>,
    watcher: Watcher,
) -> Result<SendRequest<Bytes>, Status> {
    let (sender, mut connection) = h2::client::Builder::new()
        // Until the server's SETTINGS arrive, assume the 100 streams every server should
        // allow rather than h2's unlimited default, or a burst of calls gets refused.
        .initial_max_send_streams(100)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .data_frame_budget(crate::flow::data_frame_budget(CONNECTION_WINDOW))
        .handshake::<_, Bytes>(stream)
        .await
        .map_err(|error| {
            Status::unavailable(format!("HTTP/2 handshake with {address} failed: {error}"))
        })?;
    let mut pings = connection
        .ping_pong()
        .expect("a new connection's pings are taken once, here");
    let (keepalive_pings, pings_for_keepalive) = tokio::sync::oneshot::channel();
    // Runs once per round of ready calls, so that their requests go out together.
    tokio::spawn(crate::batch::Batched::new(async move {
        match keepalive {
            Some(keepalive) => {
                let keep_alive = async {
                    match pings_for_keepalive.await {
                        Ok(pings) => keepalive.until_unanswered(pings, watcher.busy).await,
                        // The connection never became ready.
                        Err(_) => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = &mut connection => {}
                    () = keep_alive => {
                        // Dropping the connection fails its calls with UNAVAILABLE.
                        tracing::debug!("keepalive PING unanswered: connection closed");
                    }
                }
            }
            None => {
                let _ = connection.await;
            }
        }
        (watcher.closed)();
    }));
    // Ready once the server has answered, as gRPC counts a connection ready once the server's
    // preface arrived: a server that refuses this client (a TLS 1.3 client certificate it
    // rejects after the handshake, a protocol it does not speak) closes first, and the
    // attempt counts as failed, with backoff, rather than as a connection that broke.
    pings.ping(h2::Ping::opaque()).await.map_err(|error| {
        Status::unavailable(format!(
            "{address} closed the connection before answering: {error}"
        ))
    })?;
    if keepalive.is_some() {
        let _ = keepalive_pings.send(pings);
    }
    Ok(sender)
}

/// One address a channel may send calls to, and its connection.
pub(crate) struct Subchannel {
    pub(crate) address: Address,
    /// Which of the address's connections this is, when a channel keeps several.
    pub(crate) slot: usize,
    /// The `:authority` of calls sent here.
    pub(crate) authority: Authority,
    /// Calls started here and not yet ended (for pickers that balance by load).
    pub(crate) outstanding: AtomicUsize,
    connection: Mutex<Connection>,
    /// The channel's balancer, told of every change of state.
    balancer: Weak<Balancer>,
}

/// A subchannel's state and what goes with it.
struct Connection {
    state: ConnectivityState,
    /// The live connection, when ready.
    sender: Option<SendRequest<Bytes>>,
    /// Counts connections, so that news of an old one's end does not end a new one.
    generation: u64,
    /// The wait after the next failed attempt; `None` until one fails.
    backoff: Option<Duration>,
    /// Why the last attempt failed, while in transient failure.
    failure: Option<Status>,
    /// What the server says of its health, when the channel checks it; else `Serving`.
    health: Health,
    /// Ends the health watch of the live connection when dropped.
    health_stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The connection being made ended before it was reported made.
    closed_early: bool,
}

impl Subchannel {
    pub(crate) fn new(
        address: Address,
        slot: usize,
        authority: Authority,
        balancer: Weak<Balancer>,
    ) -> Arc<Subchannel> {
        Arc::new(Subchannel {
            address,
            slot,
            authority,
            outstanding: AtomicUsize::new(0),
            connection: Mutex::new(Connection {
                state: ConnectivityState::Idle,
                sender: None,
                generation: 0,
                backoff: None,
                failure: None,
                health: Health::Serving,
                health_stop: None,
                closed_early: false,
            }),
            balancer,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        super::balance::lock(&self.connection)
    }

    /// The state calls see: a connection whose server is not (yet) known to be serving counts
    /// as connecting, one whose server says it is not serving as in transient failure.
    pub(crate) fn state(&self) -> ConnectivityState {
        let connection = self.lock();
        match (connection.state, connection.health) {
            (ConnectivityState::Ready, Health::Unknown) => ConnectivityState::Connecting,
            (ConnectivityState::Ready, Health::NotServing) => ConnectivityState::TransientFailure,
            (state, _) => state,
        }
    }

    /// The live connection and its generation, when ready (and healthy).
    pub(crate) fn sender(&self) -> Option<(SendRequest<Bytes>, u64)> {
        let connection = self.lock();
        if connection.health != Health::Serving {
            return None;
        }
        connection
            .sender
            .clone()
            .map(|sender| (sender, connection.generation))
    }

    /// Why calls cannot go here, in transient failure.
    pub(crate) fn failure(&self) -> Option<Status> {
        let connection = self.lock();
        match (connection.state, connection.health) {
            (ConnectivityState::Ready, Health::NotServing) => Some(Status::unavailable(format!(
                "{} reports that it is not serving",
                self.address
            ))),
            _ => connection.failure.clone(),
        }
    }

    /// What the health watch on connection `generation` says.
    fn health_changed(&self, generation: u64, health: Health) {
        {
            let mut connection = self.lock();
            if connection.generation != generation
                || connection.state != ConnectivityState::Ready
                || connection.health == health
            {
                return;
            }
            connection.health = health;
        }
        self.changed();
    }

    /// Starts connecting on `runtime`, if idle. The caller refreshes the balancer.
    pub(crate) fn connect(
        self: &Arc<Self>,
        connector: Arc<Connector>,
        runtime: &tokio::runtime::Handle,
    ) {
        let (generation, timeout) = {
            let mut connection = self.lock();
            if connection.state != ConnectivityState::Idle {
                return;
            }
            connection.state = ConnectivityState::Connecting;
            connection.generation += 1;
            connection.closed_early = false;
            let backoff = connection.backoff.unwrap_or(INITIAL_BACKOFF);
            (connection.generation, backoff)
        };
        let subchannel = Arc::downgrade(self);
        let address = self.address.clone();
        runtime.spawn(async move {
            let (lost, counted) = (subchannel.clone(), subchannel.clone());
            let watcher = Watcher {
                busy: Box::new(move || {
                    counted
                        .upgrade()
                        .is_some_and(|s| s.outstanding.load(Ordering::Relaxed) > 0)
                }),
                closed: Box::new(move || {
                    if let Some(subchannel) = lost.upgrade() {
                        subchannel.lost(generation);
                    }
                }),
            };
            let attempt = connector.connect(&address, watcher);
            let result = match tokio::time::timeout(timeout.max(MIN_CONNECT_TIMEOUT), attempt).await
            {
                Ok(result) => result,
                Err(_) => Err(Status::unavailable(format!(
                    "failed to connect to {address}: timed out"
                ))),
            };
            let Some(subchannel) = subchannel.upgrade() else {
                return;
            };
            let ready = result.as_ref().ok().cloned();
            let checked = connector.health_check.is_some();
            let stop = subchannel.connected(generation, result, checked);
            if let (Some(sender), Some(service), Some(stop)) =
                (ready, &connector.health_check, stop)
            {
                let uri = health_uri(&connector.scheme, &subchannel.authority);
                let watched = Arc::downgrade(&subchannel);
                drop(subchannel);
                let watch = health_check::watch(sender, uri, service.clone(), move |health| {
                    if let Some(subchannel) = watched.upgrade() {
                        subchannel.health_changed(generation, health);
                    }
                });
                // Until the connection is lost or left, or the channel is gone.
                tokio::select! {
                    () = watch => {}
                    _ = stop => {}
                }
            }
        });
    }

    /// The outcome of connection attempt `generation`; with `health_checked`, what ends the
    /// health watch of the connection, if it is the live one.
    fn connected(
        self: &Arc<Self>,
        generation: u64,
        mut result: Result<SendRequest<Bytes>, Status>,
        health_checked: bool,
    ) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let mut stop = None;
        let wait = {
            let mut connection = self.lock();
            if connection.generation != generation {
                return None;
            }
            if connection.closed_early && result.is_ok() {
                result = Err(Status::unavailable(format!(
                    "{} closed the connection as soon as it was made",
                    self.address
                )));
            }
            match result {
                Ok(sender) => {
                    connection.state = ConnectivityState::Ready;
                    connection.sender = Some(sender);
                    connection.backoff = None;
                    connection.failure = None;
                    connection.health = if health_checked {
                        let (stopper, stopped) = tokio::sync::oneshot::channel();
                        connection.health_stop = Some(stopper);
                        stop = Some(stopped);
                        Health::Unknown
                    } else {
                        Health::Serving
                    };
                    None
                }
                Err(status) => {
                    connection.state = ConnectivityState::TransientFailure;
                    connection.failure = Some(status);
                    let backoff = connection.backoff.unwrap_or(INITIAL_BACKOFF);
                    connection.backoff = Some(backoff.mul_f64(BACKOFF_MULTIPLIER).min(MAX_BACKOFF));
                    Some(jittered(backoff))
                }
            }
        };
        if let Some(wait) = wait {
            // Back to idle once the backoff passes, when the balancer may connect again.
            let subchannel = Arc::downgrade(self);
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                if let Some(subchannel) = subchannel.upgrade() {
                    subchannel.backed_off(generation);
                }
            });
            self.re_resolve();
        }
        self.changed();
        stop
    }

    fn backed_off(&self, generation: u64) {
        {
            let mut connection = self.lock();
            if connection.generation != generation
                || connection.state != ConnectivityState::TransientFailure
            {
                return;
            }
            connection.state = ConnectivityState::Idle;
        }
        self.changed();
    }

    /// Connection `generation` ended, or a call found it unusable: idle, so that the next call
    /// (or the balancer) connects again, at once.
    pub(crate) fn lost(&self, generation: u64) {
        {
            let mut connection = self.lock();
            if connection.generation != generation {
                return;
            }
            match connection.state {
                ConnectivityState::Ready => {}
                // Ended before its attempt reported it made: that attempt fails.
                ConnectivityState::Connecting => {
                    connection.closed_early = true;
                    return;
                }
                _ => return,
            }
            connection.state = ConnectivityState::Idle;
            connection.sender = None;
            connection.health_stop = None;
        }
        self.re_resolve();
        self.changed();
    }

    /// Drops the connection: the subchannel left the channel's list.
    pub(crate) fn shut_down(&self) {
        let mut connection = self.lock();
        connection.generation += 1;
        connection.sender = None;
        connection.health_stop = None;
        connection.state = ConnectivityState::Idle;
    }

    fn changed(&self) {
        if let Some(balancer) = self.balancer.upgrade() {
            balancer.refresh();
        }
    }

    fn re_resolve(&self) {
        if let Some(balancer) = self.balancer.upgrade() {
            balancer.re_resolve();
        }
    }

    /// Counts a call on this subchannel until the returned guard drops.
    pub(crate) fn load(self: &Arc<Self>) -> Load {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        Load(self.clone())
    }
}

/// The URI of the health service's `Watch` on a connection to `authority`.
fn health_uri(scheme: &http::uri::Scheme, authority: &Authority) -> http::Uri {
    request_uri(scheme, authority, "/grpc.health.v1.Health/Watch")
}

/// The URI of a call to `path` over a connection to `authority`, built from parts rather than
/// parsed: this runs per call.
pub(super) fn request_uri(
    scheme: &http::uri::Scheme,
    authority: &Authority,
    path: &'static str,
) -> http::Uri {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(scheme.clone());
    parts.authority = Some(authority.clone());
    parts.path_and_query = Some(http::uri::PathAndQuery::from_static(path));
    http::Uri::from_parts(parts).expect("scheme, authority and a static path make a valid URI")
}

/// A call in progress on a subchannel, counted until dropped.
pub(crate) struct Load(Arc<Subchannel>);

impl Drop for Load {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `backoff` randomised by ± [`BACKOFF_JITTER`].
fn jittered(backoff: Duration) -> Duration {
    let unit = super::retry::random_fraction();
    backoff.mul_f64(1.0 + BACKOFF_JITTER * (2.0 * unit - 1.0))
}
