//! The gRPC interop suite (`doc/interop-test-descriptions.md` in grpc/grpc), written with
//! protoless: grpc's `TestService` with grpc's names and field numbers, a server with every
//! behaviour the descriptions ask of one, and a client that runs the cases against any server.
//!
//! - no arguments: serves on an ephemeral port and runs every case against itself;
//! - `serve ADDR [--server-id ID]`: serves until Ctrl-C or SIGTERM (first line `listening on
//!   HOST:PORT`);
//! - `client TARGET [--case NAME]...`: runs the named cases (all without `--case`) against
//!   TARGET (`HOST:PORT` or `http://HOST:PORT`), printing `PASS NAME` or `FAIL NAME: REASON`
//!   per case and then `N passed, M failed`; exits 0 when none failed, 1 otherwise, 2 on a usage
//!   error;
//! - `proto`: prints the exported `.proto`, whose stubs interoperate with grpc's own.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use protoless::health::HealthReporter;
use protoless::{
    stream, Code, Compression, Context, Enumeration, Message, MetadataMap, Server, Status, Stream,
    Streaming,
};

/// An empty message (`grpc.testing.Empty`).
#[derive(Message, Clone, Debug, PartialEq)]
pub struct Empty {}

/// A wrapper around a bool, so that "unset" and "false" differ.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct BoolValue {
    /// The value.
    pub value: bool,
}

/// The type of payload that should be returned.
#[derive(Enumeration, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadType {
    /// Compressable text format.
    #[proto(name = "COMPRESSABLE")]
    Compressable = 0,
}

/// A block of data, to simply increase gRPC message size.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct Payload {
    /// The type of data in `body`.
    #[proto(name = "type")]
    pub payload_type: PayloadType,
    /// Primary contents of the payload.
    pub body: Vec<u8>,
}

/// A protobuf representation for a gRPC status, used to ask the server for a specific status.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct EchoStatus {
    /// The status code to answer with.
    pub code: i32,
    /// The status message to answer with.
    pub message: String,
}

/// Unary request.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct SimpleRequest {
    /// The type of payload the server should return.
    pub response_type: PayloadType,
    /// The size of the payload the server should return.
    pub response_size: i32,
    /// Optional input payload sent along with the request.
    pub payload: Option<Payload>,
    /// Whether the response should include the username.
    pub fill_username: bool,
    /// Whether the response should include the OAuth scope.
    pub fill_oauth_scope: bool,
    /// Whether to request the server to compress the response.
    pub response_compressed: Option<BoolValue>,
    /// Whether the server should return a given status.
    pub response_status: Option<EchoStatus>,
    /// Whether the server should expect this request to be compressed.
    pub expect_compressed: Option<BoolValue>,
    /// Whether the response should include the server id.
    pub fill_server_id: bool,
}

/// Unary response.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct SimpleResponse {
    /// The payload asked for.
    pub payload: Option<Payload>,
    /// The user the request was authenticated as (never filled: no credentials here).
    pub username: String,
    /// The OAuth scope of the request (never filled: no credentials here).
    pub oauth_scope: String,
    /// The server's id, when asked for.
    pub server_id: String,
}

/// Client-streaming request.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct StreamingInputCallRequest {
    /// Optional input payload sent along with the request.
    pub payload: Option<Payload>,
    /// Whether the server should expect this request to be compressed.
    pub expect_compressed: Option<BoolValue>,
}

/// Client-streaming response.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct StreamingInputCallResponse {
    /// Aggregated size of the payloads received from the client.
    pub aggregated_payload_size: i32,
}

/// Configuration of one response of a streaming call.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct ResponseParameters {
    /// The size of the payload of this response.
    pub size: i32,
    /// How long to wait before sending this response, in microseconds.
    pub interval_us: i32,
    /// Whether to compress this response.
    pub compressed: Option<BoolValue>,
}

