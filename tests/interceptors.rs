//! Interceptors on both sides, in all four call shapes: their order, refusals before anything is
//! decoded, headers and trailers they add, outcomes they replace, messages they see; and
//! per-call credentials checked by a server interceptor, from Rust and from grpcio.

mod support;

use std::sync::{Arc, Mutex};

use protoless::{
    CallInfo, CallKind, Channel, Code, Interceptor, Outcome, Passing, StartFuture, Status,
};
use support::greeter::{self, GreeterClient, HelloReply, HelloRequest};
use support::{python, root, succeeded, TestServer};
use tokio::process::Command;

type Log = Arc<Mutex<Vec<String>>>;

/// Field 1 as a varint, where `HelloRequest` has a string.
#[derive(protoless::Message, Clone, Debug, PartialEq)]
struct Bogus {
    name: u64,
}

/// Records what it sees, under its name.
struct Recorder {
    name: &'static str,
    log: Log,
}

impl Recorder {
    fn note(&self, what: String) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {what}", self.name));
    }
}

impl Interceptor for Recorder {
    fn start<'a>(&'a self, call: &'a mut CallInfo) -> StartFuture<'a> {
        Box::pin(async move {
            self.note(format!("start {}", call.method().method));
            Ok(())
        })
    }

    fn message(&self, _call: &CallInfo, passing: Passing<'_>) {
        let text = if passing.request {
            let request = passing.message.downcast_ref::<HelloRequest>().unwrap();
            format!("request {}", request.name)
        } else {
            let reply = passing.message.downcast_ref::<HelloReply>().unwrap();
            format!("response {}", reply.message)
        };
        self.note(text);
    }

    fn end(&self, _call: &CallInfo, outcome: &mut Outcome) {
        self.note(format!("end {}", outcome.code()));
    }
}

fn recorder(name: &'static str, log: &Log) -> Recorder {
    Recorder {
        name,
        log: log.clone(),
    }
}

