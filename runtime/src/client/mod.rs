//! The gRPC client: a [`Channel`] to one server, and the per-call builder [`UnaryCall`].

mod call;
mod channel;

pub use call::UnaryCall;
pub use channel::Channel;