/// Server-streaming request.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct StreamingOutputCallRequest {
    /// The type of payload the server should return.
    pub response_type: PayloadType,
    /// One entry per response the server should send.
    pub response_parameters: Vec<ResponseParameters>,
    /// Optional input payload sent along with the request.
    pub payload: Option<Payload>,
    /// Whether the server should return a given status.
    #[proto(tag = 7)]
    pub response_status: Option<EchoStatus>,
}

/// Server-streaming response.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct StreamingOutputCallResponse {
    /// The payload asked for.
    pub payload: Option<Payload>,
}

/// A simple service to test the various types of RPCs and experiment with performance with
/// various types of payload.
#[protoless::service(
    package = "grpc.testing",
    go_package = "google.golang.org/grpc/interop/grpc_testing",
    java_package = "io.grpc.testing.integration"
)]
pub trait TestService {
    /// One empty request followed by one empty response.
    async fn empty_call(&self, req: Empty, ctx: Context) -> Result<Empty, Status>;
    /// One request followed by one response.
    async fn unary_call(&self, req: SimpleRequest, ctx: Context) -> Result<SimpleResponse, Status>;
    /// One request followed by a sequence of responses (streamed download).
    async fn streaming_output_call(
        &self,
        req: StreamingOutputCallRequest,
        ctx: Context,
    ) -> Result<impl Stream<Item = Result<StreamingOutputCallResponse, Status>>, Status>;
    /// A sequence of requests followed by one response (streamed upload).
    async fn streaming_input_call(
        &self,
        reqs: Streaming<StreamingInputCallRequest>,
        ctx: Context,
    ) -> Result<StreamingInputCallResponse, Status>;
    /// A sequence of requests with each request served by the server immediately.
    async fn full_duplex_call(
        &self,
        reqs: Streaming<StreamingOutputCallRequest>,
        ctx: Context,
    ) -> Result<impl Stream<Item = Result<StreamingOutputCallResponse, Status>>, Status>;
    /// A sequence of requests followed by a sequence of responses: the server buffers all the
    /// requests until the client half-closes.
    async fn half_duplex_call(
        &self,
        reqs: Streaming<StreamingOutputCallRequest>,
        ctx: Context,
    ) -> Result<impl Stream<Item = Result<StreamingOutputCallResponse, Status>>, Status>;
    /// A method the server does not implement: it answers UNIMPLEMENTED.
    async fn unimplemented_call(&self, req: Empty, ctx: Context) -> Result<Empty, Status>;
}

/// A service no server implements, to test the client's view of an unknown service.
#[protoless::service(
    package = "grpc.testing",
    go_package = "google.golang.org/grpc/interop/grpc_testing",
    java_package = "io.grpc.testing.integration"
)]
pub trait UnimplementedService {
    /// A call that no server answers but with UNIMPLEMENTED.
    async fn unimplemented_call(&self, req: Empty) -> Result<Empty, Status>;
}

/// The metadata keys whose values the server sends back.
const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

/// The server id reported without `--server-id`.
const DEFAULT_SERVER_ID: &str = "protoless-interop-server";

/// The interop `TestService` implementation.
pub struct TestServer {
    /// What `fill_server_id` fills in.
    pub server_id: String,
}

/// Sends back the metadata the client asked to be echoed: also on calls that then fail or send
/// no message, since the context sends them whatever the outcome.
fn echo_metadata(ctx: &Context) -> Result<(), Status> {
    if let Some(value) = ctx.metadata().get(ECHO_INITIAL) {
        ctx.insert_header(ECHO_INITIAL, value)?;
    }
    if let Some(value) = ctx.metadata().get_bin(ECHO_TRAILING) {
        ctx.insert_trailer_bin(ECHO_TRAILING, value)?;
    }
    Ok(())
}

/// A payload of `size` zero bytes.
fn zeros(size: i32) -> Result<Payload, Status> {
    let size = usize::try_from(size)
        .map_err(|_| Status::invalid_argument(format!("negative payload size {size}")))?;
    Ok(Payload {
        payload_type: PayloadType::Compressable,
        body: vec![0; size],
    })
}

