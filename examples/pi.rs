//! The pi calculator from "gRPC principles and practice": `Calc` approximates pi with the series
//! pi^2 / 8 = sum over i >= 0 of 1 / (2i + 1)^2. `CalcStream` answers a stream of requests as
//! they arrive, skipping those with `n <= 0`.
//!
//! A large `n` takes seconds of CPU: the sum runs through `protoless::run_blocking`, off the
//! async workers (other calls are served meanwhile), and stops when its call's deadline passes
//! or the client cancels.
//!
//! `cargo run --example pi` runs a demo; `serve ADDR` serves; `proto` prints the `.proto`.

#[path = "common/mod.rs"]
mod common;

use protoless::health::HealthReporter;
use protoless::{
    run_blocking, stream, Cancellation, Message, Server, Status, Stream, Streaming, Web,
};

/// Asks for a pi approximation.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct PiRequest {
    /// How many terms of the series to sum; must be positive.
    pub n: i32,
}

/// A pi approximation.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct PiResponse {
    /// The approximation of pi.
    pub value: f64,
}

/// One answer of a stream of approximations.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct PiStreamResponse {
    /// The `n` of the request this answers.
    pub n: i32,
    /// The approximation of pi for that `n`.
    pub value: f64,
}

/// Approximates pi.
#[protoless::service(package = "pi")]
pub trait PiCalculator {
    /// Sums the first `n` terms of the series and returns the resulting value of pi.
    async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status>;
    /// Answers each request with a positive `n` as it arrives, in order; skips the others.
    async fn calc_stream(
        &self,
        reqs: Streaming<PiRequest>,
    ) -> Result<impl Stream<Item = Result<PiStreamResponse, Status>>, Status>;
}

/// The approximation `Calc` returns: sqrt(8 * sum_{i=0}^{n-1} 1/(2i+1)^2).
pub fn approximate_pi(n: i32) -> f64 {
    let sum: f64 = (0..n)
        .map(|i| 1.0 / (2.0 * f64::from(i) + 1.0).powi(2))
        .sum();
    (8.0 * sum).sqrt()
}

/// Up to this many terms, the sum takes well under a millisecond: cheaper to compute in place
/// than to hand to another thread.
const INLINE_TERMS: i32 = 1 << 16;

/// How many terms are summed between two looks at the cancellation.
const TERMS_PER_CHECK: i32 = 1 << 20;

/// [`approximate_pi`], computed off the async workers when it is long, and given up as soon as
/// the call is (its deadline passed, or the client cancelled).
async fn approximate_pi_for_call(n: i32) -> Result<f64, Status> {
    if n <= INLINE_TERMS {
        return Ok(approximate_pi(n));
    }
    run_blocking(move |cancellation| cancellable_pi(n, cancellation)).await
}

/// The same sum as [`approximate_pi`], term for term, checking `cancellation` as it goes.
fn cancellable_pi(n: i32, cancellation: &Cancellation) -> Result<f64, Status> {
    let mut sum = 0.0;
    let mut start = 0;
    while start < n {
        cancellation.check()?;
        let end = start.saturating_add(TERMS_PER_CHECK).min(n);
        // One running sum, in order: the result equals approximate_pi's to the last bit.
        for i in start..end {
            sum += 1.0 / (2.0 * f64::from(i) + 1.0).powi(2);
        }
        start = end;
    }
    Ok((8.0 * sum).sqrt())
}

/// The `PiCalculator` implementation.
pub struct Calculator;

impl PiCalculator for Calculator {
    async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status> {
        if req.n <= 0 {
            return Err(Status::invalid_argument(format!(
                "n must be positive, got {}",
                req.n
            )));
        }
        Ok(PiResponse {
            value: approximate_pi_for_call(req.n).await?,
        })
    }

    async fn calc_stream(
        &self,
        mut reqs: Streaming<PiRequest>,
    ) -> Result<impl Stream<Item = Result<PiStreamResponse, Status>>, Status> {
        Ok(stream::generate(move |mut replies| async move {
            while let Some(req) = reqs.message().await? {
                if req.n > 0 {
                    let value = approximate_pi_for_call(req.n).await?;
                    replies.send(PiStreamResponse { n: req.n, value }).await;
                }
            }
            Ok(())
        }))
    }
}

/// The example's server, ready to serve: native gRPC, gRPC-Web and Connect on one port
/// (browsers from any origin may call it: a demo setting).
pub fn server() -> Server {
    Server::builder()
        .web(Web::new().allow_any_origin())
        .health(HealthReporter::new())
        .reflection()
        .add_service(PiCalculatorServer::new(Calculator))
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let running = common::Background::start(server()).await?;
    println!("PiCalculator serving on {}", running.addr);
    let client = PiCalculatorClient::connect(&running.url()).await?;
    for n in [1, 10, 100, 1000, 100_000] {
        let reply = client.calc(PiRequest { n }).await?;
        println!("Calc(n = {n:>6}) = {:.10}", reply.value);
    }
    match client.calc(PiRequest { n: -5 }).await {
        Ok(reply) => return Err(format!("Calc(-5) should fail, got {reply:?}").into()),
        Err(status) => println!("Calc(n = {:>6}) failed: {status}", -5),
    }
    let mut stream = client.calc_stream().await?;
    for n in [3, 0, 30, -1, 300] {
        stream.send(PiRequest { n }).await?;
    }
    stream.close_send()?;
    while let Some(reply) = stream.message().await? {
        println!("CalcStream: n = {:>3} -> {:.10}", reply.n, reply.value);
    }
    running.stop().await?;
    println!("server stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::run(server, demo, || PiCalculatorServer::schema().to_proto()).await
}
