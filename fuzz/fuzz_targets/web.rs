//! What a client sends to a server with the web protocols on (`Server::web`): the first bytes
//! sort the connection (HTTP/2's preface or HTTP/1.1), then hyper parses HTTP/1.1 and the
//! gateway translates gRPC-Web and Connect requests (JSON, GET queries, base64 text, envelopes)
//! into native calls.
//!
//! Whatever the bytes, the server answers or closes, and ends the connection once the client
//! has finished sending (within 5 s: no hang), without a panic; and once its runtime is dropped,
//! nothing the server allocated for the input is left (LeakSanitizer checks after each input).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use protoless::{stream, Message, Server, Status, Stream, Streaming, Web};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Message, Clone, Debug, PartialEq)]
struct Text {
    text: String,
    count: u32,
}

#[protoless::service(package = "fuzz")]
trait Echo {
    async fn say(&self, req: Text) -> Result<Text, Status>;
    #[no_side_effects]
    async fn get(&self, req: Text) -> Result<Text, Status>;
    async fn many(&self, req: Text) -> Result<impl Stream<Item = Result<Text, Status>>, Status>;
    async fn gather(&self, reqs: Streaming<Text>) -> Result<Text, Status>;
}

struct Echoes;

impl Echo for Echoes {
    async fn say(&self, req: Text) -> Result<Text, Status> {
        if req.text == "fail" {
            return Err(Status::not_found("asked to fail"));
        }
        Ok(req)
    }

    async fn get(&self, req: Text) -> Result<Text, Status> {
        Ok(req)
    }

    async fn many(&self, req: Text) -> Result<impl Stream<Item = Result<Text, Status>>, Status> {
        let count = req.count.min(4);
        Ok(stream::iter((0..count).map(move |_| req.clone())))
    }

    async fn gather(&self, mut reqs: Streaming<Text>) -> Result<Text, Status> {
        let mut all = Text {
            text: String::new(),
            count: 0,
        };
        while let Some(req) = reqs.message().await? {
            all.text.push_str(&req.text);
            all.count += 1;
        }
        Ok(all)
    }
}

// Each input gets a server on a runtime of its own, dropped with every task on it once the input
// is done: LeakSanitizer's check after each input then finds anything the server failed to free
// (a shared server's live connections made it report buffers still in use).
fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::builder()
            .web(Web::new().allow_any_origin())
            .add_service(EchoServer::new(Echoes));
        tokio::spawn(server.serve_with_listener(listener, std::future::pending()));
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The server may answer and close before it has read everything.
        let _ = socket.write_all(data).await;
        let _ = socket.shutdown().await;
        let mut answer = Vec::new();
        let ended = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer));
        assert!(
            ended.await.is_ok(),
            "the connection stayed open after the client finished"
        );
    });
});
