//! The handles of open streaming calls: [`ClientStream`], [`BidiStream`], and their halves
//! [`RequestSink`] and [`Responses`].

use std::marker::PhantomData;

use bytes::Bytes;
use h2::client::ResponseFuture;
use h2::SendStream;
use tokio::time::Instant;

use super::call::within;
use super::response::{status_from_h2, Head};
use crate::flow::send_flow_controlled;
use crate::frame::Encoding;
use crate::metadata::MetadataMap;
use crate::{Codec, Message, Status, Streaming};

/// Sends the request messages of a client-streaming or bidirectional call.
pub struct RequestSink<Req> {
    pub(super) body: SendStream<Bytes>,
    pub(super) encoding: Encoding,
    pub(super) deadline: Option<Instant>,
    pub(super) closed: bool,
    pub(super) request: PhantomData<fn(Req)>,
}

impl<Req: Message> RequestSink<Req> {
    /// Sends one request, waiting while the server's flow-control window is full.
    ///
    /// Fails when the call has ended; the response side then tells the server's status.
    pub async fn send(&mut self, request: Req) -> Result<(), Status> {
        if self.closed {
            return Err(Status::failed_precondition("requests were already closed"));
        }
        let message = self.encoding.encode(&request)?;
        within(self.deadline, async {
            send_flow_controlled(&mut self.body, message)
                .await
                .map_err(|error| status_from_h2(&error))
        })
        .await
    }

    /// Tells the server no more requests follow (HTTP/2 END_STREAM). Closing twice is harmless.
    pub fn close(&mut self) -> Result<(), Status> {
        if !self.closed {
            self.closed = true;
            self.body
                .send_data(Bytes::new(), true)
                .map_err(|error| status_from_h2(&error))?;
        }
        Ok(())
    }
}

impl<Req> std::fmt::Debug for RequestSink<Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSink")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// The responses of a client-streaming or bidirectional call.
///
/// The server may send its response headers only with its first message, so they are awaited
/// on the first read, not when the call opens: a client can send first without blocking.
pub struct Responses<Resp> {
    state: ResponsesState<Resp>,
}

enum ResponsesState<Resp> {
    Waiting {
        response: ResponseFuture,
        codec: Codec,
        max_message_size: usize,
        deadline: Option<Instant>,
    },
    Open(Streaming<Resp>),
    Failed(Status),
}

impl<Resp: Message> Responses<Resp> {
    pub(super) fn waiting(
        response: ResponseFuture,
        codec: Codec,
        max_message_size: usize,
        deadline: Option<Instant>,
    ) -> Self {
        Responses {
            state: ResponsesState::Waiting {
                response,
                codec,
                max_message_size,
                deadline,
            },
        }
    }

    /// The server's response headers, once the first [`message`](Self::message) read them.
    pub fn headers(&self) -> Option<&MetadataMap> {
        match &self.state {
            ResponsesState::Open(streaming) => Some(streaming.headers()),
            _ => None,
        }
    }

    /// The server's trailers, once the stream has ended.
    pub fn trailers(&self) -> Option<&MetadataMap> {
        match &self.state {
            ResponsesState::Open(streaming) => streaming.trailers(),
            _ => None,
        }
    }

    /// The next response; `Ok(None)` once the server has finished, `Err` with its status if the
    /// call failed.
    pub async fn message(&mut self) -> Result<Option<Resp>, Status> {
        if matches!(self.state, ResponsesState::Waiting { .. }) {
            let placeholder = ResponsesState::Failed(Status::internal("response headers lost"));
            let ResponsesState::Waiting {
                response,
                codec,
                max_message_size,
                deadline,
            } = std::mem::replace(&mut self.state, placeholder)
            else {
                unreachable!("checked just above")
            };
            let head = within(deadline, async {
                Head::read(response.await.map_err(|error| status_from_h2(&error))?)
            })
            .await;
            self.state = match head {
                Ok(head) => ResponsesState::Open(
                    head.into_streaming(codec, max_message_size)
                        .with_deadline(deadline),
                ),
                Err(status) => ResponsesState::Failed(status),
            };
        }
        match &mut self.state {
            ResponsesState::Open(streaming) => streaming.message().await,
            ResponsesState::Failed(status) => Err(status.clone()),
            ResponsesState::Waiting { .. } => unreachable!("opened just above"),
        }
    }
}

impl<Resp> std::fmt::Debug for Responses<Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            ResponsesState::Waiting { .. } => "waiting for headers",
            ResponsesState::Open(_) => "open",
            ResponsesState::Failed(_) => "failed",
        };
        f.debug_struct("Responses").field("state", &state).finish()
    }
}

/// An open client-streaming call: [`send`](Self::send) the requests, then
/// [`finish`](Self::finish) for the server's one response.
///
/// Dropping it before `finish` cancels the call.
#[derive(Debug)]
pub struct ClientStream<Req, Resp> {
    pub(super) requests: RequestSink<Req>,
    pub(super) responses: Responses<Resp>,
}

impl<Req: Message, Resp: Message> ClientStream<Req, Resp> {
    /// Sends one request, waiting while the server's flow-control window is full.
    ///
    /// Fails when the server has ended the call; [`finish`](Self::finish) then tells its status.
    pub async fn send(&mut self, request: Req) -> Result<(), Status> {
        self.requests.send(request).await
    }

    /// Closes the request stream and waits for the response.
    pub async fn finish(mut self) -> Result<Resp, Status> {
        // A server that already answered may have closed its side: its answer is what counts.
        let _ = self.requests.close();
        let response = self
            .responses
            .message()
            .await?
            .ok_or_else(|| Status::internal("server sent no response message"))?;
        match self.responses.message().await? {
            None => Ok(response),
            Some(_) => Err(Status::internal(
                "server sent more than one response message",
            )),
        }
    }
}

/// An open bidirectional call: [`send`](Self::send) requests and read
/// [`message`](Self::message)s in any order, or [`split`](Self::split) the two directions
/// between tasks.
///
/// Dropping it before the server finishes cancels the call.
#[derive(Debug)]
pub struct BidiStream<Req, Resp> {
    pub(super) requests: RequestSink<Req>,
    pub(super) responses: Responses<Resp>,
}

impl<Req: Message, Resp: Message> BidiStream<Req, Resp> {
    /// Sends one request, waiting while the server's flow-control window is full.
    pub async fn send(&mut self, request: Req) -> Result<(), Status> {
        self.requests.send(request).await
    }

    /// Tells the server no more requests follow.
    pub fn close_send(&mut self) -> Result<(), Status> {
        self.requests.close()
    }

    /// The next response; `Ok(None)` once the server has finished.
    pub async fn message(&mut self) -> Result<Option<Resp>, Status> {
        self.responses.message().await
    }

    /// The two directions apart, to send from one task and read in another.
    pub fn split(self) -> (RequestSink<Req>, Responses<Resp>) {
        (self.requests, self.responses)
    }
}