fn taken(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn hello(name: &str) -> HelloRequest {
    HelloRequest {
        name: name.to_owned(),
    }
}

#[tokio::test]
async fn interceptors_run_in_order_and_see_every_message_in_all_four_shapes() {
    let server_log = Log::default();
    let client_log = Log::default();
    let server = TestServer::start(
        greeter::server()
            .interceptor(recorder("s1", &server_log))
            .interceptor(recorder("s2", &server_log)),
    )
    .await;
    let channel = Channel::connect(&server.url())
        .await
        .unwrap()
        .with_interceptor(recorder("c1", &client_log))
        .with_interceptor(recorder("c2", &client_log));
    let client = GreeterClient::new(channel);

    client.say_hello(hello("unary")).await.unwrap();
    assert_eq!(
        taken(&client_log),
        [
            "c1 start SayHello",
            "c2 start SayHello",
            "c1 request unary",
            "c2 request unary",
            "c1 response Hello, unary!",
            "c2 response Hello, unary!",
            "c2 end OK",
            "c1 end OK",
        ]
    );
    let server_side = taken(&server_log);
    assert_eq!(
        server_side,
        [
            "s1 start SayHello",
            "s2 start SayHello",
            "s1 request unary",
            "s2 request unary",
            "s1 response Hello, unary!",
            "s2 response Hello, unary!",
            "s2 end OK",
            "s1 end OK",
        ]
    );

    let mut replies = client.lots_of_replies(hello("many")).await.unwrap();
    while replies.message().await.unwrap().is_some() {}
    let seen = taken(&client_log);
    assert_eq!(
        seen.iter()
            .filter(|line| line.starts_with("c1 response"))
            .count(),
        10
    );
    assert_eq!(seen.last().map(String::as_str), Some("c1 end OK"));
    let seen = taken(&server_log);
    assert_eq!(
        seen.iter()
            .filter(|line| line.starts_with("s2 response"))
            .count(),
        10
    );
    assert_eq!(seen.last().map(String::as_str), Some("s1 end OK"));

    let mut greetings = client.lots_of_greetings().await.unwrap();
    for name in ["a", "b", "c"] {
        greetings.send(hello(name)).await.unwrap();
    }
    greetings.finish().await.unwrap();
    let seen = taken(&client_log);
    assert!(seen.contains(&"c2 request c".to_owned()), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("c1 end OK"));
    let seen = taken(&server_log);
    assert_eq!(
        seen.iter()
            .filter(|line| line.starts_with("s1 request"))
            .count(),
        3
    );

    let mut chat = client.bidi_hello().await.unwrap();
    chat.send(hello("ping")).await.unwrap();
    chat.message().await.unwrap().unwrap();
    chat.close_send().unwrap();
    assert!(chat.message().await.unwrap().is_none());
    let seen = taken(&client_log);
    assert!(
        seen.contains(&"c1 response Hello, ping!".to_owned()),
        "{seen:?}"
    );
    assert_eq!(seen.last().map(String::as_str), Some("c1 end OK"));
    let seen = taken(&server_log);
    assert!(seen.contains(&"s1 request ping".to_owned()), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("s1 end OK"));
    server.stop().await;
}

/// Refuses every call without `authorization: Bearer letmein`, before anything is decoded, and
/// adds a response header and a trailer to those it lets through.
struct Gate;

impl Interceptor for Gate {
    fn start<'a>(&'a self, call: &'a mut CallInfo) -> StartFuture<'a> {
        Box::pin(async move {
            if call.metadata().get("authorization") != Some("Bearer letmein") {
                return Err(Status::unauthenticated("a bearer token is required"));
            }
            call.insert_response_header("gate", "open")?;
            Ok(())
        })
    }

    fn end(&self, call: &CallInfo, outcome: &mut Outcome) {
        let kind = match call.method().kind {
            CallKind::Unary => "unary",
            _ => "streaming",
        };
        outcome.trailers_mut().insert("kind", kind).unwrap();
    }
}

/// Adds the bearer token to every call.
struct Bearer(&'static str);

impl Interceptor for Bearer {
    fn start<'a>(&'a self, call: &'a mut CallInfo) -> StartFuture<'a> {
        Box::pin(async move {
            call.metadata_mut()
                .insert("authorization", &format!("Bearer {}", self.0))?;
            Ok(())
        })
    }
}

#[tokio::test]
async fn credentials_headers_trailers_and_refusals() {
    let server = TestServer::start(greeter::server().interceptor(Gate)).await;
    let channel = Channel::connect(&server.url()).await.unwrap();
    let anonymous = GreeterClient::new(channel.clone());
    let status = anonymous.say_hello(hello("x")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // A refusal comes before decoding: a request that does not decode (a varint where the
    // name's string belongs) is refused all the same, where a server without the gate fails
    // to decode it.
    let garbage = |channel: &Channel| {
        channel.unary::<Bogus, HelloReply>("/helloworld.Greeter/SayHello", Bogus { name: 7 })
    };
    assert_eq!(
        garbage(&channel).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let ungated = TestServer::start(greeter::server()).await;
    let direct = Channel::connect(&ungated.url()).await.unwrap();
    let undecodable = garbage(&direct).await.unwrap_err();
    assert_ne!(undecodable.code(), Code::Unauthenticated);
    assert!(undecodable.message().contains("decode"), "{undecodable:?}");
    ungated.stop().await;

    let authorized = GreeterClient::new(channel.with_interceptor(Bearer("letmein")));
    let response = authorized
        .say_hello(hello("friend"))
        .into_response()
        .await
        .unwrap();
    assert_eq!(response.message.message, "Hello, friend!");
    assert_eq!(response.headers.get("gate"), Some("open"));
    assert_eq!(response.trailers.get("kind"), Some("unary"));
    let mut replies = authorized.lots_of_replies(hello("s")).await.unwrap();
    while replies.message().await.unwrap().is_some() {}
    assert_eq!(replies.trailers().unwrap().get("kind"), Some("streaming"));
    server.stop().await;
}

/// Turns a success into NOT_FOUND on the server, and NOT_FOUND into ABORTED on the client.
struct Replace(Code, Code);

impl Interceptor for Replace {
    fn end(&self, _call: &CallInfo, outcome: &mut Outcome) {
        if outcome.code() == self.0 {
            outcome.set_status(Some(Status::new(self.1, "replaced")));
        }
    }
}

#[tokio::test]
async fn interceptors_replace_outcomes_on_both_sides() {
    let server =
        TestServer::start(greeter::server().interceptor(Replace(Code::Ok, Code::NotFound))).await;
    let channel = Channel::connect(&server.url()).await.unwrap();
    let status = GreeterClient::new(channel.clone())
        .say_hello(hello("x"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status =
        GreeterClient::new(channel.with_interceptor(Replace(Code::NotFound, Code::Aborted)))
            .say_hello(hello("x"))
            .await
            .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    server.stop().await;
}

/// A client interceptor that refuses: nothing is sent.
#[tokio::test]
async fn a_client_interceptor_refuses_before_sending() {
    let server_log = Log::default();
    let server = TestServer::start(greeter::server().interceptor(recorder("s", &server_log))).await;
    struct Offline;
    impl Interceptor for Offline {
        fn start<'a>(&'a self, _call: &'a mut CallInfo) -> StartFuture<'a> {
            Box::pin(async { Err(Status::unavailable("offline mode")) })
        }
    }
    let channel = Channel::connect(&server.url())
        .await
        .unwrap()
        .with_interceptor(Offline);
    let status = GreeterClient::new(channel)
        .say_hello(hello("x"))
        .await
        .unwrap_err();
    assert_eq!(status.message(), "offline mode");
    assert!(taken(&server_log).is_empty());
    server.stop().await;
}

/// grpcio meets the server's credential check: refused without a token, served with one.
#[tokio::test]
async fn grpcio_meets_the_credential_check() {
    let server = TestServer::start(greeter::server().interceptor(Gate)).await;
    let output = Command::new(python())
        .arg(root().join("tests/python/credentials.py"))
        .arg(server.addr.to_string())
        .output()
        .await
        .unwrap();
    let stdout = succeeded("credentials.py", &output);
    assert!(
        stdout.contains("without a token: UNAUTHENTICATED"),
        "{stdout}"
    );
    assert!(
        stdout.contains("with a token: Hello, grpcio! gate=open"),
        "{stdout}"
    );
    server.stop().await;
}
