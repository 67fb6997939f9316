//! The greeter from the gRPC quick start, in all four call shapes: `SayHello` answers
//! `Hello, <name>!`; `LotsOfReplies` streams ten numbered greetings; `LotsOfGreetings` greets
//! every name of a stream at once; `BidiHello` greets each name as soon as it arrives.
//!
//! `cargo run --example greeter` runs a demo; `serve ADDR` serves; `proto` prints the `.proto`.

#[path = "common/mod.rs"]
mod common;

use protoless::{stream, Message, Server, Status, Stream, Streaming};

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

/// The example's server, ready to serve.
pub fn server() -> Server {
    Server::builder().add_service(GreeterServer::new(Greetings))
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let running = common::Background::start(|_| server()).await?;
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::run(server, demo, || GreeterServer::schema().to_proto()).await
}
