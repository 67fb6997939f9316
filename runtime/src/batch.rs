//! [`Batched`]: a connection's future polled once per round of ready calls, not once per call,
//! so that h2 writes their frames together. Servers and clients run each connection in it.
//!
//! Each call runs on a task of its own, and each frame it writes wakes the connection's task to
//! send it. On tokio's multi-thread runtime a task woken by the task running on the same worker
//! goes into that worker's LIFO slot and runs next: the connection ran after every call and h2
//! wrote once per call (0.97–0.99 `write` syscalls per call where a current-thread runtime makes
//! 0.06), which halved the throughput of a server started with `#[tokio::main]`.
//!
//! `Batched` makes a wake of the connection wait for the worker's other ready tasks: when the
//! connection's future is woken, its task is first handed to [`tokio::task::yield_now`], which
//! tokio defers until the worker has run what is ready (or, at the latest, until its periodic
//! maintenance); wakes arriving in the meantime cost an atomic load. Then the connection runs
//! once and writes every answer written so far. This needs no runtime option, no
//! `tokio_unstable`, and nothing from the user; on a current-thread runtime it changes nothing
//! but an extra poll per round.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// The connection was woken since it last ran: it will defer before running.
const WOKEN: u8 = 0;
/// The connection's task is deferred: wakes of the connection need do nothing.
const DEFERRED: u8 = 1;
/// The deferral is over (or the connection has not run yet): the next poll runs it.
const DUE: u8 = 2;

pin_project_lite::pin_project! {
    /// Wraps a connection's future so that it runs once per round of ready tasks (see the
    /// module documentation).
    pub(crate) struct Batched<F> {
        #[pin]
        inner: F,
        shared: Arc<Shared>,
        // Handed to `inner`: wakes the task only when no deferral is under way.
        inner_waker: Waker,
        // Handed to `yield_now`: ends the deferral.
        due_waker: Waker,
    }
}

struct Shared {
    state: AtomicU8,
    /// The task running the connection, as of its latest poll.
    task: Mutex<Option<Waker>>,
}

impl Shared {
    fn wake_task(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(task) = &*task {
            task.wake_by_ref();
        }
    }
}

/// The waker the connection's future sees.
struct InnerWake(Arc<Shared>);

impl Wake for InnerWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // A deferred or due connection runs anyway, after this wake: nothing to do.
        if self.0.state.load(Ordering::SeqCst) == WOKEN {
            self.0.wake_task();
        }
    }
}

/// The waker the deferral ends with.
struct DueWake(Arc<Shared>);

impl Wake for DueWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.state.store(DUE, Ordering::SeqCst);
        self.0.wake_task();
    }
}

impl<F: Future> Batched<F> {
    pub(crate) fn new(inner: F) -> Batched<F> {
        let shared = Arc::new(Shared {
            state: AtomicU8::new(DUE),
            task: Mutex::new(None),
        });
        Batched {
            inner,
            inner_waker: Waker::from(Arc::new(InnerWake(shared.clone()))),
            due_waker: Waker::from(Arc::new(DueWake(shared.clone()))),
            shared,
        }
    }
}

impl<F: Future> Future for Batched<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        {
            let mut task = this
                .shared
                .task
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            if !task.as_ref().is_some_and(|task| task.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        match this.shared.state.load(Ordering::SeqCst) {
            DUE => {
                this.shared.state.store(WOKEN, Ordering::SeqCst);
                this.inner.poll(&mut Context::from_waker(this.inner_waker))
            }
            WOKEN => {
                // Woken through the connection: defer, so that the calls ready on this worker
                // run (and write their answers) before the connection does.
                this.shared.state.store(DEFERRED, Ordering::SeqCst);
                let mut yielding = std::pin::pin!(tokio::task::yield_now());
                // The first poll of `yield_now` registers the waker and never completes.
                let _ = yielding
                    .as_mut()
                    .poll(&mut Context::from_waker(this.due_waker));
                Poll::Pending
            }
            // Woken by something else while deferred: the deferral's end runs the connection.
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// A future that reports its polls and stays pending until told, keeping its waker.
    struct Probe {
        polls: tokio::sync::watch::Sender<usize>,
        waker: Arc<Mutex<Option<Waker>>>,
        done: Arc<AtomicBool>,
    }

    impl Future for Probe {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            // Read before the poll is reported: the test sets `done` once it sees the report.
            let done = self.done.load(Ordering::SeqCst);
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            self.polls.send_modify(|polls| *polls += 1);
            if done {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn wakes_during_a_round_of_ready_tasks_run_the_future_once_after_them() {
        let (polls, mut polled) = tokio::sync::watch::channel(0);
        let waker = Arc::new(Mutex::new(None::<Waker>));
        let done = Arc::new(AtomicBool::new(false));
        let probe = Probe {
            polls,
            waker: waker.clone(),
            done: done.clone(),
        };
        let connection = tokio::spawn(Batched::new(probe));
        polled.wait_for(|polls| *polls == 1).await.unwrap();
        // Ten "calls" spawned on the worker together, each waking the connection as an answer
        // would. Unbatched, the connection would run after each.
        let wake = move || waker.lock().unwrap().clone().unwrap().wake();
        let calls = tokio::spawn({
            let wake = wake.clone();
            async move {
                (0..10)
                    .map(|_| {
                        tokio::spawn({
                            let wake = wake.clone();
                            async move { wake() }
                        })
                    })
                    .collect::<Vec<_>>()
            }
        });
        for call in calls.await.unwrap() {
            call.await.unwrap();
        }
        polled.wait_for(|polls| *polls >= 2).await.unwrap();
        done.store(true, Ordering::SeqCst);
        wake();
        connection.await.unwrap();
        // One poll for the ten wakes, one to finish: three in all (four if the worker's
        // periodic maintenance, every 61 tasks, fell amid the ten). Unbatched: twelve.
        let polls = *polled.borrow();
        assert!((3..=4).contains(&polls), "{polls} polls");
    }
}
