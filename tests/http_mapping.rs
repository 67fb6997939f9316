//! The gRPC-over-HTTP/2 rules at the HTTP level, with a raw h2 peer on the other side:
//! what the server answers to malformed requests, and how the client maps what a non-conforming
//! server sends (https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use h2::RecvStream;
use http::{HeaderMap, Request, Response, StatusCode};
use protoless::{Channel, Code, Message, Server, Status};
use support::TestServer;
use tokio::net::{TcpListener, TcpStream};

#[derive(Message, Clone, Debug, PartialEq)]
struct Text {
    text: String,
}

#[protoless::service(package = "raw")]
trait Echo {
    async fn echo(&self, req: Text) -> Result<Text, Status>;
}

struct EchoService;

impl Echo for EchoService {
    async fn echo(&self, req: Text) -> Result<Text, Status> {
        Ok(req)
    }
}

/// What a raw HTTP/2 request got back: HTTP status, headers, body and trailers.
struct RawReply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    trailers: Option<HeaderMap>,
}

impl RawReply {
    /// `grpc-status` from the trailers, or from the headers of a Trailers-Only reply.
    fn grpc_status(&self) -> Option<&str> {
        self.trailers
            .as_ref()
            .and_then(|trailers| trailers.get("grpc-status"))
            .or_else(|| self.headers.get("grpc-status"))
            .map(|value| value.to_str().unwrap())
    }
}

async fn raw_call(server: &TestServer, request: Request<()>, body: &[u8]) -> RawReply {
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (sender, connection) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(connection);
    let mut sender = sender.ready().await.unwrap();
    let (response, mut send) = sender.send_request(request, body.is_empty()).unwrap();
    if !body.is_empty() {
        send.send_data(Bytes::copy_from_slice(body), true).unwrap();
    }
    let response = response.await.unwrap();
    let (head, mut recv) = response.into_parts();
    let mut body = Vec::new();
    while let Some(chunk) = recv.data().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    RawReply {
        status: head.status,
        headers: head.headers,
        body,
        trailers: recv.trailers().await.unwrap(),
    }
}

fn grpc_request(path: &str, content_type: &str) -> Request<()> {
    Request::post(format!("http://127.0.0.1{path}"))
        .header("content-type", content_type)
        .header("te", "trailers")
        .body(())
        .unwrap()
}

