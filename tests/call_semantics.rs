//! What a call carries besides its messages: metadata both ways, deadlines and their
//! propagation, cancellation, oneway and empty answers, compression, codecs, size limits;
//! Rust to Rust, and against Python grpcio where it crosses the wire.

mod support;

use std::sync::Arc;
use std::time::Duration;

use protoless::{Channel, Code, Codec, Compression, Context, Message, MetadataMap, Server, Status};
use support::TestServer;
use tokio::sync::{mpsc, Semaphore};

#[derive(Message, Clone, Debug, PartialEq)]
struct Ping {
    text: String,
}

fn ping(text: &str) -> Ping {
    Ping {
        text: text.to_owned(),
    }
}

#[protoless::service(package = "semantics")]
trait Semantics {
    /// Reflects request metadata: `name` back as header `seen-name` and trailer `trailer-name`,
    /// `blob-bin` as trailer `seen-blob-bin`. Fails when the text is "fail".
    async fn reflect(&self, req: Ping, ctx: Context) -> Result<Ping, Status>;
    /// Reports its remaining time, then waits until it is cancelled.
    async fn wait(&self, req: Ping, ctx: Context) -> Result<Ping, Status>;
    /// Reports the note once the gate opens.
    #[oneway]
    async fn note(&self, req: Ping);
    /// Reports the note once the gate opens; the caller waits for the empty answer.
    async fn acknowledge(&self, req: Ping);
    /// Echoes the text.
    async fn echo(&self, req: Ping) -> Result<Ping, Status>;
}

#[derive(Debug)]
enum Event {
    Started { remaining: Option<Duration> },
    Dropped,
    Noted(String),
}

struct Service {
    events: mpsc::UnboundedSender<Event>,
    gate: Arc<Semaphore>,
}

struct DropReporter(mpsc::UnboundedSender<Event>);

impl Drop for DropReporter {
    fn drop(&mut self) {
        let _ = self.0.send(Event::Dropped);
    }
}

impl Semantics for Service {
    async fn reflect(&self, req: Ping, ctx: Context) -> Result<Ping, Status> {
        let internal = |error: protoless::InvalidMetadata| Status::internal(error.to_string());
        if let Some(name) = ctx.metadata().get("name") {
            ctx.insert_header("seen-name", name).map_err(internal)?;
            ctx.insert_trailer("trailer-name", name).map_err(internal)?;
        }
        if let Some(blob) = ctx.metadata().get_bin("blob-bin") {
            ctx.insert_trailer_bin("seen-blob-bin", blob)
                .map_err(internal)?;
        }
        if req.text == "fail" {
            let mut metadata = MetadataMap::new();
            metadata.insert("why", "asked to").map_err(internal)?;
            return Err(Status::aborted("failing as asked").with_metadata(metadata));
        }
        Ok(req)
    }

    async fn wait(&self, _req: Ping, ctx: Context) -> Result<Ping, Status> {
        let _reporter = DropReporter(self.events.clone());
        let _ = self.events.send(Event::Started {
            remaining: ctx.remaining(),
        });
        std::future::pending().await
    }

    async fn note(&self, req: Ping) {
        let _permit = self.gate.acquire().await.unwrap();
        let _ = self.events.send(Event::Noted(req.text));
    }

    async fn acknowledge(&self, req: Ping) {
        let _permit = self.gate.acquire().await.unwrap();
        let _ = self.events.send(Event::Noted(req.text));
    }

    async fn echo(&self, req: Ping) -> Result<Ping, Status> {
        Ok(req)
    }
}

struct Harness {
    server: TestServer,
    client: SemanticsClient,
    events: mpsc::UnboundedReceiver<Event>,
    gate: Arc<Semaphore>,
}

async fn harness_with(configure: impl FnOnce(Server) -> Server) -> Harness {
    let (events_tx, events) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let service = Service {
        events: events_tx,
        gate: gate.clone(),
    };
    let server =
        TestServer::start(configure(Server::builder()).add_service(SemanticsServer::new(service)))
            .await;
    let client = SemanticsClient::connect(&server.url()).await.unwrap();
    Harness {
        server,
        client,
        events,
        gate,
    }
}

