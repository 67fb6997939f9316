//! [`Channel`]: calls to one server, or to many behind one name, each connection an HTTP/2
//! connection shared by every clone.

use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::Uri;

use super::balance::{Balancer, ConnectivityState, PickFirst, Picked, Picker};
use super::replay::{self, RetryBuffer};
use super::retry::{HedgingPolicy, RetryConfig, RetryPolicy, ServiceConfigError};
use super::subchannel::Connector;
use super::{
    BidiStreamingCall, Call, ClientStreamingCall, OnewayCall, ServerStreamingCall, UnaryCall,
};
use crate::frame::DEFAULT_MAX_RECEIVE_MESSAGE_SIZE;
use crate::intercept::{CallKind, Chain, MethodInfo};
use crate::keepalive::Keepalive;
use crate::transport::{Proxy, Target};
use crate::{Codec, Compression, Message, Status};

/// Calls to a gRPC server, or to the servers its target resolves to, each connection
/// multiplexing calls over HTTP/2.
///
/// Cloning is cheap and clones share the connections, so one channel (or one generated client)
/// serves a whole program, from as many tasks as it likes. When a connection breaks, the
/// channel connects again; while it cannot, calls fail with `UNAVAILABLE` (or, with
/// [`with_wait_for_ready`](Self::with_wait_for_ready), wait).
///
/// A target naming many servers (`ipv4:`, `dns:`, `etcd://`; see [`resolve`](crate::resolve))
/// gets a connection to each as its [`Picker`] says; [`PickFirst`] by default.
///
/// ```no_run
/// # async fn run() -> Result<(), protoless::Status> {
/// let channel = protoless::Channel::connect("http://127.0.0.1:50051").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
    options: Options,
    interceptors: Chain,
    /// Retry policies and the throttle, when set; without, the trait's defaults.
    retry: Option<Arc<RetryConfig>>,
}

/// A channel's defaults for its calls; each clone has its own.
#[derive(Clone, Copy, Debug)]
struct Options {
    codec: Codec,
    compression: Option<Compression>,
    max_receive_message_size: usize,
    max_send_message_size: usize,
    wait_for_ready: bool,
    /// The web protocol calls go as, if any.
    web: Option<super::WebProtocol>,
}

struct Inner {
    /// The target as text, for interceptors (A66's `grpc.target`).
    target_text: Arc<str>,
    /// The request URIs' scheme.
    scheme: Scheme,
    /// The connections, the resolver that lists them, and the picker that chooses.
    balancer: Arc<Balancer>,
    /// What the channel's streaming calls keep for their retries.
    retry_buffer: Arc<RetryBuffer>,
}

/// The shortest keepalive time a channel pings at.
const MIN_KEEPALIVE_TIME: Duration = Duration::from_millis(10);

/// How to reach a server: a target, and (with the `tls` feature) TLS settings. Made by
/// [`Channel::builder`].
#[must_use = "a builder does nothing until `connect` or `lazy`"]
pub struct ChannelBuilder {
    target: Result<Target, Status>,
    /// `None`: as the environment says; `Some(None)`: no proxy.
    proxy: Option<Option<Result<Proxy, Status>>>,
    picker: Option<Arc<dyn Picker>>,
    /// Keepalive's time and timeout, if on.
    keepalive: Option<(Duration, Duration)>,
    keepalive_without_calls: bool,
    /// The service whose health decides which connections get calls, if any.
    health_check: Option<String>,
    /// Connections kept to each address.
    connections_per_address: usize,
    /// Bytes of requests kept for retries: by each call, by all the channel's calls.
    retry_buffer: (usize, usize),
    /// The web protocol calls go as, instead of native gRPC.
    web: Option<super::WebProtocol>,
    #[cfg(feature = "tls")]
    tls: Option<crate::ClientTls>,
}

