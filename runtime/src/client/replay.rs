//! Retrying calls that stream requests (gRFC A6): the requests sent are kept, up to a bound,
//! so that the next attempt can send them again. The call commits, and the copies go, once
//! the server's response headers arrive, the bound is passed, or the call is split.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use h2::SendStream;
use tokio::time::Instant;

use super::call::{kind, within, Call};
use super::retry::Backoff;
use super::streams::Responses;
use crate::flow::send_flow_controlled;
use crate::intercept::Intercepted;
use crate::{Message, Status};

/// How many bytes of requests one call keeps for its retries, by default (as grpc-java).
pub(super) const DEFAULT_PER_CALL: usize = 1 << 20;
/// How many bytes of requests all of a channel's calls keep for their retries, by default.
pub(super) const DEFAULT_PER_CHANNEL: usize = 16 << 20;

/// The bounds of what a channel's streaming calls keep for their retries, and what they keep
/// now.
#[derive(Debug)]
pub(super) struct RetryBuffer {
    pub(super) per_call: usize,
    pub(super) per_channel: usize,
    kept: AtomicUsize,
}

impl RetryBuffer {
    pub(super) fn new(per_call: usize, per_channel: usize) -> RetryBuffer {
        RetryBuffer {
            per_call,
            per_channel,
            kept: AtomicUsize::new(0),
        }
    }

    /// Counts `size` more bytes kept, unless that passes the channel's bound.
    fn reserve(&self, size: usize) -> bool {
        self.kept
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |kept| {
                kept.checked_add(size)
                    .filter(|&total| total <= self.per_channel)
            })
            .is_ok()
    }

    fn release(&self, size: usize) {
        self.kept.fetch_sub(size, Ordering::AcqRel);
    }
}

/// What a retryable call that streams requests needs to make its next attempt.
pub(super) struct Replay<Req, Resp> {
    /// The call as it was made (its request taken), to open the next attempt with.
    call: Call<Req, Resp, kind::BidiStreaming>,
    deadline: Option<Instant>,
    intercepted: Option<Arc<Intercepted>>,
    backoff: Option<Backoff>,
    buffer: Arc<RetryBuffer>,
    /// The requests sent so far, framed.
    sent: Vec<Bytes>,
    /// Their bytes, counted against the channel's bound.
    size: usize,
    /// Whether the requests were closed.
    closed: bool,
}

/// A new attempt, its requests sent again: its stream's request body, and its responses.
pub(super) type Attempt<Resp> = (SendStream<Bytes>, Responses<Resp>);

impl<Req: Message, Resp: Message> Replay<Req, Resp> {
    pub(super) fn new(
        call: Call<Req, Resp, kind::BidiStreaming>,
        deadline: Option<Instant>,
        intercepted: Option<Arc<Intercepted>>,
        backoff: Option<Backoff>,
    ) -> Self {
        Replay {
            buffer: call.channel().retry_buffer(),
            call,
            deadline,
            intercepted,
            backoff,
            sent: Vec::new(),
            size: 0,
            closed: false,
        }
    }

    /// Keeps a copy of `message`, about to be sent, for the attempts to come; `false` when that
    /// would pass the call's or the channel's bound: the call must commit.
    pub(super) fn keep(&mut self, message: &Bytes) -> bool {
        let size = message.len();
        if self.size + size > self.buffer.per_call || !self.buffer.reserve(size) {
            return false;
        }
        self.size += size;
        self.sent.push(message.clone());
        true
    }

    /// Notes that the requests were closed: the next attempt closes them too.
    pub(super) fn close(&mut self) {
        self.closed = true;
    }

    /// After the current attempt ended with `failure` before the response headers: waits as
    /// the retry policy says, opens the next attempt and sends it what was sent so far. `Err`
    /// with the status the call ends with when the policy allows no (further) attempt, or the
    /// deadline passes.
    pub(super) async fn next_attempt(&mut self, failure: Status) -> Result<Attempt<Resp>, Status> {
        let mut failure = failure;
        loop {
            let Some(delay) = self.call.retry_delay(&failure, &mut self.backoff) else {
                return Err(failure);
            };
            let deadline = self.deadline;
            let opened = within(deadline, async {
                tokio::time::sleep(delay).await;
                self.call.count_attempt();
                self.call
                    .open_attempt(deadline, self.call.previous_attempts())
                    .await
            })
            .await;
            let (mut body, response, load) = match opened {
                Ok(opened) => opened,
                Err(status) if status.code() == crate::Code::DeadlineExceeded => {
                    return Err(status)
                }
                Err(status) => {
                    failure = status;
                    continue;
                }
            };
            // A send failing means the attempt has ended: its answer tells how, when read.
            let _ = within(deadline, async {
                for message in &self.sent {
                    send_flow_controlled(&mut body, message.clone())
                        .await
                        .map_err(|error| crate::client::status_from_h2(&error))?;
                }
                Ok(())
            })
            .await;
            if self.closed {
                let _ = body.send_data(Bytes::new(), true);
            }
            let responses =
                self.call
                    .responses(response, deadline, self.intercepted.clone(), Some(load));
            return Ok((body, responses));
        }
    }
}

impl<Req, Resp> Drop for Replay<Req, Resp> {
    fn drop(&mut self) {
        self.buffer.release(self.size);
    }
}
