//! # protoless
//!
//! Turn an annotated Rust trait into a real gRPC service. No `.proto` file goes in; one comes out.
//!
//! ```
//! use protoless::{Message, Status};
//!
//! /// Request for a pi approximation.
//! #[derive(Message, Clone, Debug, PartialEq)]
//! pub struct PiRequest {
//!     /// How many terms of the series to sum.
//!     pub n: i32,
//! }
//!
//! #[derive(Message, Clone, Debug, PartialEq)]
//! pub struct PiResponse {
//!     pub value: f64,
//! }
//!
//! #[protoless::service(package = "pi")]
//! pub trait PiCalculator {
//!     /// Approximates pi with n terms.
//!     async fn calc(&self, req: PiRequest) -> Result<PiResponse, Status>;
//! }
//!
//! // The macro generated PiCalculatorServer, PiCalculatorClient and the schema:
//! let proto = PiCalculatorServer::schema().to_proto().unwrap();
//! assert!(proto.contains("service PiCalculator {"));
//! assert!(proto.contains("  // How many terms of the series to sum.\n  int32 n = 1;"));
//! ```
//!
//! See the README for the quick start, and `examples/` for runnable programs.

pub use protoless_macros::{service, Enumeration, Message};
pub use protoless_runtime::*;
