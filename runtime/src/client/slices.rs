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
//! Each read takes at most [`FIRST`] bytes, about ten small answers. When a slice comes back
//! full, the connection gives way once: h2 writes what calls answered by earlier slices have
//! sent, and the calls this slice answered run before the next slice is read. So a request sent
//! by a call that a slice answered is written two slices later, and after [`QUIET`] full slices
//! in a row with nothing written, nobody is answering back: the connection is downloading. Each
//! slice is then twice the one before, and from [`BULK`] on, reads are not sliced at all: a
//! large message costs nine extra small reads, not one per slice. A write halves the slice
//! (calls are answering back again; a download sharing the connection with small calls slows
//! down gradually rather than at once).
//!
//! Only a write shrinks the slice: a read that comes back short (the burst is over, or TLS
//! handed over one record) or finds nothing does not, or every TLS record and every pause in a
//! download would start the ramp again.
//!
//! Only native connections are read in slices; a web channel's HTTP/2 connection is in memory,
//! to a gateway task with nothing to overlap (see [`super::web`]).
//!
//! Measured in BENCHMARKS.md ("client throughput, 64 in flight"): on one connection to the
//! same server, 1.29x tonic's calls per second before, 2.5x after, at the same client CPU per
//! call; large messages and streams within the runs' noise.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A slice while calls answer back, in bytes: about ten small unary answers.
const FIRST: usize = 512;

/// Full slices in a row with nothing written after which slices grow (see the module
/// documentation). Measured: with 2, slices grew between answers and half the overlap was lost.
const QUIET: u32 = 3;

/// A slice this large means a download: reads are not sliced until the client writes.
const BULK: usize = 64 * 1024;

/// A client connection's byte stream, read in slices (see the module documentation).
pub(crate) struct Slices<IO> {
    inner: IO,
    /// The largest next read, in bytes; from `BULK` on, reads are not sliced.
    slice: usize,
    /// The last read filled its slice: the next poll gives way to the calls it answered.
    give_way: bool,
    /// The client wrote since the last read.
    wrote: bool,
    /// Full slices in a row with nothing written in between.
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
}

