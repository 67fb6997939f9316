//! The gRPC server: [`Server`] hosts services on tokio and h2.

mod call;
mod connection;
mod context;
mod ping_tap;
mod service;
mod web;

use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};

use crate::transport::listener::Accepted;
use crate::transport::Listener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use call::CallDetails;
pub use call::{
    serve_bidi_streaming, serve_client_streaming, serve_server_streaming, serve_unary,
    HandlerContext, ServerCall,
};
pub use context::Context;
pub(crate) use context::{inherited, inherited_deadline};
pub use service::{request_schema, response_schema, start_call, CallHandle, Method, Service};
pub use web::Web;

use crate::frame::DEFAULT_MAX_RECEIVE_MESSAGE_SIZE;

/// Limits and timeouts of a server, set through [`Server`]'s builder methods.
#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    pub(crate) max_receive_message_size: usize,
    pub(crate) max_send_message_size: usize,
    pub(crate) max_concurrent_streams: u32,
    pub(crate) max_header_list_size: u32,
    pub(crate) handshake_timeout: Duration,
    pub(crate) initial_stream_window_size: u32,
    pub(crate) initial_connection_window_size: u32,
    /// Codecs beyond protobuf and postcard that requests may use.
    pub(crate) codecs: Vec<crate::Codec>,
    /// How long a graceful shutdown waits for calls in flight before dropping them.
    pub(crate) drain_timeout: Duration,
    /// Compress responses with this, for clients that accept it.
    pub(crate) send_compressed: Option<crate::Compression>,
    /// TLS on every connection, when set.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::ServerTls>,
    /// What runs around every call.
    pub(crate) interceptors: crate::intercept::Chain,
    /// At most this many connections at once; more wait in the listen backlog.
    pub(crate) max_connections: Option<usize>,
    /// Calls past this many running at once, server-wide, are refused.
    pub(crate) max_concurrent_calls: Option<usize>,
    /// A connection without calls for this long is closed with GOAWAY (gRFC A9).
    pub(crate) max_connection_idle: Option<Duration>,
    /// A connection this old (±10 %) is closed with GOAWAY (gRFC A9)...
    pub(crate) max_connection_age: Option<Duration>,
    /// ... its calls cancelled if they run this much longer.
    pub(crate) max_connection_age_grace: Option<Duration>,
    /// Keepalive pings (gRFC A8), when configured.
    pub(crate) keepalive: Option<crate::keepalive::Keepalive>,
    /// How often clients may ping (gRFC A8's enforcement), when configured.
    pub(crate) ping_policy: Option<PingPolicy>,
    /// gRPC-Web and Connect beside native gRPC, when on.
    pub(crate) web: Option<Arc<Web>>,
}

/// gRFC A8's enforcement: the least time between a client's PINGs, and whether it may ping
/// with no call open.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PingPolicy {
    pub(crate) min_time: Duration,
    pub(crate) permit_without_calls: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_receive_message_size: DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
            max_send_message_size: usize::MAX,
            max_concurrent_streams: 200,
            max_header_list_size: 16 * 1024,
            handshake_timeout: Duration::from_secs(10),
            initial_stream_window_size: 1024 * 1024,
            initial_connection_window_size: 2 * 1024 * 1024,
            codecs: Vec::new(),
            send_compressed: None,
            drain_timeout: Duration::from_secs(30),
            #[cfg(feature = "tls")]
            tls: None,
            interceptors: crate::intercept::Chain::default(),
            max_connections: None,
            max_concurrent_calls: None,
            max_connection_idle: None,
            max_connection_age: None,
            max_connection_age_grace: None,
            keepalive: None,
            ping_policy: None,
            web: None,
        }
    }
}

