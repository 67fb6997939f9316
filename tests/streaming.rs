//! Streaming calls between the Rust client and server: every shape, order, half-close, empty
//! streams, errors after partial output, cancellation both ways, deadlines and backpressure.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use protoless::{stream, Code, Context, Message, Server, Status, Stream, Streaming};
use support::greeter::{GreeterClient, HelloRequest};
use support::TestServer;
use tokio::sync::{mpsc, Semaphore};

/// Asks for `count` numbered replies of `payload` bytes each, then `fail_code` (0: success).
#[derive(Message, Clone, Debug, PartialEq)]
struct CountRequest {
    count: u64,
    payload: u32,
    fail_code: i32,
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Number {
    value: u64,
    padding: Vec<u8>,
}

fn number(value: u64) -> Number {
    Number {
        value,
        padding: Vec::new(),
    }
}

#[protoless::service(package = "test.streams")]
trait Streams {
    /// Streams the requested numbers, then ends with the requested status.
    async fn count(
        &self,
        req: CountRequest,
    ) -> Result<impl Stream<Item = Result<Number, Status>>, Status>;
    /// Streams forever, reporting when the stream is dropped.
    async fn endless(
        &self,
        req: Number,
    ) -> Result<impl Stream<Item = Result<Number, Status>>, Status>;
    /// Sums a stream of numbers.
    async fn sum(&self, reqs: Streaming<Number>) -> Result<Number, Status>;
    /// Sums a stream of numbers, but reads nothing until the test opens the gate.
    async fn gated_sum(&self, reqs: Streaming<Number>) -> Result<Number, Status>;
    /// Echoes each number until it sees `stop_at`, then ends the call while the client may
    /// still be sending.
    async fn echo_until(
        &self,
        reqs: Streaming<Number>,
    ) -> Result<impl Stream<Item = Result<Number, Status>>, Status>;
    /// Counts the numbers: header `started: yes` at once, trailer `counted: N` at the end.
    async fn tally(&self, reqs: Streaming<Number>, ctx: Context) -> Result<Number, Status>;
}

struct StreamsService {
    /// How many replies `count` has handed to the transport.
    produced: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
    dropped: mpsc::UnboundedSender<&'static str>,
}

/// Reports on a channel when dropped.
struct DropReporter(mpsc::UnboundedSender<&'static str>, &'static str);

impl Drop for DropReporter {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

impl Streams for StreamsService {
    async fn count(
        &self,
        req: CountRequest,
    ) -> Result<impl Stream<Item = Result<Number, Status>>, Status> {
        let produced = self.produced.clone();
        Ok(stream::generate(move |mut out| async move {
            for value in 0..req.count {
                produced.fetch_add(1, Ordering::SeqCst);
                out.send(Number {
                    value,
                    padding: vec![0xab; req.payload as usize],
                })
                .await;
            }
            match Code::from_i32(req.fail_code) {
                Code::Ok => Ok(()),
                code => Err(Status::new(code, format!("failed after {}", req.count))),
            }
        }))
    }

    async fn endless(
        &self,
        _req: Number,
    ) -> Result<impl Stream<Item = Result<Number, Status>>, Status> {
        let reporter = DropReporter(self.dropped.clone(), "endless");
        Ok(stream::generate(move |mut out| async move {
            let _reporter = reporter;
            for value in 0.. {
                out.send(number(value)).await;
            }
            Ok(())
        }))
    }

    async fn sum(&self, mut reqs: Streaming<Number>) -> Result<Number, Status> {
        let _reporter = DropReporter(self.dropped.clone(), "sum");
        let mut total = 0;
        while let Some(n) = reqs.message().await? {
            total += n.value;
        }
        Ok(number(total))
    }

    async fn gated_sum(&self, reqs: Streaming<Number>) -> Result<Number, Status> {
        let _open = self.gate.acquire().await.unwrap();
        self.sum(reqs).await
    }

    async fn tally(&self, mut reqs: Streaming<Number>, ctx: Context) -> Result<Number, Status> {
        ctx.insert_header("started", "yes")?;
        let mut count = 0;
        while reqs.message().await?.is_some() {
            count += 1;
        }
        ctx.insert_trailer("counted", &count.to_string())?;
        Ok(number(count))
    }