impl<IO: AsyncRead + Unpin> AsyncRead for Slices<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.give_way {
            // h2 now writes what earlier calls sent, and this task runs again after the calls
            // the last slice answered.
            this.give_way = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if std::mem::take(&mut this.wrote) {
            this.slice = (this.slice / 2).max(FIRST);
            this.quiet = 0;
        }
        if this.slice >= BULK {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let wanted = this.slice.min(buf.remaining());
        let mut slice = ReadBuf::new(buf.initialize_unfilled_to(wanted));
        let poll = Pin::new(&mut this.inner).poll_read(cx, &mut slice);
        let read = slice.filled().len();
        buf.advance(read);
        // Only a full slice gives way: a read that filled the caller's smaller buffer is
        // not one.
        if read == this.slice {
            this.give_way = true;
            this.quiet = this.quiet.saturating_add(1);
            if this.quiet >= QUIET {
                this.slice = this.slice.saturating_mul(2);
            }
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
        let poll = Pin::new(&mut this.inner).poll_write(cx, data);
        this.wrote |= matches!(poll, Poll::Ready(Ok(written)) if written > 0);
        poll
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, data);
        this.wrote |= matches!(poll, Poll::Ready(Ok(written)) if written > 0);
        poll
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// What one poll of a read did.
    #[derive(Debug, PartialEq)]
    enum Read {
        Bytes(Vec<u8>),
        /// Pending, the task woken at once to run again.
        GaveWay,
        /// Pending until the peer writes.
        Waits,
    }

    impl Read {
        fn len(&self) -> usize {
            match self {
                Read::Bytes(bytes) => bytes.len(),
                other => panic!("expected bytes, got {other:?}"),
            }
        }
    }

    /// Polls one read into a buffer of `capacity` bytes.
    fn read_once(slices: &mut Slices<DuplexStream>, capacity: usize) -> Read {
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let mut bytes = vec![0; capacity];
        let mut buf = ReadBuf::new(&mut bytes);
        match Pin::new(slices).poll_read(&mut Context::from_waker(&waker), &mut buf) {
            Poll::Ready(result) => {
                result.expect("read");
                Read::Bytes(buf.filled().to_vec())
            }
            Poll::Pending if wakes.0.load(Ordering::SeqCst) == 1 => Read::GaveWay,
            Poll::Pending => Read::Waits,
        }
    }

    #[tokio::test]
    async fn a_burst_is_read_in_slices_giving_way_after_each_full_one() {
        let (mut server, client) = tokio::io::duplex(1 << 20);
        let burst: Vec<u8> = (0..FIRST * 2 + 100).map(|i| i as u8).collect();
        server.write_all(&burst).await.unwrap();
        let mut slices = Slices::new(client);
        let mut read = Vec::new();
        for _ in 0..2 {
            match read_once(&mut slices, 1 << 16) {
                Read::Bytes(slice) if slice.len() == FIRST => read.extend(slice),
                other => panic!("expected a full slice, got {other:?}"),
            }
            assert_eq!(read_once(&mut slices, 1 << 16), Read::GaveWay);
        }
        match read_once(&mut slices, 1 << 16) {
            Read::Bytes(rest) => read.extend(rest),
            other => panic!("expected the rest, got {other:?}"),
        }
        assert_eq!(read, burst, "every byte, in order");
        // A short read does not give way: nothing is left, and the read waits for the peer.
        assert_eq!(read_once(&mut slices, 1 << 16), Read::Waits);

        // A caller's buffer smaller than the slice is filled without giving way.
        server.write_all(&burst).await.unwrap();
        assert_eq!(read_once(&mut slices, 100).len(), 100);
        assert_eq!(read_once(&mut slices, 1 << 16).len(), FIRST);
        assert_eq!(read_once(&mut slices, 1 << 16), Read::GaveWay);
        // A write (calls answering back) keeps small slices small.
        slices.write_all(b"request").await.unwrap();
        assert_eq!(read_once(&mut slices, 1 << 16).len(), FIRST);
        assert_eq!(read_once(&mut slices, 1 << 16), Read::GaveWay);
        assert_eq!(read_once(&mut slices, 1 << 16), Read::Waits);
        // The end of the stream reads as such.
        drop(server);
        assert_eq!(read_once(&mut slices, 1 << 16), Read::Bytes(Vec::new()));
    }

    #[tokio::test]
    async fn a_download_reads_growing_slices_until_the_client_writes() {
        let (mut server, client) = tokio::io::duplex(1 << 20);
        server.write_all(&vec![7; 1 << 19]).await.unwrap();
        let mut slices = Slices::new(client);
        let mut sizes = Vec::new();
        for _ in 0..100 {
            if sizes.iter().sum::<usize>() == 1 << 19 {
                break;
            }
            match read_once(&mut slices, 1 << 20) {
                Read::Bytes(read) => sizes.push(read.len()),
                Read::GaveWay => {}
                Read::Waits => panic!("data is there to read: {sizes:?}"),
            }
        }
        let mut expected = vec![FIRST; QUIET as usize - 1];
        expected.extend(
            std::iter::successors(Some(FIRST), |size| Some(size * 2))
                .take_while(|&size| size < BULK),
        );
        // From BULK on, one read takes what is there.
        expected.push((1 << 19) - expected.iter().sum::<usize>());
        assert_eq!(sizes, expected);
        // The download goes on after a pause, still not sliced.
        assert_eq!(read_once(&mut slices, 1 << 20), Read::Waits);
        server.write_all(&[9; 4 * BULK]).await.unwrap();
        assert_eq!(read_once(&mut slices, BULK + 1).len(), BULK + 1);
        // Each write halves the slice.
        slices.write_all(b"window update").await.unwrap();
        assert_eq!(read_once(&mut slices, 1 << 20).len(), BULK / 2);
        assert_eq!(read_once(&mut slices, 1 << 20), Read::GaveWay);
        slices.write_all(b"window update").await.unwrap();
        assert_eq!(read_once(&mut slices, 1 << 20).len(), BULK / 4);
        let mut echo = [0; 26];
        server.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"window updatewindow update");
    }
}
