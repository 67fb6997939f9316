//! Calls in the making ([`Call`]): set options, then `.await` to send. Unary calls answer with
//! the response; streaming calls with a handle to send and receive messages.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::client::ResponseFuture;
use h2::SendStream;
use http::uri::Authority;
use http::{HeaderValue, Request};
use tokio::time::Instant;

use super::replay::Replay;
use super::response::{read_single_response, status_from_h2, Head, Response};
use super::retry::{pushback, Backoff, HedgingPolicy, RetryConfig, RetryPolicy, Throttle};
use super::streams::{BidiStream, ClientStream, RequestSink, Responses};
use super::subchannel::Load;
use super::Channel;
use crate::compression::{Compression, ACCEPT_ENCODING};
use crate::frame::Encoding;
use crate::headers::{
    GRPC_ACCEPT_ENCODING, GRPC_ENCODING, GRPC_PREVIOUS_RPC_ATTEMPTS, GRPC_TIMEOUT,
};
use crate::intercept::{CallInfo, Intercepted, MethodInfo, Side};
use crate::metadata::MetadataMap;
use crate::schema::Idempotency;
use crate::server::inherited_deadline;
use crate::{timeout, Code, Codec, Message, Status, Streaming};

/// The four shapes of a gRPC method, as type markers of [`Call`].
pub mod kind {
    /// One request, one response.
    #[derive(Debug)]
    pub enum Unary {}
    /// One request, a stream of responses.
    #[derive(Debug)]
    pub enum ServerStreaming {}
    /// A stream of requests, one response.
    #[derive(Debug)]
    pub enum ClientStreaming {}
    /// Streams both ways.
    #[derive(Debug)]
    pub enum BidiStreaming {}
    /// One request; the caller does not wait for the (empty) answer.
    #[derive(Debug)]
    pub enum Oneway {}
}

/// A call that has not been sent yet: chain options, then `.await` it.
///
/// What the `.await` gives depends on the method's shape:
///
/// | shape | `.await` gives |
/// | --- | --- |
/// | [`UnaryCall`] | the response |
/// | [`ServerStreamingCall`] | a [`Streaming`] of responses |
/// | [`ClientStreamingCall`] | a [`ClientStream`]: `send` requests, then `finish` for the response |
/// | [`BidiStreamingCall`] | a [`BidiStream`]: `send` and `message` in any order |
///
/// ```no_run
/// # use protoless::{Message, Status};
/// # use std::time::Duration;
/// # #[derive(Message)] pub struct PiRequest { pub n: i32 }
/// # #[derive(Message)] pub struct PiResponse { pub value: f64 }
/// # #[protoless::service(package = "pi")]
/// # pub trait PiCalculator {
/// #     async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status>;
/// # }
/// # async fn run() -> Result<(), Status> {
/// let client = PiCalculatorClient::connect("http://127.0.0.1:50051").await?;
/// let quick = client.calc(PiRequest { n: 10 }).await?;
/// let bounded = client
///     .calc(PiRequest { n: 1_000_000 })
///     .timeout(Duration::from_millis(100))
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a call does nothing until it is awaited"]
pub struct Call<Req, Resp, Kind> {
    channel: Channel,
    method: MethodInfo,
    request: Option<Req>,
    timeout: Option<Duration>,
    inherit_deadline: bool,
    codec: Codec,
    compression: Option<Compression>,
    metadata: MetadataMap,
    /// This call's own retry policy, if it has one (`Some(None)`: no retries).
    retry: Option<Option<RetryPolicy>>,
    /// Attempts made before the current one.
    previous_attempts: u32,
    /// Whether to wait for a ready connection rather than fail while there is none.
    wait_for_ready: bool,
    /// This call's own hedging policy, if it has one.
    hedging: Option<HedgingPolicy>,
    /// Counts the call on the connection it went to, for pickers that balance by load.
    load: Option<Load>,
    shape: PhantomData<fn(Kind) -> Resp>,
}

/// A unary call: `.await` gives the response.
pub type UnaryCall<Req, Resp> = Call<Req, Resp, kind::Unary>;
/// A server-streaming call: `.await` gives a [`Streaming`] of responses.
pub type ServerStreamingCall<Req, Resp> = Call<Req, Resp, kind::ServerStreaming>;
/// A client-streaming call: `.await` gives a [`ClientStream`].
pub type ClientStreamingCall<Req, Resp> = Call<Req, Resp, kind::ClientStreaming>;
/// A bidirectional call: `.await` gives a [`BidiStream`].
pub type BidiStreamingCall<Req, Resp> = Call<Req, Resp, kind::BidiStreaming>;
/// A `#[oneway]` call: `.await` returns once the request is sent.
pub type OnewayCall<Req> = Call<Req, (), kind::Oneway>;

