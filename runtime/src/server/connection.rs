//! One HTTP/2 connection: the handshake, accepting streams, routing each call to its service, and
//! draining on shutdown.

use std::sync::Arc;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use tokio::sync::watch;
use tokio::time::Instant;

use super::service::CallHandle;
use super::{CallDetails, Phase, ServerCall, Shared};
use crate::batch::Batched;
use crate::compression::{Compression, ACCEPT_ENCODING};
use crate::headers::{text, GrpcHeaders, GRPC_ACCEPT_ENCODING, GRPC_MESSAGE, GRPC_STATUS};
use crate::metadata::MetadataMap;
use crate::status::encode_message;
use crate::transport::{Io, Peer};
use crate::{timeout, Code, Codec, Status};

/// Serves one connection until the peer closes it, or until shutdown has drained its calls:
/// over TLS first when the server has it. Run once per round of ready calls, so that their
/// answers go out together (see [`Batched`]).
pub(super) fn serve<IO: Io>(
    stream: IO,
    peer: Peer,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<Phase>,
) -> Batched<impl std::future::Future<Output = ()>> {
    Batched::new(serve_unbatched(stream, peer, shared, shutdown))
}

async fn serve_unbatched<IO: Io>(
    stream: IO,
    peer: Peer,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<Phase>,
) {
    // TLS and HTTP/2 share one handshake deadline.
    let deadline = Instant::now() + shared.config.handshake_timeout;
    #[cfg(feature = "tls")]
    if shared.config.tls.is_some() {
        // Boxed: a TLS connection's future is several times a plain one's (14 KiB against
        // 3 KiB), and every connection's task would otherwise be as large as the largest.
        return Box::pin(serve_tls(stream, peer, deadline, shared, shutdown)).await;
    }
    serve_http(stream, peer, deadline, shared, shutdown).await;
}

/// Serves a connection over TLS: the handshake, then HTTP as [`serve_http`] does.
#[cfg(feature = "tls")]
async fn serve_tls<IO: Io>(
    stream: IO,
    peer: Peer,
    deadline: Instant,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<Phase>,
) {
    let Some(tls) = &shared.config.tls else {
        return;
    };
    let handshake = tokio::time::timeout_at(deadline, tls.accept(stream)).await;
    let peer_text = peer
        .addr
        .map_or_else(|| "a local socket".to_owned(), |a| a.to_string());
    match handshake {
        Ok(Ok((stream, identity))) => {
            let peer = Peer {
                identity: identity.map(Arc::new),
                ..peer
            };
            serve_http(stream, peer, deadline, shared, shutdown).await;
        }
        Ok(Err(error)) => tracing::warn!(
            peer = %peer_text,
            "TLS handshake failed, connection closed: {}",
            crate::transport::tls::describe(&error)
        ),
        Err(_) => tracing::warn!(
            peer = %peer_text,
            "TLS handshake did not finish within the handshake timeout, connection closed"
        ),
    }
}

/// Serves a connection (past TLS, if any) in the HTTP version its first bytes show: HTTP/2 by
/// its preface, else HTTP/1.1 when the web protocols are on.
async fn serve_http<IO: Io>(
    stream: IO,
    peer: Peer,
    deadline: Instant,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<Phase>,
) {
    if shared.config.web.is_none() {
        return serve_h2(stream, peer, deadline, shared, shutdown).await;
    }
    let Some((h2, stream)) = sniff(stream, deadline).await else {
        return;
    };
    if h2 {
        serve_h2(stream, peer, deadline, shared, shutdown).await;
    } else {
        serve_http1(stream, peer, shared, shutdown).await;
    }
}

/// HTTP/2's connection preface, which a client speaking it sends first.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads as much of the connection's start as tells HTTP/2 from HTTP/1.1 (at most the 24 bytes
/// of HTTP/2's preface), within the handshake's deadline; whether it is HTTP/2, and the
/// connection with those bytes put back.
async fn sniff<IO: Io>(mut stream: IO, deadline: Instant) -> Option<(bool, Rewind<IO>)> {
    use tokio::io::AsyncReadExt;
    let mut start = Vec::with_capacity(PREFACE.len());
    let mut chunk = [0u8; PREFACE.len()];
    loop {
        let wanted = PREFACE.len() - start.len();
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk[..wanted]));
        let n = read.await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        start.extend_from_slice(&chunk[..n]);
        if !PREFACE.starts_with(&start) {
            return Some((false, Rewind::new(start, stream)));
        }
        if start.len() == PREFACE.len() {
            return Some((true, Rewind::new(start, stream)));
        }
    }
}

