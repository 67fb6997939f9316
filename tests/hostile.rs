//! Frames no well-behaved client sends, each answered as RFC 9113 says, after which the server
//! still serves a normal call: DATA after a stream's END_STREAM, and flow-control windows pushed
//! past 2^31-1, on a stream and on the connection.

mod support;

use support::greeter::{GreeterClient, HelloRequest};
use support::raw_h2::{
    RawConnection, DATA, END_STREAM, FLOW_CONTROL_ERROR, GOAWAY, HEADERS, RST_STREAM,
    STREAM_CLOSED, WINDOW_UPDATE,
};
use support::TestServer;

const SAY_HELLO: &str = "/helloworld.Greeter/SayHello";

/// A normal call on a fresh connection: the server is unharmed.
async fn still_serves(server: &TestServer) {
    let client = GreeterClient::connect(&server.url()).await.unwrap();
    let reply = client
        .say_hello(HelloRequest {
            name: "after".into(),
        })
        .await
        .unwrap();
    assert_eq!(reply.message, "Hello, after!");
}

/// HTTP/2's PROTOCOL_ERROR.
const PROTOCOL_ERROR: u32 = 0x1;

/// The error code of the first RST_STREAM or GOAWAY among `frames`.
fn first_error(frames: &[support::raw_h2::Frame]) -> Option<(u8, u32)> {
    frames
        .iter()
        .find(|frame| frame.kind == RST_STREAM || frame.kind == GOAWAY)
        .and_then(|frame| Some((frame.kind, frame.error_code()?)))
}

#[tokio::test]
async fn data_after_end_stream_is_refused() {
    let server = TestServer::start(support::greeter::server()).await;
    let mut client = RawConnection::connect(server.addr).await;
    client.request(1, SAY_HELLO, &[], false).await;
    client.empty_message(1).await;
    client.frame(DATA, END_STREAM, 1, &[0, 0, 0, 0, 0]).await;
    let frames = client
        .read_until(|frame| frame.kind == RST_STREAM || frame.kind == GOAWAY)
        .await;
    // The call itself may have been answered before the stray frame was read: then the stream
    // is closed and RFC 9113 §5.1 allows a connection error (PROTOCOL_ERROR) as well as the
    // stream error STREAM_CLOSED.
    let (_, code) = first_error(&frames).expect("an RST_STREAM or a GOAWAY");
    assert!(
        code == STREAM_CLOSED || code == PROTOCOL_ERROR,
        "{frames:?}"
    );
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn windows_past_the_maximum_are_flow_control_errors() {
    let server = TestServer::start(support::greeter::server()).await;
    let overflow = 0x7fff_ffffu32.to_be_bytes();

    // On the connection: a connection error.
    let mut client = RawConnection::connect(server.addr).await;
    client.frame(WINDOW_UPDATE, 0, 0, &overflow).await;
    client.frame(WINDOW_UPDATE, 0, 0, &overflow).await;
    let frames = client.read_until(|frame| frame.kind == GOAWAY).await;
    assert_eq!(
        first_error(&frames),
        Some((GOAWAY, FLOW_CONTROL_ERROR)),
        "{frames:?}"
    );

    // On an open stream: that stream's error (the connection lives on).
    let mut client = RawConnection::connect(server.addr).await;
    client.request(1, SAY_HELLO, &[], false).await;
    client.frame(WINDOW_UPDATE, 0, 1, &overflow).await;
    client.frame(WINDOW_UPDATE, 0, 1, &overflow).await;
    let frames = client
        .read_until(|frame| {
            (frame.kind == RST_STREAM || frame.kind == GOAWAY) && frame.stream_id <= 1
        })
        .await;
    let error = frames
        .iter()
        .find(|frame| frame.kind == RST_STREAM || frame.kind == GOAWAY)
        .expect("an error frame");
    assert_eq!(error.error_code(), Some(FLOW_CONTROL_ERROR), "{frames:?}");
    assert!(frames
        .iter()
        .all(|frame| frame.kind != HEADERS || frame.stream_id == 1));
    // A client that never closes would hold the graceful shutdown until its drain timeout.
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}
