//! [`Listener`]: where a server accepts connections, over TCP or a Unix domain socket.

use std::io;
use std::path::PathBuf;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use super::Peer;

/// A bound socket a [`Server`](crate::Server) accepts connections on: TCP, or a Unix domain
/// socket (as sidecars and local daemons use).
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let tcp = protoless::Listener::bind("127.0.0.1:0").await?;
/// let unix = protoless::Listener::bind("unix:///run/greeter.sock").await?;
/// println!("listening on {} and {}", tcp.local_addr(), unix.local_addr());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Listener {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Tcp(TcpListener),
    /// The socket file is removed when the listener is dropped.
    Unix(UnixListener, PathBuf),
}

/// One accepted connection.
pub(crate) enum Accepted {
    Tcp(TcpStream, Peer),
    Unix(UnixStream, Peer),
}

impl Listener {
    /// Binds `addr`: `HOST:PORT` (port 0 picks a free one), `unix:PATH` or
    /// `unix:///ABSOLUTE/PATH`.
    ///
    /// A Unix socket path that exists already is an error (`AddrInUse`), as with any socket
    /// address in use: remove a stale file first.
    pub async fn bind(addr: &str) -> io::Result<Listener> {
        let Some(path) = addr.strip_prefix("unix:") else {
            return Ok(TcpListener::bind(addr).await?.into());
        };
        let path = match path.strip_prefix("//") {
            Some(absolute) if absolute.starts_with('/') => absolute,
            Some(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{addr:?}: unix:// needs an absolute path (unix:///PATH)"),
                ))
            }
            None => path,
        };
        // The absolute path, so that `local_addr` says where the socket really is.
        let path = std::path::absolute(path)?;
        let listener = UnixListener::bind(&path)?;
        Ok(Listener {
            kind: Kind::Unix(listener, path),
        })
    }

    /// Where clients reach this listener: `HOST:PORT`, or `unix:///ABSOLUTE/PATH`.
    pub fn local_addr(&self) -> String {
        match &self.kind {
            Kind::Tcp(listener) => listener.local_addr().map_or_else(
                |error| format!("(unknown: {error})"),
                |addr| addr.to_string(),
            ),
            Kind::Unix(_, path) => format!("unix://{}", path.display()),
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<Accepted> {
        match &self.kind {
            Kind::Tcp(listener) => {
                let (stream, addr) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                let peer = Peer {
                    addr: Some(addr),
                    identity: None,
                };
                Ok(Accepted::Tcp(stream, peer))
            }
            Kind::Unix(listener, _) => {
                let (stream, _) = listener.accept().await?;
                Ok(Accepted::Unix(stream, Peer::default()))
            }
        }
    }
}

impl Listener {
    /// A connection already waiting in the listen backlog, if there is one: never waits.
    pub(crate) async fn accept_waiting(&self) -> Option<io::Result<Accepted>> {
        let accept = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match &self.kind {
                Kind::Tcp(listener) => listener.poll_accept(cx).map_ok(|(stream, addr)| {
                    let _ = stream.set_nodelay(true);
                    let peer = Peer {
                        addr: Some(addr),
                        identity: None,
                    };
                    Accepted::Tcp(stream, peer)
                }),
                Kind::Unix(listener, _) => listener
                    .poll_accept(cx)
                    .map_ok(|(stream, _)| Accepted::Unix(stream, Peer::default())),
            })
        });
        match accept.await {
            std::task::Poll::Ready(accepted) => Some(accepted),
            std::task::Poll::Pending => None,
        }
    }
}

impl From<TcpListener> for Listener {
    fn from(listener: TcpListener) -> Listener {
        Listener {
            kind: Kind::Tcp(listener),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Kind::Unix(_, path) = &self.kind {
            // Nobody accepts on it any more: a client should be refused, not left waiting.
            let _ = std::fs::remove_file(path);
        }
    }
}
