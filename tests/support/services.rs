//! The services of the examples, declared again for the tests. `exported_proto.rs` checks that
//! they export exactly the committed `examples/proto/` files, so they are the same on the wire.

use protoless::{Message, Status};

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

/// Approximates pi.
#[protoless::service(package = "pi")]
pub trait PiCalculator {
    /// Sums the first `n` terms of the series and returns the resulting value of pi.
    async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status>;
}

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

/// The value `Calc` answers for `n`.
pub fn approximate_pi(n: i32) -> f64 {
    let sum: f64 = (0..n).map(|i| 1.0 / f64::from(2 * i + 1).powi(2)).sum();
    (8.0 * sum).sqrt()
}
