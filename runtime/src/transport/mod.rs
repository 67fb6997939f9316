//! Bytes in and out: TCP and Unix domain sockets, with TLS over either (feature `tls`). A server
//! [`Listener`] and the client's dialer yield connections that the layers above use alike; they
//! learn only what a connection reports (its [`Peer`]).

pub(crate) mod listener;
mod proxy;
mod target;
#[cfg(feature = "tls")]
pub(crate) mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

pub use listener::Listener;
pub(crate) use proxy::Proxy;
pub(crate) use target::{Address, Resolution, Target};

/// What a connection carries: any byte stream tokio can read and write.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Who is at the other end of a connection, as far as the transport knows.
#[derive(Clone, Debug, Default)]
pub(crate) struct Peer {
    /// The TCP peer's address; `None` over a Unix socket.
    pub(crate) addr: Option<SocketAddr>,
    /// The client certificate's identity, when TLS verified one.
    pub(crate) identity: Option<Arc<PeerIdentity>>,
}

/// The identity a peer proved with a certificate that TLS verified (mutual TLS).
///
/// ```
/// # use protoless::{Context, Status};
/// fn caller(ctx: &Context) -> Result<String, Status> {
///     let identity = ctx
///         .peer_identity()
///         .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
///     Ok(identity.subject_alt_names().first().cloned().unwrap_or_default())
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    pub(crate) subject_alt_names: Vec<String>,
    pub(crate) certificate: Vec<u8>,
}

impl PeerIdentity {
    /// The subject alternative names of the peer's certificate: DNS names as they are, IP
    /// addresses in their usual text form, URIs (such as SPIFFE IDs) and e-mail addresses.
    pub fn subject_alt_names(&self) -> &[String] {
        &self.subject_alt_names
    }

    /// The peer's certificate, DER-encoded, for checks beyond its names.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }
}
