//! The hostile-input suite: what no well-behaved client sends, over the hand-written HTTP/2 client
//! (`support::raw_h2`), each answered as the gRPC and HTTP/2 specs say, after which the server
//! still serves a normal call.
//!
//! Messages: a 4 GiB length prefix, a gzip bomb, nesting a million deep, invalid UTF-8. Headers:
//! malformed `grpc-timeout`, header and CONTINUATION floods, pseudo-headers in trailers. Streams
//! and flow control: rapid reset, streams past the concurrency limit, DATA after END_STREAM,
//! windows pushed past 2^31-1, and a client that never reads what it asked for.

mod support;

use std::io::Write;

use support::greeter::{GreeterClient, HelloRequest};
use support::raw_h2::request_block;
use support::raw_h2::{
    Answer, RawConnection, CANCEL, COMPRESSION_ERROR, CONTINUATION, DATA, END_STREAM,
    ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, GOAWAY, HEADERS, INITIAL_WINDOW_SIZE, PING,
    PROTOCOL_ERROR, REFUSED_STREAM, RST_STREAM, STREAM_CLOSED, WINDOW_UPDATE,
};
use support::TestServer;

const SAY_HELLO: &str = "/helloworld.Greeter/SayHello";
const BIDI_HELLO: &str = "/helloworld.Greeter/BidiHello";

/// gRPC's INTERNAL and RESOURCE_EXHAUSTED, as `grpc-status` carries them.
const INTERNAL: &str = "13";
const RESOURCE_EXHAUSTED: &str = "8";

async fn greeter() -> TestServer {
    TestServer::start(support::greeter::server()).await
}

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

/// `HelloRequest { name }`, encoded.
fn hello(name: &str) -> Vec<u8> {
    let mut body = vec![0x0a, name.len() as u8];
    body.extend_from_slice(name.as_bytes());
    body
}

/// The protobuf string field of a `HelloReply` in one framed response message.
fn reply_text(answer: &Answer) -> String {
    let body = answer.data.get(5..).expect("a response message");
    assert_eq!(body[0], 0x0a, "field 1, length-delimited: {body:?}");
    String::from_utf8(body[2..2 + usize::from(body[1])].to_vec()).unwrap()
}

/// Sends one SayHello request on `stream_id` with `headers` and `body` (already framed), and
/// reads the answer.
async fn say_hello_raw(
    client: &mut RawConnection,
    stream_id: u32,
    headers: &[(&str, &str)],
    framed_body: &[u8],
) -> Answer {
    client.request(stream_id, SAY_HELLO, headers, false).await;
    client.data(stream_id, framed_body, true).await;
    client.answer(stream_id).await
}

