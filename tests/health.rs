//! gRPC's health checking protocol (`grpc.health.v1.Health`), through protoless's own client
//! and grpcio-health-checking's stubs: statuses the application reports, `Watch` streams, and
//! what a graceful shutdown does to them.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use protoless::health::{
    HealthCheckRequest, HealthClient, HealthListRequest, HealthReporter, ServingStatus,
};
use protoless::{Channel, Code, Server};
use support::greeter::GreeterServer;
use support::{example, python, root, ServerProcess, TestServer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const GREETER: &str = "helloworld.Greeter";

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

async fn greeter(health: &HealthReporter, configure: impl FnOnce(Server) -> Server) -> TestServer {
    let server = Server::builder()
        .health(health.clone())
        .add_service(GreeterServer::new(support::greeter::Greetings));
    TestServer::start(configure(server)).await
}

async fn client(server: &TestServer) -> HealthClient {
    HealthClient::new(Channel::connect(&server.url()).await.unwrap())
}

#[tokio::test]
async fn check_and_list_answer_what_the_application_reports() {
    let health = HealthReporter::new();
    let server = greeter(&health, |server| server).await;
    let client = client(&server).await;
    // At start: the server and each of its services are SERVING.
    for service in ["", GREETER, "grpc.health.v1.Health"] {
        let status = client.check(request(service)).await.unwrap().status;
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }
    let unknown = client.check(request("no.Such")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    health.set_status(GREETER, ServingStatus::NotServing);
    let status = client.check(request(GREETER)).await.unwrap().status;
    assert_eq!(status, ServingStatus::NotServing);
    let listed = client.list(HealthListRequest {}).await.unwrap().statuses;
    assert_eq!(listed[GREETER].status, ServingStatus::NotServing);
    assert_eq!(listed[""].status, ServingStatus::Serving);
    assert!(!listed.contains_key("no.Such"));
    server.stop().await;
}

#[tokio::test]
async fn watch_streams_each_change_and_unknown_services_until_they_are_reported() {
    let health = HealthReporter::new();
    let server = greeter(&health, |server| server).await;
    let client = client(&server).await;
    let mut known = client.watch(request(GREETER)).await.unwrap();
    assert_eq!(
        known.message().await.unwrap().unwrap().status,
        ServingStatus::Serving
    );
    let mut unknown = client.watch(request("later.Service")).await.unwrap();
    assert_eq!(
        unknown.message().await.unwrap().unwrap().status,
        ServingStatus::ServiceUnknown
    );
    health.set_status(GREETER, ServingStatus::NotServing);
    assert_eq!(
        known.message().await.unwrap().unwrap().status,
        ServingStatus::NotServing
    );
    // The same status again is no change: the next message is the next different status.
    // (Changes faster than the reader coalesce into the latest, as in grpc-go.)
    health.set_status(GREETER, ServingStatus::NotServing);
    health.set_status(GREETER, ServingStatus::Serving);
    assert_eq!(
        known.message().await.unwrap().unwrap().status,
        ServingStatus::Serving
    );
    health.set_status("later.Service", ServingStatus::Serving);
    assert_eq!(
        unknown.message().await.unwrap().unwrap().status,
        ServingStatus::Serving
    );
    drop((known, unknown));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_turns_everything_not_serving_and_ends_watches_so_the_drain_is_quick() {
    let health = HealthReporter::new();
    let server = greeter(&health, |server| server).await;
    let client = client(&server).await;
    let mut watch = client.watch(request("")).await.unwrap();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::Serving
    );
    let started = Instant::now();
    let shutdown = server.begin_shutdown();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::NotServing
    );
    // Then the stream ends with OK: it does not hold the drain (30 s by default).
    assert_eq!(watch.message().await.unwrap(), None);
    shutdown.await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Statuses stay NOT_SERVING for good.
    health.set_status("", ServingStatus::Serving);
    assert_eq!(health.status(""), Some(ServingStatus::NotServing));
}

#[tokio::test]
async fn the_pre_stop_delay_keeps_serving_while_reporting_not_serving() {
    let health = HealthReporter::new();
    let delay = Duration::from_millis(300);
    let server = greeter(&health, |server| server.pre_stop_delay(delay)).await;
    let url = server.url();
    let client = client(&server).await;
    let mut watch = client.watch(request(GREETER)).await.unwrap();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::Serving
    );
    let started = Instant::now();
    let shutdown = server.begin_shutdown();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::NotServing
    );
    // Still accepting connections and serving calls, while telling balancers to go elsewhere.
    let fresh = HealthClient::new(Channel::connect(&url).await.unwrap());
    let status = fresh.check(request(GREETER)).await.unwrap().status;
    assert_eq!(status, ServingStatus::NotServing);
    let greeter = support::greeter::GreeterClient::connect(&url)
        .await
        .unwrap();
    let reply = greeter
        .say_hello(support::greeter::HelloRequest {
            name: "late".into(),
        })
        .await
        .unwrap();
    assert_eq!(reply.message, "Hello, late!");
    drop((fresh, greeter, client));
    shutdown.await.unwrap().unwrap();
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
}

#[tokio::test]
async fn grpcio_health_checking_sees_serving_then_not_serving_at_shutdown() {
    let server =
        ServerProcess::spawn(Command::new(example("greeter")).args(["serve", "127.0.0.1:0"])).await;
    let mut peer = Command::new(python())
        .arg(root().join("tests/python/health.py"))
        .args([server.addr.as_str(), GREETER])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(peer.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let watching = line == "watching SERVING";
        seen.push(line);
        if watching {
            break;
        }
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("watching SERVING"),
        "{seen:?}"
    );
    // Shut the server down with the Watch open: it must end, and the drain must not wait for it.
    let started = Instant::now();
    let (clean, _) = server.terminate().await;
    assert!(clean, "the greeter did not shut down cleanly");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push(line);
    }
    let status = peer.wait().await.unwrap();
    assert!(status.success(), "health.py failed: {seen:?}");
    assert_eq!(
        seen[seen.len() - 2..],
        ["watching NOT_SERVING", "watch ended OK"],
        "{seen:?}"
    );
}
