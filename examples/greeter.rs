//! The greeter from the gRPC quick start, in all four call shapes: `SayHello` answers
//! `Hello, <name>!`; `LotsOfReplies` streams ten numbered greetings; `LotsOfGreetings` greets
//! every name of a stream at once; `BidiHello` greets each name as soon as it arrives.
//!
//! `cargo run --example greeter` runs a demo; `proto` prints the `.proto`;
//! `serve ADDR [--server-id ID] [--register etcd://HOST:PORT/PREFIX [--advertise HOST:PORT]]`
//! serves, sending the response header `server-id: ID` on every call when given an id, and
//! registering in etcd under PREFIX (the address of its `listening on` line, or `--advertise`)
//! until it shuts down.
//!
//! `call TARGET [--name NAME] [--count N] [--lb round_robin|pick_first] [--ca FILE]
//! [--cert FILE --key FILE]` makes N `SayHello` calls one after another, printing each reply's
//! message on a line (a failed call prints `CODE_NAME: MESSAGE` on stderr), then, sorted by id,
//! `server-id ID: COUNT` for each id the replies' `server-id` headers named; it exits 0 when
//! every call succeeded, 1 otherwise, and 2 on a usage error. TARGET is any target a channel
//! resolves (`HOST:PORT`, `http://`, `https://`, `unix:`, `ipv4:`, `ipv6:`, `dns:`,
//! `etcd://HOST:PORT/PREFIX`); the calls are spread round-robin (or all sent to the first
//! server that answers, with `--lb pick_first`) after every resolved address was tried once.
//! `--ca` and `--cert` turn TLS on whatever the scheme.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use protoless::balance::Picker;
use protoless::health::HealthReporter;
use protoless::{
    stream, CallInfo, Interceptor, Message, Server, StartFuture, Status, Stream, Streaming, Web,
};

/// The request message containing the user's name.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct HelloRequest {
    /// Who to greet.
    pub name: String,
}

/// The response message containing the greetings.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct HelloReply {
    /// The greeting.
    pub message: String,
}

/// The greeting service definition.
#[protoless::service(package = "helloworld")]
pub trait Greeter {
    /// Sends a greeting.
    async fn say_hello(&self, req: HelloRequest) -> Result<HelloReply, Status>;
    /// Sends ten numbered greetings.
    async fn lots_of_replies(
        &self,
        req: HelloRequest,
    ) -> Result<impl Stream<Item = Result<HelloReply, Status>>, Status>;
    /// Greets every name of the stream in one reply.
    async fn lots_of_greetings(&self, reqs: Streaming<HelloRequest>) -> Result<HelloReply, Status>;
    /// Greets each name as soon as it arrives.
    async fn bidi_hello(
        &self,
        reqs: Streaming<HelloRequest>,
    ) -> Result<impl Stream<Item = Result<HelloReply, Status>>, Status>;
}

/// The `Greeter` implementation.
pub struct Greetings;

impl Greeter for Greetings {
    async fn say_hello(&self, req: HelloRequest) -> Result<HelloReply, Status> {
        Ok(HelloReply {
            message: format!("Hello, {}!", req.name),
        })
    }

    async fn lots_of_replies(
        &self,
        req: HelloRequest,
    ) -> Result<impl Stream<Item = Result<HelloReply, Status>>, Status> {
        Ok(stream::iter((1..=10).map(move |i| HelloReply {
            message: format!("Hello, {}! #{i}", req.name),
        })))
    }

    async fn lots_of_greetings(
        &self,
        mut reqs: Streaming<HelloRequest>,
    ) -> Result<HelloReply, Status> {
        let mut names = Vec::new();
        while let Some(req) = reqs.message().await? {
            names.push(req.name);
        }
        Ok(HelloReply {
            message: format!("Hello, {}!", names.join(", ")),
        })
    }

    async fn bidi_hello(
        &self,
        mut reqs: Streaming<HelloRequest>,
    ) -> Result<impl Stream<Item = Result<HelloReply, Status>>, Status> {
        Ok(stream::generate(move |mut replies| async move {
            while let Some(req) = reqs.message().await? {
                replies
                    .send(HelloReply {
                        message: format!("Hello, {}!", req.name),
                    })
                    .await;
            }
            Ok(())
        }))
    }
}

/// The example's server, ready to serve: native gRPC, gRPC-Web and Connect on one port.
///
/// Browsers from any origin may call it (`Web::allow_any_origin`): a demo setting. A real
/// service lists the origins of its own pages with `Web::allow_origin`.
pub fn server() -> Server {
    Server::builder()
        .web(Web::new().allow_any_origin())
        .health(HealthReporter::new())
        .reflection()
        .add_service(GreeterServer::new(Greetings))
}

/// The example's server, naming itself `id` in a `server-id` response header on every call.
pub fn server_with_id(id: &str) -> Server {
    server().interceptor(ServerId(id.to_owned()))
}

/// Sends `server-id: ID` with every call's response headers.
pub struct ServerId(pub String);

impl Interceptor for ServerId {
    fn start<'a>(&'a self, call: &'a mut CallInfo) -> StartFuture<'a> {
        Box::pin(async move {
            call.insert_response_header("server-id", &self.0)
                .map_err(|error| Status::internal(error.to_string()))
        })
    }
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let running = common::Background::start(server()).await?;
    println!("Greeter serving on {}", running.addr);
    let client = GreeterClient::connect(&running.url()).await?;
    for name in ["world", "protoless", "gRPC 世界"] {
        let reply = client
            .say_hello(HelloRequest {
                name: name.to_owned(),
            })
            .await?;
        println!("SayHello({name:?}) -> {:?}", reply.message);
    }

