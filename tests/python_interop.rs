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
    assert!(
        output.contains("CalcStream: n=300 -> 3.1405314424"),
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
async fn python_client_calls_the_rust_cache_server() {
    let server = rust_example_server("cache").await;
    let output = run_python("cache_client.py", &[&server.addr]).await;
    assert!(
        output.contains("Get('kiwi') failed: NOT_FOUND: Key not found kiwi"),
        "{output}"
    );
    for expected in [
        "gzip both ways: ok",
        "dry run: trailers {'dry-run': '1'}, nothing stored",
        "unknown account: UNAUTHENTICATED",
        "key limit: FAILED_PRECONDITION, ErrorInfo reason=KEY_LIMIT_EXCEEDED domain=cache",
        "Dump -> ['one', 'python', 'rust', 'two', 'zipped']",
        "all checks passed",
    ] {
        assert!(
            output.contains(expected),
            "missing {expected:?} in\n{output}"
        );
    }
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
    let mut stream = client.calc_stream().await.unwrap();
    for n in [5, -5, 50] {
        stream.send(PiRequest { n }).await.unwrap();
    }
    stream.close_send().unwrap();
    let mut answered = Vec::new();
    while let Some(reply) = stream.message().await.unwrap() {
        assert!((reply.value - approximate_pi(reply.n)).abs() < 1e-12);
        answered.push(reply.n);
    }
    assert_eq!(answered, [5, 50]);
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
    let mut replies = client
        .lots_of_replies(HelloRequest {
            name: "rust".to_owned(),
        })
        .await
        .unwrap();
    for i in 1..=10 {
        let reply = replies.message().await.unwrap().unwrap();
        assert_eq!(reply.message, format!("Hello, rust! #{i}"));
    }
    assert!(replies.message().await.unwrap().is_none());

    let mut greetings = client.lots_of_greetings().await.unwrap();
    for name in ["a", "b", "c"] {
        greetings
            .send(HelloRequest {
                name: name.to_owned(),
            })
            .await
            .unwrap();
    }
    assert_eq!(greetings.finish().await.unwrap().message, "Hello, a, b, c!");

    // Ping-pong: each reply arrives before the next request is sent.
    let mut chat = client.bidi_hello().await.unwrap();
    for name in ["ping", "pong"] {
        chat.send(HelloRequest {
            name: name.to_owned(),
        })
        .await
        .unwrap();
        let reply = chat.message().await.unwrap().unwrap();
        assert_eq!(reply.message, format!("Hello, {name}!"));
    }
    chat.close_send().unwrap();
    assert!(chat.message().await.unwrap().is_none());

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
