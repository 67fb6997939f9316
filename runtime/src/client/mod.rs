//! The gRPC client: a [`Channel`] to one server, and [`Call`]s on it.

mod call;
mod channel;

pub use call::{
    kind, BidiStream, BidiStreamingCall, Call, ClientStream, ClientStreamingCall, RequestSink,
    Responses, ServerStreamingCall, UnaryCall,
};
pub(crate) use call::{status_from_h2, status_from_headers};
pub use channel::Channel;