async fn harness() -> Harness {
    harness_with(|server| server).await
}

fn request_metadata() -> MetadataMap {
    let mut metadata = MetadataMap::new();
    metadata.insert("name", "ada").unwrap();
    metadata.insert_bin("blob-bin", [0, 159, 146, 150]).unwrap();
    metadata
}

#[tokio::test]
async fn metadata_travels_both_ways_also_when_the_call_fails() {
    let h = harness().await;
    let response = h
        .client
        .reflect(ping("ok"))
        .metadata(request_metadata())
        .into_response()
        .await
        .unwrap();
    assert_eq!(response.message, ping("ok"));
    assert_eq!(response.headers.get("seen-name"), Some("ada"));
    assert_eq!(response.trailers.get("trailer-name"), Some("ada"));
    assert_eq!(
        response.trailers.get_bin("seen-blob-bin"),
        Some(vec![0, 159, 146, 150])
    );

    let status = h
        .client
        .reflect(ping("fail"))
        .metadata(request_metadata())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    // The headers the handler set came in a HEADERS frame of their own, before the failure;
    // the trailers carry the handler's trailers and the status's own metadata.
    assert_eq!(status.headers().get("seen-name"), Some("ada"));
    assert_eq!(status.metadata().get("seen-name"), None);
    assert_eq!(status.metadata().get("trailer-name"), Some("ada"));
    assert_eq!(status.metadata().get("why"), Some("asked to"));

    // Without headers set, the failure stays one Trailers-Only block.
    let status = h.client.reflect(ping("fail")).await.unwrap_err();
    assert!(status.headers().is_empty(), "{:?}", status.headers());
    assert_eq!(status.metadata().get("why"), Some("asked to"));
    h.server.stop().await;
}

