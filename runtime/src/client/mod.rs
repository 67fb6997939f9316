//! The gRPC client: a [`Channel`] to one server or many, and [`Call`]s on it.

pub mod balance;
mod call;
mod channel;
mod health_check;
mod replay;
mod response;
mod retry;
mod slices;
mod streams;
mod subchannel;
mod web;

pub(crate) use retry::random_fraction;
pub(crate) use subchannel::Load;

pub use call::{
    kind, BidiStreamingCall, Call, ClientStreamingCall, OnewayCall, ServerStreamingCall, UnaryCall,
};
pub use channel::{Channel, ChannelBuilder};
pub use response::Response;
pub(crate) use response::{end_of_call, status_from_h2};
pub use retry::{service_config, HedgingPolicy, RetryPolicy, ServiceConfigError};
pub use streams::{BidiStream, ClientStream, RequestSink, Responses};
pub use web::WebProtocol;