type BoxedCall<T> = Pin<Box<dyn Future<Output = Result<T, Status>> + Send>>;

impl<Req: Message, Resp: Message, Kind> Call<Req, Resp, Kind> {
    pub(super) fn new(channel: Channel, method: MethodInfo, request: Option<Req>) -> Self {
        Call {
            wait_for_ready: channel.wait_for_ready(),
            hedging: None,
            load: None,
            codec: channel.codec(),
            compression: channel.compression(),
            channel,
            method,
            request,
            timeout: None,
            inherit_deadline: true,
            metadata: MetadataMap::new(),
            retry: None,
            previous_attempts: 0,
            shape: PhantomData,
        }
    }

    /// Retries this call by `policy`, or (`None`) only transparently, whatever the channel
    /// and the trait say (see [`RetryPolicy`]). A call retries until the server's response
    /// headers arrive (it commits); one that streams requests also commits once the requests
    /// it keeps to send again pass their bound ([`ChannelBuilder::retry_buffer`]) or it is
    /// [split](crate::BidiStream::split).
    ///
    /// [`ChannelBuilder::retry_buffer`]: crate::ChannelBuilder::retry_buffer
    pub fn retry_policy(mut self, policy: Option<RetryPolicy>) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Waits for a ready connection, up to the call's deadline, instead of failing with
    /// `UNAVAILABLE` while no server can be reached (gRPC's wait-for-ready): for a call that
    /// should ride out a restart. [`Channel::with_wait_for_ready`] sets it for every call.
    pub fn wait_for_ready(mut self) -> Self {
        self.wait_for_ready = true;
        self
    }

    /// Fails the call with `DEADLINE_EXCEEDED` after `timeout`; the server is told the deadline
    /// (`grpc-timeout`) and stops working on the call then too. For streaming calls the deadline
    /// covers the whole exchange.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Inside a handler, calls inherit the deadline of the call being handled (the earlier of
    /// it and [`timeout`](Self::timeout) applies). This opts out, for work that should outlive
    /// the caller's deadline.
    pub fn ignore_inherited_deadline(mut self) -> Self {
        self.inherit_deadline = false;
        self
    }

    /// Encodes this call with `codec` instead of the channel's (protobuf by default).
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Compresses the request messages (and asks the server to answer compressed too).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// Sends `metadata` as request headers, next to any set before.
    pub fn metadata(mut self, metadata: MetadataMap) -> Self {
        self.metadata.extend(&metadata);
        self
    }

