//! A hand-written HTTP/2 client for tests that must break the rules: it sends whatever frames it
//! is told to, which the h2 crate's own client would refuse to. What the server answers is read
//! frame by frame, header blocks decoded (HPACK, by loona-hpack).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const GOAWAY: u8 = 7;
pub const WINDOW_UPDATE: u8 = 8;
pub const PING: u8 = 6;
pub const CONTINUATION: u8 = 9;

pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const STREAM_CLOSED: u32 = 0x5;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const COMPRESSION_ERROR: u32 = 0x9;

/// SETTINGS_INITIAL_WINDOW_SIZE.
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;

/// One frame read from the server.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream_id: u32,
    pub payload: Vec<u8>,
    /// The decoded fields, on the HEADERS or CONTINUATION frame that ended a header block.
    pub fields: Vec<(String, String)>,
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
    /// Frames read while waiting for flow-control credit, not yet returned by `read_frame`.
    pending: std::collections::VecDeque<Frame>,
    /// What the server's windows let `data` send: on the connection, and per stream.
    connection_window: i64,
    stream_windows: std::collections::HashMap<u32, i64>,
    /// The server's SETTINGS_INITIAL_WINDOW_SIZE (65,535 until its SETTINGS arrive).
    initial_stream_window: i64,
    /// The server's header compression state: every block must go through it, in order.
    decoder: loona_hpack::Decoder<'static>,
    /// A header block whose CONTINUATION frames are still arriving.
    block: Vec<u8>,
}

/// What the server answered on one stream.
#[derive(Debug, Default)]
pub struct Answer {
    /// The response headers (for Trailers-Only, the only block).
    pub headers: Vec<(String, String)>,
    /// The DATA payloads, concatenated.
    pub data: Vec<u8>,
    /// The trailers, when a second header block came.
    pub trailers: Vec<(String, String)>,
    /// The error code of an RST_STREAM on the stream.
    pub reset: Option<u32>,
    /// The error code of a GOAWAY that came before the stream ended.
    pub goaway: Option<u32>,
}

impl Answer {
    /// The `grpc-status`: from the trailers, or from the headers of a Trailers-Only answer.
    pub fn grpc_status(&self) -> Option<&str> {
        self.field("grpc-status")
    }

    /// The `grpc-message`.
    pub fn grpc_message(&self) -> Option<&str> {
        self.field("grpc-message")
    }

