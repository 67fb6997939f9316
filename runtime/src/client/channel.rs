//! [`Channel`]: one multiplexed HTTP/2 connection to a server, shared by every clone.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use h2::client::SendRequest;
use http::Uri;
use tokio::net::{TcpStream, UnixStream};

use super::retry::{RetryConfig, RetryPolicy, ServiceConfigError};
use super::{
    BidiStreamingCall, Call, ClientStreamingCall, OnewayCall, ServerStreamingCall, UnaryCall,
};
use crate::frame::DEFAULT_MAX_RECEIVE_MESSAGE_SIZE;
use crate::intercept::{CallKind, Chain, MethodInfo};
use crate::transport::{Address, Io, Proxy, Target};
use crate::{Codec, Compression, Message, Status};

/// How many bytes the server may send on one call before this side reads them.
const STREAM_WINDOW: u32 = 1024 * 1024;
/// How many bytes the server may send on all calls before this side reads them.
const CONNECTION_WINDOW: u32 = 2 * 1024 * 1024;

/// A connection to one gRPC server, multiplexing every call over one HTTP/2 connection.
///
/// Cloning is cheap and clones share the connection, so one channel (or one generated client)
/// serves a whole program, from as many tasks as it likes. When the connection breaks, the next
/// call dials again.
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
}

struct Inner {
    target: Target,
    /// The target as text, for interceptors (A66's `grpc.target`).
    target_text: Arc<str>,
    /// The HTTP CONNECT proxy TCP connections go through, if any.
    proxy: Option<Proxy>,
    /// TLS for every connection, when the target or the builder asked for it.
    #[cfg(feature = "tls")]
    tls: Option<crate::ClientTls>,
    /// The live connection, if any; cloning a `SendRequest` is how calls share it.
    connection: Mutex<Option<SendRequest<Bytes>>>,
    /// Held while dialling, so that many calls on a broken channel dial once.
    dialling: tokio::sync::Mutex<()>,
}

/// How to reach a server: a target, and (with the `tls` feature) TLS settings. Made by
/// [`Channel::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `connect` or `lazy`"]
pub struct ChannelBuilder {
    target: Result<Target, Status>,
    /// `None`: as the environment says; `Some(None)`: no proxy.
    proxy: Option<Option<Result<Proxy, Status>>>,
    #[cfg(feature = "tls")]
    tls: Option<crate::ClientTls>,
}