    fn request_head(
        &self,
        authority: &Authority,
        deadline: Option<Instant>,
        previous_attempts: u32,
    ) -> Request<()> {
        let mut request = Request::new(());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.channel.uri(authority, self.method.path);
        *request.headers_mut() = http::HeaderMap::with_capacity(6 + self.metadata.len());
        let headers = request.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(self.codec.content_type()),
        );
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("protoless/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(deadline) = deadline {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let value = HeaderValue::from_str(&timeout::format(remaining))
                .expect("a formatted timeout is ASCII digits and a unit");
            headers.insert(GRPC_TIMEOUT, value);
        }
        if let Some(compression) = self.compression {
            headers.insert(GRPC_ENCODING, HeaderValue::from_static(compression.name()));
        }
        headers.insert(
            GRPC_ACCEPT_ENCODING,
            HeaderValue::from_static(ACCEPT_ENCODING),
        );
        self.metadata.write_to(headers);
        if self.channel.tells_kind() {
            let kind = match self.method.kind {
                crate::intercept::CallKind::Unary => "unary",
                _ => "stream",
            };
            headers.insert(super::web::KIND, HeaderValue::from_static(kind));
        }
        if previous_attempts > 0 {
            headers.insert(
                GRPC_PREVIOUS_RPC_ATTEMPTS,
                HeaderValue::from(previous_attempts),
            );
        }
        // The trace of the call being handled goes on, as a new hop, unless set explicitly.
        if let Some(trace) = crate::server::inherited().trace {
            if self.metadata.get(crate::trace::TRACEPARENT).is_none() {
                if let Ok(value) = HeaderValue::from_str(&trace.child().to_header()) {
                    headers.insert(crate::trace::TRACEPARENT, value);
                }
            }
        }
        request
    }

    /// When the call must be done: its own timeout, or the deadline of the call being handled
    /// if that is earlier.
    fn deadline(&self) -> Option<Instant> {
        let own = self.timeout.map(|timeout| Instant::now() + timeout);
        let inherited = if self.inherit_deadline {
            inherited_deadline()
        } else {
            None
        };
        match (own, inherited) {
            (Some(own), Some(inherited)) => Some(own.min(inherited)),
            (own, inherited) => own.or(inherited),
        }
    }

    /// Runs the channel's interceptors' `start` (nothing without any): they may change the
    /// metadata about to be sent, or refuse the call, which then ends here, through their `end`.
    async fn intercept(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<Intercepted>, Status> {
        let Some(chain) = self.channel.interceptors().get() else {
            return Ok(None);
        };
        let metadata = std::mem::take(&mut self.metadata);
        let call = CallInfo::new(self.method, Side::Client, metadata, deadline, None)
            .with_target(self.channel.target_text());
        let mut intercepted = Intercepted {
            chain: chain.clone(),
            call,
        };
        if let Err(refused) = intercepted.start().await {
            return Err(intercepted.end_failed(refused));
        }
        self.metadata = intercepted.call.metadata().clone();
        Ok(Some(intercepted))
    }

    fn encoding(&self) -> Encoding {
        Encoding {
            codec: self.codec,
            compression: self.compression,
            max_size: self.channel.max_send_message_size(),
        }
    }

    fn encode_request(&self) -> Result<Bytes, Status> {
        let request = self
            .request
            .as_ref()
            .expect("this call shape carries a request");
        self.encoding().encode(request)
    }

    pub(super) fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Attempts made before the current one.
    pub(super) fn previous_attempts(&self) -> u32 {
        self.previous_attempts
    }

    /// Counts one more attempt made: the next is sent with one more
    /// `grpc-previous-rpc-attempts`.
    pub(super) fn count_attempt(&mut self) {
        self.previous_attempts += 1;
    }

    /// The same call, as another shape.
    fn into_kind<Other>(self) -> Call<Req, Resp, Other> {
        Call {
            channel: self.channel,
            method: self.method,
            request: self.request,
            timeout: self.timeout,
            inherit_deadline: self.inherit_deadline,
            codec: self.codec,
            compression: self.compression,
            metadata: self.metadata,
            retry: self.retry,
            previous_attempts: self.previous_attempts,
            wait_for_ready: self.wait_for_ready,
            hedging: self.hedging,
            load: self.load,
            shape: PhantomData,
        }
    }

    /// Opens the stream of a call that streams requests: again, while opening fails and the
    /// retry policy allows (`backoff` goes on with the call's next attempts).
    async fn open_retrying(
        &mut self,
        deadline: Option<Instant>,
        backoff: &mut Option<Backoff>,
    ) -> Result<(SendStream<Bytes>, ResponseFuture), Status> {
        loop {
            match self.open(deadline).await {
                Ok(opened) => return Ok(opened),
                Err(failure) => match self.retry_delay(&failure, backoff) {
                    Some(delay) => {
                        tokio::time::sleep(delay).await;
                        self.previous_attempts += 1;
                    }
                    None => return Err(failure),
                },
            }
        }
    }

    /// Opens a call that streams requests: its request sink, its responses, and (when a retry
    /// policy is in force) what it needs to be retried.
    async fn open_streaming(
        mut self,
    ) -> Result<
        (
            RequestSink<Req>,
            Responses<Resp>,
            Option<Box<Replay<Req, Resp>>>,
        ),
        Status,
    > {
        let deadline = self.deadline();
        let intercepted = self.intercept(deadline).await?.map(Arc::new);
        let mut backoff = None;
        let (body, response) =
            match within(deadline, self.open_retrying(deadline, &mut backoff)).await {
                Ok(opened) => opened,
                Err(status) => return Err(refused(intercepted, status)),
            };
        let requests = self.sink(body, deadline, intercepted.clone());
        let load = self.load.take();
        let responses = self.responses(response, deadline, intercepted.clone(), load);
        let replay = self.retry_policy_in_force().is_some().then(|| {
            Box::new(Replay::new(
                self.into_kind(),
                deadline,
                intercepted,
                backoff,
            ))
        });
        Ok((requests, responses, replay))
    }

    /// Opens the HTTP/2 stream on a connection the channel picks, leaving the request body
    /// open for messages. A connection found closed (or going away) before the request left
    /// is replaced, and the stream opened on another, as many times as it takes.
    async fn open(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<(SendStream<Bytes>, ResponseFuture), Status> {
        let (body, response, load) = self.open_attempt(deadline, self.previous_attempts).await?;
        self.load = Some(load);
        Ok((body, response))
    }

    /// Opens the stream of the attempt after `previous_attempts` others, as [`open`] does, with
    /// the guard that counts it on its connection.
    ///
    /// [`open`]: Self::open
    pub(super) async fn open_attempt(
        &self,
        deadline: Option<Instant>,
        previous_attempts: u32,
    ) -> Result<(SendStream<Bytes>, ResponseFuture, Load), Status> {
        let mut failures = 0;
        loop {
            let picked = self.channel.pick(self.wait_for_ready).await?;
            let failed = match picked.sender.clone().ready().await {
                Ok(mut sender) => {
                    let authority = &picked.subchannel.authority;
                    let head = self.request_head(authority, deadline, previous_attempts);
                    match sender.send_request(head, false) {
                        Ok((response, body)) => return Ok((body, response, picked.load())),
                        Err(error) => status_from_h2(&error),
                    }
                }
                Err(error) => Status::unavailable(format!("connection failed: {error}")),
            };
            // Nothing was sent: safe to try again on a fresh connection, for any method.
            picked.lost();
            failures += 1;
            if failures > TRANSPARENT_RETRIES {
                return Err(failed);
            }
        }
    }

    /// Sends the one request message and waits for the response headers.
    ///
    /// A stream the server refused before processing it (`REFUSED_STREAM`, or above the last
    /// stream a graceful GOAWAY let through) is sent again, on another connection if need be,
    /// as gRPC's transparent retry allows: the server did no work, so this is safe for any
    /// method.
    async fn send_single(
        &mut self,
        deadline: Option<Instant>,
        intercepted: Option<&Intercepted>,
    ) -> Result<Head, Status> {
        let mut attempt = 0;
        loop {
            // Encoded again for a retry, which is rare: keeping one buffer for both would make
            // it shared, which costs every call an allocation.
            let payload = self.encode_request()?;
            let first = attempt == 0 && self.previous_attempts == 0;
            if let (true, Some(intercepted), Some(request)) = (first, intercepted, &self.request) {
                intercepted.message(request, true, payload.len() - crate::frame::PREFIX_LEN);
            }
            let (mut body, response) = self.open(deadline).await?;
            // A server may answer and reset the stream before the body is sent (grpc-go does
            // for an unknown method): then the send fails, and the answer is what counts (RFC
            // 9113 §8.1). If there is no answer, the response's error says why.
            let _ = body.send_data(payload, true);
            match response.await {
                Err(error) if unprocessed(&error) && attempt < TRANSPARENT_RETRIES => {
                    attempt += 1;
                }
                other => return Head::read(other.map_err(|error| status_from_h2(&error))?),
            }
        }
    }

    /// Sends the one request message, again while the attempts fail before the response
    /// headers and the retry policy allows (gRFC A6), and returns the head of the answer
    /// that ended it: response headers (the call is committed), or the last failure.
    async fn send_until_committed(
        &mut self,
        deadline: Option<Instant>,
        intercepted: Option<&Intercepted>,
    ) -> Result<Head, Status> {
        let mut backoff = None;
        loop {
            let answer = self.send_single(deadline, intercepted).await;
            let delay = match &answer {
                Ok(Head::Ended(status)) if status.code() != Code::Ok => {
                    self.retry_delay(status, &mut backoff)
                }
                Err(status) => self.retry_delay(status, &mut backoff),
                // Response headers (or a trailers-only success): committed.
                Ok(_) => None,
            };
            match delay {
                Some(delay) => {
                    // Within the call's deadline: `within` ends the call when it passes.
                    tokio::time::sleep(delay).await;
                    self.previous_attempts += 1;
                }
                None => {
                    // The request will not be sent again. A trailers-only failure stays an
                    // answer (for a stream, one that fails when read).
                    self.request = None;
                    return answer;
                }
            }
        }
    }

    /// How long to wait before trying again after an uncommitted `failure`, or `None` when
    /// the call must fail: no policy, a code the policy does not retry, no attempts left, the
    /// channel's throttle, or the server's pushback saying no.
    pub(super) fn retry_delay(
        &self,
        failure: &Status,
        backoff: &mut Option<Backoff>,
    ) -> Option<Duration> {
        let policy = self.retry_policy_in_force()?;
        if !policy.retries(failure.code()) {
            return None;
        }
        // Each failed attempt counts once, here; `count_committed` counts how a committed
        // call ended.
        let throttle = self.throttle();
        if let Some(throttle) = throttle {
            throttle.failed();
        }
        if self.previous_attempts + 1 >= policy.max_attempts()
            || throttle.is_some_and(|throttle| !throttle.allows_retry())
        {
            return None;
        }
        let backoff = backoff.get_or_insert_with(|| Backoff::new(policy));
        match pushback(failure) {
            Some(None) => None,
            Some(Some(delay)) => {
                backoff.reset(policy);
                Some(delay)
            }
            None => Some(backoff.delay(policy)),
        }
    }

    /// The hedging policy in force: this call's own, else the channel's (for unary
    /// `#[no_side_effects]` methods only).
    fn hedging_in_force(&self) -> Result<Option<HedgingPolicy>, Status> {
        match &self.hedging {
            Some(_) if self.method.idempotency != Idempotency::NoSideEffects => {
                Err(Status::invalid_argument(format!(
                    "{} cannot be hedged: only #[no_side_effects] methods can, as the server \
                     may run every attempt",
                    self.method.path
                )))
            }
            Some(policy) => Ok(Some(policy.clone())),
            None => Ok(RetryConfig::hedging(self.channel.retry_config(), &self.method).cloned()),
        }
    }

    /// One hedged attempt, the one after `previous` others: its answer's head, and the guard
    /// counting it on its connection.
    async fn hedged_attempt(
        &self,
        deadline: Option<Instant>,
        previous: u32,
        payload: Bytes,
    ) -> Result<(Head, Load), Status> {
        let (mut body, response, load) = self.open_attempt(deadline, previous).await?;
        let _ = body.send_data(payload, true);
        let response = response.await.map_err(|error| status_from_h2(&error))?;
        Ok((Head::read(response)?, load))
    }

    /// Sends the request as `policy` says (gRFC A6's hedging): an attempt now, another every
    /// delay (or at once after a non-fatal failure) while none has answered. The first answer
    /// wins; dropping the other attempts resets their streams (`CANCEL`).
    async fn send_hedged(
        &mut self,
        deadline: Option<Instant>,
        policy: &HedgingPolicy,
        intercepted: Option<&Intercepted>,
    ) -> Result<Head, Status> {
        type Attempt<'a> = Pin<Box<dyn Future<Output = Result<(Head, Load), Status>> + Send + 'a>>;
        let payload = self.encode_request()?;
        if let (Some(intercepted), Some(request)) = (intercepted, &self.request) {
            intercepted.message(request, true, payload.len() - crate::frame::PREFIX_LEN);
        }
        let throttle = self.throttle();
        let mut attempts: Vec<Attempt<'_>> = Vec::new();
        let mut sent = 0;
        let mut next = Some(Instant::now());
        let mut timer = Box::pin(tokio::time::sleep_until(Instant::now()));
        let mut last_failure = None;
        let (head, load) = loop {
            if let Some(at) = next {
                if at <= Instant::now() {
                    attempts.push(Box::pin(self.hedged_attempt(
                        deadline,
                        sent,
                        payload.clone(),
                    )));
                    sent += 1;
                    next = if sent < policy.max_attempts()
                        && throttle.is_none_or(|throttle| throttle.allows_retry())
                    {
                        // A delay too long to add is no further attempt.
                        Instant::now().checked_add(policy.delay())
                    } else {
                        None
                    };
                    continue;
                }
                timer.as_mut().reset(at);
            }
            if attempts.is_empty() && next.is_none() {
                return Err(last_failure
                    .unwrap_or_else(|| Status::unavailable("every hedged attempt failed")));
            }
            // The first attempt to finish, or `None` when the next is due.
            let finished = std::future::poll_fn(|cx| {
                for (index, attempt) in attempts.iter_mut().enumerate() {
                    if let std::task::Poll::Ready(outcome) = attempt.as_mut().poll(cx) {
                        return std::task::Poll::Ready(Some((index, outcome)));
                    }
                }
                if next.is_some() && timer.as_mut().poll(cx).is_ready() {
                    return std::task::Poll::Ready(None);
                }
                std::task::Poll::Pending
            })
            .await;
            let Some((index, outcome)) = finished else {
                continue;
            };
            drop(attempts.swap_remove(index));
            let failure = match outcome {
                Ok((Head::Ended(status), _)) if status.code() != Code::Ok => status,
                Err(status) => status,
                // Response headers, or a trailers-only success: this attempt is the answer.
                Ok(answer) => break answer,
            };
            if !policy.non_fatal(failure.code()) {
                return Err(failure);
            }
            if let Some(throttle) = throttle {
                throttle.failed();
                if !throttle.allows_retry() {
                    next = None;
                }
            }
            if sent < policy.max_attempts() && next.is_some() {
                next = match pushback(&failure) {
                    Some(None) => None,
                    Some(Some(delay)) => Instant::now().checked_add(delay),
                    None => Some(Instant::now()),
                };
            }
            last_failure = Some(failure);
        };
        // The other attempts are cancelled as they drop.
        drop(attempts);
        self.previous_attempts = sent - 1;
        self.load = Some(load);
        self.request = None;
        Ok(head)
    }

    /// The retry policy in force: this call's own, else the channel's, else the trait's.
    fn retry_policy_in_force(&self) -> Option<&RetryPolicy> {
        match &self.retry {
            Some(policy) => policy.as_ref(),
            None => RetryConfig::policy(self.channel.retry_config(), &self.method),
        }
    }

    /// The channel's retry throttle, if it has one.
    fn throttle(&self) -> Option<&Throttle> {
        self.channel
            .retry_config()
            .and_then(|config| config.throttle.as_deref())
    }

    /// Tells the channel's throttle, if any, how a call ended after its response headers (the
    /// failures before them were counted as they came).
    fn count_committed(&self, outcome: Result<(), Code>) {
        let Some(throttle) = self.throttle() else {
            return;
        };
        match outcome {
            Ok(()) => throttle.succeeded(),
            Err(code) => {
                if self
                    .retry_policy_in_force()
                    .is_some_and(|policy| policy.retries(code))
                {
                    throttle.failed();
                }
            }
        }
    }

    fn streaming(
        &mut self,
        head: Head,
        deadline: Option<Instant>,
        intercepted: Option<Arc<Intercepted>>,
    ) -> Streaming<Resp> {
        let streaming = head
            .into_streaming(self.codec, self.channel.max_receive_message_size())
            .with_deadline(deadline)
            .holding(self.load.take());
        match intercepted {
            Some(intercepted) => streaming.observed_to_the_end(intercepted),
            None => streaming,
        }
    }

    fn sink(
        &self,
        body: SendStream<Bytes>,
        deadline: Option<Instant>,
        intercepted: Option<Arc<Intercepted>>,
    ) -> RequestSink<Req> {
        RequestSink::new(body, self.encoding(), deadline, intercepted)
    }

    /// The responses of a call that streams requests, read from `response`; `load` counts the
    /// call on its connection while they are.
    pub(super) fn responses(
        &self,
        response: ResponseFuture,
        deadline: Option<Instant>,
        intercepted: Option<Arc<Intercepted>>,
        load: Option<Load>,
    ) -> Responses<Resp> {
        Responses::waiting(
            response,
            self.codec,
            self.channel.max_receive_message_size(),
            deadline,
            intercepted,
            load,
        )
    }
}

/// Whether the server provably never processed a stream that failed with `error`: it refused
/// it, or a graceful GOAWAY (`NO_ERROR`) left it out. (h2 fails only the streams above the
/// GOAWAY's last stream id with it; an abrupt GOAWAY's error code may end processed ones.)
fn unprocessed(error: &h2::Error) -> bool {
    error.reason() == Some(h2::Reason::REFUSED_STREAM)
        || (error.is_go_away() && error.is_remote() && error.reason() == Some(h2::Reason::NO_ERROR))
}

/// How often a call the server refused unprocessed is sent again.
const TRANSPARENT_RETRIES: usize = 3;

/// Runs `work` under the call's deadline; an already-passed one fails at once.
pub(super) fn within<T, F: Future<Output = Result<T, Status>>>(
    deadline: Option<Instant>,
    work: F,
) -> Within<F> {
    match deadline {
        None => Within::Unbounded { work },
        Some(deadline) if deadline <= Instant::now() => Within::Expired,
        Some(deadline) => Within::Bounded {
            work: tokio::time::timeout_at(deadline, work),
        },
    }
}

pin_project_lite::pin_project! {
    /// [`within`]'s future: written out rather than an `async fn`, which would hold `work`
    /// twice (as its argument and as the future it awaits) and make every call's future
    /// larger by that much.
    #[project = WithinProjection]
    pub(super) enum Within<F> {
        Unbounded { #[pin] work: F },
        Bounded { #[pin] work: tokio::time::Timeout<F> },
        Expired,
    }
}

impl<T, F: Future<Output = Result<T, Status>>> Future for Within<F> {
    type Output = Result<T, Status>;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let expired = || Status::deadline_exceeded("Deadline Exceeded");
        match self.project() {
            WithinProjection::Unbounded { work } => work.poll(cx),
            WithinProjection::Bounded { work } => work
                .poll(cx)
                .map(|outcome| outcome.unwrap_or_else(|_| Err(expired()))),
            WithinProjection::Expired => std::task::Poll::Ready(Err(expired())),
        }
    }
}

/// A streaming call that failed before it opened, past its interceptors' `end`.
fn refused(intercepted: Option<Arc<Intercepted>>, status: Status) -> Status {
    match intercepted {
        Some(intercepted) => intercepted.end_failed(status),
        None => status,
    }
}

/// A unary call's result past its interceptors: they see the response (or the failure) and
/// may replace the outcome. A failure they turn into OK stays the failure: there is no response
/// message to give instead.
fn ended<Resp: Message>(
    mut intercepted: Intercepted,
    result: Result<(Response<Resp>, usize), Status>,
) -> Result<Response<Resp>, Status> {
    let headers = match &result {
        Ok((response, _)) => response.headers.clone(),
        Err(status) => status.headers().clone(),
    };
    intercepted.call.set_response_headers(headers);
    if let Ok((response, wire_size)) = &result {
        intercepted.message(&response.message, false, *wire_size);
    }
    let result = result.map(|(response, _)| response);
    let original = result.as_ref().err().cloned();
    match (intercepted.end(original).into_parts().0, result) {
        (Some(status), _) => Err(status),
        (None, result) => result,
    }
}

impl<Req: Message, Resp: Message> UnaryCall<Req, Resp> {
    /// Hedges this call by `policy` (see [`HedgingPolicy`]), whatever the channel says: for a
    /// unary `#[no_side_effects]` method, whose attempts the server may all run; on any other
    /// the call fails with `INVALID_ARGUMENT` without being sent.
    pub fn hedging(mut self, policy: HedgingPolicy) -> Self {
        self.hedging = Some(policy);
        self
    }

    /// Sends the call and returns the response with the server's response headers and
    /// trailers. (A failed call's metadata is in its [`Status::metadata`].)
    pub async fn into_response(mut self) -> Result<Response<Resp>, Status> {
        let deadline = self.deadline();
        let intercepted = self.intercept(deadline).await?;
        let result = self.respond(deadline, intercepted.as_ref()).await;
        match intercepted {
            None => result.map(|(response, _)| response),
            Some(intercepted) => ended(intercepted, result),
        }
    }

    /// Sends the call and reads its response.
    /// Sends the call and reads its response, with the response's size on the wire.
    async fn respond(
        &mut self,
        deadline: Option<Instant>,
        intercepted: Option<&Intercepted>,
    ) -> Result<(Response<Resp>, usize), Status> {
        within(deadline, async {
            let head = match self.hedging_in_force()? {
                Some(policy) => self.send_hedged(deadline, &policy, intercepted).await?,
                None => self.send_until_committed(deadline, intercepted).await?,
            };
            match head {
                Head::Body {
                    body,
                    headers,
                    compression,
                } => {
                    let max = self.channel.max_receive_message_size();
                    let read = read_single_response(body, compression, headers, max).await;
                    let response = read.and_then(|read| {
                        let response = Response {
                            message: self.codec.decode(read.message)?,
                            headers: read.headers,
                            trailers: read.trailers,
                            compressed: read.compressed,
                        };
                        Ok((response, read.wire_size))
                    });
                    self.count_committed(response.as_ref().map(drop).map_err(Status::code));
                    response
                }
                Head::Ended(status) if status.code() == Code::Ok => {
                    Err(Status::internal("server sent no response message"))
                }
                Head::Ended(status) => Err(status),
            }
        })
        .await
    }
}

impl<Req: Message, Resp: Message> IntoFuture for UnaryCall<Req, Resp> {
    type Output = Result<Resp, Status>;
    type IntoFuture = BoxedCall<Resp>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(MessageOf {
            response: self.into_response(),
        })
    }
}

pin_project_lite::pin_project! {
    /// A unary call's response message: what an `async` block would do, without holding the
    /// call twice (once captured, once inside the future it awaits).
    struct MessageOf<F> {
        #[pin]
        response: F,
    }
}

impl<Resp, F: Future<Output = Result<Response<Resp>, Status>>> Future for MessageOf<F> {
    type Output = Result<Resp, Status>;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.project()
            .response
            .poll(cx)
            .map(|response| response.map(|response| response.message))
    }
}