#[tokio::test]
async fn a_deadline_reaches_the_handler_and_cancels_it() {
    let mut h = harness().await;
    let status = h
        .client
        .wait(ping("slow"))
        .timeout(Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    match h.events.recv().await.unwrap() {
        Event::Started { remaining } => {
            let remaining = remaining.expect("the handler sees the deadline");
            assert!(remaining <= Duration::from_millis(300), "{remaining:?}");
            assert!(remaining > Duration::ZERO);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(h.events.recv().await.unwrap(), Event::Dropped));
    h.server.stop().await;
}

#[tokio::test]
async fn a_oneway_call_returns_once_sent_and_an_empty_one_waits() {
    let mut h = harness().await;
    // The handler is stuck behind the gate, yet the oneway call is done.
    h.client.note(ping("fire and forget")).await.unwrap();
    h.gate.add_permits(1);
    assert!(
        matches!(h.events.recv().await.unwrap(), Event::Noted(text) if text == "fire and forget")
    );

    let acknowledged = tokio::spawn({
        let client = h.client.clone();
        async move { client.acknowledge(ping("wait for me")).await }
    });
    h.gate.add_permits(1);
    acknowledged.await.unwrap().unwrap();
    // By the time the empty answer arrived, the handler had run.
    assert!(matches!(h.events.try_recv().unwrap(), Event::Noted(text) if text == "wait for me"));
    h.server.stop().await;
}

/// A call still running when graceful shutdown's drain timeout runs out is answered
/// `UNAVAILABLE`, and its handler is cancelled; the client is not left with a stream that stops.
#[tokio::test]
async fn calls_cut_at_the_drain_timeout_are_answered() {
    let mut h = harness_with(|server| server.drain_timeout(Duration::from_millis(200))).await;
    let waiting = tokio::spawn({
        let client = h.client.clone();
        async move { client.wait(ping("forever")).await }
    });
    assert!(matches!(
        h.events.recv().await.unwrap(),
        Event::Started { .. }
    ));
    let shutdown = h.server.begin_shutdown();
    let status = waiting.await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("shut down"), "{status:?}");
    assert!(matches!(h.events.recv().await.unwrap(), Event::Dropped));
    shutdown.await.unwrap().unwrap();
}

#[tokio::test]
async fn gzip_is_negotiated_both_ways() {
    let h = harness_with(|server| server.send_compressed(Compression::Gzip)).await;
    let long = ping(&"compressible ".repeat(1000));
    let reply = h
        .client
        .echo(long.clone())
        .compression(Compression::Gzip)
        .await
        .unwrap();
    assert_eq!(reply, long);
    let channel = h
        .client
        .channel()
        .clone()
        .with_compression(Compression::Gzip);
    let reply = SemanticsClient::new(channel)
        .echo(long.clone())
        .await
        .unwrap();
    assert_eq!(reply, long);
    // deflate (zlib), asked for per call, is answered in kind.
    let response = h
        .client
        .echo(long.clone())
        .compression(Compression::Deflate)
        .into_response()
        .await
        .unwrap();
    assert_eq!(response.message, long);
    assert!(response.compressed);
    h.server.stop().await;
}

#[tokio::test]
async fn a_compressed_message_is_bounded_by_its_decompressed_size() {
    let h = harness_with(|server| server.max_receive_message_size(1024)).await;
    // Compresses to a few dozen bytes, inflates past the limit.
    let bomb = ping(&"a".repeat(10_000));
    let status = h
        .client
        .echo(bomb)
        .compression(Compression::Gzip)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    h.server.stop().await;
}

#[tokio::test]
async fn the_client_limits_what_it_receives_and_sends() {
    let h = harness().await;
    let limited = SemanticsClient::new(
        h.client
            .channel()
            .clone()
            .with_max_receive_message_size(100),
    );
    let status = limited.echo(ping(&"x".repeat(200))).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let limited = SemanticsClient::new(h.client.channel().clone().with_max_send_message_size(100));
    let status = limited.echo(ping(&"x".repeat(200))).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(limited.echo(ping("small")).await.unwrap(), ping("small"));
    h.server.stop().await;
}

#[tokio::test]
async fn postcard_and_json_work_in_all_four_shapes() {
    let output = tokio::process::Command::new(support::example("json_codec"))
        .output()
        .await
        .unwrap();
    let stdout = support::succeeded("json_codec", &output);
    for codec in ["application/grpc+json", "application/grpc+postcard"] {
        for call in [
            "Echo -> \"hello\"",
            "Repeat -> [1, 2, 3]",
            "Join -> \"one two three\"",
            "Shout -> \"PONG\"",
        ] {
            let line = format!("{codec}: {call}");
            assert!(stdout.contains(&line), "missing {line:?} in\n{stdout}");
        }
    }
}

#[tokio::test]
async fn an_unregistered_codec_is_http_415_and_a_per_call_codec_is_answered_in_kind() {
    let h = harness().await;
    let reply = h
        .client
        .echo(ping("compact"))
        .codec(Codec::Postcard)
        .await
        .unwrap();
    assert_eq!(reply, ping("compact"));
    struct Yaml;
    impl protoless::SerdeFormat for Yaml {
        fn content_type(&self) -> &'static str {
            "application/grpc+yaml"
        }
        fn serialize(
            &self,
            _: &dyn protoless::erased_serde::Serialize,
            _: &mut Vec<u8>,
        ) -> Result<(), String> {
            Ok(())
        }
        fn deserialize(
            &self,
            _: &[u8],
            _: &mut dyn FnMut(
                &mut dyn protoless::erased_serde::Deserializer,
            ) -> Result<(), protoless::erased_serde::Error>,
        ) -> Result<(), String> {
            Err("unused".to_owned())
        }
    }
    static YAML: Yaml = Yaml;
    let status = h
        .client
        .echo(ping("?"))
        .codec(Codec::Serde(&YAML))
        .await
        .unwrap_err();
    // HTTP 415 without grpc-status maps to UNKNOWN, per the spec's table.
    assert_eq!(status.code(), Code::Unknown);
    assert!(status.message().contains("415"), "{status:?}");
    h.server.stop().await;
}

