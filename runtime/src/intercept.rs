//! [`Interceptor`]s: code that runs around every call, on the server or on the client, in the
//! order they were added.
//!
//! One small trait serves both sides, as connect-go's does: an interceptor sees a call start
//! (its [`CallInfo`]: method, request metadata, deadline, peer) and may refuse it, sees each
//! message pass, and sees the call end with its [`Outcome`], which it may replace. Nothing runs,
//! and nothing is allocated, for a server or channel that has none.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metadata::MetadataMap;
use crate::schema::Idempotency;
use crate::Status;

/// The future [`Interceptor::start`] returns.
pub type StartFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Status>> + Send + 'a>>;

/// Runs around calls: add one with [`Server::interceptor`](crate::Server::interceptor) or
/// [`Channel::with_interceptor`](crate::Channel::with_interceptor).
///
/// Interceptors run in the order they were added when a call starts and as messages pass, and
/// in the reverse order when it ends, so that the first added wraps all the others. Every
/// method has a default that does nothing: implement only what you need.
///
/// On the server, [`start`](Self::start) runs before the request is read or decoded (a tap):
/// refusing there costs no decoding and no handler. On the client it runs before anything is
/// sent, and may change the request metadata (credentials, say).
///
/// ```
/// use protoless::{CallInfo, Interceptor, Outcome, StartFuture, Status};
///
/// /// Logs every call with its duration and status.
/// struct Timing;
///
/// impl Interceptor for Timing {
///     fn end(&self, call: &CallInfo, outcome: &mut Outcome) {
///         eprintln!(
///             "method={} duration={:?} status={}",
///             call.method().path,
///             call.elapsed(),
///             outcome.code().name()
///         );
///     }
/// }
///
/// /// Refuses calls without a bearer token, before anything is decoded.
/// struct RequireToken;
///
/// impl Interceptor for RequireToken {
///     fn start<'a>(&'a self, call: &'a mut CallInfo) -> StartFuture<'a> {
///         Box::pin(async move {
///             match call.metadata().get("authorization") {
///                 Some(value) if value.starts_with("Bearer ") => Ok(()),
///                 _ => Err(Status::unauthenticated("a bearer token is required")),
///             }
///         })
///     }
/// }
/// ```
pub trait Interceptor: Send + Sync + 'static {
    /// A call starts: refuse it with `Err`, or change its metadata (and, on the server, add
    /// response headers with [`CallInfo::insert_response_header`]).
    fn start<'a>(&'a self, call: &'a mut CallInfo) -> StartFuture<'a> {
        let _ = call;
        Box::pin(std::future::ready(Ok(())))
    }

    /// A message passes: a request or a response, decoded (downcast it to the method's type).
    fn message(&self, call: &CallInfo, message: Passing<'_>) {
        let _ = (call, message);
    }

    /// The call ends: observe or replace its outcome, add trailers.
    fn end(&self, call: &CallInfo, outcome: &mut Outcome) {
        let _ = (call, outcome);
    }
}

/// The four shapes of a gRPC method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// Streams both ways.
    BidiStreaming,
}

/// What a method is, as its trait declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MethodInfo {
    /// `/package.Service/Method`.
    pub path: &'static str,
    /// `package.Service`.
    pub service: &'static str,
    /// `Method`.
    pub method: &'static str,
    /// Its shape.
    pub kind: CallKind,
    /// What calling it again does (`#[idempotent]`, `#[no_side_effects]`).
    pub idempotency: Idempotency,
}

impl MethodInfo {
    /// A method as `#[service]` describes it. Generated code calls this; not for users.
    #[doc(hidden)]
    pub const fn generated(
        path: &'static str,
        service: &'static str,
        method: &'static str,
        kind: CallKind,
        idempotency: Idempotency,
    ) -> MethodInfo {
        MethodInfo {
            path,
            service,
            method,
            kind,
            idempotency,
        }
    }

    /// What is known of a method called by path alone (through [`Channel::unary`] and the
    /// like, without generated code): its names, its shape, and no idempotency.
    ///
    /// [`Channel::unary`]: crate::Channel::unary
    pub(crate) fn from_path(path: &'static str, kind: CallKind) -> MethodInfo {
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or(("", path));
        MethodInfo {
            path,
            service,
            method,
            kind,
            idempotency: Idempotency::Unknown,
        }
    }
}

/// Which end of a call an interceptor runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The server.
    Server,
    /// The client.
    Client,
}

/// A call as interceptors see it.
#[derive(Debug)]
pub struct CallInfo {
    method: MethodInfo,
    side: Side,
    metadata: MetadataMap,
    response_headers: MetadataMap,
    deadline: Option<tokio::time::Instant>,
    peer: Option<SocketAddr>,
    started: Instant,
    extensions: http::Extensions,
    /// On the client, the channel's target.
    target: Option<Arc<str>>,
}

impl CallInfo {
    pub(crate) fn new(
        method: MethodInfo,
        side: Side,
        metadata: MetadataMap,
        deadline: Option<tokio::time::Instant>,
        peer: Option<SocketAddr>,
    ) -> CallInfo {
        CallInfo {
            method,
            side,
            metadata,
            response_headers: MetadataMap::new(),
            deadline,
            peer,
            started: Instant::now(),
            extensions: http::Extensions::new(),
            target: None,
        }
    }

    pub(crate) fn with_target(mut self, target: Arc<str>) -> CallInfo {
        self.target = Some(target);
        self
    }

