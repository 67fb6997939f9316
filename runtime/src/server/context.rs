//! [`Context`]: what a handler may know and say about its call besides the messages.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::HeaderValue;
use tokio::time::Instant;

use crate::headers::text;
use crate::metadata::{InvalidMetadata, MetadataMap};
use crate::transport::{Peer, PeerIdentity};
use crate::{Compression, Status};

tokio::task_local! {
    /// What client calls made while handling a call inherit from it.
    pub(crate) static CALL_SCOPE: Inherited;
}

/// What a call being handled passes on to the client calls its handler makes: its deadline,
/// and its trace.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Inherited {
    pub(crate) deadline: Option<Instant>,
    pub(crate) trace: Option<crate::TraceContext>,
}

impl Inherited {
    /// Whether there is anything to pass on (else no task-local is set).
    pub(crate) fn is_empty(&self) -> bool {
        self.deadline.is_none() && self.trace.is_none()
    }
}

/// What the call being handled passes on here, if any.
pub(crate) fn inherited() -> Inherited {
    CALL_SCOPE.try_with(|scope| *scope).unwrap_or_default()
}

/// The deadline client calls made from here inherit: the one of the call being handled, if any.
pub(crate) fn inherited_deadline() -> Option<Instant> {
    inherited().deadline
}

/// The context of one call on the server: request metadata, deadline and peer, and the response
/// headers and trailers to send.
///
/// A handler receives it by declaring a second parameter of this type:
///
/// ```
/// # use protoless::{Context, Message, Status};
/// # #[derive(Message)] pub struct StoreReq { pub key: String }
/// # #[derive(Message)] pub struct StoreResp {}
/// #[protoless::service(package = "rpc")]
/// pub trait Cache {
///     async fn store(&self, req: StoreReq, ctx: Context) -> Result<StoreResp, Status>;
/// }
///
/// struct Store;
/// impl Cache for Store {
///     async fn store(&self, req: StoreReq, ctx: Context) -> Result<StoreResp, Status> {
///         let dry_run = ctx.metadata().get("dry-run") == Some("1");
///         ctx.insert_trailer("stored", if dry_run { "0" } else { "1" }).unwrap();
///         Ok(StoreResp {})
///     }
/// }
/// ```
///
/// Client calls made while handling the call inherit its deadline (see
/// [`Call::ignore_inherited_deadline`](crate::Call::ignore_inherited_deadline)).
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    metadata: MetadataMap,
    deadline: Option<Instant>,
    peer: Peer,
    /// The client's `grpc-accept-encoding`.
    accept_encoding: Option<HeaderValue>,
    /// Whether the one request message came compressed.
    request_compressed: AtomicBool,
    /// Whether response messages sent from now on are compressed (when the call compresses).
    message_compression: AtomicBool,
    response: Mutex<Response>,
}

#[derive(Default)]
struct Response {
    headers: MetadataMap,
    trailers: MetadataMap,
    headers_sent: bool,
    /// The handler's choice of response compression (`Some(None)`: none), if it made one.
    send_compression: Option<Option<Compression>>,
    /// Set once the first response message is encoded: the compression is fixed.
    compression_fixed: bool,
}

impl Context {
    pub(crate) fn new(
        metadata: MetadataMap,
        deadline: Option<Instant>,
        peer: Peer,
        accept_encoding: Option<HeaderValue>,
    ) -> Context {
        Context {
            inner: Arc::new(Inner {
                metadata,
                deadline,
                peer,
                accept_encoding,
                request_compressed: AtomicBool::new(false),
                message_compression: AtomicBool::new(true),
                response: Mutex::new(Response::default()),
            }),
        }
    }

    /// The request's custom metadata.
    pub fn metadata(&self) -> &MetadataMap {
        &self.inner.metadata
    }

