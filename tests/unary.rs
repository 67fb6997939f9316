//! Unary calls between the Rust client and server: statuses, routing, panics, concurrency,
//! deadlines, cancellation, limits and graceful shutdown.

mod support;

use std::sync::Arc;
use std::time::Duration;

use protoless::{Channel, Code, Codec, Message, Server, Status};
use support::TestServer;
use tokio::sync::{mpsc, Barrier, Semaphore};

/// Asks the server to fail with this code and message (code 0: succeed).
#[derive(Message, Clone, Debug, PartialEq)]
struct FailRequest {
    code: i32,
    message: String,
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Echo {
    text: String,
    payload: Vec<u8>,
}

#[protoless::service(package = "test.probe")]
trait Probe {
    async fn fail(&self, req: FailRequest) -> Result<Echo, Status>;
    async fn echo(&self, req: Echo) -> Result<Echo, Status>;
    async fn panic(&self, req: Echo) -> Result<Echo, Status>;
    /// Reports that it started, then waits for a permit; reports when it is dropped.
    async fn hold(&self, req: Echo) -> Result<Echo, Status>;
    /// Returns only once `gathering` calls are running at the same time.
    async fn gather(&self, req: Echo) -> Result<Echo, Status>;
}

struct ProbeService {
    entered: mpsc::UnboundedSender<String>,
    dropped: mpsc::UnboundedSender<String>,
    release: Arc<Semaphore>,
    barrier: Arc<Barrier>,
}

/// Reports on `dropped` when the handler's future is dropped, finished or not.
struct DropReporter(mpsc::UnboundedSender<String>, String);

impl Drop for DropReporter {
    fn drop(&mut self) {
        let _ = self.0.send(self.1.clone());
    }
}

impl Probe for ProbeService {
    async fn fail(&self, req: FailRequest) -> Result<Echo, Status> {
        match Code::from_i32(req.code) {
            Code::Ok => Ok(Echo {
                text: req.message,
                payload: Vec::new(),
            }),
            code => Err(Status::new(code, req.message)),
        }
    }

    async fn echo(&self, req: Echo) -> Result<Echo, Status> {
        Ok(req)
    }

    async fn panic(&self, req: Echo) -> Result<Echo, Status> {
        panic!("deliberate panic for {}", req.text);
    }

    async fn hold(&self, req: Echo) -> Result<Echo, Status> {
        let _reporter = DropReporter(self.dropped.clone(), req.text.clone());
        self.entered.send(req.text.clone()).unwrap();
        let _permit = self.release.acquire().await.unwrap();
        Ok(req)
    }