/// A connection whose first bytes, read to sniff its protocol, are read again.
pub(super) struct Rewind<IO> {
    start: Bytes,
    io: IO,
}

impl<IO> Rewind<IO> {
    fn new(start: Vec<u8>, io: IO) -> Self {
        Rewind {
            start: Bytes::from(start),
            io,
        }
    }
}

impl<IO: Io> tokio::io::AsyncRead for Rewind<IO> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.start.is_empty() {
            let n = self.start.len().min(buf.remaining());
            buf.put_slice(&self.start.split_to(n));
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: Io> tokio::io::AsyncWrite for Rewind<IO> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Serves HTTP/1.1 through hyper: gRPC-Web and Connect requests, translated by the gateway.
async fn serve_http1<IO: Io>(
    stream: IO,
    peer: Peer,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<Phase>,
) {
    let max_buf = (shared.config.max_header_list_size as usize).max(8192);
    // A request's headers must arrive as fast as a connection's handshake.
    let header_read_timeout = shared.config.handshake_timeout;
    let gateway = Arc::new(super::web::Gateway::new(shared, peer, shutdown.clone()));
    let service = hyper::service::service_fn(move |request| {
        let gateway = gateway.clone();
        async move { Ok::<_, std::convert::Infallible>(super::web::handle(gateway, request).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(max_buf);
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(connection);
    if *shutdown.borrow_and_update() != Phase::Serving {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            changed = shutdown.changed() => {
                connection.as_mut().graceful_shutdown();
                if changed.is_err() || *shutdown.borrow_and_update() == Phase::Halting {
                    return;
                }
            }
        }
    }
}

/// Serves the in-memory HTTP/2 connection web calls go through (see [`super::web`]).
pub(super) fn serve_inner<IO: Io>(
    stream: IO,
    peer: Peer,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<Phase>,
) -> Batched<impl std::future::Future<Output = ()>> {
    let deadline = Instant::now() + shared.config.handshake_timeout;
    Batched::new(serve_h2_with(
        stream,
        peer,
        deadline,
        shared,
        shutdown,
        Policing::Gateway,
    ))
}

/// Serves HTTP/2 on a connection (past TLS, if any).
async fn serve_h2<IO: Io>(
    stream: IO,
    peer: Peer,
    deadline: Instant,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<Phase>,
) {
    serve_h2_with(stream, peer, deadline, shared, shutdown, Policing::Client).await;
}

/// Whether a connection's peer is a client, policed by the server's connection policies (idle
/// time, age, keepalive, pings), or the web gateway's in-memory connection, which lives as long
/// as the client connection it serves and is policed through that one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Policing {
    Client,
    Gateway,
}

async fn serve_h2_with<IO: Io>(
    stream: IO,
    peer: Peer,
    deadline: Instant,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<Phase>,
    policing: Policing,
) {
    let config = &shared.config;
    let policed = policing == Policing::Client;
    // Counts the client's PINGs on their way to h2, when a ping policy is set.
    let client_pings = config
        .ping_policy
        .filter(|_| policed)
        .map(|_| Arc::new(super::ping_tap::Pings::default()));
    let stream = super::ping_tap::PingTap::new(stream, client_pings.clone());
    let mut police = config.ping_policy.filter(|_| policed).map(PingPolice::new);
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(config.max_concurrent_streams)
        .max_header_list_size(config.max_header_list_size)
        .initial_window_size(config.initial_stream_window_size)
        .initial_connection_window_size(config.initial_connection_window_size)
        .max_pending_accept_reset_streams(100)
        .max_local_error_reset_streams(Some(1024))
        .data_frame_budget(crate::flow::data_frame_budget(
            config.initial_connection_window_size,
        ))
        .handshake::<_, Bytes>(stream);
    let Ok(Ok(mut connection)) = tokio::time::timeout_at(deadline, handshake).await else {
        return;
    };
    let mut phase = *shutdown.borrow_and_update();
    if phase != Phase::Serving {
        connection.graceful_shutdown();
    }
    // Web requests on this connection go through a gateway, when the web protocols are on.
    let gateway = config.web.as_ref().filter(|_| policed).map(|_| {
        Arc::new(super::web::Gateway::new(
            shared.clone(),
            peer.clone(),
            shutdown.clone(),
        ))
    });
    let mut calls = RunningCalls::default();
    // Calls accepted in this read, run once h2 has handed over every request of it (or a batch
    // is full): their answers then leave together, in one write.
    let mut starting: Vec<CallHandle> = Vec::new();
    // Made once, and again only when the phase changes: a call arrives at every turn.
    let mut phase_changed = Box::pin(next_phase(shutdown));
    // gRFC A9's MAX_CONNECTION_IDLE, when configured: restarted by each call.
    let mut idle = config
        .max_connection_idle
        .filter(|_| policed)
        .map(IdleTimer::new);
    // gRFC A9's MAX_CONNECTION_AGE, then its grace, when configured.
    let mut age = config
        .max_connection_age
        .filter(|_| policed)
        .map(|age| Box::pin(tokio::time::sleep(jittered(age))));
    let mut aged = false;
    // gRFC A8's server keepalive, when configured: completes when a PING goes unanswered.
    let keepalive = config.keepalive.filter(|_| policed);
    let pings = keepalive.and_then(|_| connection.ping_pong());
    let mut unanswered = Box::pin(async move {
        match (keepalive, pings) {
            (Some(keepalive), Some(pings)) => keepalive.until_unanswered(pings, || true).await,
            _ => std::future::pending().await,
        }
    });
    loop {
        tokio::select! {
            // In this order: new requests first, so that the calls start in batches.
            biased;
            accepted = connection.accept(), if starting.len() < START_BATCH => match accepted {
                // Routing is quick and never waits: it runs here.
                Some(Ok((request, respond))) => {
                    if let Some(idle) = &mut idle {
                        idle.restart();
                    }
                    if let Some(police) = &mut police {
                        police.call_started();
                    }
                    if let Some(call) = route(&shared, &peer, request, respond, gateway.as_ref()) {
                        starting.push(call);
                    }
                }
                // A protocol error or a closed socket ends the connection; h2 has already told
                // the peer what it could.
                Some(Err(_)) | None => {
                    calls.start(&mut starting);
                    break;
                }
            },
            (next, shutdown) = &mut phase_changed, if phase != Phase::Halting => {
                phase = next;
                connection.graceful_shutdown();
                if phase == Phase::Halting {
                    // Each aborted call answers UNAVAILABLE as its task drops it; this loop
                    // goes on to send those answers, and ends when h2 has closed every stream.
                    calls.start(&mut starting);
                    calls.abort_all();
                } else {
                    phase_changed = Box::pin(next_phase(shutdown));
                }
            }
            () = IdleTimer::elapsed(&mut idle) => {
                if calls.none_running() && starting.is_empty() {
                    // Idle: say goodbye; the connection ends once h2 has sent the GOAWAY.
                    connection.graceful_shutdown();
                    idle = None;
                } else if let Some(idle) = &mut idle {
                    idle.restart();
                }
            }
            count = arrived(client_pings.as_deref()), if police.is_some() => {
                let no_calls = calls.none_running() && starting.is_empty();
                let sent = client_pings.as_ref().map_or(0, |pings| pings.sent());
                if police.as_mut().is_some_and(|police| police.too_many(count, no_calls, sent)) {
                    tracing::warn!(
                        peer = ?peer.addr,
                        "the client pings too often: GOAWAY ENHANCE_YOUR_CALM, calls cancelled"
                    );
                    connection.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                    calls.start(&mut starting);
                    calls.abort_all();
                    police = None;
                }
            }
            () = &mut unanswered => {
                tracing::info!(
                    peer = ?peer.addr,
                    "keepalive PING unanswered: connection closed, its calls cancelled"
                );
                calls.start(&mut starting);
                calls.abort_all();
                break;
            }
            () = fires(&mut age) => {
                if aged {
                    // The grace is over: calls still running end UNAVAILABLE, as on halting.
                    calls.start(&mut starting);
                    calls.abort_all();
                    age = None;
                } else {
                    connection.graceful_shutdown();
                    aged = true;
                    age = config
                        .max_connection_age_grace
                        .map(|grace| Box::pin(tokio::time::sleep(grace)));
                }
            }
            () = std::future::ready(()), if !starting.is_empty() => calls.start(&mut starting),
        }
    }
}

/// Waits for PINGs from the client; never without a tap.
async fn arrived(pings: Option<&super::ping_tap::Pings>) -> u32 {
    match pings {
        Some(pings) => pings.arrived().await,
        None => std::future::pending().await,
    }
}

/// gRFC A8's enforcement on one connection: strikes for PINGs that come too soon.
struct PingPolice {
    policy: super::PingPolicy,
    last: Option<Instant>,
    strikes: u32,
    /// The server's HEADERS and DATA frames written when last looked: more forgive.
    sent: u64,
}

/// With no call open and no permission to ping then, the least time between PINGs (grpc-go's).
const PING_INTERVAL_WITHOUT_CALLS: std::time::Duration =
    std::time::Duration::from_secs(2 * 60 * 60);

/// Bad PINGs tolerated before the connection ends (A8's `MAX_PING_STRIKES`).
const MAX_PING_STRIKES: u32 = 2;

impl PingPolice {
    fn new(policy: super::PingPolicy) -> PingPolice {
        PingPolice {
            policy,
            last: None,
            strikes: 0,
            sent: 0,
        }
    }

    /// A call started: the client is using the connection, pings before this are forgiven.
    fn call_started(&mut self) {
        self.strikes = 0;
        self.last = None;
    }

    /// `count` PINGs arrived (at once), the server having written `sent` HEADERS and DATA
    /// frames so far; whether that makes too many.
    fn too_many(&mut self, count: u32, no_calls: bool, sent: u64) -> bool {
        if sent != self.sent {
            // The server answered something since: the client is using the connection.
            self.sent = sent;
            self.call_started();
        }
        let interval = if no_calls && !self.policy.permit_without_calls {
            PING_INTERVAL_WITHOUT_CALLS
        } else {
            self.policy.min_time
        };
        let now = Instant::now();
        for _ in 0..count {
            if self
                .last
                .is_some_and(|last| now.duration_since(last) < interval)
            {
                self.strikes += 1;
            }
            self.last = Some(now);
        }
        self.strikes > MAX_PING_STRIKES
    }
}

/// `age` randomised by ±10 %, as gRFC A9 asks of connection ages.
fn jittered(age: std::time::Duration) -> std::time::Duration {
    // Ages past a century are "never" anyway; capped so that the jitter cannot overflow.
    const CENTURY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
    age.min(CENTURY)
        .mul_f64(0.9 + 0.2 * crate::client::random_fraction())
}

/// Completes when `timer` fires; never without one.
async fn fires(timer: &mut Option<std::pin::Pin<Box<tokio::time::Sleep>>>) {
    match timer {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// How many accepted calls wait for the rest of their read before they start, at most.
const START_BATCH: usize = 64;

/// The server's next phase, and the receiver to wait for the one after. A server gone without
/// a signal counts as draining: stop taking calls either way.
async fn next_phase(mut shutdown: watch::Receiver<Phase>) -> (Phase, watch::Receiver<Phase>) {
    let phase = match shutdown.changed().await {
        Ok(()) => *shutdown.borrow_and_update(),
        Err(_) => {
            // No further change can come: wait for nothing more.
            std::future::pending::<()>().await;
            Phase::Draining
        }
    };
    (phase, shutdown)
}

/// Fires when a connection has had no new call for its limit.
struct IdleTimer {
    limit: std::time::Duration,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimer {
    fn new(limit: std::time::Duration) -> IdleTimer {
        IdleTimer {
            limit,
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }

    fn restart(&mut self) {
        self.sleep.as_mut().reset(Instant::now() + self.limit);
    }

    /// Completes when `timer` fires; never without one.
    async fn elapsed(timer: &mut Option<IdleTimer>) {
        match timer {
            Some(timer) => timer.sleep.as_mut().await,
            None => std::future::pending().await,
        }
    }
}

/// The calls a connection started that may still run, each on a task of its own.
#[derive(Default)]
struct RunningCalls(Vec<tokio::task::JoinHandle<()>>);

impl RunningCalls {
    /// Runs each call in place until it first waits (most unary calls finish there), and
    /// continues those that wait on tasks of their own.
    fn start(&mut self, starting: &mut Vec<CallHandle>) {
        // A call that waits has registered this waker; its task's first poll registers the
        // task's own, and sees anything that happened in between.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for mut call in starting.drain(..) {
            if call.0.as_mut().poll(&mut cx).is_pending() {
                self.track(tokio::spawn(call.0));
            }
        }
    }

    fn track(&mut self, call: tokio::task::JoinHandle<()>) {
        // Finished calls are dropped whenever the list is full, so it stays about as long as
        // the calls in flight and costs a push per call.
        if self.0.len() == self.0.capacity() {
            self.0.retain(|call| !call.is_finished());
        }
        self.0.push(call);
    }

    fn none_running(&self) -> bool {
        self.0.iter().all(|call| call.is_finished())
    }

    fn abort_all(&mut self) {
        for call in self.0.drain(..) {
            call.abort();
        }
    }
}

/// Checks the request's headers and hands the call to its service, or answers it at once.
fn route(
    shared: &Shared,
    peer: &Peer,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    gateway: Option<&Arc<super::web::Gateway>>,
) -> Option<CallHandle> {
    let (head, body) = request.into_parts();
    let headers = GrpcHeaders::scan(&head.headers);
    let content_type = headers.content_type.and_then(text);
    let codec = content_type
        .filter(|_| head.method == Method::POST)
        .and_then(|value| Codec::negotiate(value, &shared.config.codecs));
    let Some(codec) = codec else {
        if let Some(gateway) = gateway {
            if super::web::is_web(&head.method, &head.headers) {
                let request = Request::from_parts(head, body);
                return Some(super::web::over_h2(gateway.clone(), request, respond));
            }
        }
        let status = if head.method == Method::POST {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        } else {
            StatusCode::METHOD_NOT_ALLOWED
        };
        reply_http(&mut respond, status);
        return None;
    };
    let request_compression = match headers.encoding.and_then(text) {
        None | Some("identity") => None,
        Some(name) => match Compression::from_name(name) {
            Some(compression) => Some(compression),
            None => {
                refuse_encoding(&mut respond, codec, name);
                return None;
            }
        },
    };
    // Answer compressed when the client compressed (as grpc-go does), or when this server is
    // set to and the client accepts it.
    let accepted = |compression: Compression| {
        let accept = headers.accept_encoding.and_then(text);
        accept.is_some_and(|accept| compression.accepted_by(accept))
    };
    let response_compression = request_compression
        .or(shared.config.send_compressed)
        .filter(|compression| accepted(*compression));
    let deadline = headers
        .timeout
        .and_then(|value| timeout::parse(value.as_bytes()))
        .map(|timeout| Instant::now() + timeout);
    let malformed_timeout = match (headers.timeout, deadline) {
        (Some(value), None) => Some(format!("malformed grpc-timeout: {value:?}")),
        _ => None,
    };
    let metadata = headers
        .has_metadata
        .then(|| Box::new(MetadataMap::from_headers(&head.headers)));
    let mut call = ServerCall {
        codec,
        body,
        respond,
        info: CallDetails {
            metadata,
            deadline,
            peer: peer.clone(),
            accept_encoding: headers.accept_encoding.cloned(),
        },
        config: shared.config.clone(),
        request_compression,
        response_compression,
        load: None,
    };
    let refusal = if let Some(message) = malformed_timeout {
        // As grpc-go does: a malformed timeout is a broken client, not a missing deadline.
        Status::internal(message)
    } else if deadline.is_some_and(|deadline| deadline <= Instant::now()) {
        // Expired on arrival: doing any work would be wasted, whatever the timer's resolution.
        Status::deadline_exceeded("Deadline Exceeded")
    } else {
        let path = head.uri.path();
        match split_path(path) {
            None => Status::unimplemented(format!("malformed method name: {path:?}")),
            Some((service_name, method)) => match shared.services.get(service_name) {
                None => Status::unimplemented(format!("unknown service {service_name}")),
                Some(service) => match call.take_load(shared) {
                    Err(overloaded) => overloaded,
                    Ok(()) => match service.call(method, call) {
                        Ok(running) => return Some(running),
                        Err(unknown) => {
                            unknown.fail(&Status::unimplemented(format!(
                                "unknown method {method} for service {service_name}"
                            )));
                            return None;
                        }
                    },
                },
            },
        }
    };
    call.fail(&refusal);
    None
}

/// `/package.Service/Method` into the service's and the method's name.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    // A short name: a plain scan beats `memchr`'s setup.
    let slash = rest.bytes().position(|byte| byte == b'/')?;
    Some((&rest[..slash], &rest[slash + 1..]))
}

/// `UNIMPLEMENTED` for a `grpc-encoding` this server cannot decompress, telling the client what
/// it can (`grpc-accept-encoding`), as the compression spec says.
fn refuse_encoding(respond: &mut SendResponse<Bytes>, codec: Codec, name: &str) {
    let mut response = Response::new(());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(codec.content_type()),
    );
    headers.insert(GRPC_STATUS, Code::Unimplemented.header_value());
    let message = encode_message(&format!("grpc-encoding {name:?} is not supported"));
    if let Ok(message) = HeaderValue::from_str(&message) {
        headers.insert(GRPC_MESSAGE, message);
    }
    headers.insert(
        GRPC_ACCEPT_ENCODING,
        HeaderValue::from_static(ACCEPT_ENCODING),
    );
    let _ = respond.send_response(response, true);
}

fn reply_http(respond: &mut SendResponse<Bytes>, status: StatusCode) {
    let mut response = Response::new(());
    *response.status_mut() = status;
    let _ = respond.send_response(response, true);
}
