//! Wire compatibility with a real gRPC stack: Python grpcio (from the venv `scripts/python-env`
//! creates) calls the Rust example servers, and the Rust client calls Python servers.

mod support;

use protoless::Code;
use support::greeter::{GreeterClient, HelloReply, HelloRequest};
use support::pi::{approximate_pi, PiCalculatorClient, PiRequest};
use support::{example, python, root, run_python, ServerProcess};
use tokio::process::Command;

async fn rust_example_server(name: &str) -> ServerProcess {
    ServerProcess::spawn(Command::new(example(name)).args(["serve", "127.0.0.1:0"])).await
}

async fn python_server(script: &str) -> ServerProcess {
    ServerProcess::spawn(
        Command::new(python())
            .arg(root().join("examples/python").join(script))
            .arg("127.0.0.1:0"),
    )
    .await
}

#[tokio::test]
async fn python_client_calls_the_rust_pi_server() {
    let server = rust_example_server("pi").await;
    let output = run_python("pi_client.py", &[&server.addr]).await;
    assert!(output.contains("Calc(n=10) = 3.1096254580"), "{output}");
    assert!(
        output.contains("Calc(n=0) failed: INVALID_ARGUMENT: n must be positive, got 0"),
        "{output}"
    );
    assert!(output.contains("all checks passed"), "{output}");
    let (exited_cleanly, rest) = server.terminate().await;
    assert!(exited_cleanly, "pi serve did not exit cleanly on SIGTERM");
    assert!(rest.contains("shut down gracefully"), "{rest}");
}

#[tokio::test]
async fn python_client_calls_the_rust_greeter_server() {
    let server = rust_example_server("greeter").await;
    let output = run_python("greeter_client.py", &[&server.addr]).await;
    assert!(
        output.contains("SayHello('gRPC 世界') -> 'Hello, gRPC 世界!'"),
        "{output}"
    );
    assert!(
        output.contains("NoSuchMethod failed: UNIMPLEMENTED"),
        "{output}"
    );
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

#[tokio::test]
async fn rust_client_calls_a_python_pi_server() {
    let server = python_server("pi_server.py").await;
    let client = PiCalculatorClient::connect(&server.url()).await.unwrap();
    for n in [1, 10, 1000] {
        let reply = client.calc(PiRequest { n }).await.unwrap();
        assert!(
            (reply.value - approximate_pi(n)).abs() < 1e-12,
            "n = {n}: {reply:?}"
        );
    }
    let status = client.calc(PiRequest { n: -3 }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "n must be positive, got -3");
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

#[tokio::test]
async fn rust_client_calls_a_python_greeter_server() {
    let server = python_server("greeter_server.py").await;
    let client = GreeterClient::connect(&server.url()).await.unwrap();
    for name in ["world", "Rust 🦀", ""] {
        let reply = client
            .say_hello(HelloRequest {
                name: name.to_owned(),
            })
            .await
            .unwrap();
        assert_eq!(reply.message, format!("Hello, {name}!"));
    }
    // grpcio answers an unknown method itself; the client must read its Trailers-Only reply.
    let status = client
        .channel()
        .unary::<HelloRequest, HelloReply>(
            "/helloworld.Greeter/NoSuchMethod",
            HelloRequest::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}
