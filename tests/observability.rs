//! Observability: one W3C trace across a call chain (the cache's Store calling Accounts), a
//! `tracing` span per call with OpenTelemetry's RPC attributes, and gRFC A66's metrics counted
//! per method and status, scraped from the cache example's Prometheus endpoint.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use protoless::{CallInfo, Channel, Interceptor, MetadataMap, Server, StartFuture, Telemetry};
use support::cache::{
    AccountsClient, AccountsServer, AccountsService, CacheClient, CacheServer, CacheService,
    GetReq, StoreReq,
};
use support::{example, python, ServerProcess, TestServer};
use tokio::process::Command;

/// Records the `traceparent` each call arrives with.
struct SeenTraces(Arc<Mutex<Vec<String>>>);

impl Interceptor for SeenTraces {
    fn start<'a>(&'a self, call: &'a mut CallInfo) -> StartFuture<'a> {
        if let Some(traceparent) = call.metadata().get("traceparent") {
            self.0.lock().unwrap().push(traceparent.to_owned());
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

#[tokio::test]
async fn a_call_chain_shares_one_trace() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accounts = Server::builder()
        .interceptor(SeenTraces(seen.clone()))
        .add_service(AccountsServer::new(AccountsService::new(&[])));
    let cache = CacheService::new(AccountsClient::new(Channel::in_process(accounts)));
    let server = TestServer::start(Server::builder().add_service(CacheServer::new(cache))).await;
    let client = CacheClient::connect(&server.url()).await.unwrap();
    let root = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut metadata = MetadataMap::new();
    metadata.insert("traceparent", root).unwrap();
    client
        .store(StoreReq {
            key: "traced".into(),
            val: b"v".to_vec(),
            account_token: "inconshreveable".into(),
        })
        .metadata(metadata)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let hop = protoless::TraceContext::parse(&seen[0]).expect("a valid traceparent");
    let parent = protoless::TraceContext::parse(root).unwrap();
    assert_eq!(hop.trace_id(), parent.trace_id());
    assert_ne!(hop.span_id(), parent.span_id());
    // Without a trace to carry on, none is invented.
    client
        .store(StoreReq {
            key: "untraced".into(),
            val: b"v".to_vec(),
            account_token: "inconshreveable".into(),
        })
        .await
        .unwrap();
    server.stop().await;
}

/// A writer into a shared buffer, for the subscriber's output.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_call_has_a_span_with_the_rpc_attributes() {
    use tracing_subscriber::fmt::format::FmtSpan;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let _default = tracing_subscriber::util::SubscriberInitExt::set_default(subscriber);
    let server = TestServer::start(support::greeter::server().interceptor(Telemetry)).await;
    let channel = Channel::connect(&server.url())
        .await
        .unwrap()
        .with_interceptor(Telemetry);
    let client = support::greeter::GreeterClient::new(channel);
    client
        .say_hello(support::greeter::HelloRequest {
            name: "spans".into(),
        })
        .await
        .unwrap();
    server.stop().await;
    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for side in ["grpc.server", "grpc.client"] {
        let line = output
            .lines()
            .find(|line| line.contains(side) && line.contains("close"))
            .unwrap_or_else(|| panic!("no closed {side} span in\n{output}"));
        for attribute in [
            "rpc.system=\"grpc\"",
            "rpc.service=\"helloworld.Greeter\"",
            "rpc.method=\"SayHello\"",
            "rpc.grpc.status_code=0",
        ] {
            assert!(line.contains(attribute), "{attribute} missing from {line}");
        }
    }
    assert!(output.contains("client.address="), "{output}");
}

/// A free port on loopback, for a listener the test does not bind itself.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn the_cache_exports_a66_metrics_per_method_and_status() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = ServerProcess::spawn_with_stderr(
        Command::new(example("cache")).args(["serve", "127.0.0.1:0", "--metrics", &metrics]),
        std::process::Stdio::null(),
    )
    .await;
    let client = CacheClient::connect(&server.url()).await.unwrap();
    for key in ["a", "b"] {
        let missing = client.get(GetReq { key: key.into() }).await.unwrap_err();
        assert_eq!(missing.code(), protoless::Code::NotFound);
    }
    client
        .store(StoreReq {
            key: "k".into(),
            val: b"v".to_vec(),
            account_token: "inconshreveable".into(),
        })
        .await
        .unwrap();
    let scrape = Command::new(python())
        .args(["-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"])
        .arg(format!("http://{metrics}/metrics"))
        .output()
        .await
        .unwrap();
    let text = support::succeeded("the /metrics scrape", &scrape);
    for (line, value) in [
        (
            r#"grpc_server_call_started_total{grpc_method="rpc.Cache/Get"}"#,
            "2",
        ),
        (
            r#"grpc_server_call_started_total{grpc_method="rpc.Cache/Store"}"#,
            "1",
        ),
        (
            r#"grpc_server_call_duration_seconds_count{grpc_method="rpc.Cache/Get",grpc_status="NOT_FOUND"}"#,
            "2",
        ),
        (
            r#"grpc_server_call_duration_seconds_count{grpc_method="rpc.Cache/Store",grpc_status="OK"}"#,
            "1",
        ),
        (
            r#"grpc_server_call_duration_seconds_bucket{grpc_method="rpc.Cache/Store",grpc_status="OK",le="100"}"#,
            "1",
        ),
        // StoreReq { key: "k", val: "v", account_token: "inconshreveable" }: 3 + 3 + 17 bytes.
        (
            r#"grpc_server_call_rcvd_total_compressed_message_size_bytes_sum{grpc_method="rpc.Cache/Store",grpc_status="OK"}"#,
            "23",
        ),
        (
            r#"grpc_server_call_sent_total_compressed_message_size_bytes_bucket{grpc_method="rpc.Cache/Store",grpc_status="OK",le="1024"}"#,
            "1",
        ),
    ] {
        assert!(
            text.lines().any(|found| found == format!("{line} {value}")),
            "no {line} {value} in\n{text}"
        );
    }
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}