/// A gRPC server: add services, then serve them on an address.
///
/// ```no_run
/// # use protoless::{Message, Server, Status};
/// # #[derive(Message)] pub struct PiRequest { pub n: i32 }
/// # #[derive(Message)] pub struct PiResponse { pub value: f64 }
/// #[protoless::service(package = "pi")]
/// pub trait PiCalculator {
///     async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status>;
/// }
///
/// struct Calculator;
/// impl PiCalculator for Calculator {
///     async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status> {
///         Ok(PiResponse { value: 3.14 })
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// Server::builder()
///     .add_service(PiCalculatorServer::new(Calculator))
///     .serve_with_shutdown("127.0.0.1:50051", protoless::shutdown_signal())
///     .await
/// # }
/// ```
///
/// Each connection gets one task and each call one more; h2's limits are set deliberately
/// (200 concurrent streams per connection, 16 KiB of headers, a 10 s handshake timeout), and
/// every limit can be changed here.
#[derive(Default)]
pub struct Server {
    services: Services,
    config: ServerConfig,
    /// The health service's statuses, when it is on.
    health: Option<crate::health::HealthReporter>,
    /// How long the server goes on serving after shutdown starts, reporting `NOT_SERVING`.
    pre_stop_delay: Duration,
    /// Whether to serve reflection (added when serving starts, to describe every service).
    reflection: bool,
}

impl Server {
    /// A server with no services and the default limits.
    pub fn builder() -> Server {
        Server::default()
    }

    /// Adds a service, such as a generated `PiCalculatorServer`.
    ///
    /// # Panics
    /// When a service with the same name was added before: that is a bug in the program.
    pub fn add_service(mut self, service: impl Service) -> Server {
        let name = service.name();
        assert!(
            self.services.get(name).is_none(),
            "service {name} was added to the server twice"
        );
        self.services.0.push((name, Arc::new(service)));
        self
    }

    /// Serves gRPC's health checking protocol (`grpc.health.v1.Health`: `Check`, `Watch`,
    /// `List`) from `reporter`'s statuses; see [`health`](crate::health).
    ///
    /// At start the server (`""`) and each of its services are reported `SERVING`, unless
    /// reported otherwise first; at shutdown, all `NOT_SERVING` and `Watch` streams end.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// use protoless::health::HealthReporter;
    ///
    /// protoless::Server::builder()
    ///     .health(HealthReporter::new())
    ///     .serve("127.0.0.1:50051")
    ///     .await
    /// # }
    /// ```
    pub fn health(mut self, reporter: crate::health::HealthReporter) -> Server {
        self = self.add_service(crate::health::HealthServer::new(
            crate::health::HealthService(reporter.clone()),
        ));
        self.health = Some(reporter);
        self
    }

    /// Serves gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) describing every
    /// service of this server, so that `grpcurl`, `buf curl` and reflection-based UIs can call
    /// it without `.proto` files; see [`reflection`](crate::reflection).
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// protoless::Server::builder()
    ///     .reflection()
    ///     .serve("127.0.0.1:50051")
    ///     .await
    /// # }
    /// ```
    pub fn reflection(mut self) -> Server {
        self.reflection = true;
        self
    }

