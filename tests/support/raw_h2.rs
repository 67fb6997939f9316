//! A hand-written HTTP/2 client for tests that must break the rules: it sends whatever frames it
//! is told to, which the h2 crate's own client would refuse to.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const GOAWAY: u8 = 7;
pub const WINDOW_UPDATE: u8 = 8;
pub const CONTINUATION: u8 = 9;

pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const STREAM_CLOSED: u32 = 0x5;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame read from the server.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream_id: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY frame.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        self.payload
            .get(at..at + 4)
            .map(|bytes| u32::from_be_bytes(bytes.try_into().unwrap()))
    }
}

pub struct RawConnection {
    stream: TcpStream,
}

/// An HPACK integer with an `prefix`-bit prefix (RFC 7541 §5.1).
fn hpack_integer(value: usize, prefix: u8, first: u8, out: &mut Vec<u8>) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// A header block of "literal without indexing, new name" fields: no compression state needed.
fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        hpack_integer(name.len(), 7, 0, &mut block);
        block.extend_from_slice(name.as_bytes());
        hpack_integer(value.len(), 7, 0, &mut block);
        block.extend_from_slice(value.as_bytes());
    }
    block
}

impl RawConnection {
    /// Connects and sends the client preface with empty SETTINGS.
    pub async fn connect(addr: std::net::SocketAddr) -> RawConnection {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut connection = RawConnection { stream };
        connection.frame(SETTINGS, 0, 0, &[]).await;
        connection
    }

    pub async fn frame(&mut self, kind: u8, flags: u8, stream_id: u32, payload: &[u8]) {
        let mut frame = Vec::with_capacity(9 + payload.len());
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        frame.push(kind);
        frame.push(flags);
        frame.extend_from_slice(&stream_id.to_be_bytes());
        frame.extend_from_slice(payload);
        // The peer may already have closed the connection; tests read what it said.
        let _ = self.stream.write_all(&frame).await;
    }

    /// Opens stream `stream_id` with a gRPC POST to `path` and `extra` headers.
    pub async fn request(
        &mut self,
        stream_id: u32,
        path: &str,
        extra: &[(&str, &str)],
        end_stream: bool,
    ) {
        let mut fields = vec![
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "localhost"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ];
        fields.extend_from_slice(extra);
        let block = header_block(&fields);
        let mut chunks = block.chunks(16_384).peekable();
        let mut first = true;
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            let kind = if first { HEADERS } else { CONTINUATION };
            let mut flags = if last { END_HEADERS } else { 0 };
            if first && end_stream {
                flags |= END_STREAM;
            }
            self.frame(kind, flags, stream_id, chunk).await;
            first = false;
        }
    }

    /// Sends one empty gRPC message on `stream_id` and ends the stream: a complete request.
    pub async fn empty_message(&mut self, stream_id: u32) {
        self.frame(DATA, END_STREAM, stream_id, &[0, 0, 0, 0, 0])
            .await;
    }

    pub async fn reset(&mut self, stream_id: u32, code: u32) {
        self.frame(RST_STREAM, 0, stream_id, &code.to_be_bytes())
            .await;
    }

    /// The next frame, acknowledging SETTINGS on the way; `None` once the server closed.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            let mut head = [0u8; 9];
            self.stream.read_exact(&mut head).await.ok()?;
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0; len];
            self.stream.read_exact(&mut payload).await.ok()?;
            let frame = Frame {
                kind: head[3],
                flags: head[4],
                stream_id: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
                payload,
            };
            if frame.kind == SETTINGS && frame.flags & 1 == 0 {
                self.frame(SETTINGS, 1, 0, &[]).await;
                continue;
            }
            return Some(frame);
        }
    }

    /// Reads frames until `stop` says so or the server closes; bounded by a generous timeout so
    /// a broken server fails the test instead of hanging it.
    pub async fn read_until(&mut self, mut stop: impl FnMut(&Frame) -> bool) -> Vec<Frame> {
        let mut frames = Vec::new();
        let reading = async {
            while let Some(frame) = self.read_frame().await {
                let done = stop(&frame);
                frames.push(frame);
                if done {
                    break;
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), reading)
            .await
            .expect("the server neither answered nor closed within 10 s");
        frames
    }

    /// Whether the server closes the connection (EOF) within 10 s without sending more frames
    /// than it may.
    pub async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.stream.read_to_end(&mut rest),
        )
        .await;
        matches!(read, Ok(Ok(_)))
    }
}