impl ChannelBuilder {
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
                target.authority = authority;
                Ok(target)
            }
            (Err(status), _) | (_, Err(status)) => Err(status),
        };
        self
    }

    /// Connects directly, whatever the environment says about proxies.
    pub fn no_proxy(mut self) -> ChannelBuilder {
        self.proxy = Some(None);
        self
    }

    /// Connects now: fails with `UNAVAILABLE` when the server cannot be reached (the TLS
    /// handshake included).
    pub async fn connect(self) -> Result<Channel, Status> {
        let channel = self.lazy()?;
        channel.sender().await?;
        Ok(channel)
    }

    /// A channel that dials on its first call.
    pub fn lazy(self) -> Result<Channel, Status> {
        let target = self.target?;
        let proxy = match self.proxy {
            Some(Some(proxy)) => Some(proxy?),
            Some(None) => None,
            None => match &target.address {
                Address::Tcp(_) => Proxy::from_environment(target.host()),
                Address::Unix(_) | Address::InProcess(_) => None,
            },
        };
        #[cfg(feature = "tls")]
        let tls = self.tls.or_else(|| target.tls.then(crate::ClientTls::new));
        #[cfg(not(feature = "tls"))]
        if target.tls {
            return Err(Status::unimplemented(format!(
                "{target} needs TLS: enable the `tls` feature of protoless"
            )));
        }
        Ok(Channel {
            inner: Arc::new(Inner {
                target_text: target.to_string().into(),
                target,
                proxy,
                #[cfg(feature = "tls")]
                tls,
                connection: Mutex::new(None),
                dialling: tokio::sync::Mutex::new(()),
            }),
            options: Options {
                codec: Codec::Protobuf,
                compression: None,
                max_receive_message_size: DEFAULT_MAX_RECEIVE_MESSAGE_SIZE,
                max_send_message_size: usize::MAX,
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
        let channel = ChannelBuilder {
            target: Ok(Target::in_process(server.in_process())),
            proxy: Some(None),
            #[cfg(feature = "tls")]
            tls: None,
        };
        channel.lazy().expect("an in-process target is valid")
    }

    /// A channel to `target` with more settings than the target says, such as TLS.
    pub fn builder(target: &str) -> ChannelBuilder {
        ChannelBuilder {
            target: Target::parse(target),
            proxy: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
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
    /// without one turns retries off for them), and `retryThrottling`. The JSON
    /// [`service_config`](crate::service_config) renders is accepted, as is what grpc-go,
    /// grpcio and grpc-js accept; `hedgingPolicy` entries are refused.
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

    pub(super) fn retry_config(&self) -> Option<&RetryConfig> {
        self.retry.as_deref()
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

    /// The request URI for `path`, built from parts rather than parsed: this runs per call.
    pub(super) fn uri(&self, path: &'static str) -> Uri {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.inner.target.scheme.clone());
        parts.authority = Some(self.inner.target.authority.clone());
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static(path));
        Uri::from_parts(parts).expect("scheme, authority and a static path make a valid URI")
    }

    pub(super) fn max_receive_message_size(&self) -> usize {
        self.options.max_receive_message_size
    }

    pub(super) fn max_send_message_size(&self) -> usize {
        self.options.max_send_message_size
    }

    /// A handle on the live connection, dialling first if there is none, and ready for a stream.
    pub(super) async fn sender(&self) -> Result<SendRequest<Bytes>, Status> {
        let existing = self.lock().clone();
        let sender = match existing {
            Some(sender) => sender,
            None => self.dial().await?,
        };
        match sender.ready().await {
            Ok(sender) => Ok(sender),
            Err(error) => {
                self.forget_connection();
                Err(Status::unavailable(format!("connection failed: {error}")))
            }
        }
    }

    /// Drops a connection that failed, so that the next call dials a new one.
    pub(super) fn forget_connection(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<SendRequest<Bytes>>> {
        // A panic while holding this lock cannot leave the Option half-written.
        self.inner
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn dial(&self) -> Result<SendRequest<Bytes>, Status> {
        let _dialling = self.inner.dialling.lock().await;
        if let Some(sender) = self.lock().clone() {
            return Ok(sender);
        }
        let target = &self.inner.target;
        let unavailable = |error: &dyn std::fmt::Display| {
            Status::unavailable(format!("failed to connect to {target}: {error}"))
        };
        let sender = match &target.address {
            Address::Tcp(address) => match &self.inner.proxy {
                Some(proxy) => self.secure(proxy.connect(address).await?).await?,
                None => {
                    let stream = TcpStream::connect(address)
                        .await
                        .map_err(|error| unavailable(&error))?;
                    let _ = stream.set_nodelay(true);
                    self.secure(stream).await?
                }
            },
            Address::Unix(path) => {
                let stream = UnixStream::connect(path)
                    .await
                    .map_err(|error| unavailable(&error))?;
                self.secure(stream).await?
            }
            Address::InProcess(connect) => self.handshake(connect()).await?,
        };
        *self.lock() = Some(sender.clone());
        Ok(sender)
    }

    /// Runs the TLS handshake on `stream` when this channel speaks TLS, then HTTP/2's.
    async fn secure<IO: Io>(&self, stream: IO) -> Result<SendRequest<Bytes>, Status> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.inner.tls {
            let target = &self.inner.target;
            let failed = |what: String| {
                Status::unavailable(format!("TLS handshake with {target} failed: {what}"))
            };
            let connector = tls
                .connector()
                .map_err(|error| Status::invalid_argument(error.to_string()))?;
            let name = tls
                .name_for(target.host())
                .map_err(|error| Status::invalid_argument(error.to_string()))?;
            let stream = connector
                .connect(name, stream)
                .await
                .map_err(|error| failed(crate::transport::tls::describe(&error)))?;
            return self.handshake(stream).await;
        }
        self.handshake(stream).await
    }

    /// HTTP/2's handshake on an established connection, whose task then runs in the background.
    async fn handshake<IO: Io>(&self, stream: IO) -> Result<SendRequest<Bytes>, Status> {
        let (sender, connection) = h2::client::Builder::new()
            // Until the server's SETTINGS arrive, assume the 100 streams every server should
            // allow rather than h2's unlimited default, or a burst of calls gets refused.
            .initial_max_send_streams(100)
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .data_frame_budget(crate::flow::data_frame_budget(CONNECTION_WINDOW))
            .handshake::<_, Bytes>(stream)
            .await
            .map_err(|error| {
                Status::unavailable(format!(
                    "HTTP/2 handshake with {} failed: {error}",
                    self.inner.target
                ))
            })?;
        // Ends when the connection closes; the next call notices and dials again. Run once per
        // round of ready calls, so that their requests go out together.
        tokio::spawn(crate::batch::Batched::new(async move {
            let _ = connection.await;
        }));
        Ok(sender)
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("target", &format_args!("{}", self.inner.target))
            .finish_non_exhaustive()
    }
}
