//! [`Streaming`]: the messages arriving on a call, read one at a time as they arrive.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_core::Stream;
use h2::{FlowControl, RecvStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

use crate::client::{end_of_call, status_from_h2};
use crate::compression::Compression;
use crate::frame::FrameDecoder;
use crate::intercept::Intercepted;
use crate::metadata::MetadataMap;
use crate::{Code, Codec, Message, Status};

/// The incoming messages of a streaming call: requests on the server, responses on the client.
///
/// Read with [`message`](Streaming::message) (or as a [`Stream`]). Received bytes are
/// acknowledged to the peer (HTTP/2 flow control) only as messages are read, so a peer that
/// sends faster than this side reads is slowed down rather than buffered without bound.
///
/// ```
/// # use protoless::{Message, Status, Streaming};
/// # #[derive(Message)] pub struct HelloRequest { pub name: String }
/// async fn names(mut requests: Streaming<HelloRequest>) -> Result<Vec<String>, Status> {
///     let mut names = Vec::new();
///     while let Some(request) = requests.message().await? {
///         names.push(request.name);
///     }
///     Ok(names)
/// }
/// ```
pub struct Streaming<T> {
    shared: Arc<Mutex<Shared>>,
    flow: Option<FlowControl>,
    codec: Codec,
    /// Moves HTTP/2 DATA frames into `shared` as they arrive (see [`drain`]).
    drain: Option<JoinHandle<()>>,
    /// Set once the stream has ended; later reads repeat it.
    ended: Option<Option<Status>>,
    /// On the client, when the call's deadline passes.
    deadline: Option<Pin<Box<Sleep>>>,
    /// On the client, the server's response headers.
    headers: MetadataMap,
    /// On the client, the server's trailers, once the stream has ended.
    trailers: Option<MetadataMap>,
    /// Whether the message [`message`](Streaming::message) returned last was compressed.
    last_compressed: bool,
    /// Interceptors shown each message, and (on the client) the call's end.
    observer: Option<Box<Observer>>,
    /// On the client, counts the call on its connection while the stream lives.
    _load: Option<crate::client::Load>,
    message: PhantomData<fn() -> T>,
}

/// The interceptors a stream shows its messages to.
struct Observer {
    interceptors: Arc<Intercepted>,
    /// The messages are requests (the server's view), else responses.
    requests: bool,
    /// The stream's end is the call's end (a client's responses): the interceptors' `end`
    /// runs then, and may replace the outcome.
    ends_call: bool,
}

/// What the drain task and the reader share.
struct Shared {
    decoder: FrameDecoder,
    /// `Some` once the body has ended: `None` cleanly, or the status that ended it.
    end: Option<Option<Status>>,
    /// On the client, the custom trailers, once the body has ended.
    trailers: Option<MetadataMap>,
    reader: Option<Waker>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: Message> Streaming<T> {
    pub(crate) fn new(
        mut body: RecvStream,
        codec: Codec,
        max_message_size: usize,
        expects_trailers: bool,
    ) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            decoder: FrameDecoder::new(max_message_size),
            end: None,
            trailers: None,
            reader: None,
        }));
        let flow = body.flow_control().clone();
        let drain = tokio::spawn(drain(body, shared.clone(), expects_trailers));
        Streaming {
            shared,
            flow: Some(flow),
            codec,
            drain: Some(drain),
            ended: None,
            deadline: None,
            headers: MetadataMap::new(),
            trailers: None,
            last_compressed: false,
            observer: None,
            _load: None,
            message: PhantomData,
        }
    }

    /// Decompresses messages compressed with `compression` (the peer's `grpc-encoding`).
    pub(crate) fn with_compression(self, compression: Option<Compression>) -> Self {
        {
            let mut shared = lock(&self.shared);
            let decoder = std::mem::replace(&mut shared.decoder, FrameDecoder::new(0));
            shared.decoder = decoder.with_compression(compression);
        }
        self
    }

    /// Shows each message to `interceptors` as it is read (`requests`: they are requests).
    pub(crate) fn observed(mut self, interceptors: Arc<Intercepted>, requests: bool) -> Self {
        self.observer = Some(Box::new(Observer {
            interceptors,
            requests,
            ends_call: false,
        }));
        self
    }

    /// On the client, shows each response to `interceptors`, and the call's end.
    pub(crate) fn observed_to_the_end(mut self, interceptors: Arc<Intercepted>) -> Self {
        self.observer = Some(Box::new(Observer {
            interceptors,
            requests: false,
            ends_call: true,
        }));
        // A stream that ended before it began (Trailers-Only) ends the call now.
        if let Some(outcome) = self.ended.take() {
            self.ended = Some(self.intercepted_end(outcome));
        }
        self
    }

    /// The outcome past the interceptors, once, when this stream ends the call.
    fn intercepted_end(&mut self, outcome: Option<Status>) -> Option<Status> {
        match self.observer.take() {
            Some(observer) if observer.ends_call => {
                observer.interceptors.end(outcome).into_parts().0
            }
            observer => {
                self.observer = observer;
                outcome
            }
        }
    }

    /// Keeps the response headers, for [`headers`](Self::headers).
    pub(crate) fn with_headers(mut self, headers: MetadataMap) -> Self {
        self.headers = headers;
        self
    }

    /// On the client, the server's custom response headers.
    pub fn headers(&self) -> &MetadataMap {
        &self.headers
    }

    /// On the client, the server's custom trailers, once the stream has ended.
    pub fn trailers(&self) -> Option<&MetadataMap> {
        self.trailers.as_ref()
    }

    /// Whether the message [`message`](Self::message) returned last came compressed on the wire
    /// (its prefix's compressed flag); `false` before the first message.
    pub fn last_message_compressed(&self) -> bool {
        self.last_compressed
    }

    /// On the client, cancels the call: the server is told with `RST_STREAM(CANCEL)` (for a call
    /// whose requests are closed, as a server-streaming call's are; a streaming call cancels
    /// through its [`ClientStream`](crate::ClientStream) or [`BidiStream`](crate::BidiStream)),
    /// and reads fail with `CANCELLED` from now on. Dropping the stream cancels it too.
    pub fn cancel(&mut self) {
        if self.ended.is_none() {
            self.end(Some(Status::cancelled(
                "the call was cancelled by the client",
            )));
        }
    }

    /// Waits until the peer has ended the stream, without taking any message: `None` when it
    /// ended cleanly (or this side ended it), else the status it ended with.
    pub(crate) async fn outcome(&mut self) -> Option<Status> {
        if let Some(outcome) = &self.ended {
            return outcome.clone();
        }
        std::future::poll_fn(|cx| {
            let mut shared = lock(&self.shared);
            match &shared.end {
                Some(outcome) => Poll::Ready(outcome.clone()),
                None => {
                    shared.reader = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// A stream that already ended: `None` cleanly, or with a status (a Trailers-Only response),
    /// and the trailers it ended with.
    pub(crate) fn ended(codec: Codec, outcome: Option<Status>, trailers: MetadataMap) -> Self {
        Streaming {
            shared: Arc::new(Mutex::new(Shared {
                decoder: FrameDecoder::new(0),
                end: Some(outcome.clone()),
                trailers: None,
                reader: None,
            })),
            flow: None,
            codec,
            drain: None,
            ended: Some(outcome),
            deadline: None,
            headers: MetadataMap::new(),
            trailers: Some(trailers),
            last_compressed: false,
            observer: None,
            _load: None,
            message: PhantomData,
        }
    }

    /// When reads fail with `DEADLINE_EXCEEDED`, if ever.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline.as_ref().map(|sleep| sleep.deadline())
    }

    /// Counts the call on its connection (for balancing) until the stream is dropped.
    pub(crate) fn holding(mut self, load: Option<crate::client::Load>) -> Self {
        self._load = load;
        self
    }

    /// Fails reads with `DEADLINE_EXCEEDED` once `deadline` passes.
    pub(crate) fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline.map(|at| Box::pin(tokio::time::sleep_until(at)));
        self
    }

    /// The next message; `Ok(None)` once the peer has finished sending.
    ///
    /// On the client, a call that failed yields the server's status as `Err` after the messages
    /// sent before it.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| self.poll_message(cx)).await
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, Status>> {
        if let Some(outcome) = &self.ended {
            return Poll::Ready(outcome.clone().map_or(Ok(None), Err));
        }
        if let Some(deadline) = &mut self.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(
                    self.end(Some(Status::deadline_exceeded("Deadline Exceeded")))
                ));
            }
        }
        let mut shared = lock(&self.shared);
        match shared.decoder.next_message() {
            Ok(Some(received)) => {
                drop(shared);
                // Only now may the peer send these bytes again.
                if let Some(flow) = &mut self.flow {
                    let _ = flow.release_capacity(received.wire_len);
                }
                self.last_compressed = received.compressed;
                let wire_size = received.wire_len - crate::frame::PREFIX_LEN;
                Poll::Ready(self.decode(received.message, wire_size))
            }
            Ok(None) => match shared.end.clone() {
                None => {
                    shared.reader = Some(cx.waker().clone());
                    Poll::Pending
                }
                Some(outcome) => {
                    let partial = shared.decoder.has_partial_message();
                    let trailers = shared.trailers.take();
                    drop(shared);
                    self.trailers = trailers;
                    // A failed call's status carries the headers and trailers, as unary ones do.
                    let outcome = outcome.map(|mut status| {
                        if let Some(trailers) = &self.trailers {
                            let mut metadata = trailers.clone();
                            metadata.extend(status.metadata());
                            *status.metadata_mut() = metadata;
                        }
                        status.with_headers(self.headers.clone())
                    });
                    let outcome = match outcome {
                        None if partial => Some(Status::internal("stream ended inside a message")),
                        outcome => outcome,
                    };
                    match self.intercepted_end(outcome) {
                        None => {
                            self.ended = Some(None);
                            Poll::Ready(Ok(None))
                        }
                        Some(status) => Poll::Ready(Err(self.end(Some(status)))),
                    }
                }
            },
            Err(status) => {
                drop(shared);
                Poll::Ready(Err(self.end(Some(status))))
            }
        }
    }

    fn decode(&mut self, bytes: Bytes, wire_size: usize) -> Result<Option<T>, Status> {
        match self.codec.decode(bytes) {
            Ok(message) => {
                if let Some(observer) = &self.observer {
                    let interceptors = &observer.interceptors;
                    interceptors.message(&message, observer.requests, wire_size);
                }
                Ok(Some(message))
            }
            Err(status) => Err(self.end(Some(status))),
        }
    }

    /// Ends the stream; returns the status for the caller to report.
    fn end(&mut self, outcome: Option<Status>) -> Status {
        let outcome = self.intercepted_end(outcome);
        self.ended = Some(outcome.clone());
        // Stop reading: dropping the body, and the flow control that refers to it too, resets
        // the stream if it is still open.
        self.flow = None;
        if let Some(drain) = self.drain.take() {
            drain.abort();
        }
        outcome.unwrap_or_else(|| Status::new(Code::Ok, ""))
    }
}