    /// Adds the reflection services, describing every service added so far and themselves.
    fn add_reflection(mut self) -> std::io::Result<Server> {
        use crate::reflection::{v1, v1alpha, Index, Reflection};
        let mut schemas: Vec<_> = self.services.0.iter().map(|(_, s)| s.schema()).collect();
        schemas.push(v1::ServerReflectionServer::schema());
        schemas.push(v1alpha::ServerReflectionServer::schema());
        let index = Index::build(schemas).map_err(|error| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot describe the services for reflection: {error}"),
            )
        })?;
        let reflection = Reflection(std::sync::Arc::new(index));
        self = self.add_service(v1::ServerReflectionServer::new(reflection.clone()));
        Ok(self.add_service(v1alpha::ServerReflectionServer::new(reflection)))
    }

    /// How long the server goes on serving, and accepting connections, once a graceful shutdown
    /// was signalled and before it drains (default: not at all). With [`health`](Self::health)
    /// on, it reports `NOT_SERVING` meanwhile, so that load balancers and probes stop sending
    /// calls before connections close.
    pub fn pre_stop_delay(mut self, delay: Duration) -> Server {
        self.pre_stop_delay = delay;
        self
    }

    /// The largest message the server accepts (default 4 MiB); larger ones fail the call with
    /// `RESOURCE_EXHAUSTED` before they are buffered.
    pub fn max_receive_message_size(mut self, bytes: usize) -> Server {
        self.config.max_receive_message_size = bytes;
        self
    }

    /// The largest message the server sends (default: no limit); a larger response fails the call
    /// with `RESOURCE_EXHAUSTED`.
    pub fn max_send_message_size(mut self, bytes: usize) -> Server {
        self.config.max_send_message_size = bytes;
        self
    }

    /// How many calls one connection may have open at once (default 200); the client is told
    /// in HTTP/2's `SETTINGS_MAX_CONCURRENT_STREAMS` and h2 refuses streams past it.
    pub fn max_concurrent_streams(mut self, streams: u32) -> Server {
        self.config.max_concurrent_streams = streams;
        self
    }

    /// The largest request header block accepted (default 16 KiB).
    pub fn max_header_list_size(mut self, bytes: u32) -> Server {
        self.config.max_header_list_size = bytes;
        self
    }

    /// Serves browsers and HTTP/1.1 clients too, on the same port: gRPC-Web and the Connect
    /// protocol, each call translated into a native one (see [`Web`]). A connection is told
    /// apart by its first bytes (or, under TLS, by ALPN, which then offers `http/1.1` too):
    /// HTTP/2's preface goes to the HTTP/2 server, which takes web requests by their content
    /// type; anything else goes to hyper's HTTP/1.1 server. Off by default.
    ///
    /// ```
    /// use protoless::{Server, Web};
    ///
    /// let server = Server::builder().web(Web::new().allow_any_origin());
    /// ```
    pub fn web(mut self, web: Web) -> Server {
        self.config.web = Some(Arc::new(web));
        self
    }

    /// Accepts requests in `codec` too (protobuf and postcard always are): protobuf's JSON
    /// mapping ([`Codec::Json`](crate::Codec::Json), `application/grpc+json`) or a
    /// [`Codec::Serde`](crate::Codec::Serde) format. A content type names one encoding: a
    /// codec with the content type of one accepted before is ignored.
    ///
    /// ```
    /// let server = protoless::Server::builder().accept_codec(protoless::Codec::Json);
    /// ```
    pub fn accept_codec(mut self, codec: crate::Codec) -> Server {
        if !self.config.codecs.contains(&codec) {
            self.config.codecs.push(codec);
        }
        self
    }

    /// Compresses responses with `compression` for clients that accept it
    /// (`grpc-accept-encoding`). Responses to compressed requests are compressed the same way
    /// regardless.
    pub fn send_compressed(mut self, compression: crate::Compression) -> Server {
        self.config.send_compressed = Some(compression);
        self
    }

    /// How long a graceful shutdown waits for calls in flight to finish (default 30 s); calls
    /// still running then are cancelled, answered `UNAVAILABLE`, and their connections closed.
    pub fn drain_timeout(mut self, timeout: Duration) -> Server {
        self.config.drain_timeout = timeout;
        self
    }

    /// How long a new connection may take to complete its handshakes, TLS and HTTP/2 together
    /// (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Server {
        self.config.handshake_timeout = timeout;
        self
    }

    /// Serves every connection over TLS (ALPN `h2`), presenting `tls`'s identity and, if it
    /// says so, requiring client certificates. A connection whose handshake fails (plaintext
    /// sent to this port, an untrusted or missing client certificate) is closed alone, with a
    /// warning logged through `tracing`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::ServerTls) -> Server {
        self.config.tls = Some(tls);
        self
    }

    /// Runs `interceptor` around every call, after those added before it (see [`Interceptor`]
    /// for the order). Its `start` runs before the request is decoded, so a refusal there
    /// costs no decoding and no handler.
    ///
    /// [`Interceptor`]: crate::Interceptor
    pub fn interceptor(mut self, interceptor: impl crate::Interceptor) -> Server {
        self.config.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Serves at most `connections` connections at once (default: no limit), as grpc-go's
    /// `LimitListener`: past it, new connections are not accepted (they wait in the listen
    /// backlog, then time out on the client) until one closes.
    pub fn max_connections(mut self, connections: usize) -> Server {
        self.config.max_connections = Some(connections.max(1));
        self
    }

    /// Runs at most `calls` calls at once across the server (default: no limit); past it, a
    /// new call is refused at once (load shedding) with `RESOURCE_EXHAUSTED` and a
    /// `google.rpc.RetryInfo` of one second, in a Trailers-Only response.
    pub fn max_concurrent_calls(mut self, calls: usize) -> Server {
        self.config.max_concurrent_calls = Some(calls);
        self
    }

    /// Closes a connection that had no call for `idle` (default: never), with a GOAWAY, as
    /// gRFC A9's `MAX_CONNECTION_IDLE` says; clients reconnect when they next call.
    pub fn max_connection_idle(mut self, idle: Duration) -> Server {
        self.config.max_connection_idle = Some(idle);
        self
    }

    /// Closes each connection once it has been open for about `age` (default: never), with a
    /// GOAWAY, as gRFC A9's `MAX_CONNECTION_AGE` says: clients move their new calls to a fresh
    /// connection, which a balancing client may open to another replica, so that replicas
    /// started later get their share. Each connection's age is randomised by ±10 %, so that
    /// clients do not all reconnect at once. Calls in flight finish; with `grace`
    /// (`MAX_CONNECTION_AGE_GRACE`), those still running that much later are cancelled.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let server = protoless::Server::builder()
    ///     .max_connection_age(Duration::from_secs(30 * 60), Some(Duration::from_secs(60)));
    /// ```
    pub fn max_connection_age(mut self, age: Duration, grace: Option<Duration>) -> Server {
        self.config.max_connection_age = Some(age);
        self.config.max_connection_age_grace = grace;
        self
    }

    /// Pings each connection after `time` without news from the client, and closes it,
    /// cancelling its calls, when the answer takes longer than `timeout` (gRFC A8's server
    /// keepalive; off by default, gRPC's default is two hours): a stream to a client that
    /// vanished without closing its connection (a crashed host, a dropped NAT entry) ends
    /// instead of living for ever.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let server = protoless::Server::builder()
    ///     .keepalive(Duration::from_secs(2 * 60 * 60), Duration::from_secs(20));
    /// ```
    pub fn keepalive(mut self, time: Duration, timeout: Duration) -> Server {
        self.config.keepalive = Some(crate::keepalive::Keepalive {
            // Not a busy loop, whatever is asked.
            time: time.max(Duration::from_millis(10)),
            timeout,
            without_calls: true,
        });
        self
    }

    /// Refuses clients that ping more often than every `min_time` (or at all while they have
    /// no call open, unless `permit_without_calls`): after the third such PING the connection
    /// ends with a GOAWAY `ENHANCE_YOUR_CALM` and its calls are cancelled, as gRFC A8's
    /// enforcement says (grpc-go's defaults are 5 minutes and `false`). Off by default: h2
    /// answers every PING. A client that keeps its keepalive `time` at or above `min_time` is
    /// never refused.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let server = protoless::Server::builder().ping_policy(Duration::from_secs(5 * 60), false);
    /// ```
    pub fn ping_policy(mut self, min_time: Duration, permit_without_calls: bool) -> Server {
        self.config.ping_policy = Some(PingPolicy {
            min_time,
            permit_without_calls,
        });
        self
    }

    /// Serves on `addr` until the process ends.
    pub async fn serve(self, addr: impl ToSocketAddrs) -> std::io::Result<()> {
        self.serve_with_shutdown(addr, std::future::pending()).await
    }

    /// Serves on `addr` until `signal` completes, then stops accepting connections, tells clients
    /// to go away (HTTP/2 GOAWAY) and returns once the calls in flight have finished.
    pub async fn serve_with_shutdown(
        self,
        addr: impl ToSocketAddrs,
        signal: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.serve_with_listener(listener, signal).await
    }

    /// Like [`serve_with_shutdown`](Self::serve_with_shutdown) on a listener you bound: a
    /// [`Listener`] (TCP or a Unix domain socket), or a [`TcpListener`], for example on port 0
    /// to learn the port from its `local_addr`.
    pub async fn serve_with_listener(
        mut self,
        listener: impl Into<Listener>,
        signal: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let listener = listener.into();
        if self.reflection {
            self.reflection = false;
            self = self.add_reflection()?;
        }
        let drain_timeout = self.config.drain_timeout;
        if let Some(health) = &self.health {
            health.serving(self.services.0.iter().map(|(name, _)| *name));
        }
        // Shutdown starts with the health service reporting it, and the pre-stop delay.
        let (health, pre_stop_delay) = (self.health.clone(), self.pre_stop_delay);
        let signal = async move {
            signal.await;
            if let Some(health) = health {
                health.shutting_down();
            }
            if !pre_stop_delay.is_zero() {
                tokio::time::sleep(pre_stop_delay).await;
            }
        };
        // Browsers and HTTP/1.1 clients are told in ALPN that HTTP/1.1 is spoken here too.
        #[cfg(feature = "tls")]
        if self.config.web.is_some() {
            self.config.tls = self
                .config
                .tls
                .as_ref()
                .map(crate::ServerTls::offering_http1);
        }
        let connection_limit = self
            .config
            .max_connections
            .map(|limit| Arc::new(tokio::sync::Semaphore::new(limit)));
        let shared = Arc::new(Shared {
            load: self
                .config
                .max_concurrent_calls
                .map(|_| Arc::new(AtomicUsize::new(0))),
            services: self.services,
            config: Arc::new(self.config),
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(Phase::Serving);
        let mut connections = JoinSet::new();
        let mut signal = std::pin::pin!(signal);
        loop {
            // With a connection limit, a slot first: until one is free, nothing is accepted.
            let slot = match &connection_limit {
                None => None,
                Some(limit) => tokio::select! {
                    slot = limit.clone().acquire_owned() => slot.ok(),
                    Some(_) = connections.join_next() => continue,
                    () = &mut signal => break,
                },
            };
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(Accepted::Tcp(stream, peer)) => {
                        let serve =
                            connection::serve(stream, peer, shared.clone(), shutdown_rx.clone());
                        connections.spawn(holding(slot, serve));
                    }
                    Ok(Accepted::Unix(stream, peer)) => {
                        let serve =
                            connection::serve(stream, peer, shared.clone(), shutdown_rx.clone());
                        connections.spawn(holding(slot, serve));
                    }
                    // Running out of file descriptors and similar are passing conditions:
                    // back off briefly instead of spinning or giving up.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                Some(_) = connections.join_next() => {}
                () = &mut signal => break,
            }
        }
        // Connections the kernel already accepted, waiting in the backlog, are served like the
        // calls in flight (they then get a GOAWAY at once): closing the listener would reset
        // them and lose the calls they sent. Only connections attempted after this are refused.
        // Bounded: a flood of new connections must not hold the shutdown open.
        let mut backlog = 0;
        while backlog < MAX_BACKLOG_AT_SHUTDOWN {
            let Some(Ok(accepted)) = listener.accept_waiting().await else {
                break;
            };
            backlog += 1;
            let (shared, phase) = (shared.clone(), shutdown_rx.clone());
            match accepted {
                Accepted::Tcp(stream, peer) => {
                    connections.spawn(connection::serve(stream, peer, shared, phase));
                }
                Accepted::Unix(stream, peer) => {
                    connections.spawn(connection::serve(stream, peer, shared, phase));
                }
            }
        }
        drop(listener);
        let _ = shutdown_tx.send(Phase::Draining);
        if drain(&mut connections, drain_timeout).await {
            return Ok(());
        }
        // Calls still running are cancelled; each answers UNAVAILABLE, and the connections
        // get a moment to send those answers before they are dropped too.
        let _ = shutdown_tx.send(Phase::Halting);
        if !drain(&mut connections, HALT_GRACE).await {
            connections.shutdown().await;
        }
        Ok(())
    }
}

impl Server {
    /// This server, for connections made in this process: each call of the function returns
    /// the client's end of a new in-memory connection, whose other end the server serves. It
    /// is never shut down; it ends with the last connection.
    pub(crate) fn in_process(self) -> Arc<dyn Fn() -> tokio::io::DuplexStream + Send + Sync> {
        #[allow(unused_mut)] // changed only with TLS
        let mut config = self.config;
        // In memory there is nothing to encrypt, and no certificate a client could check.
        #[cfg(feature = "tls")]
        {
            config.tls = None;
        }
        let shared = Arc::new(Shared {
            load: config
                .max_concurrent_calls
                .map(|_| Arc::new(AtomicUsize::new(0))),
            services: self.services,
            config: Arc::new(config),
        });
        let (serving, phase) = watch::channel(Phase::Serving);
        Arc::new(move || {
            // Keeps the phase at Serving for as long as anyone can dial.
            let _serving = &serving;
            let (client, server) = tokio::io::duplex(IN_PROCESS_BUFFER);
            tokio::spawn(connection::serve(
                server,
                crate::transport::Peer::default(),
                shared.clone(),
                phase.clone(),
            ));
            client
        })
    }
}

/// How many bytes an in-process connection buffers each way: as much as a socket would.
const IN_PROCESS_BUFFER: usize = 256 * 1024;

/// Runs `connection` holding its connection slot, if the server limits connections.
async fn holding(slot: Option<tokio::sync::OwnedSemaphorePermit>, connection: impl Future) {
    connection.await;
    drop(slot);
}

/// At most this many connections waiting in the listen backlog are served at shutdown: more
/// than any kernel's default backlog holds.
const MAX_BACKLOG_AT_SHUTDOWN: usize = 4096;

/// How long connections may take to send the answers of calls cancelled at the drain timeout.
const HALT_GRACE: Duration = Duration::from_secs(1);

/// Waits up to `timeout` for every connection to end; whether they all did.
async fn drain(connections: &mut JoinSet<()>, timeout: Duration) -> bool {
    let drained = async { while connections.join_next().await.is_some() {} };
    tokio::time::timeout(timeout, drained).await.is_ok()
}

/// Where a server is in its life, as its connections see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Taking calls.
    Serving,
    /// Shutting down gracefully: no new calls (GOAWAY), calls in flight run to their end.
    Draining,
    /// The drain timeout ran out: calls still running are cancelled with `UNAVAILABLE`.
    Halting,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.services.0.iter().map(|(name, _)| name).collect();
        names.sort();
        f.debug_struct("Server")
            .field("services", &names)
            .field("config", &self.config)
            .finish()
    }
}

/// What every connection of one server shares.
pub(crate) struct Shared {
    services: Services,
    config: Arc<ServerConfig>,
    /// Calls running now, when the server limits them.
    pub(super) load: Option<Arc<AtomicUsize>>,
}

/// A server's services by name.
///
/// A server hosts a handful of services: comparing the name with each of theirs (mostly a
/// length comparison) is cheaper than hashing it, which every call would pay.
#[derive(Default)]
struct Services(Vec<(&'static str, Arc<dyn Service>)>);

impl Services {
    fn get(&self, name: &str) -> Option<&dyn Service> {
        self.0
            .iter()
            .find(|(candidate, _)| *candidate == name)
            .map(|(_, service)| &**service)
    }
}

/// Completes on Ctrl-C or, on Unix, SIGTERM: the usual reasons to shut a server down.
///
/// Pass it to [`Server::serve_with_shutdown`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