/// A gRPC message prefix: the compressed flag and the length, followed by `body`.
fn framed(compressed: bool, body: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::from(compressed)];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[tokio::test]
async fn a_4_gib_length_prefix_is_resource_exhausted_before_any_body_arrives() {
    let server = greeter().await;
    let mut client = RawConnection::connect(server.addr).await;
    // The prefix alone: the server must answer without waiting for 4 GiB.
    client.request(1, SAY_HELLO, &[], false).await;
    client.data(1, &[0, 0xff, 0xff, 0xff, 0xff], false).await;
    let answer = client.answer(1).await;
    assert_eq!(answer.grpc_status(), Some(RESOURCE_EXHAUSTED), "{answer:?}");
    assert!(answer.grpc_message().unwrap().contains("larger than max"));
    // The same connection goes on serving.
    let answer = say_hello_raw(&mut client, 3, &[], &framed(false, &hello("same"))).await;
    assert_eq!(answer.grpc_status(), Some("0"), "{answer:?}");
    assert_eq!(reply_text(&answer), "Hello, same!");
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_gzip_bomb_is_resource_exhausted_without_inflating_it() {
    let server = greeter().await;
    // 64 MiB of zeros, 64 KiB compressed: sixteen times the 4 MiB receive limit.
    let mut bomb = Vec::new();
    let mut encoder = flate2::write::GzEncoder::new(&mut bomb, flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap();
    assert!(bomb.len() < 128 * 1024, "{} bytes", bomb.len());
    let mut client = RawConnection::connect(server.addr).await;
    let answer = say_hello_raw(
        &mut client,
        1,
        &[("grpc-encoding", "gzip")],
        &framed(true, &bomb),
    )
    .await;
    assert_eq!(answer.grpc_status(), Some(RESOURCE_EXHAUSTED), "{answer:?}");
    assert!(answer
        .grpc_message()
        .unwrap()
        .contains("decompresses to more than max"));
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn nesting_a_million_deep_is_refused_without_exhausting_the_stack() {
    let server = greeter().await;
    // A million unknown groups, each opened inside the last (field 2, wire type 3): a decoder
    // that recursed without a limit would overflow its stack.
    let nested = vec![0x13; 1_000_000];
    let mut client = RawConnection::connect(server.addr).await;
    let answer = say_hello_raw(&mut client, 1, &[], &framed(false, &nested)).await;
    assert_eq!(answer.grpc_status(), Some(INTERNAL), "{answer:?}");
    assert!(answer.grpc_message().unwrap().contains("failed to decode"));
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_in_a_string_field_is_refused() {
    let server = greeter().await;
    let mut client = RawConnection::connect(server.addr).await;
    let answer = say_hello_raw(&mut client, 1, &[], &framed(false, &[0x0a, 2, 0xff, 0xfe])).await;
    assert_eq!(answer.grpc_status(), Some(INTERNAL), "{answer:?}");
    assert!(
        answer.grpc_message().unwrap().contains("UTF-8"),
        "{answer:?}"
    );
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn malformed_grpc_timeouts_are_refused_naming_the_header() {
    let server = greeter().await;
    let mut client = RawConnection::connect(server.addr).await;
    let malformed = ["soon", "123456789S", "1", "S", "-1S", "1s", "1.5S", " 1S"];
    for (at, timeout) in malformed.iter().enumerate() {
        let stream_id = 2 * at as u32 + 1;
        let answer = say_hello_raw(
            &mut client,
            stream_id,
            &[("grpc-timeout", timeout)],
            &framed(false, &hello("x")),
        )
        .await;
        assert_eq!(
            answer.grpc_status(),
            Some(INTERNAL),
            "{timeout:?}: {answer:?}"
        );
        assert!(
            answer.grpc_message().unwrap().contains("grpc-timeout"),
            "{timeout:?}: {answer:?}"
        );
    }
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_flood_of_headers_past_the_limit_ends_the_connection() {
    let server = greeter().await;
    let mut client = RawConnection::connect(server.addr).await;
    // 4,000 headers, about 100 KiB: six times the default 16 KiB header list limit.
    let names: Vec<String> = (0..4000).map(|at| format!("x-flood-{at}")).collect();
    let fields: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "flood")).collect();
    client.request(1, SAY_HELLO, &fields, false).await;
    client.data(1, &framed(false, &hello("x")), true).await;
    let frames = client.read_until(|frame| frame.kind == GOAWAY).await;
    // A block past the limit is not decoded, and the compression state it would have changed
    // is lost with it: h2 ends the connection (COMPRESSION_ERROR when the block spans frames,
    // ENHANCE_YOUR_CALM when one frame holds it).
    let goaway = frames.iter().find(|frame| frame.kind == GOAWAY);
    assert!(
        matches!(
            goaway.and_then(|frame| frame.error_code()),
            Some(COMPRESSION_ERROR | ENHANCE_YOUR_CALM)
        ),
        "{frames:?}"
    );
    assert!(frames.iter().all(|frame| frame.kind != DATA), "{frames:?}");
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_continuation_flood_ends_the_connection() {
    let server = greeter().await;
    let mut client = RawConnection::connect(server.addr).await;
    // A header block that never ends: HEADERS without END_HEADERS, then CONTINUATION frames,
    // each holding an empty field (literal, new name ""), the cheapest way to grow a block.
    client
        .frame(HEADERS, 0, 1, &request_block(SAY_HELLO, &[]))
        .await;
    let filler = [0x00, 0x01, b'a', 0x00].repeat(4096);
    let mut sent = 0;
    while sent < 10_000 {
        client.frame(CONTINUATION, 0, 1, &filler).await;
        sent += 1;
    }
    let frames = client.read_until(|frame| frame.kind == GOAWAY).await;
    // h2 decodes the block as its frames come and calls the flood out once the list is far past
    // the limit (or the frames too many), long before 10,000 frames.
    let goaway = frames.iter().find(|frame| frame.kind == GOAWAY);
    assert_eq!(
        goaway.and_then(|frame| frame.error_code()),
        Some(ENHANCE_YOUR_CALM),
        "{frames:?}"
    );
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn pseudo_headers_in_trailers_never_change_the_call() {
    let server = greeter().await;
    let mut client = RawConnection::connect(server.addr).await;
    client.request(1, SAY_HELLO, &[], false).await;
    client.message(1, &hello("trailer"), false).await;
    client
        .trailers(
            1,
            &[(":path", "/helloworld.Greeter/Nope"), ("x-after", "1")],
        )
        .await;
    let answer = client.answer(1).await;
    // RFC 9113 §8.1: a request whose trailers hold pseudo-headers is malformed, a stream error
    // of type PROTOCOL_ERROR. h2 0.4.20 drops such pseudo-headers before protoless can see them
    // (reported upstream), so the call runs as if they were absent. Either way, the pseudo-header
    // must not take effect: no other method runs.
    if answer.reset.is_some() {
        assert_eq!(answer.reset, Some(PROTOCOL_ERROR), "{answer:?}");
    } else {
        assert_eq!(answer.grpc_status(), Some("0"), "{answer:?}");
        assert_eq!(reply_text(&answer), "Hello, trailer!");
    }
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_flood_of_reset_streams_closes_the_connection() {
    let server = greeter().await;
    let mut client = RawConnection::connect(server.addr).await;
    for stream in 0..1000u32 {
        let stream_id = 2 * stream + 1;
        client.request(stream_id, BIDI_HELLO, &[], false).await;
        client.reset(stream_id, CANCEL).await;
    }
    let frames = client.read_until(|frame| frame.kind == GOAWAY).await;
    let goaway = frames.iter().find(|frame| frame.kind == GOAWAY);
    assert_eq!(
        goaway.and_then(|frame| frame.error_code()),
        Some(ENHANCE_YOUR_CALM),
        "the server should call the flood out with GOAWAY(ENHANCE_YOUR_CALM)"
    );
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn streams_past_the_concurrency_limit_are_refused_and_the_others_go_on() {
    let server = TestServer::start(support::greeter::server().max_concurrent_streams(2)).await;
    let mut client = RawConnection::connect(server.addr).await;
    for stream_id in [1, 3, 5, 7] {
        client.request(stream_id, BIDI_HELLO, &[], false).await;
    }
    let mut refused = Vec::new();
    client
        .read_until(|frame| {
            if frame.kind == RST_STREAM && frame.error_code() == Some(REFUSED_STREAM) {
                refused.push(frame.stream_id);
            }
            refused.len() == 2
        })
        .await;
    assert_eq!(refused, [5, 7]);
    // The streams within the limit are served.
    for stream_id in [1, 3] {
        client.message(stream_id, &hello("within"), true).await;
        let answer = client.answer(stream_id).await;
        assert_eq!(answer.grpc_status(), Some("0"), "{answer:?}");
        assert_eq!(reply_text(&answer), "Hello, within!");
    }
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}

/// The error code of the first RST_STREAM or GOAWAY among `frames`.
fn first_error(frames: &[support::raw_h2::Frame]) -> Option<(u8, u32)> {
    frames
        .iter()
        .find(|frame| frame.kind == RST_STREAM || frame.kind == GOAWAY)
        .and_then(|frame| Some((frame.kind, frame.error_code()?)))
}

#[tokio::test]
async fn data_after_end_stream_is_refused() {
    let server = greeter().await;
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
    let server = greeter().await;
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

/// Reads frames until the server acknowledges a PING: every frame the server wrote before
/// handling it has arrived. Returns the credit its WINDOW_UPDATEs granted on `stream_id`.
async fn granted_until_ping(client: &mut RawConnection, stream_id: u32) -> u64 {
    client.frame(PING, 0, 0, &[7; 8]).await;
    let frames = client
        .read_until(|frame| frame.kind == PING && frame.flags & 1 != 0)
        .await;
    assert!(
        frames.iter().any(|frame| frame.kind == PING),
        "the connection ended: {frames:?}"
    );
    frames
        .iter()
        .filter(|frame| frame.kind == WINDOW_UPDATE && frame.stream_id == stream_id)
        .map(|frame| u64::from(u32::from_be_bytes(frame.payload[..4].try_into().unwrap())))
        .sum()
}

#[tokio::test]
async fn a_client_that_never_reads_holds_no_more_than_its_windows() {
    let server = greeter().await;
    // A window of 0: the server may send no reply at all, and the client never opens it.
    let mut client =
        RawConnection::connect_with_settings(server.addr, &[(INITIAL_WINDOW_SIZE, 0)]).await;
    client.request(1, BIDI_HELLO, &[], false).await;
    // 1 MiB of requests, all the stream window allows: each would make a reply the server
    // cannot send. A server that buffered those replies would read them all and reopen the
    // window by half of it at least.
    let request = framed(false, &hello(&"r".repeat(100)));
    let many: Vec<u8> = request.repeat((1 << 20) / request.len());
    client.data(1, &many, false).await;
    let mut granted = granted_until_ping(&mut client, 1).await;
    // Meanwhile, other clients are served.
    still_serves(&server).await;
    granted += granted_until_ping(&mut client, 1).await;
    assert!(
        granted < 256 * 1024,
        "the server read {granted} bytes of requests whose replies it could not send"
    );
    drop(client);
    still_serves(&server).await;
    server.stop().await;
}
