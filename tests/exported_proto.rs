//! The `.proto` files under `examples/proto/` are what the examples export, byte for byte, so the
//! Python stubs (and any other language's) are built from the truth.

mod support;

use support::{cache::CacheServer, greeter::GreeterServer, pi::PiCalculatorServer};

fn committed(name: &str) -> String {
    let path = support::root().join("examples/proto").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn example_services_export_the_committed_files() {
    assert_eq!(
        PiCalculatorServer::schema().to_proto().unwrap(),
        committed("pi.proto")
    );
    assert_eq!(
        GreeterServer::schema().to_proto().unwrap(),
        committed("helloworld.proto")
    );
    assert_eq!(
        CacheServer::schema().to_proto().unwrap(),
        committed("cache.proto")
    );
}

#[tokio::test]
async fn example_binaries_print_the_committed_files() {
    for (example, file) in [
        ("pi", "pi.proto"),
        ("greeter", "helloworld.proto"),
        ("cache", "cache.proto"),
    ] {
        let output = tokio::process::Command::new(support::example(example))
            .arg("proto")
            .output()
            .await
            .unwrap();
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            committed(file),
            "examples/proto/{file} is stale: regenerate it with `cargo run --example {example} -- proto > examples/proto/{file}`"
        );
    }
}

#[test]
fn pi_proto_declares_the_contract() {
    let proto = committed("pi.proto");
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