impl<Req: Message> IntoFuture for OnewayCall<Req> {
    type Output = Result<(), Status>;
    type IntoFuture = BoxedCall<()>;

    /// Sends the request and returns; the answer is read in the background so that the stream
    /// closes cleanly instead of being reset (which would cancel the handler).
    fn into_future(mut self) -> Self::IntoFuture {
        Box::pin(async move {
            let deadline = self.deadline();
            let intercepted = self.intercept(deadline).await?;
            let sent = self.send_oneway(deadline, intercepted.as_ref()).await;
            match intercepted {
                // The answer is not awaited: the call ends, for its interceptors, when sent.
                Some(intercepted) => intercepted
                    .end(sent.err())
                    .into_parts()
                    .0
                    .map_or(Ok(()), Err),
                None => sent,
            }
        })
    }
}

impl<Req: Message> OnewayCall<Req> {
    /// Sends the request, and reads the answer in the background.
    async fn send_oneway(
        &mut self,
        deadline: Option<Instant>,
        intercepted: Option<&Intercepted>,
    ) -> Result<(), Status> {
        {
            let payload = self.encode_request()?;
            if let (Some(intercepted), Some(request)) = (intercepted, &self.request) {
                intercepted.message(request, true, payload.len() - crate::frame::PREFIX_LEN);
            }
            let (mut body, response) = within(deadline, self.open(deadline)).await?;
            if let Err(error) = body.send_data(payload, true) {
                // The server ended the call before the request went out: its answer says how.
                let answered = within(deadline, async {
                    match Head::read(response.await.map_err(|_| status_from_h2(&error))?)? {
                        Head::Ended(status) if status.code() != Code::Ok => Err(status),
                        _ => Ok(()),
                    }
                });
                return answered.await;
            }
            tokio::spawn(async move {
                let _keep_open_until_answered = body;
                if let Ok(response) = response.await {
                    let mut answer = response.into_body();
                    while let Some(Ok(chunk)) = answer.data().await {
                        let _ = answer.flow_control().release_capacity(chunk.len());
                    }
                    let _ = answer.trailers().await;
                }
            });
            Ok(())
        }
    }
}

