//! The protoless side of every benchmark: the greeter of `examples/greeter.rs`, the pi
//! calculator of `examples/pi.rs`, and the messages and service the other benchmarks use.
//! `proto/bench/bench.proto` is exported from here.

#![allow(clippy::duplicate_mod)] // each example includes the shared command-line module itself

use std::collections::HashMap;

use bytes::Bytes;

use protoless::{stream, Message, Status, Stream, Streaming};

/// The greeter users run (`cargo run --example greeter`): what the unary benchmarks call.
#[allow(dead_code, unreachable_pub)] // the example's command line, and items only it names
#[path = "../../examples/greeter.rs"]
mod greeter;
pub use self::greeter::{GreeterClient, HelloReply, HelloRequest};

/// The pi calculator users run (`cargo run --example pi`): what the CPU-bound benchmark calls.
#[allow(dead_code, unreachable_pub)] // the example's command line, and items only it names
#[path = "../../examples/pi.rs"]
mod pi;
pub use self::pi::{approximate_pi, PiCalculatorClient, PiRequest};

/// A payload to echo, of any size.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct Blob {
    pub data: Bytes,
}

/// How many ticks to stream.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct FloodRequest {
    pub count: u64,
}

/// A small message.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct Tick {
    pub seq: u64,
}

#[derive(Message, Clone, Debug, PartialEq)]
pub struct Customer {
    pub id: u64,
    pub name: String,
    pub email: String,
}

#[derive(Message, Clone, Debug, PartialEq)]
pub struct LineItem {
    pub sku: String,
    pub quantity: u32,
    pub unit_price: f64,
}

#[derive(Message, Clone, Debug, PartialEq)]
pub struct Card {
    pub number: String,
    pub expiry_month: u32,
    pub expiry_year: u32,
}

/// How an order is paid.
#[derive(Message, Clone, Debug, PartialEq)]
pub enum Payment {
    Card(Card),
    Voucher(String),
}

/// A realistic nested message for the codec benchmark.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct Order {
    pub id: String,
    pub customer: Option<Customer>,
    pub items: Vec<LineItem>,
    pub total: f64,
    pub payment: Option<Payment>,
    pub tags: HashMap<String, String>,
}

#[protoless::service(package = "bench")]
pub trait Bench {
    /// Echoes a payload.
    async fn blob(&self, req: Blob) -> Result<Blob, Status>;
    /// Streams `count` ticks.
    async fn flood(
        &self,
        req: FloodRequest,
    ) -> Result<impl Stream<Item = Result<Tick, Status>>, Status>;
    /// Answers each tick with the next.
    async fn ping_pong(
        &self,
        reqs: Streaming<Tick>,
    ) -> Result<impl Stream<Item = Result<Tick, Status>>, Status>;
    /// Echoes an order (so that the codec benchmark's types are exported).
    async fn checkout(&self, req: Order) -> Result<Order, Status>;
}

pub struct BenchService;

impl Bench for BenchService {
    async fn blob(&self, req: Blob) -> Result<Blob, Status> {
        Ok(req)
    }

    async fn flood(
        &self,
        req: FloodRequest,
    ) -> Result<impl Stream<Item = Result<Tick, Status>>, Status> {
        Ok(stream::iter((0..req.count).map(|seq| Tick { seq })))
    }

    async fn ping_pong(
        &self,
        mut reqs: Streaming<Tick>,
    ) -> Result<impl Stream<Item = Result<Tick, Status>>, Status> {
        Ok(stream::generate(move |mut out| async move {
            while let Some(tick) = reqs.message().await? {
                out.send(Tick { seq: tick.seq + 1 }).await;
            }
            Ok(())
        }))
    }

    async fn checkout(&self, req: Order) -> Result<Order, Status> {
        Ok(req)
    }
}

pub fn protoless_server() -> protoless::Server {
    greeter::server()
        .max_receive_message_size(64 << 20)
        .add_service(BenchServer::new(BenchService))
        .add_service(pi::PiCalculatorServer::new(pi::Calculator))
}
