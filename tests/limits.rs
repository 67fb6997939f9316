//! The server's configurable HTTP/2 limits, each exceeded by a client that breaks the rules on
//! purpose (a hand-written one: h2's own client would refuse to): header list size, the handshake
//! timeout and the drain timeout. Attacks on the default configuration are in `hostile.rs`.

mod support;

use std::time::Duration;

use protoless::{Message, Server, Status};
use support::raw_h2::{RawConnection, ENHANCE_YOUR_CALM, GOAWAY, HEADERS, RST_STREAM};
use support::TestServer;
use tokio::sync::mpsc;

#[derive(Message, Clone, Debug, PartialEq)]
struct Empty {}

#[protoless::service(package = "limits")]
trait Held {
    /// Never answers.
    async fn hold(&self, req: Empty) -> Result<Empty, Status>;
}

struct Holder(mpsc::UnboundedSender<()>);

impl Held for Holder {
    async fn hold(&self, _req: Empty) -> Result<Empty, Status> {
        let _ = self.0.send(());
        std::future::pending().await
    }
}

async fn server(
    configure: impl FnOnce(Server) -> Server,
) -> (TestServer, mpsc::UnboundedReceiver<()>) {
    let (entered, entries) = mpsc::unbounded_channel();
    // Calls here never finish by themselves: shut down without waiting long for them.
    let builder = Server::builder().drain_timeout(Duration::from_millis(100));
    let server =
        TestServer::start(configure(builder).add_service(HeldServer::new(Holder(entered)))).await;
    (server, entries)
}

const HOLD: &str = "/limits.Held/Hold";

#[tokio::test]
async fn a_header_list_past_the_limit_is_refused_and_the_connection_survives() {
    let (server, mut entries) = server(|server| server.max_header_list_size(1024)).await;
    let mut client = RawConnection::connect(server.addr).await;
    // Past the limit, but not so far that h2 treats it as an attack (which ends the connection).
    let big = "x".repeat(1200);
    client.request(1, HOLD, &[("big", &big)], false).await;
    client.empty_message(1).await;
    let frames = client
        .read_until(|frame| {
            frame.stream_id == 1 && (frame.kind == RST_STREAM || frame.kind == HEADERS)
        })
        .await;
    // h2 answers the stream itself, `431 Request Header Fields Too Large` (or resets it),
    // rather than closing the connection; either way the request never reaches a handler.
    let answer = frames.last().expect("the server answered");
    assert_eq!(answer.stream_id, 1, "unexpected answer {answer:?}");
    assert!(
        answer.kind == HEADERS || answer.kind == RST_STREAM,
        "unexpected answer {answer:?}"
    );
    assert!(
        frames.iter().all(|frame| frame.kind != GOAWAY),
        "the connection was closed"
    );
    assert!(entries.try_recv().is_err());
    // A well-formed request on the same connection still gets through.
    client.request(3, HOLD, &[], false).await;
    client.empty_message(3).await;
    entries.recv().await.unwrap();
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_handshake_is_closed() {
    let (server, _entries) =
        server(|server| server.handshake_timeout(Duration::from_millis(200))).await;
    // Connect and say nothing at all.
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut silent, &mut rest),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(_))),
        "the server kept a silent connection open"
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_cancels_calls_still_running_after_the_drain_timeout() {
    let (server, mut entries) =
        server(|server| server.drain_timeout(Duration::from_millis(200))).await;
    let client = HeldClient::connect(&server.url()).await.unwrap();
    let call = tokio::spawn(async move { client.hold(Empty {}).await });
    entries.recv().await.unwrap();
    // Completes although the call never would: the drain timeout ends it.
    server.stop().await;
    let status = call.await.unwrap().unwrap_err();
    assert_ne!(status.code(), protoless::Code::Ok);
}

#[tokio::test]
async fn a_header_list_far_past_the_limit_ends_the_connection() {
    let (server, mut entries) = server(|server| server.max_header_list_size(1024)).await;
    let mut client = RawConnection::connect(server.addr).await;
    let huge = "x".repeat(64 * 1024);
    client.request(1, HOLD, &[("huge", &huge)], false).await;
    client.empty_message(1).await;
    let frames = client.read_until(|frame| frame.kind == GOAWAY).await;
    let goaway = frames.iter().find(|frame| frame.kind == GOAWAY);
    assert_eq!(
        goaway.and_then(|frame| frame.error_code()),
        Some(ENHANCE_YOUR_CALM)
    );
    assert!(entries.try_recv().is_err());
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_closed_connection_cancels_its_calls() {
    struct Reporter(mpsc::UnboundedSender<()>);
    impl Drop for Reporter {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    struct Dropping(mpsc::UnboundedSender<()>, mpsc::UnboundedSender<()>);
    impl Held for Dropping {
        async fn hold(&self, _req: Empty) -> Result<Empty, Status> {
            let _reporter = Reporter(self.1.clone());
            let _ = self.0.send(());
            std::future::pending().await
        }
    }
    let (entered, mut entries) = mpsc::unbounded_channel();
    let (dropped, mut drops) = mpsc::unbounded_channel();
    let server = TestServer::start(
        Server::builder()
            .drain_timeout(Duration::from_millis(100))
            .add_service(HeldServer::new(Dropping(entered, dropped))),
    )
    .await;
    let mut client = RawConnection::connect(server.addr).await;
    client.request(1, HOLD, &[], false).await;
    client.empty_message(1).await;
    entries.recv().await.unwrap();
    drop(client);
    // The socket closed without any reset: the handler is cancelled all the same.
    drops.recv().await.unwrap();
    server.stop().await;
}