fn framed(flag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

async fn echo_server() -> TestServer {
    TestServer::start(Server::builder().add_service(EchoServer::new(EchoService))).await
}

#[tokio::test]
async fn a_well_formed_call_gets_headers_message_and_trailers() {
    let server = echo_server().await;
    let message = Text {
        text: "hi".to_owned(),
    }
    .encode_to_vec();
    let reply = raw_call(
        &server,
        grpc_request("/raw.Echo/Echo", "application/grpc"),
        &framed(0, &message),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/grpc");
    assert_eq!(reply.body, framed(0, &message));
    assert_eq!(reply.grpc_status(), Some("0"));
    server.stop().await;
}

#[tokio::test]
async fn an_unsupported_content_type_gets_http_415() {
    let server = echo_server().await;
    for content_type in ["application/json", "text/plain", "application/grpc+thrift"] {
        let reply = raw_call(&server, grpc_request("/raw.Echo/Echo", content_type), b"").await;
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_method_other_than_post_gets_http_405() {
    let server = echo_server().await;
    let mut request = grpc_request("/raw.Echo/Echo", "application/grpc");
    *request.method_mut() = http::Method::GET;
    let reply = raw_call(&server, request, b"").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
}

#[tokio::test]
async fn errors_before_any_message_are_trailers_only() {
    let server = echo_server().await;
    let reply = raw_call(
        &server,
        grpc_request("/raw.Echo/Nope", "application/grpc"),
        &framed(0, b""),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["grpc-status"], "12");
    assert!(reply.body.is_empty());
    assert!(
        reply.trailers.is_none(),
        "Trailers-Only means one HEADERS frame"
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_the_status_the_spec_names() {
    let server = echo_server().await;
    let cases: Vec<(&str, Request<()>, Vec<u8>, &str)> = vec![
        (
            "truncated message",
            grpc_request("/raw.Echo/Echo", "application/grpc"),
            framed(0, b"\x0a\x05hi")[..6].to_vec(),
            "13",
        ),
        (
            "invalid protobuf",
            grpc_request("/raw.Echo/Echo", "application/grpc"),
            framed(0, b"\x0a\x05hi"),
            "13",
        ),
        (
            "compressed without grpc-encoding",
            grpc_request("/raw.Echo/Echo", "application/grpc"),
            framed(1, b""),
            "13",
        ),
        (
            "no message",
            grpc_request("/raw.Echo/Echo", "application/grpc"),
            Vec::new(),
            "13",
        ),
        (
            "two messages",
            grpc_request("/raw.Echo/Echo", "application/grpc"),
            [framed(0, b""), framed(0, b"")].concat(),
            "13",
        ),
        (
            "oversized prefix",
            grpc_request("/raw.Echo/Echo", "application/grpc"),
            vec![0, 0xff, 0xff, 0xff, 0xff],
            "8",
        ),
        (
            "malformed path",
            grpc_request("/no-slash", "application/grpc"),
            framed(0, b""),
            "12",
        ),
    ];
    for (case, request, body, expected) in cases {
        let reply = raw_call(&server, request, &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{case}");
        assert_eq!(reply.grpc_status(), Some(expected), "{case}");
    }
    let mut request = grpc_request("/raw.Echo/Echo", "application/grpc");
    request
        .headers_mut()
        .insert("grpc-timeout", "soon".parse().unwrap());
    let reply = raw_call(&server, request, &framed(0, b"")).await;
    assert_eq!(reply.grpc_status(), Some("13"));
    assert!(reply.headers["grpc-message"]
        .to_str()
        .unwrap()
        .contains("grpc-timeout"));
    server.stop().await;
}

/// A raw HTTP/2 server answering every request with `respond`.
async fn raw_server<F>(respond: F) -> String
where
    F: Fn(Request<RecvStream>, h2::server::SendResponse<Bytes>) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let respond = std::sync::Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let respond = respond.clone();
            tokio::spawn(async move {
                let mut connection = h2::server::handshake(stream).await.unwrap();
                while let Some(Ok((request, send))) = connection.accept().await {
                    respond(request, send);
                }
            });
        }
    });
    format!("http://{addr}")
}

async fn call(url: &str) -> Status {
    let channel = Channel::connect(url).await.unwrap();
    channel
        .unary::<Text, Text>("/raw.Echo/Echo", Text::default())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn http_statuses_without_grpc_status_map_as_the_spec_says() {
    for (http_status, code) in [
        (400, Code::Internal),
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (404, Code::Unimplemented),
        (429, Code::Unavailable),
        (502, Code::Unavailable),
        (503, Code::Unavailable),
        (504, Code::Unavailable),
        (500, Code::Unknown),
    ] {
        let url = raw_server(move |_, mut send| {
            let response = Response::builder().status(http_status).body(()).unwrap();
            send.send_response(response, true).unwrap();
        })
        .await;
        let status = call(&url).await;
        assert_eq!(status.code(), code, "HTTP {http_status}: {status:?}");
        assert!(status.message().contains(&http_status.to_string()));
    }
}

#[tokio::test]
async fn a_response_without_trailers_is_internal() {
    let url = raw_server(|_, mut send| {
        let response = Response::builder()
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let mut stream = send.send_response(response, false).unwrap();
        stream.send_data(Bytes::from(framed(0, b"")), true).unwrap();
    })
    .await;
    let status = call(&url).await;
    assert_eq!(status.code(), Code::Internal);
    assert!(
        status.message().contains("without sending trailers"),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_reset_stream_maps_to_its_code() {
    for (reason, code) in [
        (h2::Reason::CANCEL, Code::Cancelled),
        (h2::Reason::ENHANCE_YOUR_CALM, Code::ResourceExhausted),
        (h2::Reason::INTERNAL_ERROR, Code::Internal),
    ] {
        let url = raw_server(move |_, mut send| send.send_reset(reason)).await;
        assert_eq!(call(&url).await.code(), code, "{reason:?}");
    }
}

/// A raw server that refuses the first `refusals` streams unprocessed (`REFUSED_STREAM`) and
/// echoes the body of any later one; it counts the streams it saw.
async fn refusing_server(refusals: usize) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let url = raw_server(move |request, mut send| {
        if counter.fetch_add(1, Ordering::SeqCst) < refusals {
            return send.send_reset(h2::Reason::REFUSED_STREAM);
        }
        tokio::spawn(async move {
            let mut body = request.into_body();
            let mut received = Vec::new();
            while let Some(chunk) = body.data().await {
                received.extend_from_slice(&chunk.unwrap());
            }
            let response = Response::builder()
                .header("content-type", "application/grpc")
                .body(())
                .unwrap();
            let mut stream = send.send_response(response, false).unwrap();
            stream.send_data(Bytes::from(received), false).unwrap();
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            stream.send_trailers(trailers).unwrap();
        });
    })
    .await;
    (url, seen)
}

#[tokio::test]
async fn a_refused_stream_is_sent_again_with_the_same_request() {
    let (url, seen) = refusing_server(2).await;
    let channel = Channel::connect(&url).await.unwrap();
    let request = Text {
        text: "once more".into(),
    };
    let reply = channel
        .unary::<Text, Text>("/raw.Echo/Echo", request.clone())
        .await
        .unwrap();
    assert_eq!(reply, request, "the retried stream carried the request");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "two refusals, then the answer"
    );
}

#[tokio::test]
async fn a_stream_refused_every_time_is_unavailable_after_three_retries() {
    let (url, seen) = refusing_server(usize::MAX).await;
    let status = call(&url).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(seen.load(Ordering::SeqCst), 4, "the call and three retries");
}

#[tokio::test]
async fn a_non_grpc_content_type_on_200_is_unknown() {
    let url = raw_server(|_, mut send| {
        let response = Response::builder()
            .header("content-type", "text/html")
            .body(())
            .unwrap();
        let mut stream = send.send_response(response, false).unwrap();
        stream
            .send_data(Bytes::from_static(b"<html>"), true)
            .unwrap();
    })
    .await;
    assert_eq!(call(&url).await.code(), Code::Unknown);
}

#[tokio::test]
async fn an_unknown_grpc_encoding_is_unimplemented_with_the_encodings_accepted() {
    let server = echo_server().await;
    let mut request = grpc_request("/raw.Echo/Echo", "application/grpc");
    request
        .headers_mut()
        .insert("grpc-encoding", "snappy".parse().unwrap());
    let reply = raw_call(&server, request, &framed(1, b"??")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.grpc_status(), Some("12"));
    assert_eq!(reply.headers["grpc-accept-encoding"], "gzip,deflate");
    server.stop().await;
}

#[tokio::test]
async fn a_gzip_request_is_answered_in_gzip() {
    let server = echo_server().await;
    let message = Text {
        text: "zip me".to_owned(),
    }
    .encode_to_vec();
    let mut compressed = Vec::new();
    {
        use std::io::Write;
        let mut encoder =
            flate2::write::GzEncoder::new(&mut compressed, flate2::Compression::default());
        encoder.write_all(&message).unwrap();
        encoder.finish().unwrap();
    }
    let mut request = grpc_request("/raw.Echo/Echo", "application/grpc");
    let headers = request.headers_mut();
    headers.insert("grpc-encoding", "gzip".parse().unwrap());
    headers.insert("grpc-accept-encoding", "gzip".parse().unwrap());
    let reply = raw_call(&server, request, &framed(1, &compressed)).await;
    assert_eq!(reply.grpc_status(), Some("0"));
    assert_eq!(reply.headers["grpc-encoding"], "gzip");
    assert_eq!(reply.body[0], 1, "the reply's compressed flag");
    server.stop().await;
}
