//! The bridge between generated code and the server: [`Service`] routes a call by method name.

use std::future::Future;

use super::ServerCall;
use crate::schema::ServiceSchema;

/// A gRPC service the [`Server`](super::Server) can host.
///
/// `#[service]` implements this for the generated `…Server` type; you do not implement it by hand.
pub trait Service: Send + Sync + 'static {
    /// The fully qualified service name, such as `pi.PiCalculator`.
    fn name(&self) -> &'static str;

    /// The service's schema, for the `.proto` export.
    fn schema(&self) -> ServiceSchema;

    /// The call to `method`, ready to start (see [`start_call`]), or the call handed back when
    /// there is no such method.
    // The call comes back only for an unknown method; boxing it would cost every call an
    // allocation.
    #[allow(clippy::result_large_err)]
    fn call(&self, method: &str, call: ServerCall) -> Result<CallHandle, ServerCall>;
}

/// A call ready to start: its whole future, in one allocation (no routing future around it).
///
/// Its connection first runs it in place, after reading everything the peer sent: a call that
/// finishes there (a unary call whose handler does not wait) costs no task, and its answer goes
/// out with the others of that read in one write. A call that has to wait then continues on a
/// task of its own, which the connection keeps, to cancel the call when a graceful shutdown's
/// drain timeout runs out (the call then answers `UNAVAILABLE`).
pub struct CallHandle(pub(super) std::pin::Pin<Box<dyn Future<Output = ()> + Send>>);

impl std::fmt::Debug for CallHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallHandle")
    }
}

/// Prepares one call to start (see [`CallHandle`]).
pub fn start_call(call: impl Future<Output = ()> + Send + 'static) -> CallHandle {
    // A call ends with its stream: when the connection ends, h2 fails every open stream, which
    // wakes and cancels a call waiting on its task.
    CallHandle(Box::pin(call))
}

/// One RPC method, described by `#[service]` as a type so that its request and response types
/// are checked once (at the method) rather than at every use. Generated; not for users.
pub trait Method: 'static {
    /// The request message.
    type Request: crate::Message;
    /// The response message.
    type Response: crate::Message;
    /// `/package.Service/Method`.
    const PATH: &'static str;
    /// The method as interceptors see it.
    const INFO: crate::MethodInfo;
}

/// The schema of `M`'s request. Generic, so that a request type that is not a message is
/// reported once, at `M`'s definition, and not again here.
pub fn request_schema<M: Method>() -> crate::schema::MessageSchema {
    <M::Request as crate::Message>::schema()
}

/// The schema of `M`'s response.
pub fn response_schema<M: Method>() -> crate::schema::MessageSchema {
    <M::Response as crate::Message>::schema()
}