    fn field(&self, name: &str) -> Option<&str> {
        let block = if self.trailers.is_empty() {
            &self.headers
        } else {
            &self.trailers
        };
        block
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
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

/// The header block of a gRPC POST to `path` with `extra` headers.
pub fn request_block(path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut fields = vec![
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ];
    fields.extend_from_slice(extra);
    header_block(&fields)
}

impl RawConnection {
    /// Connects and sends the client preface with empty SETTINGS.
    pub async fn connect(addr: std::net::SocketAddr) -> RawConnection {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut connection = RawConnection {
            stream,
            pending: Default::default(),
            connection_window: 65_535,
            stream_windows: Default::default(),
            initial_stream_window: 65_535,
            decoder: loona_hpack::Decoder::new(),
            block: Vec::new(),
        };
        connection.frame(SETTINGS, 0, 0, &[]).await;
        connection
    }

    /// Connects with `settings` (identifier, value) in the client's SETTINGS.
    pub async fn connect_with_settings(
        addr: std::net::SocketAddr,
        settings: &[(u16, u32)],
    ) -> RawConnection {
        let mut connection = RawConnection::connect(addr).await;
        let mut payload = Vec::new();
        for (id, value) in settings {
            payload.extend_from_slice(&id.to_be_bytes());
            payload.extend_from_slice(&value.to_be_bytes());
        }
        connection.frame(SETTINGS, 0, 0, &payload).await;
        connection
    }

    /// Sends a gRPC message (its 5-byte prefix added) on `stream_id`.
    pub async fn message(&mut self, stream_id: u32, body: &[u8], end_stream: bool) {
        let mut framed = vec![0];
        framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
        framed.extend_from_slice(body);
        self.data(stream_id, &framed, end_stream).await;
    }

    /// Sends `bytes` as DATA frames of at most 16 KiB on `stream_id`, within the server's
    /// flow-control windows: it waits (reading frames, which `read_frame` returns later) for the
    /// credit each frame needs. Panics if the server grants none for 10 s.
    pub async fn data(&mut self, stream_id: u32, bytes: &[u8], end_stream: bool) {
        let mut chunks = bytes.chunks(16_384).peekable();
        if chunks.peek().is_none() {
            let flags = if end_stream { END_STREAM } else { 0 };
            self.frame(DATA, flags, stream_id, &[]).await;
        }
        while let Some(chunk) = chunks.next() {
            let needed = chunk.len() as i64;
            let waiting = async {
                while self.connection_window < needed || self.stream_window(stream_id) < needed {
                    let frame = self.read_wire_frame().await.expect("the server closed");
                    self.pending.push_back(frame);
                }
            };
            tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
                .await
                .expect("the server granted no flow-control credit for 10 s");
            self.connection_window -= needed;
            *self.stream_windows.get_mut(&stream_id).unwrap() -= needed;
            let last = chunks.peek().is_none();
            let flags = if last && end_stream { END_STREAM } else { 0 };
            self.frame(DATA, flags, stream_id, chunk).await;
        }
    }

    fn stream_window(&mut self, stream_id: u32) -> i64 {
        let initial = self.initial_stream_window;
        *self.stream_windows.entry(stream_id).or_insert(initial)
    }

    /// Sends trailers (a header block with END_STREAM) on `stream_id`; unlike h2's client, it
    /// sends pseudo-headers in them if told to.
    pub async fn trailers(&mut self, stream_id: u32, fields: &[(&str, &str)]) {
        self.frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            stream_id,
            &header_block(fields),
        )
        .await;
    }

    /// Reads until stream `stream_id` ends (END_STREAM, RST_STREAM, GOAWAY or the connection
    /// closing) and returns what the server answered on it.
    pub async fn answer(&mut self, stream_id: u32) -> Answer {
        let mut answer = Answer::default();
        let mut ending = false;
        let frames = self
            .read_until(|frame| {
                if frame.kind == GOAWAY {
                    // A graceful GOAWAY lets the streams it covers finish.
                    return frame.error_code() != Some(0);
                }
                if frame.stream_id != stream_id {
                    return false;
                }
                match frame.kind {
                    RST_STREAM => true,
                    DATA => frame.flags & END_STREAM != 0,
                    HEADERS => {
                        ending = frame.flags & END_STREAM != 0;
                        ending && frame.flags & END_HEADERS != 0
                    }
                    CONTINUATION => ending && frame.flags & END_HEADERS != 0,
                    _ => false,
                }
            })
            .await;
        let mut blocks = 0;
        for frame in frames {
            match frame.kind {
                GOAWAY => answer.goaway = frame.error_code(),
                _ if frame.stream_id != stream_id => {}
                RST_STREAM => answer.reset = frame.error_code(),
                DATA => answer.data.extend_from_slice(&frame.payload),
                HEADERS | CONTINUATION if !frame.fields.is_empty() => {
                    blocks += 1;
                    if blocks == 1 {
                        answer.headers = frame.fields;
                    } else {
                        answer.trailers = frame.fields;
                    }
                }
                _ => {}
            }
        }
        answer
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
        let block = request_block(path, extra);
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
        match self.pending.pop_front() {
            Some(frame) => Some(frame),
            None => self.read_wire_frame().await,
        }
    }

    /// The next frame from the socket, with SETTINGS and WINDOW_UPDATE applied to the windows.
    async fn read_wire_frame(&mut self) -> Option<Frame> {
        loop {
            let mut head = [0u8; 9];
            self.stream.read_exact(&mut head).await.ok()?;
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0; len];
            self.stream.read_exact(&mut payload).await.ok()?;
            let mut frame = Frame {
                kind: head[3],
                flags: head[4],
                stream_id: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
                payload,
                fields: Vec::new(),
            };
            if frame.kind == SETTINGS && frame.flags & 1 == 0 {
                for setting in frame.payload.chunks_exact(6) {
                    if u16::from_be_bytes([setting[0], setting[1]]) == INITIAL_WINDOW_SIZE {
                        let value = u32::from_be_bytes(setting[2..6].try_into().unwrap());
                        let delta = i64::from(value) - self.initial_stream_window;
                        self.initial_stream_window = i64::from(value);
                        self.stream_windows
                            .values_mut()
                            .for_each(|window| *window += delta);
                    }
                }
                self.frame(SETTINGS, 1, 0, &[]).await;
                continue;
            }
            if frame.kind == WINDOW_UPDATE && frame.payload.len() == 4 {
                let increment = u32::from_be_bytes(frame.payload[..4].try_into().unwrap());
                let increment = i64::from(increment & 0x7fff_ffff);
                if frame.stream_id == 0 {
                    self.connection_window += increment;
                } else {
                    *self
                        .stream_windows
                        .entry(frame.stream_id)
                        .or_insert(self.initial_stream_window) += increment;
                }
            }
            if frame.kind == HEADERS || frame.kind == CONTINUATION {
                // h2's server sends neither padding nor priority in its header blocks.
                self.block.extend_from_slice(&frame.payload);
                if frame.flags & END_HEADERS != 0 {
                    let fields = self
                        .decoder
                        .decode(&std::mem::take(&mut self.block))
                        .expect("the server's header block decodes");
                    frame.fields = fields
                        .into_iter()
                        .map(|(name, value)| {
                            (
                                String::from_utf8_lossy(&name).into_owned(),
                                String::from_utf8_lossy(&value).into_owned(),
                            )
                        })
                        .collect();
                }
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
