//! No accepted call is lost at shutdown: connections the kernel had already accepted (waiting in
//! the listen backlog) when a graceful shutdown starts are served like calls in flight.
//!
//! The server runs on a thread of its own, held up by a handler that blocks it (as a CPU-bound
//! handler does) until the test lets it go. Meanwhile complete calls are written on new
//! connections, which only the kernel has accepted, and the shutdown is signalled: when the
//! server wakes, it finds the signal and the waiting connections together.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use protoless::{Channel, Message, Server, Status};
use support::raw_h2::{RawConnection, DATA, END_STREAM, HEADERS, RST_STREAM};

#[derive(Message, Clone, Debug, PartialEq)]
struct Nothing {}

#[protoless::service(package = "stall")]
trait Stall {
    /// Blocks the server's only thread until the test says so.
    async fn stall(&self, req: Nothing) -> Result<Nothing, Status>;
}

struct Staller {
    started: mpsc::Sender<()>,
    release: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl Stall for Staller {
    async fn stall(&self, _req: Nothing) -> Result<Nothing, Status> {
        let _ = self.started.send(());
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        Ok(Nothing {})
    }
}

/// Whether a raw connection's call on stream 1 was answered with a greeting and a status, rather
/// than reset or cut off.
async fn answered(connection: &mut RawConnection) -> bool {
    let frames = connection
        .read_until(|frame| {
            frame.stream_id == 1
                && ((frame.kind == HEADERS && frame.flags & END_STREAM != 0)
                    || frame.kind == RST_STREAM)
        })
        .await;
    let greeted = frames.iter().any(|frame| {
        frame.kind == DATA
            && frame.stream_id == 1
            && frame.payload.windows(5).any(|bytes| bytes == b"Hello")
    });
    let ended = frames
        .iter()
        .any(|frame| frame.kind == HEADERS && frame.flags & END_STREAM != 0);
    greeted && ended
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_waiting_at_shutdown_are_served() {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let server_thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let staller = Staller {
                started: started_tx,
                release: std::sync::Mutex::new(release_rx),
            };
            Server::builder()
                .add_service(support::greeter::GreeterServer::new(
                    support::greeter::Greetings,
                ))
                .add_service(StallServer::new(staller))
                .serve_with_listener(listener, async {
                    let _ = stopped.await;
                })
                .await
        })
    });

    let staller = StallClient::new(Channel::connect(&format!("http://{addr}")).await.unwrap());
    let stalled = tokio::spawn(async move { staller.stall(Nothing {}).await });
    tokio::task::spawn_blocking(move || started.recv().unwrap())
        .await
        .unwrap();

    // The server's thread is blocked: these connections are accepted by the kernel alone, and
    // their complete calls wait in the socket buffers.
    let mut waiting = Vec::new();
    for _ in 0..10 {
        let mut connection = RawConnection::connect(addr).await;
        connection
            .request(1, "/helloworld.Greeter/SayHello", &[], false)
            .await;
        connection.empty_message(1).await;
        waiting.push(connection);
    }
    let _ = stop.send(());
    release.send(()).unwrap();

    stalled.await.unwrap().unwrap();
    for (index, connection) in waiting.iter_mut().enumerate() {
        assert!(
            answered(connection).await,
            "the call on connection {index} was lost"
        );
    }
    // These clients never acknowledge the server's GOAWAY PING: closing them ends the drain.
    drop(waiting);
    tokio::task::spawn_blocking(move || server_thread.join().unwrap().unwrap())
        .await
        .unwrap();
    // And once the server has shut down, connections are refused.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
