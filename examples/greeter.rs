//! The greeter from the gRPC quick start: `SayHello` answers `Hello, <name>!`.
//!
//! `cargo run --example greeter` runs a demo; `serve ADDR` serves; `proto` prints the `.proto`.

#[path = "common/mod.rs"]
mod common;

use protoless::{Message, Server, Status};

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
}

struct Greetings;

impl Greeter for Greetings {
    async fn say_hello(&self, req: HelloRequest) -> Result<HelloReply, Status> {
        Ok(HelloReply {
            message: format!("Hello, {}!", req.name),
        })
    }
}

fn server() -> Server {
    Server::builder().add_service(GreeterServer::new(Greetings))
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
    running.stop().await?;
    println!("server stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match common::mode() {
        common::Mode::Demo => demo().await,
        common::Mode::Serve(addr) => common::serve(server(), &addr).await,
        common::Mode::Proto => {
            print!("{}", GreeterServer::schema().to_proto()?);
            Ok(())
        }
    }
}
