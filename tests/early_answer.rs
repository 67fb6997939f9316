//! A server may answer a call before it has read the request, and then reset the stream
//! (grpc-go does for an unknown method: Trailers-Only `UNIMPLEMENTED`, then
//! `RST_STREAM(NO_ERROR)`). RFC 9113 §8.1 forbids the client to discard that answer: whatever
//! sending the request body then does, the caller gets the server's status.
//!
//! The server here is the h2 crate's, answering every request at once and dropping the stream,
//! which makes h2 reset it with `NO_ERROR` after the answer. Then it pings the client twice and
//! reports the second pong: h2 writes PINGs ahead of stream frames, but the second PING leaves
//! after the first pong came back, and so after the answer and the reset. By then the client's
//! connection has processed both, so a send made after the report meets a stream the server
//! has ended, every time.

use std::time::Duration;

use protoless::{Code, Message, Status, Stream, Streaming};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[derive(Message, Clone, Debug, PartialEq)]
struct Note {
    text: String,
}

fn note() -> Note {
    Note {
        text: "x".repeat(64),
    }
}

#[protoless::service(package = "early")]
#[allow(dead_code)] // only the generated client is used: the server is h2 itself
trait Early {
    async fn unary(&self, req: Note) -> Result<Note, Status>;
    async fn upload(&self, reqs: Streaming<Note>) -> Result<Note, Status>;
    async fn chat(
        &self,
        reqs: Streaming<Note>,
    ) -> Result<impl Stream<Item = Result<Note, Status>>, Status>;
}

/// The message every answer carries.
const ANSWER: &str = "answered before the request was read";

/// Serves on a fresh port: every request gets a Trailers-Only `UNIMPLEMENTED` and a
/// `RST_STREAM(NO_ERROR)` at once; `answered` hears of each once the client has acknowledged
/// PINGs sent after them.
async fn answering_server() -> (String, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (answered_tx, answered) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let answered = answered_tx.clone();
            tokio::spawn(async move {
                let mut connection = h2::server::handshake(socket).await.unwrap();
                let mut ping_pong = connection.ping_pong().expect("taken once");
                let (to_ping, mut pings) = mpsc::unbounded_channel::<()>();
                tokio::spawn(async move {
                    while pings.recv().await.is_some() {
                        for _ in 0..2 {
                            if ping_pong.ping(h2::Ping::opaque()).await.is_err() {
                                return;
                            }
                        }
                        let _ = answered.send(());
                    }
                });
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    let response = http::Response::builder()
                        .header("content-type", "application/grpc")
                        .header("grpc-status", "12")
                        .header("grpc-message", ANSWER.replace(' ', "%20"))
                        .body(())
                        .unwrap();
                    let _ = respond.send_response(response, true);
                    // The request body is still open: dropping both halves makes h2 send
                    // RST_STREAM(NO_ERROR) once the answer is out, as RFC 9113 §8.1 asks.
                    drop((request, respond));
                    let _ = to_ping.send(());
                }
            });
        }
    });
    (url, answered)
}

fn is_the_answer(status: &Status) -> bool {
    status.code() == Code::Unimplemented && status.message() == ANSWER
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_calls_get_the_early_answer_every_time() {
    let (url, _answered) = answering_server().await;
    let client = EarlyClient::connect(&url).await.unwrap();
    // A unary call sends its body right after its headers, so the race (the reset processed
    // first) depends on timing here: many concurrent calls on two workers meet both orders.
    // The test below forces it for the streaming calls, whose sends come later.
    let calls: Vec<_> = (0..400)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.unary(note()).await })
        })
        .collect();
    for call in calls {
        let status = call.await.unwrap().unwrap_err();
        assert!(is_the_answer(&status), "{status:?}");
    }
}

#[tokio::test]
async fn a_send_after_the_answer_gets_the_servers_status() {
    let (url, mut answered) = answering_server().await;
    let client = EarlyClient::connect(&url).await.unwrap();
    for _ in 0..20 {
        let mut upload = client.upload().await.unwrap();
        answered.recv().await.unwrap();
        let status = upload.send(note()).await.unwrap_err();
        assert!(is_the_answer(&status), "send: {status:?}");
        let status = upload.finish().await.unwrap_err();
        assert!(is_the_answer(&status), "finish: {status:?}");

        let mut chat = client.chat().await.unwrap();
        answered.recv().await.unwrap();
        let status = chat.send(note()).await.unwrap_err();
        assert!(is_the_answer(&status), "send: {status:?}");
        // Closing a call the server has ended is no error: the answer stands.
        chat.close_send().unwrap();
        let status = chat.message().await.unwrap_err();
        assert!(is_the_answer(&status), "message: {status:?}");

        // Split, the sending half cannot read the answer: it says where the answer is, and
        // the receiving half has it.
        let (mut requests, mut responses) = client.chat().await.unwrap().split();
        answered.recv().await.unwrap();
        let status = requests.send(note()).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        let status = responses.message().await.unwrap_err();
        assert!(is_the_answer(&status), "split message: {status:?}");
    }
}

#[tokio::test]
async fn no_call_outlives_its_deadline_waiting_for_an_answer() {
    // A server that accepts the connection and never answers: the deadline still ends sends
    // and reads, and nothing waits on an answer that will not come.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut connection = h2::server::handshake(socket).await.unwrap();
        let mut held = Vec::new();
        while let Some(Ok(stream)) = connection.accept().await {
            held.push(stream);
        }
    });
    let client = EarlyClient::connect(&url).await.unwrap();
    let status = client
        .unary(note())
        .timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
}
