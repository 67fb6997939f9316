//! Streams of messages for streaming methods: [`generate`] writes one with ordinary `async` code,
//! [`iter`] turns a collection into one.
//!
//! A server-streaming or bidirectional method returns
//! `impl Stream<Item = Result<Reply, Status>> + Send`. Any such [`Stream`] will do (from
//! `futures`, `tokio-stream`, ...); these two helpers cover the common cases without another crate.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

pub use futures_core::Stream;

use crate::Status;

/// A stream whose items an `async` block produces by calling [`Yielder::send`].
///
/// The block runs only as fast as the stream is read: `send` waits until the previous item was
/// taken, so a slow reader (and, on the wire, HTTP/2 flow control) slows the producer, and
/// nothing is buffered beyond one item. Returning `Err(status)` ends the stream with that status.
///
/// The block is driven by the stream itself, so use the [`Yielder`] inside it: moved into a
/// spawned task, its `send` would wait forever. To produce from another task, send through a
/// bounded channel and forward inside the block.
///
/// ```
/// use protoless::{stream, Status};
///
/// fn countdown(from: u32) -> impl protoless::Stream<Item = Result<u32, Status>> + Send {
///     stream::generate(move |mut out| async move {
///         for n in (1..=from).rev() {
///             out.send(n).await;
///         }
///         Err(Status::cancelled("liftoff"))
///     })
/// }
/// ```
pub fn generate<T, F, Fut>(producer: F) -> Generate<T, Fut>
where
    F: FnOnce(Yielder<T>) -> Fut,
    Fut: Future<Output = Result<(), Status>>,
{
    let slot = Arc::new(Mutex::new(None));
    let future = producer(Yielder { slot: slot.clone() });
    Generate {
        slot,
        future: Box::pin(future),
        done: false,
    }
}

/// The stream [`generate`] returns.
#[must_use = "a stream does nothing until it is read"]
pub struct Generate<T, Fut> {
    slot: Arc<Mutex<Option<T>>>,
    future: Pin<Box<Fut>>,
    done: bool,
}

/// Hands items to the stream of [`generate`].
pub struct Yielder<T> {
    slot: Arc<Mutex<Option<T>>>,
}

impl<T> Yielder<T> {
    /// Sends `item` to the reader, waiting until it has been taken.
    pub async fn send(&mut self, item: T) {
        let mut item = Some(item);
        std::future::poll_fn(|_| {
            let mut slot = lock(&self.slot);
            match item.take() {
                // First poll: leave the item for the stream, which is polling us right now and
                // returns it as soon as we yield.
                Some(item) => {
                    *slot = Some(item);
                    Poll::Pending
                }
                // Polled again: the stream took the item and wants the next one.
                None if slot.is_none() => Poll::Ready(()),
                None => Poll::Pending,
            }
        })
        .await
    }
}

fn lock<T>(slot: &Mutex<Option<T>>) -> std::sync::MutexGuard<'_, Option<T>> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T, Fut> Stream for Generate<T, Fut>
where
    Fut: Future<Output = Result<(), Status>>,
{
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let finished = self.future.as_mut().poll(cx);
        if let Some(item) = lock(&self.slot).take() {
            return Poll::Ready(Some(Ok(item)));
        }
        match finished {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                self.done = true;
                Poll::Ready(result.err().map(Err))
            }
        }
    }
}

impl<T, Fut> std::fmt::Debug for Generate<T, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generate")
            .field("done", &self.done)
            .finish()
    }
}

impl<T> std::fmt::Debug for Yielder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Yielder")
    }
}

/// A stream of the items of `items`, each `Ok`.
///
/// ```
/// let replies = protoless::stream::iter(vec!["a", "b"]);
/// ```
pub fn iter<I: IntoIterator>(items: I) -> Iter<I::IntoIter> {
    Iter {
        items: items.into_iter(),
    }
}

/// The stream [`iter`] returns.
#[derive(Debug)]
#[must_use = "a stream does nothing until it is read"]
pub struct Iter<I> {
    items: I,
}

impl<I: Iterator + Unpin> Stream for Iter<I> {
    type Item = Result<I::Item, Status>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.items.next().map(Ok))
    }
}