impl<Req: Message, Resp: Message> IntoFuture for ServerStreamingCall<Req, Resp> {
    type Output = Result<Streaming<Resp>, Status>;
    type IntoFuture = BoxedCall<Streaming<Resp>>;

    fn into_future(mut self) -> Self::IntoFuture {
        Box::pin(async move {
            let deadline = self.deadline();
            let intercepted = self.intercept(deadline).await?.map(Arc::new);
            let head = match within(
                deadline,
                self.send_until_committed(deadline, intercepted.as_deref()),
            )
            .await
            {
                Ok(head) => head,
                Err(status) => return Err(refused(intercepted, status)),
            };
            Ok(self.streaming(head, deadline, intercepted))
        })
    }
}

impl<Req: Message, Resp: Message> IntoFuture for ClientStreamingCall<Req, Resp> {
    type Output = Result<ClientStream<Req, Resp>, Status>;
    type IntoFuture = BoxedCall<ClientStream<Req, Resp>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let (requests, responses, replay) = self.open_streaming().await?;
            Ok(ClientStream::new(requests, responses, replay))
        })
    }
}

impl<Req: Message, Resp: Message> IntoFuture for BidiStreamingCall<Req, Resp> {
    type Output = Result<BidiStream<Req, Resp>, Status>;
    type IntoFuture = BoxedCall<BidiStream<Req, Resp>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let (requests, responses, replay) = self.open_streaming().await?;
            Ok(BidiStream::new(requests, responses, replay))
        })
    }
}

impl<Req, Resp, Kind> std::fmt::Debug for Call<Req, Resp, Kind> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("path", &self.method.path)
            .field("timeout", &self.timeout)
            .field("codec", &self.codec)
            .field("compression", &self.compression)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}