#[tokio::test]
async fn protobuf_json_is_a_codec_where_the_server_accepts_it() {
    let h = harness().await;
    let status = h
        .client
        .echo(ping("json?"))
        .codec(Codec::Json)
        .await
        .unwrap_err();
    assert!(status.message().contains("415"), "{status:?}");
    h.server.stop().await;
    let h = harness_with(|server| server.accept_codec(Codec::Json)).await;
    let reply = h
        .client
        .echo(ping("json"))
        .codec(Codec::Json)
        .into_response()
        .await
        .unwrap();
    assert_eq!(reply.message, ping("json"));
    // The same request, by hand: the JSON on the wire is protobuf's mapping.
    let body = br#"{"text": "by hand", "unknown": 1}"#;
    let mut framed = vec![0];
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(body);
    let answer = raw_unary(
        &h.server.url(),
        "/semantics.Semantics/Echo",
        "application/grpc+json",
        framed,
    )
    .await;
    assert_eq!(answer.0.as_deref(), Some("application/grpc+json"));
    assert_eq!(
        std::str::from_utf8(&answer.1[5..]).unwrap(),
        r#"{"text":"by hand"}"#
    );
    h.server.stop().await;
}

/// One unary call over a plain h2 connection: the response's content type and its body.
async fn raw_unary(
    url: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (Option<String>, Vec<u8>) {
    let addr = url.trim_start_matches("http://");
    let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(socket).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (response, mut send) = client.send_request(request, false).unwrap();
    send.send_data(body.into(), true).unwrap();
    let response = response.await.unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned());
    let mut body = response.into_body();
    let mut received = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        received.extend_from_slice(&chunk);
    }
    (content_type, received)
}