    async fn gather(&self, req: Echo) -> Result<Echo, Status> {
        self.barrier.wait().await;
        Ok(req)
    }
}

struct Harness {
    server: TestServer,
    client: ProbeClient,
    entered: mpsc::UnboundedReceiver<String>,
    dropped: mpsc::UnboundedReceiver<String>,
    release: Arc<Semaphore>,
}

const GATHERING: usize = 1000;

async fn harness_with(configure: impl FnOnce(Server) -> Server) -> Harness {
    let (entered_tx, entered) = mpsc::unbounded_channel();
    let (dropped_tx, dropped) = mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let service = ProbeService {
        entered: entered_tx,
        dropped: dropped_tx,
        release: release.clone(),
        barrier: Arc::new(Barrier::new(GATHERING)),
    };
    let server = TestServer::start(configure(
        Server::builder().add_service(ProbeServer::new(service)),
    ))
    .await;
    let client = ProbeClient::connect(&server.url()).await.unwrap();
    Harness {
        server,
        client,
        entered,
        dropped,
        release,
    }
}

async fn harness() -> Harness {
    harness_with(|server| server).await
}

fn echo(text: &str) -> Echo {
    Echo {
        text: text.to_owned(),
        payload: Vec::new(),
    }
}

#[tokio::test]
async fn every_status_code_round_trips_with_its_message() {
    let h = harness().await;
    for code in Code::ALL {
        let message = format!("{} — ünïcödé ✓, 100% \"quoted\"\nsecond line", code.name());
        let result = h
            .client
            .fail(FailRequest {
                code: code.as_i32(),
                message: message.clone(),
            })
            .await;
        match code {
            Code::Ok => assert_eq!(result.unwrap().text, message),
            _ => {
                let status = result.unwrap_err();
                assert_eq!(status.code(), code);
                assert_eq!(status.message(), message);
            }
        }
    }
    h.server.stop().await;
}

#[tokio::test]
async fn unknown_methods_and_services_are_unimplemented() {
    let h = harness().await;
    let channel = h.client.channel();
    let status = channel
        .unary::<Echo, Echo>("/test.probe.Probe/Missing", echo("x"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(
        status.message(),
        "unknown method Missing for service test.probe.Probe"
    );
    let status = channel
        .unary::<Echo, Echo>("/test.probe.Nothing/Echo", echo("x"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(status.message(), "unknown service test.probe.Nothing");
    h.server.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_own_call() {
    let h = harness().await;
    let status = h.client.panic(echo("boom")).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(
        status.message().contains("deliberate panic for boom"),
        "{status:?}"
    );
    let reply = h.client.echo(echo("still serving")).await.unwrap();
    assert_eq!(reply.text, "still serving");
    h.server.stop().await;
}

#[tokio::test]
async fn a_thousand_calls_in_flight_at_once_on_one_connection() {
    let h = harness_with(|server| server.max_concurrent_streams(GATHERING as u32)).await;
    let calls: Vec<_> = (0..GATHERING)
        .map(|i| {
            let client = h.client.clone();
            tokio::spawn(async move { client.gather(echo(&i.to_string())).await })
        })
        .collect();
    // The barrier releases no handler until all 1000 are running: every call was in flight.
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap().text, i.to_string());
    }
    h.server.stop().await;
}

#[tokio::test]
async fn calls_past_the_stream_limit_wait_their_turn() {
    let h = harness_with(|server| server.max_concurrent_streams(8)).await;
    let calls: Vec<_> = (0..2000)
        .map(|i| {
            let client = h.client.clone();
            tokio::spawn(async move { client.echo(echo(&format!("call {i}"))).await })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap().text, format!("call {i}"));
    }
    h.server.stop().await;
}

#[tokio::test]
async fn an_expired_deadline_fails_the_call_and_cancels_the_handler() {
    let mut h = harness().await;
    let status = h
        .client
        .hold(echo("slow"))
        .timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(h.entered.recv().await.unwrap(), "slow");
    // The server saw the same deadline and dropped the handler without it ever finishing.
    assert_eq!(h.dropped.recv().await.unwrap(), "slow");
    assert_eq!(h.release.available_permits(), 0);
    h.server.stop().await;
}

#[tokio::test]
async fn a_client_that_gives_up_cancels_the_handler() {
    let mut h = harness().await;
    let call = tokio::spawn({
        let client = h.client.clone();
        async move { client.hold(echo("abandoned")).await }
    });
    assert_eq!(h.entered.recv().await.unwrap(), "abandoned");
    call.abort();
    assert_eq!(h.dropped.recv().await.unwrap(), "abandoned");
    h.server.stop().await;
}

#[tokio::test]
async fn oversized_messages_are_refused_both_ways() {
    let h = harness_with(|server| server.max_receive_message_size(1024)).await;
    let big = Echo {
        text: String::new(),
        payload: vec![7; 2048],
    };
    let status = h.client.echo(big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("larger than max"), "{status:?}");
    // Exactly at the limit is fine: 3 bytes of key and length, then the payload.
    let fits = Echo {
        text: String::new(),
        payload: vec![7; 1021],
    };
    assert_eq!(fits.encoded_len(), 1024);
    assert_eq!(h.client.echo(fits.clone()).await.unwrap(), fits);
    h.server.stop().await;

    let server = TestServer::start(Server::builder().max_send_message_size(100).add_service(
        ProbeServer::new(ProbeService {
            entered: mpsc::unbounded_channel().0,
            dropped: mpsc::unbounded_channel().0,
            release: Arc::new(Semaphore::new(0)),
            barrier: Arc::new(Barrier::new(1)),
        }),
    ))
    .await;
    let client = ProbeClient::connect(&server.url()).await.unwrap();
    let status = client
        .echo(Echo {
            text: "x".repeat(200),
            payload: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_drains_calls_in_flight_and_refuses_new_ones() {
    let mut h = harness().await;
    let call = tokio::spawn({
        let client = h.client.clone();
        async move { client.hold(echo("in flight")).await }
    });
    assert_eq!(h.entered.recv().await.unwrap(), "in flight");
    let stopped = h.server.begin_shutdown();
    // The call in flight completes after the shutdown began...
    h.release.add_permits(1);
    assert_eq!(call.await.unwrap().unwrap().text, "in flight");
    stopped.await.unwrap().unwrap();
    // ...and once the server is gone, nothing answers.
    let status = h.client.echo(echo("late")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn postcard_calls_reach_the_same_handlers() {
    let h = harness().await;
    let reply = h
        .client
        .echo(Echo {
            text: "postcard ✓".to_owned(),
            payload: vec![1, 2, 3],
        })
        .codec(Codec::Postcard)
        .await
        .unwrap();
    assert_eq!(reply.text, "postcard ✓");
    assert_eq!(reply.payload, [1, 2, 3]);
    let status = h
        .client
        .fail(FailRequest {
            code: Code::NotFound.as_i32(),
            message: "nope".to_owned(),
        })
        .codec(Codec::Postcard)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    h.server.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let status = Channel::connect(&format!("http://{addr}"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let status = Channel::connect("http://[not a uri").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_channel_connects_again_after_its_server_restarts() {
    let h = harness().await;
    let addr = h.server.addr;
    h.server.stop().await;
    assert_eq!(
        h.client.echo(echo("down")).await.unwrap_err().code(),
        Code::Unavailable
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let service = ProbeService {
        entered: mpsc::unbounded_channel().0,
        dropped: mpsc::unbounded_channel().0,
        release: Arc::new(Semaphore::new(0)),
        barrier: Arc::new(Barrier::new(1)),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .add_service(ProbeServer::new(service))
            .serve_with_listener(listener, async {
                let _ = stopped.await;
            }),
    );
    // The failed attempt put the channel in transient failure: calls fail at once until the
    // connection backoff (about a second) passes, unless they wait for a ready connection.
    let again = h
        .client
        .echo(echo("up again"))
        .wait_for_ready()
        .timeout(std::time::Duration::from_secs(10))
        .await;
    assert_eq!(again.unwrap().text, "up again");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn one_server_hosts_several_services_on_one_connection() {
    use support::greeter::{GreeterClient, GreeterServer, Greetings, HelloRequest};
    use support::pi::{
        approximate_pi, Calculator, PiCalculatorClient, PiCalculatorServer, PiRequest,
    };
    let server = TestServer::start(
        Server::builder()
            .add_service(PiCalculatorServer::new(Calculator))
            .add_service(GreeterServer::new(Greetings)),
    )
    .await;
    let channel = Channel::connect(&server.url()).await.unwrap();
    let pi = PiCalculatorClient::new(channel.clone());
    let greeter = GreeterClient::new(channel);
    let (value, greeting) = tokio::join!(
        pi.calc(PiRequest { n: 3 }),
        greeter.say_hello(HelloRequest {
            name: "both".to_owned()
        })
    );
    assert_eq!(value.unwrap().value, approximate_pi(3));
    assert_eq!(greeting.unwrap().message, "Hello, both!");
    server.stop().await;
}
