//! Counting the PINGs a client sends, for gRFC A8's ping policy. h2 answers PINGs itself and
//! tells nobody, so this reads the HTTP/2 frame headers as the bytes pass on their way to h2
//! (never changing them) and signals each PING that is not an acknowledgement.

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// The client connection preface, which precedes the first frame.
const PREFACE_LEN: usize = 24;
/// An HTTP/2 frame header: length (3 bytes), type, flags, stream id (4 bytes).
const HEADER_LEN: usize = 9;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;

/// The PINGs a peer sent that nobody looked at yet, and a wake-up for whoever looks.
#[derive(Debug, Default)]
pub(crate) struct Pings {
    count: AtomicU32,
    arrived: Notify,
}

impl Pings {
    /// Waits for PINGs, and returns how many arrived since the last call.
    pub(crate) async fn arrived(&self) -> u32 {
        loop {
            let count = self.count.swap(0, Ordering::AcqRel);
            if count > 0 {
                return count;
            }
            self.arrived.notified().await;
        }
    }

    fn received(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.arrived.notify_one();
    }
}

pin_project_lite::pin_project! {
    /// A connection's IO, with its incoming PINGs counted when a ping policy is set.
    pub(crate) struct PingTap<IO> {
        #[pin]
        io: IO,
        scanner: Option<Scanner>,
    }
}

impl<IO> PingTap<IO> {
    /// `io`, signalling `pinged` for each PING the peer sends; `None`: nothing counted.
    pub(crate) fn new(io: IO, pinged: Option<Arc<Pings>>) -> PingTap<IO> {
        PingTap {
            io,
            scanner: pinged.map(Scanner::new),
        }
    }
}

/// Where the reader is in the frame stream.
struct Scanner {
    /// Preface bytes still to skip.
    preface: usize,
    /// The frame header being read.
    header: [u8; HEADER_LEN],
    filled: usize,
    /// Payload bytes of the current frame still to skip.
    payload: usize,
    pinged: Arc<Pings>,
}

impl Scanner {
    fn new(pinged: Arc<Pings>) -> Scanner {
        Scanner {
            preface: PREFACE_LEN,
            header: [0; HEADER_LEN],
            filled: 0,
            payload: 0,
            pinged,
        }
    }

    /// Reads `bytes`, the next the peer sent.
    fn scan(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.preface > 0 {
                let skipped = self.preface.min(bytes.len());
                self.preface -= skipped;
                bytes = &bytes[skipped..];
            } else if self.payload > 0 {
                let skipped = self.payload.min(bytes.len());
                self.payload -= skipped;
                bytes = &bytes[skipped..];
            } else {
                let taken = (HEADER_LEN - self.filled).min(bytes.len());
                self.header[self.filled..self.filled + taken].copy_from_slice(&bytes[..taken]);
                self.filled += taken;
                bytes = &bytes[taken..];
                if self.filled == HEADER_LEN {
                    self.filled = 0;
                    let [a, b, c, kind, flags, ..] = self.header;
                    self.payload = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                    if kind == PING && flags & ACK == 0 {
                        self.pinged.received();
                    }
                }
            }
        }
    }
}

impl<IO: AsyncRead> AsyncRead for PingTap<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let read = this.io.poll_read(cx, buf);
        if let Some(scanner) = this.scanner {
            scanner.scan(&buf.filled()[before..]);
        }
        read
    }
}

impl<IO: AsyncWrite> AsyncWrite for PingTap<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut bytes = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes.extend_from_slice(payload);
        bytes
    }

    #[tokio::test]
    async fn counts_pings_but_not_acks_however_the_bytes_are_split() {
        let mut stream = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        stream.extend(frame(0x4, 0, &[0; 6])); // SETTINGS
        stream.extend(frame(PING, 0, &[1; 8]));
        stream.extend(frame(0x0, 0, &[PING; 20])); // DATA that looks like frames inside
        stream.extend(frame(PING, ACK, &[2; 8]));
        stream.extend(frame(PING, 0, &[3; 8]));
        for chunk in [1, 5, 9, 64, stream.len()] {
            let pinged = Arc::new(Pings::default());
            let mut scanner = Scanner::new(pinged.clone());
            for piece in stream.chunks(chunk) {
                scanner.scan(piece);
            }
            assert_eq!(pinged.arrived().await, 2, "split into pieces of {chunk}");
        }
    }
}