    async fn echo_until(
        &self,
        mut reqs: Streaming<Number>,
    ) -> Result<impl Stream<Item = Result<Number, Status>>, Status> {
        Ok(stream::generate(move |mut out| async move {
            while let Some(n) = reqs.message().await? {
                let stop = n.value == 0;
                out.send(n).await;
                if stop {
                    break;
                }
            }
            Ok(())
        }))
    }
}

struct Harness {
    server: TestServer,
    client: StreamsClient,
    produced: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
    dropped: mpsc::UnboundedReceiver<&'static str>,
}

async fn harness() -> Harness {
    let produced = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let (dropped_tx, dropped) = mpsc::unbounded_channel();
    let service = StreamsService {
        produced: produced.clone(),
        gate: gate.clone(),
        dropped: dropped_tx,
    };
    let server =
        TestServer::start(Server::builder().add_service(StreamsServer::new(service))).await;
    let client = StreamsClient::connect(&server.url()).await.unwrap();
    Harness {
        server,
        client,
        produced,
        gate,
        dropped,
    }
}

fn count(count: u64, fail_code: Code) -> CountRequest {
    CountRequest {
        count,
        payload: 0,
        fail_code: fail_code.as_i32(),
    }
}

#[tokio::test]
async fn greeter_speaks_all_four_shapes() {
    let server = TestServer::start(support::greeter::server()).await;
    let client = GreeterClient::connect(&server.url()).await.unwrap();
    let hello = |name: &str| HelloRequest {
        name: name.to_owned(),
    };

    let reply = client.say_hello(hello("unary")).await.unwrap();
    assert_eq!(reply.message, "Hello, unary!");

    let mut replies = client.lots_of_replies(hello("many")).await.unwrap();
    for i in 1..=10 {
        let reply = replies.message().await.unwrap().unwrap();
        assert_eq!(reply.message, format!("Hello, many! #{i}"));
    }
    assert_eq!(replies.message().await.unwrap(), None);

    let mut greetings = client.lots_of_greetings().await.unwrap();
    for name in ["x", "y", "z"] {
        greetings.send(hello(name)).await.unwrap();
    }
    assert_eq!(greetings.finish().await.unwrap().message, "Hello, x, y, z!");

    let mut chat = client.bidi_hello().await.unwrap();
    for name in ["one", "two", "three"] {
        chat.send(hello(name)).await.unwrap();
        let reply = chat.message().await.unwrap().unwrap();
        assert_eq!(reply.message, format!("Hello, {name}!"));
    }
    chat.close_send().unwrap();
    assert_eq!(chat.message().await.unwrap(), None);
    server.stop().await;
}

#[tokio::test]
async fn empty_streams_are_valid_both_ways() {
    let server = TestServer::start(support::greeter::server()).await;
    let client = GreeterClient::connect(&server.url()).await.unwrap();
    let greetings = client.lots_of_greetings().await.unwrap();
    assert_eq!(greetings.finish().await.unwrap().message, "Hello, !");
    let mut chat = client.bidi_hello().await.unwrap();
    chat.close_send().unwrap();
    assert_eq!(chat.message().await.unwrap(), None);
    server.stop().await;

    let h = harness().await;
    let mut none = h.client.count(count(0, Code::Ok)).await.unwrap();
    assert_eq!(none.message().await.unwrap(), None);
    h.server.stop().await;
}

#[tokio::test]
async fn order_is_preserved_in_long_streams() {
    let h = harness().await;
    let mut numbers = h.client.count(count(10_000, Code::Ok)).await.unwrap();
    for expected in 0..10_000 {
        assert_eq!(numbers.message().await.unwrap().unwrap().value, expected);
    }
    assert_eq!(numbers.message().await.unwrap(), None);

    let mut sum = h.client.sum().await.unwrap();
    for value in 1..=1000 {
        sum.send(number(value)).await.unwrap();
    }
    assert_eq!(sum.finish().await.unwrap().value, 500_500);
    h.server.stop().await;
}

#[tokio::test]
async fn an_error_after_partial_output_arrives_after_the_messages_sent_before_it() {
    let h = harness().await;
    let mut numbers = h.client.count(count(3, Code::Aborted)).await.unwrap();
    for expected in 0..3 {
        assert_eq!(numbers.message().await.unwrap().unwrap().value, expected);
    }
    let status = numbers.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), "failed after 3");
    // The error is final: reading again repeats it.
    assert_eq!(numbers.message().await.unwrap_err().code(), Code::Aborted);
    h.server.stop().await;
}

