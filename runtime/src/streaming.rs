//! [`Streaming`]: the messages arriving on a call, read one at a time as they arrive.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use h2::RecvStream;
use tokio::time::{Instant, Sleep};

use crate::client::status_from_h2;
use crate::frame::FrameDecoder;
use crate::{Codec, Code, Message, Status};

/// The incoming messages of a streaming call: requests on the server, responses on the client.
///
/// Read with [`message`](Streaming::message) (or as a [`Stream`]). Bytes are acknowledged to the
/// peer (HTTP/2 flow control) only as they are read, so a peer that sends faster than this side
/// reads is slowed down rather than buffered without bound.
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
    body: RecvStream,
    decoder: FrameDecoder,
    codec: Codec,
    /// On the client, the stream ends with trailers holding the call's status.
    expects_trailers: bool,
    state: State,
    /// On the client, when the call's deadline passes.
    deadline: Option<Pin<Box<Sleep>>>,
    message: PhantomData<fn() -> T>,
}

#[derive(Debug)]
enum State {
    Open,
    /// Ended: `None` after a clean end, the status to repeat otherwise.
    Ended(Option<Status>),
}

impl<T: Message> Streaming<T> {
    pub(crate) fn new(
        body: RecvStream,
        codec: Codec,
        max_message_size: usize,
        expects_trailers: bool,
    ) -> Self {
        Streaming {
            body,
            decoder: FrameDecoder::new(max_message_size),
            codec,
            expects_trailers,
            state: State::Open,
            deadline: None,
            message: PhantomData,
        }
    }

    /// Fails reads with `DEADLINE_EXCEEDED` once `deadline` passes.
    pub(crate) fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline.map(|at| Box::pin(tokio::time::sleep_until(at)));
        self
    }

    /// A stream that already ended: `None` cleanly, or with a status (a Trailers-Only response).
    pub(crate) fn ended(mut self, outcome: Option<Status>) -> Self {
        self.state = State::Ended(outcome);
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
        loop {
            if let State::Ended(outcome) = &self.state {
                return Poll::Ready(outcome.clone().map_or(Ok(None), Err));
            }
            if let Some(deadline) = &mut self.deadline {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(self.fail(Status::deadline_exceeded(
                        "Deadline Exceeded",
                    ))));
                }
            }
            match self.decoder.next_message() {
                Ok(Some(bytes)) => return Poll::Ready(self.decode(bytes)),
                Ok(None) => {}
                Err(status) => return Poll::Ready(Err(self.fail(status))),
            }
            match self.body.poll_data(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    self.decoder.push(&chunk);
                    let _ = self.body.flow_control().release_capacity(chunk.len());
                }
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Err(self.fail(status_from_h2(&error))))
                }
                Poll::Ready(None) => {
                    match self.poll_end(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(outcome) => self.state = State::Ended(outcome),
                    }
                }
            }
        }
    }

    /// What the end of the body means: a clean end, or the status in the trailers.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Option<Status>> {
        if self.decoder.has_partial_message() {
            return Poll::Ready(Some(Status::internal("stream ended inside a message")));
        }
        if !self.expects_trailers {
            return Poll::Ready(None);
        }
        let trailers = match self.body.poll_trailers(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(trailers)) => trailers,
            Poll::Ready(Err(error)) => return Poll::Ready(Some(status_from_h2(&error))),
        };
        let status = trailers
            .as_ref()
            .and_then(crate::client::status_from_headers)
            .unwrap_or_else(|| {
                Status::internal("server closed the stream without sending trailers")
            });
        Poll::Ready((status.code() != Code::Ok).then_some(status))
    }

    fn decode(&mut self, bytes: Bytes) -> Result<Option<T>, Status> {
        match self.codec.decode(bytes) {
            Ok(message) => Ok(Some(message)),
            Err(status) => Err(self.fail(status)),
        }
    }

    /// Ends the stream with `status`, which later reads repeat.
    fn fail(&mut self, status: Status) -> Status {
        self.state = State::Ended(Some(status.clone()));
        status
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
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