impl std::fmt::Debug for ChannelBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelBuilder")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl ChannelBuilder {
    /// A builder for `target` with every setting at its default.
    fn new(target: Result<Target, Status>) -> ChannelBuilder {
        ChannelBuilder {
            target,
            proxy: None,
            picker: None,
            keepalive: None,
            keepalive_without_calls: false,
            health_check: None,
            connections_per_address: 1,
            retry_buffer: (replay::DEFAULT_PER_CALL, replay::DEFAULT_PER_CHANNEL),
            web: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Speaks TLS with these settings: whatever the target's scheme, as gRPC keeps naming and
    /// credentials apart (an `https://` target without this uses [`ClientTls::new`]).
    ///
    /// [`ClientTls::new`]: crate::ClientTls::new
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::ClientTls) -> ChannelBuilder {
        self.tls = Some(tls);
        self
    }

    /// Tunnels TCP connections through the HTTP CONNECT proxy at `url`
    /// (`http://[user:password@]HOST[:PORT]`) instead of the one the environment names.
    ///
    /// By default a channel uses the proxy named by `grpc_proxy`, `https_proxy` or `http_proxy`
    /// (the first set, lower or upper case) unless `no_grpc_proxy` or `no_proxy` lists the
    /// target's host, as grpcio and grpc-go do. Unix sockets are never proxied.
    pub fn proxy(mut self, url: &str) -> ChannelBuilder {
        self.proxy = Some(Some(Proxy::from_url(url)));
        self
    }

    /// Sends `authority` as every request's `:authority` instead of the target's `HOST:PORT`:
    /// for a server reached by IP address (or through a Unix socket) that routes by name.
    /// With TLS, also set [`ClientTls::server_name`](crate::ClientTls::server_name).
    pub fn authority(mut self, authority: &str) -> ChannelBuilder {
        let parsed = authority.parse::<http::uri::Authority>().map_err(|error| {
            Status::invalid_argument(format!("invalid authority {authority:?}: {error}"))
        });
        self.target = match (self.target, parsed) {
            (Ok(mut target), Ok(authority)) => {
                target.authority = Some(authority);
                Ok(target)
            }
            (Err(status), _) | (_, Err(status)) => Err(status),
        };
        self
    }

    /// Spreads calls over the target's servers as `picker` says, instead of [`PickFirst`];
    /// see [`balance`](crate::balance).
    pub fn picker(mut self, picker: impl Picker) -> ChannelBuilder {
        self.picker = Some(Arc::new(picker));
        self
    }

    /// Pings each connection after `time` without news from the server while calls are open,
    /// and closes it when the answer takes longer than `timeout` (gRFC A8's client keepalive;
    /// off by default): calls on a connection that died silently (a crashed host, a dropped
    /// NAT entry) then fail with `UNAVAILABLE` instead of hanging, and new calls go elsewhere.
    /// Servers refuse pings more frequent than they allow (grpc-go: every 5 minutes by
    /// default) with a GOAWAY, so agree on `time` with the server's operators.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = protoless::Channel::builder("http://127.0.0.1:50051")
    ///     .keepalive(Duration::from_secs(60), Duration::from_secs(20));
    /// ```
    ///
    /// gRPC's own clients raise `time` to at least 10 seconds; protoless takes what it is
    /// given down to 10 ms (below that, 10 ms), for tests and private networks.
    pub fn keepalive(mut self, time: Duration, timeout: Duration) -> ChannelBuilder {
        self.keepalive = Some((time.max(MIN_KEEPALIVE_TIME), timeout));
        self
    }

    /// With [`keepalive`](Self::keepalive), pings also while no call is open
    /// (`KEEPALIVE_WITHOUT_CALLS`), so that a dead connection is noticed before the next call.
    pub fn keepalive_without_calls(mut self) -> ChannelBuilder {
        self.keepalive_without_calls = true;
        self
    }

    /// Sends calls only to servers that report `service` (`""`: the whole server) as
    /// `SERVING` through `grpc.health.v1.Health/Watch`, one stream per connection (gRFC A17;
    /// off by default). A server whose status turns `NOT_SERVING` gets no new calls until it
    /// serves again; one without the health service (`UNIMPLEMENTED`) counts as healthy.
    ///
    /// ```
    /// let builder = protoless::Channel::builder("dns:///cache.internal:50051")
    ///     .picker(protoless::balance::RoundRobin::default())
    ///     .health_check("rpc.Cache");
    /// ```
    pub fn health_check(mut self, service: &str) -> ChannelBuilder {
        self.health_check = Some(service.to_owned());
        self
    }

    /// Keeps `connections` HTTP/2 connections to each address instead of one, for a picker
    /// that connects to every address ([`RoundRobin`](crate::balance::RoundRobin),
    /// [`LeastRequest`](crate::balance::LeastRequest)) to spread calls over: a server drives
    /// each connection from one task, so one connection keeps about one of its cores busy,
    /// and a single client calling a many-core server needs several. ([`PickFirst`] uses one.)
    ///
    /// ```
    /// let builder = protoless::Channel::builder("http://127.0.0.1:50051")
    ///     .picker(protoless::balance::RoundRobin::default())
    ///     .connections_per_address(4);
    /// ```
    pub fn connections_per_address(mut self, connections: usize) -> ChannelBuilder {
        self.connections_per_address = connections.max(1);
        self
    }

    /// How many bytes of requests a retryable call that streams requests keeps, so that its
    /// next attempt can send them again (`per_call`; 1 MiB by default), and all of this
    /// channel's calls together (`per_channel`; 16 MiB), as grpc-java bounds them. A call
    /// that would pass either bound commits: it is not retried from then on.
    ///
    /// ```
    /// let builder = protoless::Channel::builder("http://127.0.0.1:50051")
    ///     .retry_buffer(64 * 1024, 4 << 20);
    /// ```
    pub fn retry_buffer(mut self, per_call: usize, per_channel: usize) -> ChannelBuilder {
        self.retry_buffer = (per_call, per_channel);
        self
    }

    /// Calls go as gRPC-Web or Connect requests over HTTP/1.1 (with TLS, ALPN `http/1.1`)
    /// instead of native gRPC over HTTP/2: for a service that offers only those, such as one
    /// behind a proxy that speaks only HTTP/1.1. Messages stay protobuf; deadlines, metadata,
    /// errors (details included), interceptors and retries work as over native gRPC. Each call
    /// in flight takes an HTTP/1.1 connection of its own (kept for the next call), and a
    /// client or bidi stream sends all its requests before any answer can come (HTTP/1.1).
    ///
    /// ```
    /// let builder = protoless::Channel::builder("http://127.0.0.1:8080")
    ///     .web(protoless::WebProtocol::Connect);
    /// ```
    pub fn web(mut self, protocol: super::WebProtocol) -> ChannelBuilder {
        self.web = Some(protocol);
        self
    }

    /// Connects directly, whatever the environment says about proxies.
    pub fn no_proxy(mut self) -> ChannelBuilder {
        self.proxy = Some(None);
        self
    }

    /// Connects now: fails with `UNAVAILABLE` when no server can be reached (the TLS
    /// handshake included).
    pub async fn connect(self) -> Result<Channel, Status> {
        let channel = self.lazy()?;
        channel.pick(false).await?;
        Ok(channel)
    }

    /// A channel that resolves its target and connects on its first call.
    pub fn lazy(self) -> Result<Channel, Status> {
        let target = self.target?;
        let proxy = match self.proxy {
            Some(Some(proxy)) => Some(Some(proxy?)),
            Some(None) => Some(None),
            // A target naming a host: the environment's proxy for that name; else each
            // address's own.
            None => target.host().map(Proxy::from_environment),
        };
        #[cfg(feature = "tls")]
        let tls = self.tls.or_else(|| target.tls.then(crate::ClientTls::new));
        #[cfg(not(feature = "tls"))]
        if target.tls {
            return Err(Status::unimplemented(format!(
                "{target} needs TLS: enable the `tls` feature of protoless"
            )));
        }
        let connector = Connector {
            proxy,
            #[cfg(feature = "tls")]
            host: target.host().map(str::to_owned),
            #[cfg(feature = "tls")]
            tls,
            keepalive: self.keepalive.map(|(time, timeout)| Keepalive {
                time,
                timeout,
                without_calls: self.keepalive_without_calls,
            }),
            health_check: self.health_check,
            scheme: target.scheme.clone(),
            web: self.web,
        };
        let picker = self.picker.unwrap_or_else(|| Arc::new(PickFirst));
        Ok(Channel {
            inner: Arc::new(Inner {
                target_text: target.to_string().into(),
                scheme: target.scheme.clone(),
                balancer: Balancer::new(target, connector, picker, self.connections_per_address),
                retry_buffer: Arc::new(RetryBuffer::new(self.retry_buffer.0, self.retry_buffer.1)),
            }),
            options: Options {
                codec: Codec::Protobuf,
                compression: None,
                max_receive_message_size: DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
                max_send_message_size: usize::MAX,
                wait_for_ready: false,
                web: self.web,
            },
            interceptors: Chain::default(),
            retry: None,
        })
    }
}

