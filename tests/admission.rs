//! Admission control on the server, exceeded by stock grpcio clients: the cache example's rate
//! limit (its contract: `--rate-limit 150/5`), a connection cap, load shedding past a
//! concurrent-call limit, and the idle-connection timeout (gRFC A9). Without them configured,
//! nothing is limited (every other test runs so).

mod support;

use std::time::Duration;

use protoless::Server;
use support::greeter;
use support::interop::{TestServer as InteropService, TestServiceServer};
use support::{example, python, root, succeeded, ServerProcess, TestServer};
use tokio::process::Command;

async fn limits(args: &[&str]) -> String {
    let output = Command::new(python())
        .arg(root().join("tests/python/limits.py"))
        .args(args)
        .output()
        .await
        .unwrap();
    succeeded("limits.py", &output)
}

/// A number the script printed after `label `.
fn count(output: &str, label: &str) -> usize {
    output
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{label} ")))
        .unwrap_or_else(|| panic!("no {label:?} in\n{output}"))
        .parse()
        .unwrap()
}

/// Also the cache's contract for its call log: a line per call on stderr, with the method, the
/// duration and the status's name.
#[tokio::test]
async fn the_cache_rate_limit_refuses_a_burst_with_retry_info() {
    let log = std::env::temp_dir().join(format!("protoless-cache-log-{}", std::process::id()));
    let server = ServerProcess::spawn_with_stderr(
        Command::new(example("cache")).args([
            "serve",
            "127.0.0.1:0",
            "--rate-limit",
            "150/5",
            "--max-connections",
            "1024",
            "--max-streams",
            "64",
        ]),
        std::fs::File::create(&log).unwrap().into(),
    )
    .await;
    let output = limits(&["rate", &server.addr, "50"]).await;
    let (ok, limited) = (count(&output, "ok"), count(&output, "limited"));
    assert_eq!(ok + limited, 50, "{output}");
    assert!(ok >= 5, "{output}");
    assert!(limited > 0, "{output}");
    assert!(
        output.contains("retry info on every refusal: True"),
        "{output}"
    );
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
    let log = std::fs::read_to_string(&log).unwrap();
    let logged = |status: &str| {
        log.lines()
            .filter(|line| {
                line.contains("method=/rpc.Cache/Store")
                    && line.contains("duration=")
                    && line.ends_with(&format!("status={status}"))
            })
            .count()
    };
    assert_eq!(logged("OK"), ok, "{log}");
    assert_eq!(logged("RESOURCE_EXHAUSTED"), limited, "{log}");

    // `off`, and no flag at all, serve the same burst unlimited.
    let server = ServerProcess::spawn_with_stderr(
        Command::new(example("cache")).args(["serve", "127.0.0.1:0", "--rate-limit", "off"]),
        std::process::Stdio::null(),
    )
    .await;
    let output = limits(&["rate", &server.addr, "50"]).await;
    assert_eq!(count(&output, "ok"), 50, "{output}");
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

#[tokio::test]
async fn a_connection_past_the_cap_waits_for_a_free_one() {
    let server = TestServer::start(greeter::server().max_connections(1)).await;
    let output = limits(&["connections", &server.addr.to_string()]).await;
    assert!(output.contains("first connection served"), "{output}");
    assert!(
        output.contains("second connection while the first is open: DEADLINE_EXCEEDED"),
        "{output}"
    );
    assert!(
        output.contains("second connection after the first closed: Hello, second!"),
        "{output}"
    );
    server.stop().await;
}

#[tokio::test]
async fn calls_past_the_concurrent_call_limit_are_shed() {
    let service = TestServiceServer::new(InteropService {
        server_id: "shed".to_owned(),
    });
    let server = TestServer::start(
        Server::builder()
            .add_service(service)
            .max_concurrent_calls(1),
    )
    .await;
    let output = limits(&["shed", &server.addr.to_string()]).await;
    assert!(
        output.contains("second call: RESOURCE_EXHAUSTED"),
        "{output}"
    );
    assert!(output.contains("retry after: 1.0"), "{output}");
    assert!(
        output.contains("served again once the slot was free"),
        "{output}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_with_goaway() {
    let server =
        TestServer::start(greeter::server().max_connection_idle(Duration::from_millis(500))).await;
    let output = limits(&["idle", &server.addr.to_string(), "0.5"]).await;
    assert!(
        output.contains("closed by the server when idle: True"),
        "{output}"
    );
    assert!(
        output.contains("after at least the idle time: True"),
        "{output}"
    );
    assert!(
        output.contains("next call on a new connection: Hello, back!"),
        "{output}"
    );
    server.stop().await;
}