#[tokio::test]
async fn an_error_before_any_message_is_trailers_only() {
    let h = harness().await;
    let mut numbers = h.client.count(count(0, Code::NotFound)).await.unwrap();
    assert_eq!(numbers.message().await.unwrap_err().code(), Code::NotFound);
    h.server.stop().await;
}

#[tokio::test]
async fn dropping_a_response_stream_cancels_the_server_stream() {
    let mut h = harness().await;
    let mut numbers = h.client.endless(number(0)).await.unwrap();
    for expected in 0..100 {
        assert_eq!(numbers.message().await.unwrap().unwrap().value, expected);
    }
    drop(numbers);
    assert_eq!(h.dropped.recv().await, Some("endless"));
    h.server.stop().await;
}

#[tokio::test]
async fn dropping_a_request_stream_cancels_the_handler() {
    let mut h = harness().await;
    let mut sum = h.client.sum().await.unwrap();
    sum.send(number(1)).await.unwrap();
    drop(sum);
    assert_eq!(h.dropped.recv().await, Some("sum"));
    h.server.stop().await;
}

#[tokio::test]
async fn a_server_that_ends_early_is_the_end_of_the_stream() {
    let h = harness().await;
    let mut echo = h.client.echo_until().await.unwrap();
    for value in [5, 4, 0] {
        echo.send(number(value)).await.unwrap();
        assert_eq!(echo.message().await.unwrap().unwrap().value, value);
    }
    // The server stopped after 0 although the client never closed its side.
    assert_eq!(echo.message().await.unwrap(), None);
    h.server.stop().await;
}

#[tokio::test]
async fn split_bidi_calls_send_and_receive_from_different_tasks() {
    let h = harness().await;
    let (mut requests, mut responses) = h.client.echo_until().await.unwrap().split();
    let sender = tokio::spawn(async move {
        for value in (0..=500).rev() {
            requests.send(number(value)).await.unwrap();
        }
        requests
    });
    for expected in (0..=500).rev() {
        assert_eq!(responses.message().await.unwrap().unwrap().value, expected);
    }
    assert_eq!(responses.message().await.unwrap(), None);
    drop(sender.await.unwrap());
    h.server.stop().await;
}

#[tokio::test]
async fn a_deadline_ends_a_stream_mid_way() {
    let mut h = harness().await;
    let mut numbers = h
        .client
        .endless(number(0))
        // Long enough that a loaded machine still opens the stream before it passes.
        .timeout(Duration::from_secs(1))
        .await
        .unwrap();
    let mut received = 0;
    let status = loop {
        match numbers.message().await {
            Ok(Some(_)) => received += 1,
            Ok(None) => panic!("an endless stream ended"),
            Err(status) => break status,
        }
    };
    assert!(received > 0);
    assert_eq!(status.code(), Code::DeadlineExceeded);
    // The server enforced the same deadline and dropped its stream.
    assert_eq!(h.dropped.recv().await, Some("endless"));
    h.server.stop().await;
}