impl Channel {
    /// Connects to `target`: `HOST:PORT`, `http://HOST:PORT`, `https://HOST:PORT` (TLS,
    /// trusting Mozilla's roots; feature `tls`), `unix:PATH` or `unix:///ABSOLUTE/PATH`.
    ///
    /// Fails with `UNAVAILABLE` when the server cannot be reached, `INVALID_ARGUMENT` for a
    /// malformed target and `UNIMPLEMENTED` for a scheme this client does not resolve.
    pub async fn connect(target: &str) -> Result<Channel, Status> {
        Channel::builder(target).connect().await
    }

    /// A channel to `target` that dials on its first call.
    pub fn lazy(target: &str) -> Result<Channel, Status> {
        Channel::builder(target).lazy()
    }

    /// A channel to `server`, run in this process over in-memory streams: no socket and no
    /// port, yet every call crosses gRPC's wire format as over a network. For a service that
    /// calls another in the same program whatever the public listener's transport, and for
    /// tests. The server's TLS settings do not apply.
    ///
    /// ```
    /// # use protoless::{Message, Server, Status};
    /// # #[derive(Message)] pub struct PiRequest { pub n: i32 }
    /// # #[derive(Message)] pub struct PiResponse { pub value: f64 }
    /// # #[protoless::service(package = "pi")]
    /// # pub trait PiCalculator {
    /// #     async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status>;
    /// # }
    /// # struct Calculator;
    /// # impl PiCalculator for Calculator {
    /// #     async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status> {
    /// #         Ok(PiResponse { value: 3.14 })
    /// #     }
    /// # }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let server = Server::builder().add_service(PiCalculatorServer::new(Calculator));
    /// let client = PiCalculatorClient::new(protoless::Channel::in_process(server));
    /// assert_eq!(client.calc(PiRequest { n: 10 }).await.unwrap().value, 3.14);
    /// # });
    /// ```
    pub fn in_process(server: crate::Server) -> Channel {
        ChannelBuilder::new(Ok(Target::in_process(server.in_process())))
            .no_proxy()
            .lazy()
            .expect("an in-process target is valid")
    }