    let mut replies = client
        .lots_of_replies(HelloRequest {
            name: "stream".to_owned(),
        })
        .await?;
    while let Some(reply) = replies.message().await? {
        println!("LotsOfReplies -> {:?}", reply.message);
    }

    let mut greetings = client.lots_of_greetings().await?;
    for name in ["Ada", "Grace", "Barbara"] {
        greetings
            .send(HelloRequest {
                name: name.to_owned(),
            })
            .await?;
    }
    println!("LotsOfGreetings -> {:?}", greetings.finish().await?.message);

    let mut chat = client.bidi_hello().await?;
    for name in ["ping", "pong"] {
        chat.send(HelloRequest {
            name: name.to_owned(),
        })
        .await?;
        let reply = chat
            .message()
            .await?
            .ok_or("the server ended the chat early")?;
        println!("BidiHello({name:?}) -> {:?}", reply.message);
    }
    chat.close_send()?;
    assert!(chat.message().await?.is_none());
    running.stop().await?;
    println!("server stopped");
    Ok(())
}

/// What `greeter call` was asked to do.
struct CallArgs {
    target: String,
    name: String,
    count: u32,
    picker: Arc<dyn Picker>,
    tls: Option<protoless::ClientTls>,
}

/// The options `greeter call` takes, each with a value.
const CALL_OPTIONS: [&str; 6] = ["--name", "--count", "--lb", "--ca", "--cert", "--key"];

/// Parses `call TARGET [--name NAME] [--count N] [--lb POLICY] [--ca FILE] [--cert FILE
/// --key FILE]`, or says what is wrong with it.
fn call_args(args: &[String]) -> Result<CallArgs, String> {
    let [target, rest @ ..] = args else {
        return Err("call needs a TARGET".to_owned());
    };
    if rest.len() % 2 != 0 {
        return Err(format!("{} needs a value", rest[rest.len() - 1]));
    }
    let mut options = Vec::new();
    for pair in rest.chunks(2) {
        if !CALL_OPTIONS.contains(&pair[0].as_str()) {
            return Err(format!("unknown option {}", pair[0]));
        }
        options.push((pair[0].clone(), pair[1].clone()));
    }
    let option = |name| common::option(&options, name);
    let count = match option("--count") {
        None => 1,
        Some(count) => count
            .parse()
            .map_err(|_| format!("--count {count:?} is not a number"))?,
    };
    let picker = match option("--lb").unwrap_or("round_robin") {
        policy @ ("round_robin" | "pick_first") => {
            protoless::balance::by_name(policy).expect("a policy protoless names")
        }
        other => {
            return Err(format!(
                "--lb {other:?}: expected round_robin or pick_first"
            ))
        }
    };
    let tls = common::client_tls(option("--ca"), option("--cert"), option("--key"))
        .map_err(|error| error.to_string())?;
    Ok(CallArgs {
        target: target.clone(),
        name: option("--name").unwrap_or("world").to_owned(),
        count,
        picker,
        tls,
    })
}

/// `greeter call`: every resolved address tried once, then the calls, one after another, and
/// the tally of the servers that answered; whether all succeeded.
async fn call(args: CallArgs) -> bool {
    let Ok(channel) = common::call_channel(&args.target, args.tls, Some(args.picker)) else {
        return false;
    };
    channel.try_every_address().await;
    let client = GreeterClient::new(channel);
    let mut all_succeeded = true;
    let mut tally = BTreeMap::<String, u32>::new();
    for _ in 0..args.count {
        let request = HelloRequest {
            name: args.name.clone(),
        };
        match client.say_hello(request).into_response().await {
            Ok(reply) => {
                println!("{}", reply.message.message);
                if let Some(id) = reply.headers.get("server-id") {
                    *tally.entry(id.to_owned()).or_default() += 1;
                }
            }
            Err(status) => {
                all_succeeded = false;
                common::report(&status);
            }
        }
    }
    for (id, count) in tally {
        println!("server-id {id}: {count}");
    }
    all_succeeded
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("call") {
        let call_args = call_args(&args[1..]).unwrap_or_else(|problem| {
            eprintln!(
                "{problem}\nusage: greeter call TARGET [--name NAME] [--count N] \
                 [--lb round_robin|pick_first] [--ca FILE] [--cert FILE --key FILE]"
            );
            std::process::exit(2);
        });
        std::process::exit(if call(call_args).await { 0 } else { 1 });
    }
    match common::mode(&SERVE_OPTIONS) {
        common::Mode::Demo => demo().await,
        common::Mode::Serve(addr, options) => {
            let server = match common::option(&options, "--server-id") {
                Some(id) => server_with_id(id),
                None => server(),
            };
            common::serve(server, &addr, &options).await
        }
        common::Mode::Proto => {
            print!("{}", GreeterServer::schema().to_proto()?);
            Ok(())
        }
    }
}

/// The options `greeter serve` takes besides TLS's.
pub const SERVE_OPTIONS: [&str; 3] = ["--server-id", "--register", "--advertise"];