    /// On the client, the channel's target (such as `http://127.0.0.1:50051`).
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// The method called.
    pub fn method(&self) -> &MethodInfo {
        &self.method
    }

    /// Which end this is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The request metadata: what the client sends, or what the server received.
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// The request metadata, to change in [`Interceptor::start`]: on the client, what is sent;
    /// on the server, what the handler sees.
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.metadata
    }

    /// The call's deadline, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.map(tokio::time::Instant::into_std)
    }

    /// On the server, the client's address (`None` over a Unix socket or on the client).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Per-call state an interceptor keeps from `start` to `end` (a span, a timer), by type.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Per-call state, to insert in `start`.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// How long since the call started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// On the server, adds a response header, sent with the handler's own (a failing
    /// `InvalidMetadata` for a malformed or reserved key). On the client, the response headers
    /// are read-only: see [`response_headers`](Self::response_headers).
    pub fn insert_response_header(
        &mut self,
        key: &str,
        value: &str,
    ) -> Result<(), crate::InvalidMetadata> {
        self.response_headers.insert(key, value)
    }

    /// On the server, the response headers interceptors added; on the client, at
    /// [`Interceptor::end`], those the server sent.
    pub fn response_headers(&self) -> &MetadataMap {
        &self.response_headers
    }

    pub(crate) fn set_response_headers(&mut self, headers: MetadataMap) {
        self.response_headers = headers;
    }
}

/// A message passing an interceptor.
#[derive(Clone, Copy)]
pub struct Passing<'a> {
    /// The message, decoded: downcast it to the method's request or response type.
    pub message: &'a (dyn Any + Send + Sync),
    /// Whether it is a request (else a response).
    pub request: bool,
    /// Its size on the wire: compressed if it was, without the 5-byte message prefix.
    pub wire_size: usize,
}

impl std::fmt::Debug for Passing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passing")
            .field("request", &self.request)
            .field("wire_size", &self.wire_size)
            .finish_non_exhaustive()
    }
}

/// How a call ended, as interceptors see it at [`Interceptor::end`]: they may replace the
/// status and, on the server, add trailers.
#[derive(Debug, Default)]
pub struct Outcome {
    status: Option<Status>,
    trailers: MetadataMap,
}

impl Outcome {
    pub(crate) fn new(status: Option<Status>) -> Outcome {
        Outcome {
            status,
            trailers: MetadataMap::new(),
        }
    }

    /// The status the call ended with; `None` for OK.
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    /// The status code (`OK` for success).
    pub fn code(&self) -> crate::Code {
        self.status.as_ref().map_or(crate::Code::Ok, Status::code)
    }

    /// Replaces the outcome: `None` for OK. On the server, a success replaced by an error is
    /// sent as that error (after any messages already sent); on the client, the caller gets it.
    pub fn set_status(&mut self, status: Option<Status>) {
        self.status = status;
    }

    /// On the server, trailers to send with the status.
    pub fn trailers_mut(&mut self) -> &mut MetadataMap {
        &mut self.trailers
    }

    pub(crate) fn into_parts(self) -> (Option<Status>, MetadataMap) {
        (self.status, self.trailers)
    }
}

/// The interceptors of a server or a channel, in the order added.
#[derive(Clone, Default)]
pub(crate) struct Chain(Option<Arc<[Arc<dyn Interceptor>]>>);

impl Chain {
    pub(crate) fn push(&mut self, interceptor: Arc<dyn Interceptor>) {
        let mut all: Vec<_> = self.0.iter().flat_map(|all| all.iter().cloned()).collect();
        all.push(interceptor);
        self.0 = Some(all.into());
    }

    /// The interceptors, when there are any: nothing else is built for a call without them.
    pub(crate) fn get(&self) -> Option<&Arc<[Arc<dyn Interceptor>]>> {
        self.0.as_ref()
    }
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.0.as_ref().map_or(0, |all| all.len());
        write!(f, "{count} interceptors")
    }
}

/// One call's interceptors and what they know of it.
pub(crate) struct Intercepted {
    pub(crate) chain: Arc<[Arc<dyn Interceptor>]>,
    pub(crate) call: CallInfo,
}

impl Intercepted {
    /// Runs every `start`, in order; the first refusal wins.
    pub(crate) async fn start(&mut self) -> Result<(), Status> {
        for interceptor in self.chain.iter() {
            interceptor.start(&mut self.call).await?;
        }
        Ok(())
    }

    /// Shows `message` to every interceptor, in order.
    pub(crate) fn message(
        &self,
        message: &(dyn Any + Send + Sync),
        request: bool,
        wire_size: usize,
    ) {
        for interceptor in self.chain.iter() {
            let passing = Passing {
                message,
                request,
                wire_size,
            };
            interceptor.message(&self.call, passing);
        }
    }

    /// Runs every `end` for a call that failed with `status` and has no response to give:
    /// the status they leave, or `status` itself if they turned it into OK.
    pub(crate) fn end_failed(&self, status: Status) -> Status {
        self.end(Some(status.clone()))
            .into_parts()
            .0
            .unwrap_or(status)
    }

    /// Runs every `end`, in reverse order.
    pub(crate) fn end(&self, status: Option<Status>) -> Outcome {
        let mut outcome = Outcome::new(status);
        for interceptor in self.chain.iter().rev() {
            interceptor.end(&self.call, &mut outcome);
        }
        outcome
    }
}