    /// A channel to `target` with more settings than the target says, such as TLS or a
    /// [`Picker`].
    pub fn builder(target: &str) -> ChannelBuilder {
        ChannelBuilder::new(Target::parse(target))
    }

    /// A channel to the addresses `resolver` reports (see [`resolve`](crate::resolve)); each
    /// call's `:authority` is the address it goes to, unless [`ChannelBuilder::authority`]
    /// sets one.
    pub fn resolving(resolver: impl crate::resolve::Resolver) -> ChannelBuilder {
        ChannelBuilder::new(Ok(Target::custom(Arc::new(resolver))))
    }

    /// The channel's connectivity state: `Ready` when any connection is, else `Connecting`
    /// when any is being made, else `Idle` (nothing tried yet), else `TransientFailure`.
    pub fn connectivity_state(&self) -> ConnectivityState {
        self.inner.balancer.state()
    }

    /// Resolves the target and tries to connect to every address it names, once, whatever the
    /// picker: returns when each is ready or has failed, with each address's state. For a
    /// client that wants every replica in play before its first call.
    pub async fn try_every_address(&self) -> Vec<(String, ConnectivityState)> {
        self.inner.balancer.try_every_address().await;
        self.inner.balancer.endpoints()
    }

    /// This channel (sharing its connections) with its calls waiting for a ready connection,
    /// up to their deadline, instead of failing with `UNAVAILABLE` while no server can be
    /// reached (gRPC's wait-for-ready). For one call, see [`Call::wait_for_ready`].
    pub fn with_wait_for_ready(mut self) -> Channel {
        self.options.wait_for_ready = true;
        self
    }

    /// Whether calls tell the gateway their shape (the Connect protocol needs it).
    pub(super) fn tells_kind(&self) -> bool {
        self.options.web == Some(super::WebProtocol::Connect)
    }

    pub(super) fn wait_for_ready(&self) -> bool {
        self.options.wait_for_ready
    }

