//! Counting the PINGs a client sends, for gRFC A8's ping policy. h2 answers PINGs itself and
//! tells nobody, so this reads the HTTP/2 frame headers as the bytes pass on their way to h2
//! (never changing them) and signals each PING that is not an acknowledgement; it also counts
//! the HEADERS and DATA frames the server writes, which forgive earlier PINGs (as in grpc-go).

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
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const ACK: u8 = 0x1;

/// The PINGs a peer sent that nobody looked at yet, and a wake-up for whoever looks.
#[derive(Debug, Default)]
pub(crate) struct Pings {
    count: AtomicU32,
    arrived: Notify,
    /// HEADERS and DATA frames written so far.
    sent: std::sync::atomic::AtomicU64,
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

    /// HEADERS and DATA frames the server has written, in all.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
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
        written: Option<Scanner>,
    }
}

impl<IO> PingTap<IO> {
    /// `io`, signalling `pinged` for each PING the peer sends; `None`: nothing counted.
    pub(crate) fn new(io: IO, pinged: Option<Arc<Pings>>) -> PingTap<IO> {
        PingTap {
            io,
            written: pinged.clone().map(Scanner::outgoing),
            scanner: pinged.map(Scanner::new),
        }
    }
}

/// Where the reader is in the frame stream.
struct Scanner {
    /// The server's own frames: HEADERS and DATA counted, no preface.
    outgoing: bool,
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
            outgoing: false,
            preface: PREFACE_LEN,
            header: [0; HEADER_LEN],
            filled: 0,
            payload: 0,
            pinged,
        }
    }

    fn outgoing(pinged: Arc<Pings>) -> Scanner {
        Scanner {
            outgoing: true,
            preface: 0,
            ..Scanner::new(pinged)
        }
    }

    /// Reads `bytes`, the next that passed.
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
                    if self.outgoing {
                        if kind == DATA || kind == HEADERS {
                            self.pinged.sent.fetch_add(1, Ordering::AcqRel);
                        }
                    } else if kind == PING && flags & ACK == 0 {
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
        let this = self.project();
        let written = this.io.poll_write(cx, buf);
        if let (Some(scanner), Poll::Ready(Ok(n))) = (this.written, &written) {
            scanner.scan(&buf[..*n]);
        }
        written
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
        let this = self.project();
        let written = this.io.poll_write_vectored(cx, bufs);
        if let (Some(scanner), Poll::Ready(Ok(n))) = (this.written, &written) {
            let mut left = *n;
            for buf in bufs {
                let taken = left.min(buf.len());
                scanner.scan(&buf[..taken]);
                left -= taken;
                if left == 0 {
                    break;
                }
            }
        }
        written
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
        // What the server writes: no preface, HEADERS and DATA counted.
        let pinged = Arc::new(Pings::default());
        let mut written = Scanner::outgoing(pinged.clone());
        let mut out = frame(0x4, 0, &[0; 6]);
        out.extend(frame(HEADERS, 0x4, &[0; 5]));
        out.extend(frame(DATA, 0, &[HEADERS; 12]));
        out.extend(frame(PING, ACK, &[0; 8]));
        for piece in out.chunks(3) {
            written.scan(piece);
        }
        assert_eq!(pinged.sent(), 2);
    }
}