    /// When the client stops waiting, if it set a deadline (`grpc-timeout`).
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.inner.deadline.map(Instant::into_std)
    }

    /// How long is left until the deadline; zero once it has passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.inner
            .deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// The client's address; `None` over a Unix domain socket.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer.addr
    }

    /// The identity the client proved with a certificate, when the server requires them
    /// ([`ServerTls::require_client_certificates`](crate::ServerTls)); `None` otherwise.
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.inner.peer.identity.as_deref()
    }

    fn response(&self) -> MutexGuard<'_, Response> {
        self.inner
            .response
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds an ASCII response header. Fails once the headers are sent (with the first response
    /// message), and for malformed or reserved keys.
    pub fn insert_header(&self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        let mut response = self.response();
        headers_open(&response)?;
        response.headers.insert(key, value)
    }

    /// Adds a binary response header (`-bin` key).
    pub fn insert_header_bin(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
    ) -> Result<(), InvalidMetadata> {
        let mut response = self.response();
        headers_open(&response)?;
        response.headers.insert_bin(key, value)
    }

    /// Adds an ASCII trailer, sent with the call's status, also when the call fails.
    pub fn insert_trailer(&self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        self.response().trailers.insert(key, value)
    }

    /// Adds a binary trailer (`-bin` key).
    pub fn insert_trailer_bin(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
    ) -> Result<(), InvalidMetadata> {
        self.response().trailers.insert_bin(key, value)
    }

    /// Whether the request message came compressed on the wire (its compressed flag), for a
    /// method that takes one request. A request stream tells it per message:
    /// [`Streaming::last_message_compressed`](crate::Streaming::last_message_compressed).
    pub fn request_compressed(&self) -> bool {
        self.inner.request_compressed.load(Ordering::Relaxed)
    }

    pub(crate) fn set_request_compressed(&self, compressed: bool) {
        self.inner
            .request_compressed
            .store(compressed, Ordering::Relaxed);
    }

    /// Compresses this call's responses with `compression` (`None`: not at all), instead of the
    /// server's choice (the request's own compression, or
    /// [`Server::send_compressed`](crate::Server::send_compressed)).
    ///
    /// Fails with `FAILED_PRECONDITION` when the client did not list the algorithm in its
    /// `grpc-accept-encoding`, or once the first response message has been encoded, since the
    /// response headers announce the compression.
    ///
    /// ```
    /// # use protoless::{Compression, Context, Status};
    /// fn compress_large_replies(ctx: &Context, size: usize) -> Result<(), Status> {
    ///     if size > 64 * 1024 {
    ///         ctx.set_send_compression(Some(Compression::Gzip))?;
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn set_send_compression(&self, compression: Option<Compression>) -> Result<(), Status> {
        if let Some(compression) = compression {
            let accept = self.inner.accept_encoding.as_ref().and_then(text);
            if !accept.is_some_and(|accept| compression.accepted_by(accept)) {
                return Err(Status::failed_precondition(format!(
                    "the client does not accept {} compression (grpc-accept-encoding: {})",
                    compression.name(),
                    accept.unwrap_or("none")
                )));
            }
        }
        let mut response = self.response();
        if response.compression_fixed {
            return Err(Status::failed_precondition(
                "the response compression cannot change once a response message was encoded",
            ));
        }
        response.send_compression = Some(compression);
        Ok(())
    }

    /// Whether the response messages sent from now on are compressed, when the call compresses
    /// its responses at all (the default is yes). Turn it off for a message that would not
    /// shrink, as grpcio's `disable_next_message_compression` does for one.
    ///
    /// On a response stream made with [`stream::generate`](crate::stream::generate), a message
    /// is encoded when `send` hands it over: set this before sending the message it applies to.
    pub fn set_message_compression(&self, enabled: bool) {
        self.inner
            .message_compression
            .store(enabled, Ordering::Relaxed);
    }

    pub(crate) fn message_compression(&self) -> bool {
        self.inner.message_compression.load(Ordering::Relaxed)
    }

    /// The handler's choice of response compression, if it made one.
    pub(crate) fn send_compression(&self) -> Option<Option<Compression>> {
        self.response().send_compression
    }

    pub(crate) fn fix_send_compression(&self) {
        self.response().compression_fixed = true;
    }

    /// Whether the handler set response headers that are not sent yet.
    pub(crate) fn has_headers(&self) -> bool {
        !self.response().headers.is_empty()
    }

    /// The response headers to send now; later insertions fail.
    pub(crate) fn take_headers(&self) -> MetadataMap {
        let mut response = self.response();
        response.headers_sent = true;
        std::mem::take(&mut response.headers)
    }

    pub(crate) fn take_trailers(&self) -> MetadataMap {
        std::mem::take(&mut self.response().trailers)
    }
}

fn headers_open(response: &Response) -> Result<(), InvalidMetadata> {
    if response.headers_sent {
        Err(InvalidMetadata::new(
            "the response headers were already sent with the first message; use a trailer",
        ))
    } else {
        Ok(())
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("metadata", &self.inner.metadata)
            .field("deadline", &self.inner.deadline)
            .field("peer", &self.inner.peer)
            .finish_non_exhaustive()
    }
}