    /// This channel (sharing its connection) running `interceptor` around its calls, after
    /// those added before it (see [`Interceptor`](crate::Interceptor) for the order): to add
    /// credentials to every call, log, or measure.
    ///
    /// ```no_run
    /// use protoless::{CallInfo, Channel, Interceptor, StartFuture};
    ///
    /// /// Sends a bearer token with every call.
    /// struct Bearer(String);
    ///
    /// impl Interceptor for Bearer {
    ///     fn start<'a>(&'a self, call: &'a mut CallInfo) -> StartFuture<'a> {
    ///         Box::pin(async move {
    ///             let value = format!("Bearer {}", self.0);
    ///             call.metadata_mut().insert("authorization", &value)?;
    ///             Ok(())
    ///         })
    ///     }
    /// }
    ///
    /// # async fn run() -> Result<(), protoless::Status> {
    /// let channel = Channel::connect("http://127.0.0.1:50051")
    ///     .await?
    ///     .with_interceptor(Bearer("s3cr3t".into()));
    /// # Ok(()) }
    /// ```
    pub fn with_interceptor(mut self, interceptor: impl crate::Interceptor) -> Channel {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    pub(super) fn interceptors(&self) -> &Chain {
        &self.interceptors
    }

    /// The channel's target as text.
    pub(super) fn target_text(&self) -> Arc<str> {
        self.inner.target_text.clone()
    }

    /// This channel (sharing its connection) retrying every method by `policy`, or (`None`)
    /// none beyond gRPC's transparent retries; methods a service config set with
    /// [`with_service_config`](Self::with_service_config) keep theirs. Without this,
    /// `#[idempotent]` and `#[no_side_effects]` methods retry by [`RetryPolicy::default`].
    ///
    /// ```
    /// # async fn run() -> Result<(), protoless::Status> {
    /// use protoless::{Channel, Code, RetryPolicy};
    ///
    /// let channel = Channel::lazy("http://127.0.0.1:50051")?
    ///     .with_retry_policy(Some(RetryPolicy::new(3, [Code::Unavailable])));
    /// # Ok(()) }
    /// ```
    pub fn with_retry_policy(mut self, policy: Option<RetryPolicy>) -> Channel {
        self.retry = Some(Arc::new(RetryConfig::with_all(
            self.retry.as_deref(),
            policy,
        )));
        self
    }

    /// This channel (sharing its connection) retrying as a gRPC service config says: each
    /// `methodConfig` entry's `retryPolicy` for the methods and services it names (an entry
    /// without one turns retries off for them), its `hedgingPolicy` for the `#[no_side_effects]`
    /// methods it names, and `retryThrottling`. The JSON
    /// [`service_config`](crate::service_config) renders is accepted, as is what grpc-go,
    /// grpcio and grpc-js accept.
    ///
    /// ```
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let channel = protoless::Channel::lazy("http://127.0.0.1:50051")?.with_service_config(
    ///     r#"{"methodConfig": [{"name": [{"service": "rpc.Cache"}],
    ///         "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.05s", "maxBackoff": "1s",
    ///                         "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}],
    ///         "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}}"#,
    /// )?;
    /// # Ok(()) }
    /// ```
    pub fn with_service_config(mut self, json: &str) -> Result<Channel, ServiceConfigError> {
        self.retry = Some(Arc::new(RetryConfig::parse(json)?));
        Ok(self)
    }

    /// This channel (sharing its connections) hedging every unary `#[no_side_effects]` method
    /// by `policy` (see [`HedgingPolicy`]); methods a service config set with
    /// [`with_service_config`](Self::with_service_config) keep theirs. For one call, see
    /// [`Call::hedging`](crate::Call::hedging).
    ///
    /// ```
    /// # async fn run() -> Result<(), protoless::Status> {
    /// use std::time::Duration;
    /// use protoless::{Channel, HedgingPolicy};
    ///
    /// let channel = Channel::lazy("dns:///cache.internal:50051")?
    ///     .with_hedging_policy(HedgingPolicy::new(2, Duration::from_millis(20)));
    /// # Ok(()) }
    /// ```
    pub fn with_hedging_policy(mut self, policy: HedgingPolicy) -> Channel {
        self.retry = Some(Arc::new(RetryConfig::with_hedging(
            self.retry.as_deref(),
            policy,
        )));
        self
    }

    pub(super) fn retry_config(&self) -> Option<&RetryConfig> {
        self.retry.as_deref()
    }

    pub(super) fn retry_buffer(&self) -> Arc<RetryBuffer> {
        self.inner.retry_buffer.clone()
    }

    /// This channel (sharing its connection) with `codec` as the default of its calls.
    pub fn with_codec(mut self, codec: Codec) -> Channel {
        self.options.codec = codec;
        self
    }

    /// This channel (sharing its connection) compressing its calls' requests with `compression`.
    pub fn with_compression(mut self, compression: Compression) -> Channel {
        self.options.compression = Some(compression);
        self
    }

    /// This channel with another limit on received messages (default 4 MiB): larger responses
    /// fail with `RESOURCE_EXHAUSTED` before they are buffered.
    pub fn with_max_receive_message_size(mut self, bytes: usize) -> Channel {
        self.options.max_receive_message_size = bytes;
        self
    }

    /// This channel with a limit on sent messages (default: none); a larger request fails with
    /// `RESOURCE_EXHAUSTED` without being sent.
    pub fn with_max_send_message_size(mut self, bytes: usize) -> Channel {
        self.options.max_send_message_size = bytes;
        self
    }

    pub(super) fn codec(&self) -> Codec {
        self.options.codec
    }

    pub(super) fn compression(&self) -> Option<Compression> {
        self.options.compression
    }

    /// Starts a unary call to `path` (`/package.Service/Method`); await it for the response.
    ///
    /// Generated clients call this; you need it only to call a method without one.
    pub fn unary<Req: Message, Resp: Message>(
        &self,
        path: &'static str,
        request: Req,
    ) -> UnaryCall<Req, Resp> {
        let method = MethodInfo::from_path(path, CallKind::Unary);
        Call::new(self.clone(), method, Some(request))
    }

    /// A call of the generated method `M`. Generated clients use this.
    #[doc(hidden)]
    pub fn method<M: crate::server::Method, Kind>(
        &self,
        request: Option<M::Request>,
    ) -> Call<M::Request, M::Response, Kind> {
        Call::new(self.clone(), M::INFO, request)
    }

    /// Starts a `#[oneway]` call to `path`: awaiting it returns once the request is sent.
    pub fn oneway<Req: Message>(&self, path: &'static str, request: Req) -> OnewayCall<Req> {
        let method = MethodInfo::from_path(path, CallKind::Unary);
        Call::new(self.clone(), method, Some(request))
    }

    /// Starts a server-streaming call to `path`; await it for the stream of responses.
    pub fn server_streaming<Req: Message, Resp: Message>(
        &self,
        path: &'static str,
        request: Req,
    ) -> ServerStreamingCall<Req, Resp> {
        let method = MethodInfo::from_path(path, CallKind::ServerStreaming);
        Call::new(self.clone(), method, Some(request))
    }

    /// Starts a client-streaming call to `path`; await it for a [`ClientStream`](crate::ClientStream).
    pub fn client_streaming<Req: Message, Resp: Message>(
        &self,
        path: &'static str,
    ) -> ClientStreamingCall<Req, Resp> {
        let method = MethodInfo::from_path(path, CallKind::ClientStreaming);
        Call::new(self.clone(), method, None)
    }

    /// Starts a bidirectional call to `path`; await it for a [`BidiStream`](crate::BidiStream).
    pub fn bidi_streaming<Req: Message, Resp: Message>(
        &self,
        path: &'static str,
    ) -> BidiStreamingCall<Req, Resp> {
        let method = MethodInfo::from_path(path, CallKind::BidiStreaming);
        Call::new(self.clone(), method, None)
    }

    /// The request URI for `path` on a connection whose `:authority` is `authority`, built
    /// from parts rather than parsed: this runs per call.
    pub(super) fn uri(&self, authority: &Authority, path: &'static str) -> Uri {
        super::subchannel::request_uri(&self.inner.scheme, authority, path)
    }

    pub(super) fn max_receive_message_size(&self) -> usize {
        self.options.max_receive_message_size
    }

    pub(super) fn max_send_message_size(&self) -> usize {
        self.options.max_send_message_size
    }

    /// A ready connection for the next attempt, as the picker chooses.
    pub(super) async fn pick(&self, wait_for_ready: bool) -> Result<Picked, Status> {
        self.inner.balancer.pick(wait_for_ready).await
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("target", &self.inner.target_text)
            .finish_non_exhaustive()
    }
}