/// A slow reader holds back a fast writer: the number of replies produced but not yet read
/// stays below what the HTTP/2 windows and h2's send buffer can hold, for 100,000 messages.
#[tokio::test]
async fn a_slow_consumer_bounds_what_the_producer_buffers() {
    const MESSAGES: u64 = 100_000;
    const PAYLOAD: u32 = 256;
    let h = harness().await;
    let mut numbers = h
        .client
        .count(CountRequest {
            count: MESSAGES,
            payload: PAYLOAD,
            fail_code: 0,
        })
        .await
        .unwrap();
    // What can be in flight: the client's 1 MiB stream window, the 400 KiB h2 send buffer, the
    // message being encoded and the one the reader holds; each message is PAYLOAD + 9 bytes.
    let in_flight_bytes = 1024 * 1024 + 400 * 1024;
    let bound = in_flight_bytes / (PAYLOAD as usize + 9) + 4;
    let mut max_ahead = 0;
    for read in 0..MESSAGES {
        let message = numbers.message().await.unwrap().unwrap();
        assert_eq!(message.value, read);
        let ahead = h.produced.load(Ordering::SeqCst) - read as usize;
        max_ahead = max_ahead.max(ahead);
        assert!(
            ahead <= bound,
            "producer ran {ahead} messages ahead (bound {bound})"
        );
        // Be slow every so often, so that the producer gets every chance to run ahead.
        if read % 20_000 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(numbers.message().await.unwrap(), None);
    // The test would prove nothing if the producer never got ahead of the reader.
    assert!(
        max_ahead > 100,
        "the producer was never ahead (max {max_ahead})"
    );
    h.server.stop().await;
}

#[tokio::test]
async fn a_fast_client_is_held_back_by_a_slow_server() {
    // The server's 1 MiB stream window fills when the handler does not read; `send` then waits
    // instead of buffering, and completes once the handler reads again.
    let h = harness().await;
    let mut sum = h.client.sum().await.unwrap();
    let big = Number {
        value: 1,
        padding: vec![0; 64 * 1024],
    };
    let mut sent = 0u64;
    for _ in 0..200 {
        sum.send(big.clone()).await.unwrap();
        sent += 1;
    }
    assert_eq!(sum.finish().await.unwrap().value, sent);
    h.server.stop().await;
}

/// Many tiny messages (one small DATA frame each, as grpc-go and grpcio send them) to a handler
/// that is not reading yet: they wait within the flow-control window, and the connection
/// survives h2's defence against floods of small frames.
#[tokio::test]
async fn many_tiny_messages_wait_for_a_handler_that_is_not_reading() {
    let h = harness().await;
    let mut sum = h.client.gated_sum().await.unwrap();
    for _ in 0..20_000 {
        sum.send(number(1)).await.unwrap();
    }
    h.gate.add_permits(1);
    assert_eq!(sum.finish().await.unwrap().value, 20_000);
    h.server.stop().await;
}

/// `cancel()` resets the stream (the handler is dropped) and the caller sees `CANCELLED`, in
/// every streaming shape.
#[tokio::test]
async fn cancel_ends_a_call_on_both_sides() {
    let mut h = harness().await;
    let mut numbers = h.client.endless(number(0)).await.unwrap();
    numbers.message().await.unwrap().unwrap();
    numbers.cancel();
    assert_eq!(numbers.message().await.unwrap_err().code(), Code::Cancelled);
    assert_eq!(h.dropped.recv().await, Some("endless"));

    let mut upload = h.client.sum().await.unwrap();
    upload.send(number(1)).await.unwrap();
    upload.cancel();
    assert_eq!(
        upload.send(number(2)).await.unwrap_err().code(),
        Code::Cancelled
    );
    assert_eq!(upload.finish().await.unwrap_err().code(), Code::Cancelled);
    assert_eq!(h.dropped.recv().await, Some("sum"));

    let mut echo = h.client.echo_until().await.unwrap();
    echo.send(number(7)).await.unwrap();
    assert_eq!(echo.message().await.unwrap().unwrap().value, 7);
    echo.cancel();
    assert_eq!(echo.message().await.unwrap_err().code(), Code::Cancelled);
    h.server.stop().await;
}

/// A client-streaming call finishes into its response with headers and trailers, as a unary
/// call's `into_response` does.
#[tokio::test]
async fn streams_tell_response_headers_and_trailers() {
    let h = harness().await;
    let mut tally = h.client.tally().await.unwrap();
    for value in 0..3 {
        tally.send(number(value)).await.unwrap();
    }
    let response = tally.finish_into_response().await.unwrap();
    assert_eq!(response.message.value, 3);
    assert_eq!(response.headers.get("started"), Some("yes"));
    assert_eq!(response.trailers.get("counted"), Some("3"));
    assert!(!response.compressed);
    h.server.stop().await;
}
