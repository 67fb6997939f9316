//! [`Slices`]: a client connection reads a burst of answers a slice at a time, so that the calls
//! answered by one slice send their next requests while the server works on them, instead of
//! after the whole burst.
//!
//! With many calls in flight on one connection, the server answers them in bursts (it writes
//! once per round of ready calls, see [`crate::batch`]). h2 reads a whole burst and wakes every
//! call it answers before it writes anything; the calls then start their next requests, which
//! go out together once the burst is done. Client and server took turns: while one worked on a
//! burst of 64 calls, the other waited, and the client's throughput was bounded by the sum of
//! both sides' time per call. Read in slices, the first calls' next requests reach the server
//! while the client is still busy with the rest of the burst, and the two sides overlap.
//!
//! Each read takes at most [`FIRST`] bytes, a few small answers. When a slice comes back full,
//! the connection gives way to the calls it woke: it yields once, h2 writes what calls sent
//! meanwhile, and the calls just woken run before the next slice is read. A request sent by a
//! call that a slice answered is written two slices later (after the next slice, at the next
//! give-way), so after [`QUIET`] full slices in a row with nothing written, nobody is answering
//! back: the connection is downloading, and each slice is twice the one before, until past
//! [`BULK`] reads are no longer sliced. A large message costs a dozen extra reads, not one per
//! slice. A write, or a slice that comes back short (the burst is over), starts again from
//! `FIRST`.
//!
//! Measured in BENCHMARKS.md ("client throughput, 64 in flight"): on one connection to the
//! same server, 1.29x tonic's calls per second before, about 2x after, at the same client CPU
//! per call.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A slice while calls answer back, in bytes: about ten small unary answers.
const FIRST: usize = 512;

/// Full slices in a row with nothing written after which slices grow (see the module
/// documentation). Measured: with 2, slices grew between answers and half the overlap was lost.
const QUIET: u32 = 3;

/// A slice this large means a download: reads are no longer sliced until the client writes
/// or the burst ends.
const BULK: usize = 64 * 1024;

/// A client connection's byte stream, read in slices (see the module documentation).
pub(crate) struct Slices<IO> {
    inner: IO,
    /// The largest next read, in bytes; `BULK` or more reads unsliced.
    slice: usize,
    /// The last read filled its slice: the next poll gives way to the calls it answered.
    give_way: bool,
    /// The client wrote since the last read.
    wrote: bool,
    /// Full slices read since the client last wrote.
    quiet: u32,
}

impl<IO> Slices<IO> {
    pub(crate) fn new(inner: IO) -> Self {
        Self {
            inner,
            slice: FIRST,
            give_way: false,
            wrote: false,
            quiet: 0,
        }
    }

    /// Back to small slices: the client wrote, or the burst is over.
    fn start_over(&mut self) {
        self.slice = FIRST;
        self.quiet = 0;
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Slices<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.give_way {
            // h2 now writes what the calls woken so far have sent, and the task runs again
            // once they have run.
            this.give_way = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if std::mem::take(&mut this.wrote) {
            this.start_over();
        }
        if this.slice >= BULK {
            let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
            if poll.is_pending() {
                this.start_over();
            }
            return poll;
        }
        let wanted = this.slice.min(buf.remaining());
        let mut slice = ReadBuf::new(buf.initialize_unfilled_to(wanted));
        let poll = Pin::new(&mut this.inner).poll_read(cx, &mut slice);
        let read = slice.filled().len();
        match poll {
            Poll::Ready(Ok(())) if read == wanted && read > 0 => {
                buf.advance(read);
                this.give_way = true;
                this.quiet = this.quiet.saturating_add(1);
                if this.quiet >= QUIET {
                    this.slice = this.slice.saturating_mul(2);
                }
            }
            Poll::Ready(Ok(())) => {
                buf.advance(read);
                this.start_over();
            }
            Poll::Pending => this.start_over(),
            Poll::Ready(Err(_)) => {}
        }
        poll
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Slices<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.wrote = true;
        Pin::new(&mut this.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.wrote = true;
        Pin::new(&mut this.inner).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Polls one read of up to `capacity` bytes: `None` if it gave way (or would block).
    fn read_once(slices: &mut Slices<tokio::io::DuplexStream>, capacity: usize) -> Option<Vec<u8>> {
        let mut bytes = vec![0; capacity];
        let mut buf = ReadBuf::new(&mut bytes);
        let waker = std::task::Waker::noop();
        match Pin::new(slices).poll_read(&mut Context::from_waker(waker), &mut buf) {
            Poll::Ready(result) => {
                result.expect("read");
                Some(buf.filled().to_vec())
            }
            Poll::Pending => None,
        }
    }

    #[tokio::test]
    async fn a_burst_is_read_in_slices_giving_way_after_each_full_one() {
        let (mut server, client) = tokio::io::duplex(1 << 20);
        let burst: Vec<u8> = (0..FIRST * 3 + 100).map(|i| i as u8).collect();
        server.write_all(&burst).await.unwrap();
        let mut slices = Slices::new(client);
        let mut read = Vec::new();
        for _ in 0..3 {
            let slice = read_once(&mut slices, 1 << 16).expect("a slice");
            assert_eq!(slice.len(), FIRST);
            read.extend(slice);
            assert!(read_once(&mut slices, 1 << 16).is_none(), "gives way");
        }
        let rest = read_once(&mut slices, 1 << 16).expect("the rest");
        assert_eq!(rest.len(), 100);
        read.extend(rest);
        assert_eq!(read, burst, "every byte, in order");
        // Nothing more to read: the read waits (and does not give way).
        assert!(read_once(&mut slices, 1 << 16).is_none());
        server.write_all(&burst).await.unwrap();
        assert_eq!(read_once(&mut slices, 1 << 16).unwrap().len(), FIRST);
    }

    #[tokio::test]
    async fn a_download_reads_growing_slices_until_the_client_writes() {
        let (mut server, client) = tokio::io::duplex(1 << 20);
        server.write_all(&vec![7; 1 << 19]).await.unwrap();
        let mut slices = Slices::new(client);
        let mut sizes = Vec::new();
        while sizes.iter().sum::<usize>() < BULK * 2 {
            if let Some(read) = read_once(&mut slices, 1 << 20) {
                sizes.push(read.len());
            }
        }
        let mut expected = vec![FIRST; QUIET as usize - 1];
        expected.extend(
            std::iter::successors(Some(FIRST), |size| Some(size * 2))
                .take_while(|&size| size < BULK),
        );
        assert_eq!(sizes[..expected.len()], expected[..]);
        assert!(
            sizes[expected.len()] > BULK,
            "past BULK a read takes what is there: {sizes:?}"
        );
        assert_eq!(sizes.iter().sum::<usize>(), 1 << 19);
        slices.write_all(b"window update").await.unwrap();
        server.write_all(&[8; 4 * FIRST]).await.unwrap();
        assert_eq!(read_once(&mut slices, 1 << 20).unwrap().len(), FIRST);
        let mut echo = [0; 13];
        server.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"window update");
    }
}
