//! The `.proto` files under `examples/proto/` are what the examples export, byte for byte, so the
//! Python stubs (and any other language's) are built from the truth. A stale file fails with a
//! diff; `PROTOLESS_OVERWRITE=1 cargo test --test exported_proto` rewrites them.

mod support;

use support::cache::{AccountsServer, CacheServer};
use support::{greeter::GreeterServer, pi::PiCalculatorServer};

fn committed(name: &str) -> String {
    let path = support::root().join("examples/proto").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn example_services_export_the_committed_files() {
    protoless::schema::check_exported(
        support::root().join("examples/proto"),
        [
            PiCalculatorServer::schema(),
            GreeterServer::schema(),
            CacheServer::schema(),
            AccountsServer::schema(),
        ],
    )
    .unwrap();
}

#[tokio::test]
async fn example_binaries_print_the_committed_files() {
    for (example, file) in [
        ("pi", "pi/pi.proto"),
        ("greeter", "helloworld/helloworld.proto"),
        ("cache", "rpc/rpc.proto"),
    ] {
        let output = tokio::process::Command::new(support::example(example))
            .arg("proto")
            .output()
            .await
            .unwrap();
        assert!(output.status.success());
        assert_eq!(String::from_utf8(output.stdout).unwrap(), committed(file));
    }
}

#[test]
fn pi_proto_declares_the_contract() {
    let proto = committed("pi/pi.proto");
    for line in [
        "syntax = \"proto3\";",
        "package pi;",
        "service PiCalculator {",
        "  rpc Calc(PiRequest) returns (PiResponse);",
        "  rpc CalcStream(stream PiRequest) returns (stream PiStreamResponse);",
        "message PiRequest {",
        "  int32 n = 1;",
        "message PiResponse {",
        "  double value = 1;",
        "message PiStreamResponse {",
        "  int32 n = 1;",
        "  double value = 2;",
    ] {
        assert!(
            proto.lines().any(|l| l == line),
            "missing {line:?} in\n{proto}"
        );
    }
}

#[test]
fn a_stale_file_is_reported_with_its_wire_breaking_changes() {
    let dir = std::env::temp_dir().join(format!("protoless-stale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let renumbered = committed("pi/pi.proto").replace("int32 n = 1;", "int32 n = 3;");
    std::fs::create_dir_all(dir.join("pi")).unwrap();
    std::fs::write(dir.join("pi/pi.proto"), renumbered).unwrap();
    let stale = protoless::schema::check_exported(&dir, [PiCalculatorServer::schema()])
        .unwrap_err()
        .to_string();
    assert!(stale.contains("pi/pi.proto is stale"), "{stale}");
    assert!(stale.contains("Wire-breaking changes"), "{stale}");
    assert!(
        stale.contains("PiRequest.n renumbered from 3 to 1"),
        "{stale}"
    );
    assert!(
        stale.contains("- \tint32 n = 3;") || stale.contains("-   int32 n = 3;"),
        "{stale}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The cache's errors carry google.rpc details (`#[service(rich_errors)]`), so its export
/// includes google/rpc/status.proto and error_details.proto: equal, descriptor for descriptor, to
/// googleapis' own files, so that clients holding those see no conflicting definition.
#[tokio::test]
async fn the_google_rpc_exports_equal_googleapis_files() {
    let files = protoless::schema::render_packages([CacheServer::schema()]).unwrap();
    for name in ["google/rpc/status.proto", "google/rpc/error_details.proto"] {
        assert_eq!(files[name], committed(name), "{name}");
    }
    let output = tokio::process::Command::new(support::python())
        .arg(support::root().join("tests/python/google_rpc.py"))
        .arg(support::root().join("examples/proto"))
        .output()
        .await
        .unwrap();
    let report = support::succeeded("google_rpc.py", &output);
    assert_eq!(
        report.matches("equals googleapis' descriptor").count(),
        2,
        "{report}"
    );
}
