//! HTTP/2 keepalive pings (gRFC A8): a connection whose peer stops answering PINGs is closed,
//! so that a client moves on from a server that vanished, and a server lets go of calls to a
//! client that vanished.

use std::time::Duration;

/// When and how long to ping.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keepalive {
    /// The quiet time after which a PING goes out.
    pub(crate) time: Duration,
    /// How long the answer may take before the connection counts as dead.
    pub(crate) timeout: Duration,
    /// Whether to ping also while no call is open (gRFC A8's `KEEPALIVE_WITHOUT_CALLS`).
    pub(crate) without_calls: bool,
}

impl Keepalive {
    /// Pings every `time` while `busy` says calls are open (or always, `without_calls`), and
    /// returns when an answer takes longer than `timeout`, or the connection cannot ping.
    pub(crate) async fn until_unanswered(self, mut pings: h2::PingPong, busy: impl Fn() -> bool) {
        loop {
            tokio::time::sleep(self.time).await;
            if !self.without_calls && !busy() {
                continue;
            }
            match tokio::time::timeout(self.timeout, pings.ping(h2::Ping::opaque())).await {
                Ok(Ok(_pong)) => {}
                Ok(Err(_)) | Err(_) => return,
            }
        }
    }
}
