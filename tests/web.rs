//! Browsers and HTTP/1.1 on the examples' one port: the Connect protocol from `curl` and
//! `buf curl`, gRPC-Web from `buf curl` and by hand (binary and text), CORS, and what the
//! HTTP/1.1 side does with hostile input. Native gRPC on the same port is what every other
//! test uses.

mod support;

use std::process::Stdio;

use base64::Engine;
use support::{buf, example, greeter, ServerProcess, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

async fn serve(name: &str) -> ServerProcess {
    ServerProcess::spawn_with_stderr(
        Command::new(example(name)).args(["serve", "127.0.0.1:0"]),
        Stdio::null(),
    )
    .await
}

/// What `curl` got: the HTTP status, the headers (lowercase names) and the body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("{error}: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// Runs `curl -s -i ARGS` and splits its answer.
async fn curl(args: &[&str]) -> Answer {
    let output = Command::new("curl")
        .args(["-s", "-i"])
        .args(args)
        .output()
        .await
        .expect("curl runs");
    assert!(output.status.success(), "curl {args:?}: {output:?}");
    let mut text = &output.stdout[..];
    // Past any interim answer (`100 Continue`).
    while text.starts_with(b"HTTP/1.1 1") {
        let end = text.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        text = &text[end + 4..];
    }
    let split = text
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&text[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: text[split + 4..].to_vec(),
    }
}

/// A Connect unary POST of `json` to `method`, over HTTP/1.1 unless `extra` says otherwise.
async fn post_json(server: &ServerProcess, method: &str, json: &str, extra: &[&str]) -> Answer {
    let url = format!("{}/{method}", server.url());
    let mut args = vec![
        "-H",
        "content-type: application/json",
        "--data-binary",
        json,
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args).await
}

#[tokio::test]
async fn curl_calls_every_unary_method_of_greeter_and_cache_with_json() {
    let greeter = serve("greeter").await;
    let hello = post_json(
        &greeter,
        "helloworld.Greeter/SayHello",
        r#"{"name":"curl"}"#,
        &[],
    )
    .await;
    assert_eq!(hello.status, 200);
    assert_eq!(hello.header("content-type"), Some("application/json"));
    assert_eq!(hello.json(), serde_json::json!({"message": "Hello, curl!"}));
    // The same over HTTP/2 (h2c, prior knowledge): the HTTP/2 server takes it by its content
    // type, beside native gRPC.
    let h2 = post_json(
        &greeter,
        "helloworld.Greeter/SayHello",
        r#"{"name":"h2"}"#,
        &["--http2-prior-knowledge"],
    )
    .await;
    assert_eq!(h2.json(), serde_json::json!({"message": "Hello, h2!"}));
    // gRPC with a JSON codec is not among the examples' codecs: 415, web protocols or not.
    // The request has no body: the server answers before reading one and resets the rest of
    // the stream (NO_ERROR, RFC 9113 §8.1), and curl 7.88 fails (exit 92) when that reset
    // beats the body it still had to send.
    let url = format!("{}/helloworld.Greeter/SayHello", greeter.url());
    let grpc_json = curl(&[
        "--http2-prior-knowledge",
        "-X",
        "POST",
        "-H",
        "content-type: application/grpc+json",
        &url,
    ])
    .await;
    assert_eq!(grpc_json.status, 415);
    // Errors: Connect's JSON and HTTP status.
    let bad = post_json(
        &greeter,
        "helloworld.Greeter/SayHello",
        r#"{"name":1}"#,
        &[],
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["code"], "invalid_argument");
    let unknown = post_json(&greeter, "helloworld.Greeter/Nope", "{}", &[]).await;
    assert_eq!(unknown.status, 501);
    assert_eq!(unknown.json()["code"], "unimplemented");
    let timeout = post_json(
        &greeter,
        "helloworld.Greeter/SayHello",
        "{}",
        &["-H", "connect-timeout-ms: soon"],
    )
    .await;
    assert_eq!(timeout.status, 400);
    let (clean, _) = greeter.terminate().await;
    assert!(clean);

    let cache = serve("cache").await;
    let store = r#"{"key":"k","val":"dmFsdWU=","accountToken":"inconshreveable"}"#;
    let stored = post_json(&cache, "rpc.Cache/Store", store, &[]).await;
    assert_eq!((stored.status, stored.json()), (200, serde_json::json!({})));
    let got = post_json(&cache, "rpc.Cache/Get", r#"{"key":"k"}"#, &[]).await;
    assert_eq!(got.json(), serde_json::json!({"val": "dmFsdWU="}));
    // A #[no_side_effects] method answers GET too, the message in the query.
    let url = format!(
        "{}/rpc.Cache/Get?connect=v1&encoding=json&message=%7B%22key%22%3A%22k%22%7D",
        cache.url()
    );
    let by_get = curl(&[&url]).await;
    assert_eq!(by_get.json(), serde_json::json!({"val": "dmFsdWU="}));
    // ... compressed, as connect-web sends a large GET.
    let gzipped = {
        use std::io::Write;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(br#"{"key":"k"}"#).unwrap();
        gzip.finish().unwrap()
    };
    let message = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(gzipped);
    let url = format!(
        "{}/rpc.Cache/Get?connect=v1&encoding=json&base64=1&compression=gzip&message={message}",
        cache.url()
    );
    let by_gzipped_get = curl(&[&url]).await;
    assert_eq!(
        by_gzipped_get.json(),
        serde_json::json!({"val": "dmFsdWU="})
    );
    // ... and no other method does.
    let url = format!(
        "{}/rpc.Cache/Store?encoding=json&message=%7B%7D",
        cache.url()
    );
    assert_eq!(curl(&[&url]).await.status, 405);
    let missing = post_json(&cache, "rpc.Cache/Get", r#"{"key":"nope"}"#, &[]).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json(),
        serde_json::json!({"code": "not_found", "message": "Key not found nope"})
    );
    let stranger = r#"{"key":"k","val":"","accountToken":"who"}"#;
    let refused = post_json(&cache, "rpc.Cache/Store", stranger, &[]).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["code"], "unauthenticated");
    // Past the small account's two keys: FAILED_PRECONDITION with an ErrorInfo detail.
    for key in ["a", "b", "c"] {
        let store = format!(r#"{{"key":"{key}","val":"","accountToken":"small"}}"#);
        let answer = post_json(&cache, "rpc.Cache/Store", &store, &[]).await;
        if key == "c" {
            assert_eq!(answer.status, 400);
            let error = answer.json();
            assert_eq!(error["code"], "failed_precondition");
            assert_eq!(error["details"][0]["type"], "google.rpc.ErrorInfo");
            let value = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(error["details"][0]["value"].as_str().unwrap())
                .unwrap();
            assert!(
                value.windows(18).any(|w| w == b"KEY_LIMIT_EXCEEDED"),
                "{error}"
            );
        } else {
            assert_eq!(
                answer.status,
                200,
                "{}",
                String::from_utf8_lossy(&answer.body)
            );
        }
    }
    let account = post_json(
        &cache,
        "rpc.Accounts/GetByToken",
        r#"{"token":"small"}"#,
        &[],
    )
    .await;
    assert_eq!(
        account.json(),
        serde_json::json!({"account": {"maxCacheKeys": "2"}})
    );
    // application/proto: the protobuf encoding, as is (GetReq{key: "k"}).
    let url = format!("{}/rpc.Cache/Get", cache.url());
    let proto = curl(&[
        "-H",
        "content-type: application/proto",
        "--data-binary",
        "\x0a\x01k",
        &url,
    ])
    .await;
    assert_eq!(
        proto.status,
        200,
        "{}",
        String::from_utf8_lossy(&proto.body)
    );
    assert_eq!(proto.header("content-type"), Some("application/proto"));
    assert_eq!(proto.body, b"\x0a\x05value");
    // Native gRPC needs HTTP/2; other content types are not for this server.
    for content_type in ["application/grpc", "text/plain"] {
        let header = format!("content-type: {content_type}");
        let answer = curl(&["-H", &header, "--data-binary", "x", &url]).await;
        assert_eq!(answer.status, 415, "{content_type}");
    }
    let (clean, _) = cache.terminate().await;
    assert!(clean);
}

#[tokio::test]
async fn buf_curl_speaks_connect_and_grpc_web_over_http1_and_http2_in_three_shapes() {
    let buf = buf();
    let greeter = serve("greeter").await;
    for protocol in ["connect", "grpcweb"] {
        for http2 in [false, true] {
            let run = |method: &str, data: &str| {
                let mut command = Command::new(&buf);
                command.args(["curl", "--protocol", protocol, "--data", data]);
                if http2 {
                    command.arg("--http2-prior-knowledge");
                }
                command.arg(format!("{}/helloworld.Greeter/{method}", greeter.url()));
                command.output()
            };
            let unary = run("SayHello", r#"{"name":"buf"}"#).await.unwrap();
            let unary = support::succeeded("buf curl", &unary);
            assert!(unary.contains(r#""message": "Hello, buf!""#), "{unary}");
            // Client streaming: over HTTP/1.1 the requests go first, then the answer.
            let gathered = run("LotsOfGreetings", r#"{"name":"a"} {"name":"b"}"#)
                .await
                .unwrap();
            let gathered = support::succeeded("buf curl", &gathered);
            assert!(
                gathered.contains(r#""message": "Hello, a, b!""#),
                "{gathered}"
            );
            let replies = run("LotsOfReplies", r#"{"name":"buf"}"#).await.unwrap();
            let replies = support::succeeded("buf curl", &replies);
            for n in 1..=4 {
                assert!(
                    replies.contains(&format!(r#""message": "Hello, buf! #{n}""#)),
                    "{protocol} http2={http2}: {replies}"
                );
            }
        }
    }
    let (clean, _) = greeter.terminate().await;
    assert!(clean);
    // An error reaches buf curl's status, over either protocol.
    let cache = serve("cache").await;
    for protocol in ["connect", "grpcweb"] {
        let output = Command::new(&buf)
            .args([
                "curl",
                "--protocol",
                protocol,
                "--data",
                r#"{"key":"nope"}"#,
            ])
            .arg(format!("{}/rpc.Cache/Get", cache.url()))
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains("not_found"), "{protocol}: {stderr}");
        assert!(
            stderr.contains("Key not found nope"),
            "{protocol}: {stderr}"
        );
    }
    let (clean, _) = cache.terminate().await;
    assert!(clean);
}

/// A framed gRPC(-Web) message.
fn framed(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a gRPC-Web body into its messages and its trailer block.
fn unframe(mut body: &[u8]) -> (Vec<Vec<u8>>, String) {
    let mut messages = Vec::new();
    let mut trailers = String::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let payload = &body[5..5 + len];
        if body[0] & 0x80 != 0 {
            trailers = String::from_utf8(payload.to_vec()).unwrap();
        } else {
            messages.push(payload.to_vec());
        }
        body = &body[5 + len..];
    }
    (messages, trailers)
}

#[tokio::test]
async fn grpc_web_binary_and_text_carry_messages_and_trailers_in_the_body() {
    let greeter = serve("greeter").await;
    let url = format!("{}/helloworld.Greeter/LotsOfReplies", greeter.url());
    // HelloRequest{name: "web"}.
    let request = framed(0, b"\x0a\x03web");
    let path = std::env::temp_dir().join(format!("protoless-web-{}", std::process::id()));
    std::fs::write(&path, &request).unwrap();
    let binary = curl(&[
        "-H",
        "content-type: application/grpc-web+proto",
        "-H",
        "x-grpc-web: 1",
        "--data-binary",
        &format!("@{}", path.display()),
        &url,
    ])
    .await;
    let _ = std::fs::remove_file(&path);
    assert_eq!(binary.status, 200);
    assert_eq!(
        binary.header("content-type"),
        Some("application/grpc-web+proto")
    );
    let (messages, trailers) = unframe(&binary.body);
    assert_eq!(messages.len(), 10);
    assert_eq!(&messages[0][2..], b"Hello, web! #1");
    assert!(trailers.contains("grpc-status: 0\r\n"), "{trailers:?}");
    // The same as text: base64 both ways.
    let text = base64::engine::general_purpose::STANDARD.encode(&request);
    let answer = curl(&[
        "-H",
        "content-type: application/grpc-web-text",
        "--data-binary",
        &text,
        &url,
    ])
    .await;
    assert_eq!(
        answer.header("content-type"),
        Some("application/grpc-web-text+proto")
    );
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&answer.body)
        .unwrap();
    assert_eq!(unframe(&decoded), (messages, trailers));
    let (clean, _) = greeter.terminate().await;
    assert!(clean);
}

#[tokio::test]
async fn cors_lets_other_origins_call_and_read_the_status() {
    let greeter = serve("greeter").await;
    let url = format!("{}/helloworld.Greeter/SayHello", greeter.url());
    let preflight = curl(&[
        "-X",
        "OPTIONS",
        "-H",
        "origin: http://pages.example",
        "-H",
        "access-control-request-method: POST",
        "-H",
        "access-control-request-headers: content-type,connect-protocol-version",
        &url,
    ])
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://pages.example")
    );
    assert!(preflight
        .header("access-control-allow-headers")
        .unwrap()
        .contains("connect-protocol-version"));
    let call = curl(&[
        "-H",
        "origin: http://pages.example",
        "-H",
        "content-type: application/json",
        "--data-binary",
        "{}",
        &url,
    ])
    .await;
    assert_eq!(call.status, 200);
    assert_eq!(
        call.header("access-control-allow-origin"),
        Some("http://pages.example")
    );
    assert!(call
        .header("access-control-expose-headers")
        .unwrap()
        .contains("grpc-status"));
    let (clean, _) = greeter.terminate().await;
    assert!(clean);
}

#[tokio::test]
async fn http1_answers_oversized_headers_and_keeps_order_through_pipelining() {
    let greeter = serve("greeter").await;
    let mut socket = tokio::net::TcpStream::connect(&greeter.addr).await.unwrap();
    // Fifty requests in one write: answered one after the other, in order.
    let mut requests = Vec::new();
    for n in 0..50 {
        let body = format!(r#"{{"name":"n{n}"}}"#);
        requests.extend_from_slice(
            format!(
                "POST /helloworld.Greeter/SayHello HTTP/1.1\r\nhost: x\r\ncontent-type: \
                 application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    socket.write_all(&requests).await.unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    while count(&received, b"Hello, n") < 50 {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed after {}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&received);
    let order: Vec<usize> = (0..50)
        .map(|n| text.find(&format!("Hello, n{n}!")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order");
    // A header block past the limit (16 KiB by default) is refused, not buffered.
    let mut socket = tokio::net::TcpStream::connect(&greeter.addr).await.unwrap();
    let huge = format!(
        "POST /helloworld.Greeter/SayHello HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = socket.write_all(huge.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // A Connect body past the message limit (4 MiB) is refused once past it.
    let url = format!("{}/helloworld.Greeter/SayHello", greeter.url());
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(5 << 20));
    let path = std::env::temp_dir().join(format!("protoless-web-big-{}", std::process::id()));
    std::fs::write(&path, big).unwrap();
    let data = format!("@{}", path.display());
    let answer = curl(&[
        "-H",
        "content-type: application/json",
        "--data-binary",
        &data,
        &url,
    ])
    .await;
    let _ = std::fs::remove_file(&path);
    assert_eq!(answer.status, 429);
    assert_eq!(answer.json()["code"], "resource_exhausted");
    let (clean, _) = greeter.terminate().await;
    assert!(clean);
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

#[tokio::test]
async fn under_tls_http1_and_http2_both_reach_the_web_protocols() {
    let pki = support::certs::Pki::new("web");
    let tls = protoless::ServerTls::new(pki.issue("server", &["127.0.0.1"]).identity());
    let server = TestServer::start(greeter::server().tls(tls)).await;
    let url = format!(
        "https://127.0.0.1:{}/helloworld.Greeter/SayHello",
        server.addr.port()
    );
    let ca = pki.ca();
    for version in ["--http1.1", "--http2"] {
        let answer = curl(&[
            version,
            "--cacert",
            ca.to_str().unwrap(),
            "-H",
            "content-type: application/json",
            "--data-binary",
            r#"{"name":"tls"}"#,
            &url,
        ])
        .await;
        assert_eq!(
            answer.json(),
            serde_json::json!({"message": "Hello, tls!"}),
            "{version}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn slow_http1_headers_and_bodies_get_the_handshake_timeout() {
    let server = TestServer::start(
        greeter::server().handshake_timeout(std::time::Duration::from_millis(300)),
    )
    .await;
    // Headers that never finish: the connection is closed (with 408 at most).
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    socket
        .write_all(b"POST /helloworld.Greeter/SayHello HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        socket.read_to_end(&mut answer),
    )
    .await
    .expect("the server closes a connection whose headers stall");
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // A chunked body that never ends: answered DEADLINE_EXCEEDED once the time is up.
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    socket
        .write_all(
            b"POST /helloworld.Greeter/SayHello HTTP/1.1\r\nhost: x\r\ncontent-type: \
              application/json\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{\"\r\n",
        )
        .await
        .unwrap();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(answer.contains("deadline_exceeded"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn compressed_connect_requests_are_read() {
    let server = TestServer::start(greeter::server()).await;
    let url = format!("{}/helloworld.Greeter/SayHello", server.url());
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, br#"{"name":"gzip"}"#).unwrap();
    let path = std::env::temp_dir().join(format!("protoless-web-gz-{}", std::process::id()));
    std::fs::write(&path, gzip.finish().unwrap()).unwrap();
    let answer = curl(&[
        "-H",
        "content-type: application/json",
        "-H",
        "content-encoding: gzip",
        "--data-binary",
        &format!("@{}", path.display()),
        &url,
    ])
    .await;
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        answer.json(),
        serde_json::json!({"message": "Hello, gzip!"})
    );
    let answer = curl(&[
        "-H",
        "content-type: application/json",
        "-H",
        "content-encoding: br",
        "--data-binary",
        "{}",
        &url,
    ])
    .await;
    assert_eq!(answer.status, 501);
    assert_eq!(answer.json()["code"], "unimplemented");
    server.stop().await;
}

#[tokio::test]
async fn the_rust_client_speaks_connect_and_grpc_web_over_http1() {
    use protoless::error_details::ErrorInfo;
    use protoless::{Channel, Code, WebProtocol};
    use support::cache::{CacheClient, GetReq, StoreReq};
    use support::greeter::{GreeterClient, HelloRequest};

    let greeter = TestServer::start(greeter::server_with_id("web-1")).await;
    // An account of one key per protocol.
    let accounts = [("Connect".to_owned(), 1), ("GrpcWeb".to_owned(), 1)];
    let cache = TestServer::start(support::cache::server(&accounts)).await;
    let hello = |name: &str| HelloRequest {
        name: name.to_owned(),
    };
    for protocol in [WebProtocol::Connect, WebProtocol::GrpcWeb] {
        let channel = Channel::builder(&greeter.url())
            .web(protocol)
            .connect()
            .await
            .unwrap();
        let client = GreeterClient::new(channel);
        let reply = client
            .say_hello(hello("rust"))
            .timeout(std::time::Duration::from_secs(5))
            .into_response()
            .await
            .unwrap();
        assert_eq!(reply.message.message, "Hello, rust!", "{protocol:?}");
        assert_eq!(
            reply.headers.get("server-id"),
            Some("web-1"),
            "{protocol:?}"
        );
        let mut replies = client.lots_of_replies(hello("many")).await.unwrap();
        let mut received = Vec::new();
        while let Some(reply) = replies.message().await.unwrap() {
            received.push(reply.message);
        }
        assert_eq!(received.len(), 10, "{protocol:?}");
        assert_eq!(received[9], "Hello, many! #10");
        let mut greetings = client.lots_of_greetings().await.unwrap();
        greetings.send(hello("a")).await.unwrap();
        greetings.send(hello("b")).await.unwrap();
        assert_eq!(greetings.finish().await.unwrap().message, "Hello, a, b!");
        // Bidi over HTTP/1.1: the requests go first, then the answers.
        let mut chat = client.bidi_hello().await.unwrap();
        chat.send(hello("x")).await.unwrap();
        chat.send(hello("y")).await.unwrap();
        chat.close_send().unwrap();
        let mut answers = Vec::new();
        while let Some(reply) = chat.message().await.unwrap() {
            answers.push(reply.message);
        }
        assert_eq!(answers, ["Hello, x!", "Hello, y!"], "{protocol:?}");
        // Errors keep their code, message and details.
        let channel = Channel::builder(&cache.url())
            .web(protocol)
            .connect()
            .await
            .unwrap();
        let client = CacheClient::new(channel);
        let missing = client
            .get(GetReq {
                key: "nope".to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{protocol:?}");
        assert_eq!(missing.message(), "Key not found nope");
        let store = |key: &str| StoreReq {
            key: key.to_owned(),
            val: Vec::new(),
            account_token: format!("{protocol:?}"),
        };
        client.store(store("first")).await.unwrap();
        let over = client.store(store("second")).await.unwrap_err();
        assert_eq!(over.code(), Code::FailedPrecondition, "{protocol:?}");
        let info: ErrorInfo = over.detail().expect("the ErrorInfo detail");
        assert_eq!(info.reason, "KEY_LIMIT_EXCEEDED");
    }
    greeter.stop().await;
    cache.stop().await;
}

#[tokio::test]
async fn web_calls_outlive_the_servers_connection_age_on_a_kept_alive_connection() {
    // The in-memory connection web calls go through is not aged: a browser's keep-alive
    // connection keeps working however long it lives.
    let server = TestServer::start(
        greeter::server().max_connection_age(std::time::Duration::from_millis(50), None),
    )
    .await;
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut calls = 0;
    // Calls one after another on one connection for several connection ages.
    while started.elapsed() < std::time::Duration::from_millis(400) {
        let body = r#"{"name":"kept"}"#;
        let request = format!(
            "POST /helloworld.Greeter/SayHello HTTP/1.1\r\nhost: x\r\ncontent-type: \
             application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        while !answer.ends_with(br#"{"message":"Hello, kept!"}"#) {
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "closed after {calls} calls: {}",
                String::from_utf8_lossy(&answer)
            );
            answer.extend_from_slice(&chunk[..n]);
            assert!(
                !answer.starts_with(b"HTTP/1.1 5"),
                "{}",
                String::from_utf8_lossy(&answer)
            );
        }
        calls += 1;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(calls >= 5, "{calls}");
    server.stop().await;
}

#[tokio::test]
async fn connect_timeouts_and_broken_streams_are_answered_in_the_protocol() {
    let server = TestServer::start(greeter::server()).await;
    let url = format!("{}/helloworld.Greeter/SayHello", server.url());
    // Up to ten digits (here about 58 hours, past grpc-timeout's 8 digits of milliseconds).
    for (timeout, status) in [
        ("209999999", 200),
        ("9999999999", 200),
        ("+5", 400),
        ("12345678901", 400),
    ] {
        let header = format!("connect-timeout-ms: {timeout}");
        let answer = curl(&[
            "-H",
            "content-type: application/json",
            "-H",
            &header,
            "--data-binary",
            "{}",
            &url,
        ])
        .await;
        assert_eq!(answer.status, status, "{timeout}");
    }
    // A Connect stream whose second request is not JSON of the request type: the end message
    // says so (invalid_argument), in the request's content type.
    let mut body = Vec::new();
    for json in [&br#"{"name":"a"}"#[..], br#"{"name":7}"#] {
        body.push(0);
        body.extend_from_slice(&(json.len() as u32).to_be_bytes());
        body.extend_from_slice(json);
    }
    let path = std::env::temp_dir().join(format!("protoless-web-stream-{}", std::process::id()));
    std::fs::write(&path, &body).unwrap();
    let url = format!("{}/helloworld.Greeter/LotsOfGreetings", server.url());
    let answer = curl(&[
        "-H",
        "content-type: application/connect+json",
        "--data-binary",
        &format!("@{}", path.display()),
        &url,
    ])
    .await;
    let _ = std::fs::remove_file(&path);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("application/connect+json")
    );
    let end = &answer.body[5..];
    assert_eq!(answer.body[0], 2, "the end-stream envelope");
    let end: serde_json::Value = serde_json::from_slice(end).unwrap();
    assert_eq!(end["error"]["code"], "invalid_argument", "{end}");
    // An unknown method on a +proto stream: the error, in +proto's content type.
    let url = format!("{}/helloworld.Greeter/Nope", server.url());
    let answer = curl(&[
        "-H",
        "content-type: application/connect+proto",
        "--data-binary",
        "",
        &url,
    ])
    .await;
    assert_eq!(
        answer.header("content-type"),
        Some("application/connect+proto")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_web_channel_whose_server_is_gone_leaves_ready() {
    use protoless::balance::ConnectivityState;
    use protoless::{Channel, Code, WebProtocol};
    use support::greeter::{GreeterClient, HelloRequest};

    let server = TestServer::start(greeter::server()).await;
    let channel = Channel::builder(&server.url())
        .web(WebProtocol::Connect)
        .connect()
        .await
        .unwrap();
    let client = GreeterClient::new(channel.clone());
    let hello = HelloRequest {
        name: "gone".to_owned(),
    };
    client.say_hello(hello.clone()).await.unwrap();
    server.stop().await;
    // Each call now needs a new HTTP/1.1 connection, which fails: the call is UNAVAILABLE...
    let failed = client.say_hello(hello).await.unwrap_err();
    assert_eq!(failed.code(), Code::Unavailable, "{failed:?}");
    // ... and the channel's connection counts as lost, as a native one would.
    let waited = std::time::Instant::now();
    while channel.connectivity_state() == ConnectivityState::Ready {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(5),
            "still ready"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