/// Moves DATA frames out of h2 into the shared decoder as soon as they arrive, so that h2 holds
/// no queue of small frames however slowly the reader reads (h2 closes connections that make it
/// buffer too many). Bytes stay bounded all the same: flow-control capacity is released only
/// when the reader takes a message.
async fn drain(mut body: RecvStream, shared: Arc<Mutex<Shared>>, expects_trailers: bool) {
    let end = loop {
        match body.data().await {
            Some(Ok(chunk)) => {
                let mut shared = lock(&shared);
                shared.decoder.push(chunk);
                if let Some(reader) = shared.reader.take() {
                    reader.wake();
                }
            }
            Some(Err(error)) => break (Some(status_from_h2(&error)), None),
            None if !expects_trailers => break (None, None),
            None => break status_from_trailers(&mut body).await,
        }
    };
    let mut shared = lock(&shared);
    shared.end = Some(end.0);
    shared.trailers = end.1;
    if let Some(reader) = shared.reader.take() {
        reader.wake();
    }
}

/// The status in the trailers (`None` for OK) and their custom metadata.
async fn status_from_trailers(body: &mut RecvStream) -> (Option<Status>, Option<MetadataMap>) {
    match body.trailers().await {
        Ok(trailers) => {
            let (outcome, trailers) = end_of_call(trailers.as_ref());
            (outcome.err(), Some(trailers))
        }
        Err(error) => (Some(status_from_h2(&error)), None),
    }
}

impl<T> Drop for Streaming<T> {
    fn drop(&mut self) {
        // A client's call dropped before its end was read is cancelled: its interceptors hear.
        if let Some(observer) = self.observer.take() {
            if observer.ends_call {
                let cancelled = Status::cancelled("the call was dropped before it ended");
                observer.interceptors.end(Some(cancelled));
            }
        }
        // Dropping the body (in the task) resets the stream if it is still open: cancellation.
        if let Some(drain) = self.drain.take() {
            drain.abort();
        }
    }
}

impl<T: Message> Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.poll_message(cx).map(Result::transpose)
    }
}

impl<T> std::fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("codec", &self.codec)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
