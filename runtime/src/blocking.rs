//! [`run_blocking`]: CPU-bound work in a handler, off the async workers, stopped when its call is.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::server::inherited_deadline;
use crate::Status;

/// Runs CPU-bound `work` on a thread of its own, so that the async workers stay free to serve
/// other calls, and returns its result.
///
/// A handler that computes for long on an async worker stalls every call scheduled on that
/// worker, even on other connections, and dropping its future (when the deadline passes or the
/// client cancels) cannot stop code that never yields. Here the work runs on tokio's blocking
/// threads instead, and gets a [`Cancellation`] that turns true once the call is given up: the
/// future of `run_blocking` was dropped (the server drops a handler whose call ended), or the
/// deadline of the call being handled has passed. The work checks it now and then and stops
/// early, typically with [`Cancellation::check`]`?` (which fails with `DEADLINE_EXCEEDED` or
/// `CANCELLED`, as the case may be).
///
/// At most as many works run at once as the machine has cores (`available_parallelism`); more
/// wait their turn without holding a thread, and a call given up while waiting never starts.
/// A panic in `work` fails with `INTERNAL`.
///
/// ```
/// use protoless::{run_blocking, Status};
///
/// async fn sum_of_squares(n: u64) -> Result<u64, Status> {
///     run_blocking(move |cancellation| {
///         let mut sum = 0u64;
///         for i in 0..n {
///             if i % (1 << 20) == 0 {
///                 cancellation.check()?; // stops once the call is given up
///             }
///             sum = sum.wrapping_add(i * i);
///         }
///         Ok(sum)
///     })
///     .await
/// }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// assert_eq!(sum_of_squares(4).await.unwrap(), 14);
/// # });
/// ```
pub async fn run_blocking<T, F>(work: F) -> Result<T, Status>
where
    F: FnOnce(&Cancellation) -> Result<T, Status> + Send + 'static,
    T: Send + 'static,
{
    let cancellation = Cancellation {
        flag: Arc::new(AtomicBool::new(false)),
        deadline: inherited_deadline().map(tokio::time::Instant::into_std),
    };
    // Set when this future is dropped, whether it waits for a permit or for the work.
    let _cancel_on_drop = CancelOnDrop(cancellation.flag.clone());
    let _permit = permits()
        .acquire()
        .await
        .map_err(|_| Status::internal("the blocking work pool is closed"))?;
    cancellation.check()?;
    let task = Join(tokio::task::spawn_blocking(move || work(&cancellation)));
    task.await
}

/// Whether the call that started a [`run_blocking`] work has been given up.
#[derive(Clone, Debug)]
pub struct Cancellation {
    flag: Arc<AtomicBool>,
    deadline: Option<std::time::Instant>,
}

impl Cancellation {
    /// True once the call was cancelled or its deadline passed: stop working.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || self.deadline_passed()
    }

    /// For `?` in the work: `Err(DEADLINE_EXCEEDED)` once the call's deadline has passed,
    /// `Err(CANCELLED)` once the call was given up otherwise.
    pub fn check(&self) -> Result<(), Status> {
        if self.deadline_passed() {
            Err(Status::deadline_exceeded("Deadline Exceeded"))
        } else if self.flag.load(Ordering::Relaxed) {
            Err(Status::cancelled("the call was given up; its work stopped"))
        } else {
            Ok(())
        }
    }

    fn deadline_passed(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| std::time::Instant::now() >= deadline)
    }
}

/// How many blocking works may run at once: one per core.
fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Semaphore::new(cores)
    })
}

struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The blocking task's result, with a panic turned into `INTERNAL`.
struct Join<T>(JoinHandle<Result<T, Status>>);

impl<T> Future for Join<T> {
    type Output = Result<T, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.unwrap_or_else(|error| {
                Err(Status::internal(format!("blocking work failed: {error}")))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn dropping_the_future_cancels_the_work() {
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let work = run_blocking(move |cancellation| {
            let _ = started_tx.send(());
            while !cancellation.is_cancelled() {
                std::thread::yield_now();
            }
            let _ = seen_tx.send(());
            cancellation.check()
        });
        let mut work = Box::pin(work);
        tokio::select! {
            _ = &mut work => panic!("the work cannot end before it is cancelled"),
            _ = started_rx => {}
        }
        drop(work);
        let seen =
            tokio::task::spawn_blocking(move || seen_rx.recv_timeout(Duration::from_secs(10)));
        assert!(
            seen.await.unwrap().is_ok(),
            "the work never saw its cancellation"
        );
    }

    #[tokio::test]
    async fn a_panic_fails_with_internal() {
        let status = run_blocking(|_| -> Result<(), Status> { panic!("boom") })
            .await
            .unwrap_err();
        assert_eq!(status.code(), crate::Code::Internal);
    }
}