/// The cache's Store asks Accounts over gRPC: with a slow Accounts, the caller's deadline must
/// reach it (and cut it short), and a caller that gives up must cancel it too.
#[tokio::test]
async fn deadlines_and_cancellation_propagate_to_calls_a_handler_makes() {
    use support::cache::{
        Account, Accounts, AccountsClient, AccountsServer, CacheClient, CacheServer, CacheService,
        GetByTokenReq, GetByTokenResp, StoreReq,
    };
    struct SlowAccounts(mpsc::UnboundedSender<Event>);
    impl Accounts for SlowAccounts {
        async fn get_by_token(&self, _req: GetByTokenReq) -> Result<GetByTokenResp, Status> {
            let _reporter = DropReporter(self.0.clone());
            let _ = self.0.send(Event::Started { remaining: None });
            std::future::pending::<()>().await;
            Ok(GetByTokenResp {
                account: Account { max_cache_keys: 1 },
            })
        }
    }
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let accounts = TestServer::start(
        Server::builder().add_service(AccountsServer::new(SlowAccounts(events_tx))),
    )
    .await;
    let accounts_client = AccountsClient::new(Channel::lazy(&accounts.url()).unwrap());
    let cache = TestServer::start(
        Server::builder().add_service(CacheServer::new(CacheService::new(accounts_client))),
    )
    .await;
    let client = CacheClient::connect(&cache.url()).await.unwrap();
    let store = || StoreReq {
        key: "k".to_owned(),
        val: Vec::new(),
        account_token: "t".to_owned(),
    };

    let status = client
        .store(store())
        .timeout(Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(matches!(
        events.recv().await.unwrap(),
        Event::Started { .. }
    ));
    // The inherited deadline ended the Accounts call too.
    assert!(matches!(events.recv().await.unwrap(), Event::Dropped));

    let call = tokio::spawn({
        let client = client.clone();
        async move { client.store(store()).await }
    });
    assert!(matches!(
        events.recv().await.unwrap(),
        Event::Started { .. }
    ));
    call.abort();
    // Cancelling the Store cancelled the Accounts call it was waiting on.
    assert!(matches!(events.recv().await.unwrap(), Event::Dropped));
    cache.stop().await;
    accounts.stop().await;
}

/// Python grpcio sends metadata and reads headers and trailers, meets the deadline, compresses,
/// and calls the methods that answer google.protobuf.Empty like any unary method.
#[tokio::test]
async fn python_grpcio_uses_metadata_deadlines_gzip_and_empty_answers() {
    let mut h = harness_with(|server| server.send_compressed(Compression::Gzip)).await;
    h.gate.add_permits(2);
    let stdout =
        support::run_python_against("semantics.py", h.server.addr, [SemanticsServer::schema()])
            .await;
    assert!(stdout.contains("all checks passed"), "{stdout}");
    // The deadline Python set reached the handler, which was then cancelled.
    let mut saw_deadline = false;
    let mut saw_drop = false;
    while let Ok(event) = h.events.try_recv() {
        match event {
            Event::Started { remaining } => {
                let remaining = remaining.expect("grpc-timeout arrived");
                // grpcio rounds its deadline up by about a millisecond.
                saw_deadline = remaining <= Duration::from_millis(510);
            }
            Event::Dropped => saw_drop = true,
            Event::Noted(_) => {}
        }
    }
    assert!(
        saw_deadline && saw_drop,
        "deadline {saw_deadline}, cancelled {saw_drop}"
    );
    h.server.stop().await;
}

/// Calls a handler makes inherit its deadline, unless told to ignore it.
#[tokio::test]
async fn a_handler_can_ignore_the_inherited_deadline() {
    #[protoless::service(package = "relay")]
    trait Relay {
        /// Calls `Semantics.Wait`, inheriting the deadline when the text is "inherit".
        async fn relay(&self, req: Ping) -> Result<Ping, Status>;
    }
    struct Relayer(SemanticsClient);
    impl Relay for Relayer {
        async fn relay(&self, req: Ping) -> Result<Ping, Status> {
            let call = self.0.wait(req.clone()).timeout(Duration::from_secs(30));
            if req.text == "inherit" {
                call.await
            } else {
                call.ignore_inherited_deadline().await
            }
        }
    }
    let mut h = harness().await;
    let relay = TestServer::start(
        Server::builder().add_service(RelayServer::new(Relayer(h.client.clone()))),
    )
    .await;
    let client = RelayClient::connect(&relay.url()).await.unwrap();
    for (text, inherits) in [("inherit", true), ("ignore", false)] {
        let status = client
            .relay(ping(text))
            .timeout(Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded);
        let Event::Started { remaining } = h.events.recv().await.unwrap() else {
            panic!("the relayed call did not start");
        };
        let remaining = remaining.expect("a deadline either way");
        assert_eq!(
            remaining <= Duration::from_millis(300),
            inherits,
            "{text}: {remaining:?}"
        );
        // Cancelling the relay call cancels the call it made, in both cases.
        assert!(matches!(h.events.recv().await.unwrap(), Event::Dropped));
    }
    relay.stop().await;
    h.server.stop().await;
}

/// A web call whose caller goes away cancels its handler, through either gateway: the Rust web
/// client's (a dropped call closes its HTTP/1.1 request) and the server's (a vanished HTTP/1.1
/// client resets the native call it became).
#[tokio::test]
async fn a_web_call_whose_caller_goes_cancels_the_handler() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // Bounded, so that a handler never cancelled fails the test instead of hanging it.
    async fn next(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the next event within 10 s")
            .unwrap()
    }
    let mut h = harness_with(|server| server.web(protoless::Web::new())).await;
    for protocol in [
        protoless::WebProtocol::Connect,
        protoless::WebProtocol::GrpcWeb,
    ] {
        let channel = Channel::builder(&h.server.url())
            .web(protocol)
            .connect()
            .await
            .unwrap();
        let client = SemanticsClient::new(channel);
        let call = tokio::spawn(async move { client.wait(ping("then gone")).await });
        assert!(
            matches!(next(&mut h.events).await, Event::Started { .. }),
            "{protocol:?}"
        );
        call.abort();
        assert!(
            matches!(next(&mut h.events).await, Event::Dropped),
            "{protocol:?}"
        );
    }
    // A plain HTTP/1.1 client that sends a Connect request and closes its connection.
    let mut socket = tokio::net::TcpStream::connect(h.server.addr).await.unwrap();
    let body = r#"{"text":"then gone"}"#;
    let request = format!(
        "POST /semantics.Semantics/Wait HTTP/1.1\r\nhost: test\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    assert!(matches!(next(&mut h.events).await, Event::Started { .. }));
    drop(socket);
    assert!(matches!(next(&mut h.events).await, Event::Dropped));
    // The server still answers on a new connection.
    let mut socket = tokio::net::TcpStream::connect(h.server.addr).await.unwrap();
    let body = r#"{"text":"still here"}"#;
    let request = format!(
        "POST /semantics.Semantics/Echo HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(r#"{"text":"still here"}"#), "{answer}");
    h.server.stop().await;
}