/// The status a request asked for, if any other than OK.
fn asked_status(status: Option<&EchoStatus>) -> Result<(), Status> {
    match status {
        Some(echo) if echo.code != 0 => {
            Err(Status::new(Code::from_i32(echo.code), echo.message.clone()))
        }
        _ => Ok(()),
    }
}

/// `INVALID_ARGUMENT` when a request said it would come compressed and did not.
fn check_compressed(expect: Option<&BoolValue>, compressed: bool) -> Result<(), Status> {
    if expect.is_some_and(|expect| expect.value) && !compressed {
        return Err(Status::invalid_argument(
            "expected a compressed request message, got an uncompressed one",
        ));
    }
    Ok(())
}

/// The responses one `StreamingOutputCallRequest` asks for, sent through `out` with each
/// one's delay and compression, then the status it asked for.
async fn answer(
    request: StreamingOutputCallRequest,
    ctx: &Context,
    out: &mut stream::Yielder<StreamingOutputCallResponse>,
) -> Result<(), Status> {
    for parameters in &request.response_parameters {
        if parameters.interval_us > 0 {
            let micros = u64::try_from(parameters.interval_us).unwrap_or_default();
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
        if let Some(compressed) = &parameters.compressed {
            ctx.set_message_compression(compressed.value);
        }
        let payload = zeros(parameters.size)?;
        out.send(StreamingOutputCallResponse {
            payload: Some(payload),
        })
        .await;
    }
    asked_status(request.response_status.as_ref())
}

/// Responses compressed per message need the call to compress: chosen before the first one.
fn compress_if_asked(ctx: &Context, parameters: &[ResponseParameters]) -> Result<(), Status> {
    if parameters
        .iter()
        .any(|parameters| parameters.compressed.as_ref().is_some_and(|c| c.value))
    {
        ctx.set_send_compression(Some(Compression::Gzip))?;
    }
    Ok(())
}

impl TestService for TestServer {
    async fn empty_call(&self, _req: Empty, ctx: Context) -> Result<Empty, Status> {
        echo_metadata(&ctx)?;
        Ok(Empty {})
    }

    async fn unary_call(&self, req: SimpleRequest, ctx: Context) -> Result<SimpleResponse, Status> {
        echo_metadata(&ctx)?;
        check_compressed(req.expect_compressed.as_ref(), ctx.request_compressed())?;
        asked_status(req.response_status.as_ref())?;
        match &req.response_compressed {
            Some(BoolValue { value: true }) => ctx.set_send_compression(Some(Compression::Gzip))?,
            Some(BoolValue { value: false }) => ctx.set_send_compression(None)?,
            None => {}
        }
        Ok(SimpleResponse {
            payload: Some(zeros(req.response_size)?),
            server_id: if req.fill_server_id {
                self.server_id.clone()
            } else {
                String::new()
            },
            ..SimpleResponse::default()
        })
    }

    async fn streaming_output_call(
        &self,
        req: StreamingOutputCallRequest,
        ctx: Context,
    ) -> Result<impl Stream<Item = Result<StreamingOutputCallResponse, Status>>, Status> {
        echo_metadata(&ctx)?;
        compress_if_asked(&ctx, &req.response_parameters)?;
        Ok(stream::generate(move |mut out| async move {
            answer(req, &ctx, &mut out).await
        }))
    }

    async fn streaming_input_call(
        &self,
        mut reqs: Streaming<StreamingInputCallRequest>,
        ctx: Context,
    ) -> Result<StreamingInputCallResponse, Status> {
        echo_metadata(&ctx)?;
        let mut size = 0usize;
        while let Some(req) = reqs.message().await? {
            check_compressed(
                req.expect_compressed.as_ref(),
                reqs.last_message_compressed(),
            )?;
            size += req.payload.map_or(0, |payload| payload.body.len());
        }
        let aggregated_payload_size = i32::try_from(size)
            .map_err(|_| Status::out_of_range(format!("{size} bytes do not fit an int32")))?;
        Ok(StreamingInputCallResponse {
            aggregated_payload_size,
        })
    }

    async fn full_duplex_call(
        &self,
        mut reqs: Streaming<StreamingOutputCallRequest>,
        ctx: Context,
    ) -> Result<impl Stream<Item = Result<StreamingOutputCallResponse, Status>>, Status> {
        echo_metadata(&ctx)?;
        Ok(stream::generate(move |mut out| async move {
            while let Some(req) = reqs.message().await? {
                compress_if_asked(&ctx, &req.response_parameters)?;
                answer(req, &ctx, &mut out).await?;
            }
            Ok(())
        }))
    }

    async fn half_duplex_call(
        &self,
        mut reqs: Streaming<StreamingOutputCallRequest>,
        ctx: Context,
    ) -> Result<impl Stream<Item = Result<StreamingOutputCallResponse, Status>>, Status> {
        echo_metadata(&ctx)?;
        let mut buffered = Vec::new();
        while let Some(req) = reqs.message().await? {
            buffered.push(req);
        }
        Ok(stream::generate(move |mut out| async move {
            for req in buffered {
                answer(req, &ctx, &mut out).await?;
            }
            Ok(())
        }))
    }

    async fn unimplemented_call(&self, _req: Empty, ctx: Context) -> Result<Empty, Status> {
        echo_metadata(&ctx)?;
        Err(Status::unimplemented(
            "grpc.testing.TestService/UnimplementedCall is not implemented",
        ))
    }
}

/// The interop server, reporting `server_id` when asked.
pub fn server(server_id: &str) -> Server {
    Server::builder()
        .health(HealthReporter::new())
        .reflection()
        .add_service(TestServiceServer::new(TestServer {
            server_id: server_id.to_owned(),
        }))
}

/// The `.proto` of package `grpc.testing`: both services.
pub fn proto() -> Result<String, protoless::schema::SchemaError> {
    let files = protoless::schema::render_packages([
        TestServiceServer::schema(),
        UnimplementedServiceServer::schema(),
    ])?;
    Ok(files.into_values().collect())
}

#[path = "interop/cases.rs"]
pub mod cases;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args[..] {
        [] => {
            let running = common::Background::start(server(DEFAULT_SERVER_ID)).await?;
            let failed = cases::run_and_report(&running.url(), cases::NAMES).await;
            running.stop().await?;
            std::process::exit(i32::from(failed > 0));
        }
        ["proto"] => {
            print!("{}", proto()?);
            Ok(())
        }
        ["serve", addr, ref options @ ..] => {
            let Some(options) = serve_options(options) else {
                usage();
            };
            let id = common::option(&options, "--server-id").unwrap_or(DEFAULT_SERVER_ID);
            common::serve(server(id), addr, &options).await
        }
        ["client", target, ref options @ ..] => {
            let Some(names) = cases::selected(options) else {
                usage();
            };
            let failed = cases::run_and_report(target, &names).await;
            std::process::exit(i32::from(failed > 0));
        }
        _ => usage(),
    }
}

/// `--option VALUE` pairs for `serve`: the server id and the TLS options every example takes.
fn serve_options(options: &[&str]) -> Option<Vec<(String, String)>> {
    const KNOWN: [&str; 4] = ["--server-id", "--tls-cert", "--tls-key", "--client-ca"];
    options
        .chunks(2)
        .map(|pair| match pair {
            [name, value] if KNOWN.contains(name) => Some((name.to_string(), value.to_string())),
            _ => None,
        })
        .collect()
}

fn usage() -> ! {
    eprintln!(
        "usage: interop [serve ADDR [--server-id ID] [--tls-cert FILE --tls-key FILE \
         [--client-ca FILE]] | client TARGET [--case NAME]... | proto]\n\
         cases: {}",
        cases::NAMES.join(", ")
    );
    std::process::exit(2);
}

/// Metadata for the custom_metadata case.
fn echo_request_metadata() -> MetadataMap {
    let mut metadata = MetadataMap::new();
    metadata
        .insert(ECHO_INITIAL, "test_initial_metadata_value")
        .expect("a valid key and value");
    metadata
        .insert_bin(ECHO_TRAILING, [0xab, 0xab, 0xab])
        .expect("a valid key and value");
    metadata
}
