//! gRPC's interop suite (`examples/interop.rs`), both ways against foreign stacks: Python grpcio
//! (from the venv `scripts/python-env` creates) and Node's @grpc/grpc-js (installed by
//! `scripts/node-env`), with their peers written in `tests/interop/` from grpc's own `.proto`
//! files; and protoless against itself.
//!
//! A case is left out only where the peer's public API cannot express it; each such skip is
//! printed with its reason.

mod support;

use std::path::PathBuf;

use support::{example, node, python, root, succeeded, ServerProcess};
use tokio::process::Command;

/// Every case of the suite, as `interop client` names them.
const ALL: &[&str] = support::interop::cases::NAMES;

/// Neither grpcio's nor grpc-js's server API shows a handler whether a request message came
/// compressed, so they cannot refuse an uncompressed one as these cases require.
const NEEDS_REQUEST_FLAG: [(&str, &str); 2] = [
    (
        "client_compressed_unary",
        "the peer's server cannot see a request's compressed flag",
    ),
    (
        "client_compressed_streaming",
        "the peer's server cannot see a request's compressed flag",
    ),
];

/// grpc-js's server never compresses a response.
const NEEDS_RESPONSE_COMPRESSION: [(&str, &str); 2] = [
    (
        "server_compressed_unary",
        "grpc-js's server cannot compress a response",
    ),
    (
        "server_compressed_streaming",
        "grpc-js's server cannot compress a response",
    ),
];

/// The cases of [`ALL`] but `skipped`, each skip printed with its reason.
fn cases_except(peer: &str, skipped: &[(&str, &str)]) -> Vec<&'static str> {
    for (case, reason) in skipped {
        println!("SKIP {case} against {peer}: {reason}");
    }
    ALL.iter()
        .copied()
        .filter(|case| skipped.iter().all(|(skip, _)| skip != case))
        .collect()
}

fn interop_dir(language: &str) -> PathBuf {
    root().join("tests/interop").join(language)
}

async fn rust_server() -> ServerProcess {
    ServerProcess::spawn(Command::new(example("interop")).args([
        "serve",
        "127.0.0.1:0",
        "--server-id",
        "rust-interop",
    ]))
    .await
}

async fn python_server() -> ServerProcess {
    ServerProcess::spawn(
        Command::new(python())
            .arg(interop_dir("python").join("interop_server.py"))
            .arg("127.0.0.1:0"),
    )
    .await
}

async fn node_server() -> ServerProcess {
    ServerProcess::spawn(
        node()
            .arg(interop_dir("node").join("interop_server.js"))
            .arg("127.0.0.1:0"),
    )
    .await
}

/// Runs an interop client with `--case` for each of `cases` and checks that it passed every
/// one, by its own count and line by line.
async fn run_client(what: &str, client: &mut Command, cases: &[&str]) {
    for case in cases {
        client.args(["--case", case]);
    }
    let output = client.output().await.unwrap();
    let stdout = succeeded(what, &output);
    for case in cases {
        assert!(
            stdout.lines().any(|line| line == format!("PASS {case}")),
            "{what}: no PASS line for {case} in\n{stdout}"
        );
    }
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!("{} passed, 0 failed", cases.len()),
        "{what}:\n{stdout}"
    );
}

fn rust_client(server: &ServerProcess) -> Command {
    let mut command = Command::new(example("interop"));
    command.args(["client", &server.url()]);
    command
}

#[tokio::test]
async fn protoless_passes_every_case_against_itself() {
    let server = rust_server().await;
    run_client("interop client", &mut rust_client(&server), ALL).await;
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

#[tokio::test]
async fn protoless_client_against_a_grpcio_server() {
    let server = python_server().await;
    let cases = cases_except("grpcio", &NEEDS_REQUEST_FLAG);
    run_client("interop client", &mut rust_client(&server), &cases).await;
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

#[tokio::test]
async fn protoless_client_against_a_grpc_js_server() {
    let server = node_server().await;
    let skipped: Vec<_> = NEEDS_REQUEST_FLAG
        .into_iter()
        .chain(NEEDS_RESPONSE_COMPRESSION)
        .collect();
    let cases = cases_except("grpc-js", &skipped);
    run_client("interop client", &mut rust_client(&server), &cases).await;
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

/// grpcio's client cannot switch compression per message, so it skips
/// client_compressed_streaming itself (and says so); it checks only sizes in the
/// server-compressed cases, since it cannot see a response's flag.
#[tokio::test]
async fn grpcio_client_against_the_protoless_server() {
    let server = rust_server().await;
    let cases = cases_except(
        "grpcio's client",
        &[(
            "client_compressed_streaming",
            "grpcio's client cannot compress one message of a call and not the next",
        )],
    );
    let mut client = Command::new(python());
    client
        .arg(interop_dir("python").join("interop_client.py"))
        .arg(&server.addr);
    run_client("interop_client.py", &mut client, &cases).await;
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

/// As grpcio's, grpc-js's client skips client_compressed_streaming and checks only sizes in
/// the server-compressed cases.
#[tokio::test]
async fn grpc_js_client_against_the_protoless_server() {
    let server = rust_server().await;
    let cases = cases_except(
        "grpc-js's client",
        &[(
            "client_compressed_streaming",
            "grpc-js's client cannot compress one message of a call and not the next",
        )],
    );
    let mut client = node();
    client
        .arg(interop_dir("node").join("interop_client.js"))
        .arg(server.url());
    run_client("interop_client.js", &mut client, &cases).await;
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

/// `interop client` names an unknown case a usage error, and counts what failed: against a
/// port nobody listens on, every case fails.
#[tokio::test]
async fn the_client_contract_holds_for_usage_errors_and_failures() {
    let unknown = Command::new(example("interop"))
        .args(["client", "127.0.0.1:1", "--case", "no_such_case"])
        .output()
        .await
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let output = Command::new(example("interop"))
        .args(["client", &closed.to_string(), "--case", "empty_unary"])
        .args(["--case", "large_unary"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("FAIL empty_unary: "), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("0 passed, 2 failed"),
        "{stdout}"
    );
}

/// The exported `.proto` describes the wire exactly as grpc's own files do: every message,
/// field, enum and method the same (compared as protoc's descriptors).
#[tokio::test]
async fn the_export_matches_grpcs_own_files() {
    let dir = std::env::temp_dir().join(format!("protoless-interop-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let proto = Command::new(example("interop"))
        .arg("proto")
        .output()
        .await
        .unwrap();
    let text = succeeded("interop proto", &proto);
    std::fs::write(dir.join("grpc.testing.proto"), text).unwrap();
    let output = Command::new(python())
        .arg(interop_dir("python").join("compare_descriptors.py"))
        .arg(&dir)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = succeeded("compare_descriptors.py", &output);
    assert!(stdout.contains("descriptors match"), "{stdout}");
}
