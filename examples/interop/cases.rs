//! The client side of the interop suite: one function per case of grpc's
//! `doc/interop-test-descriptions.md`, each following the procedure and asserting what the
//! description asserts, compression flags included.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use protoless::{Channel, Code, Compression, Status};

use super::{
    echo_request_metadata, zeros, BoolValue, EchoStatus, Empty, Payload, ResponseParameters,
    SimpleRequest, StreamingInputCallRequest, StreamingOutputCallRequest,
    StreamingOutputCallResponse, TestServiceClient, UnimplementedServiceClient, ECHO_INITIAL,
    ECHO_TRAILING,
};

/// Every case, in the order they run.
pub const NAMES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "pick_first_unary",
];

/// How long any one call may take: no case hangs on a broken server.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What a case found wrong.
type Outcome = Result<(), String>;

/// The cases `--case NAME` options select (all without any), or `None` for a malformed list or
/// an unknown name.
pub fn selected(options: &[&str]) -> Option<Vec<&'static str>> {
    if options.is_empty() {
        return Some(NAMES.to_vec());
    }
    options
        .chunks(2)
        .map(|pair| match pair {
            ["--case", name] => NAMES.iter().find(|known| *known == name).copied(),
            _ => None,
        })
        .collect()
}

/// Runs `names` against `target`, printing a line per case and the tally; how many failed.
pub async fn run_and_report(target: &str, names: &[&str]) -> usize {
    let (mut passed, mut failed) = (0, 0);
    for name in names {
        match run(target, name).await {
            Ok(()) => {
                passed += 1;
                println!("PASS {name}");
            }
            Err(reason) => {
                failed += 1;
                println!("FAIL {name}: {}", reason.replace('\n', " "));
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    failed
}

/// Runs one case on a channel of its own, so that one case's broken connection is not the
/// next one's failure.
async fn run(target: &str, name: &str) -> Outcome {
    let channel = Channel::connect(target)
        .await
        .map_err(|status| format!("cannot connect to {target}: {status}"))?;
    run_on(&channel, target, name).await
}

/// Runs the case `name` over `channel`, a channel to `target` that other cases may share.
pub async fn run_on(channel: &Channel, target: &str, name: &str) -> Outcome {
    let client = TestServiceClient::new(channel.clone());
    let case: Pin<Box<dyn Future<Output = Outcome> + Send>> = match name {
        "empty_unary" => Box::pin(empty_unary(client)),
        "large_unary" => Box::pin(large_unary(client)),
        "client_compressed_unary" => Box::pin(client_compressed_unary(client)),
        "server_compressed_unary" => Box::pin(server_compressed_unary(client)),
        "client_streaming" => Box::pin(client_streaming(client)),
        "client_compressed_streaming" => Box::pin(client_compressed_streaming(client)),
        "server_streaming" => Box::pin(server_streaming(client)),
        "server_compressed_streaming" => Box::pin(server_compressed_streaming(client)),
        "ping_pong" => Box::pin(ping_pong(client)),
        "empty_stream" => Box::pin(empty_stream(client)),
        "custom_metadata" => Box::pin(custom_metadata(client)),
        "status_code_and_message" => Box::pin(status_code_and_message(client)),
        "special_status_message" => Box::pin(special_status_message(client)),
        "unimplemented_method" => Box::pin(unimplemented_method(client)),
        "unimplemented_service" => Box::pin(unimplemented_service(channel.clone())),
        "cancel_after_begin" => Box::pin(cancel_after_begin(client)),
        "cancel_after_first_response" => Box::pin(cancel_after_first_response(client)),
        "timeout_on_sleeping_server" => Box::pin(timeout_on_sleeping_server(client)),
        "pick_first_unary" => Box::pin(pick_first_unary(target.to_owned())),
        other => return Err(format!("no case is called {other}")),
    };
    // A whole case is bounded too: a stream that never ends fails the case, not the run.
    tokio::time::timeout(4 * CALL_TIMEOUT, case)
        .await
        .unwrap_or_else(|_| Err("the case did not finish in time".to_owned()))
}

/// Fails the case with a formatted reason unless `condition` holds.
macro_rules! ensure {
    ($condition:expr, $($reason:tt)+) => {
        if !$condition {
            return Err(format!($($reason)+));
        }
    };
}

/// The call's status as a case failure.
fn failed(what: &str) -> impl FnOnce(Status) -> String + '_ {
    move |status| format!("{what} failed: {status}")
}

/// The status of a call that must fail with `code`.
fn expect_failure<T>(what: &str, result: Result<T, Status>, code: Code) -> Result<Status, String> {
    match result {
        Ok(_) => Err(format!("{what} succeeded, expected {code}")),
        Err(status) if status.code() == code => Ok(status),
        Err(status) => Err(format!("{what} failed with {status}, expected {code}")),
    }
}

/// `Some(BoolValue { value })`.
fn flag(value: bool) -> Option<BoolValue> {
    Some(BoolValue { value })
}

/// The body size of an optional payload.
fn size(payload: &Option<Payload>) -> usize {
    payload.as_ref().map_or(0, |payload| payload.body.len())
}

/// A response of `expected` payload bytes, as the next read of a stream gave it.
fn sized(
    read: Result<Option<StreamingOutputCallResponse>, Status>,
    expected: i32,
) -> Result<StreamingOutputCallResponse, String> {
    let reply = read
        .map_err(failed("reading"))?
        .ok_or_else(|| format!("the stream ended before the {expected}-byte response"))?;
    ensure!(
        size(&reply.payload) == expected as usize,
        "a response of {} bytes, expected {expected}",
        size(&reply.payload)
    );
    Ok(reply)
}

/// The end of a stream that should have no more responses.
fn ended(read: Result<Option<StreamingOutputCallResponse>, Status>) -> Outcome {
    let end = read.map_err(failed("the stream"))?;
    ensure!(end.is_none(), "more responses than asked for");
    Ok(())
}

fn payload(size: i32) -> Option<Payload> {
    Some(zeros(size).expect("the cases use sizes >= 0"))
}

fn large_request() -> SimpleRequest {
    SimpleRequest {
        response_size: 314_159,
        payload: payload(271_828),
        ..SimpleRequest::default()
    }
}

fn output_request(sizes: &[(i32, Option<bool>)], request_size: i32) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: sizes
            .iter()
            .map(|&(size, compressed)| ResponseParameters {
                size,
                compressed: compressed.and_then(flag),
                ..ResponseParameters::default()
            })
            .collect(),
        payload: (request_size > 0).then(|| payload(request_size)).flatten(),
        ..StreamingOutputCallRequest::default()
    }
}

async fn empty_unary(client: TestServiceClient) -> Outcome {
    let reply = client
        .empty_call(Empty {})
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("EmptyCall"))?;
    ensure!(reply == Empty {}, "EmptyCall answered {reply:?}");
    Ok(())
}

async fn large_unary(client: TestServiceClient) -> Outcome {
    let reply = client
        .unary_call(large_request())
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("UnaryCall"))?;
    ensure!(
        size(&reply.payload) == 314_159,
        "payload of {} bytes, expected 314159",
        size(&reply.payload)
    );
    ensure!(
        reply
            .payload
            .is_some_and(|payload| payload.body.iter().all(|&byte| byte == 0)),
        "the payload is not all zeros"
    );
    Ok(())
}

async fn client_compressed_unary(client: TestServiceClient) -> Outcome {
    let expecting = |expect: bool| SimpleRequest {
        expect_compressed: flag(expect),
        ..large_request()
    };
    // The probe: a server that checks the flag refuses an uncompressed request said to be
    // compressed; one that does not check would make the rest of the case meaningless.
    let probe = client
        .unary_call(expecting(true))
        .timeout(CALL_TIMEOUT)
        .await;
    expect_failure("the uncompressed probe", probe, Code::InvalidArgument)?;
    let compressed = client
        .unary_call(expecting(true))
        .compression(Compression::Gzip)
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("the compressed call"))?;
    ensure!(size(&compressed.payload) == 314_159, "wrong payload size");
    let plain = client
        .unary_call(expecting(false))
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("the uncompressed call"))?;
    ensure!(size(&plain.payload) == 314_159, "wrong payload size");
    Ok(())
}

async fn server_compressed_unary(client: TestServiceClient) -> Outcome {
    for compressed in [true, false] {
        let request = SimpleRequest {
            response_compressed: flag(compressed),
            ..large_request()
        };
        let response = client
            .unary_call(request)
            .timeout(CALL_TIMEOUT)
            .into_response()
            .await
            .map_err(failed("UnaryCall"))?;
        ensure!(
            response.compressed == compressed,
            "asked for response_compressed={compressed}, the response's flag was {}",
            response.compressed
        );
        ensure!(
            size(&response.message.payload) == 314_159,
            "wrong payload size"
        );
    }
    Ok(())
}

async fn client_streaming(client: TestServiceClient) -> Outcome {
    let mut stream = client
        .streaming_input_call()
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("StreamingInputCall"))?;
    for request_size in [27_182, 8, 1_828, 45_904] {
        let request = StreamingInputCallRequest {
            payload: payload(request_size),
            ..StreamingInputCallRequest::default()
        };
        stream.send(request).await.map_err(failed("send"))?;
    }
    let reply = stream
        .finish()
        .await
        .map_err(failed("StreamingInputCall"))?;
    ensure!(
        reply.aggregated_payload_size == 74_922,
        "aggregated {} bytes, expected 74922",
        reply.aggregated_payload_size
    );
    Ok(())
}

async fn client_compressed_streaming(client: TestServiceClient) -> Outcome {
    let first = StreamingInputCallRequest {
        payload: payload(27_182),
        expect_compressed: flag(true),
    };
    // The probe: an uncompressed message said to be compressed must be refused.
    let mut probe = client
        .streaming_input_call()
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("the probe"))?;
    let _ = probe.send(first.clone()).await;
    expect_failure("the probe", probe.finish().await, Code::InvalidArgument)?;

    let mut stream = client
        .streaming_input_call()
        .compression(Compression::Gzip)
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("StreamingInputCall"))?;
    stream.send(first).await.map_err(failed("send"))?;
    stream.set_message_compression(false);
    let second = StreamingInputCallRequest {
        payload: payload(45_904),
        expect_compressed: flag(false),
    };
    stream.send(second).await.map_err(failed("send"))?;
    let reply = stream
        .finish()
        .await
        .map_err(failed("StreamingInputCall"))?;
    ensure!(
        reply.aggregated_payload_size == 73_086,
        "aggregated {} bytes, expected 73086",
        reply.aggregated_payload_size
    );
    Ok(())
}

async fn server_streaming(client: TestServiceClient) -> Outcome {
    let sizes = [31_415, 9, 2_653, 58_979];
    let request = output_request(&sizes.map(|size| (size, None)), 0);
    let mut replies = client
        .streaming_output_call(request)
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("StreamingOutputCall"))?;
    for expected in sizes {
        sized(replies.message().await, expected)?;
    }
    ended(replies.message().await)
}

async fn server_compressed_streaming(client: TestServiceClient) -> Outcome {
    let expected = [(31_415, true), (92_653, false)];
    let request = output_request(&expected.map(|(size, c)| (size, Some(c))), 0);
    let mut replies = client
        .streaming_output_call(request)
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("StreamingOutputCall"))?;
    for (expected_size, compressed) in expected {
        sized(replies.message().await, expected_size)?;
        ensure!(
            replies.last_message_compressed() == compressed,
            "the {expected_size}-byte response's compressed flag was {}, expected {compressed}",
            replies.last_message_compressed()
        );
    }
    ended(replies.message().await)
}

async fn ping_pong(client: TestServiceClient) -> Outcome {
    let mut chat = client
        .full_duplex_call()
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("FullDuplexCall"))?;
    for (response_size, request_size) in
        [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)]
    {
        let request = output_request(&[(response_size, None)], request_size);
        chat.send(request).await.map_err(failed("send"))?;
        sized(chat.message().await, response_size)?;
    }
    chat.close_send().map_err(failed("close"))?;
    ended(chat.message().await)
}

async fn empty_stream(client: TestServiceClient) -> Outcome {
    let mut chat = client
        .full_duplex_call()
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("FullDuplexCall"))?;
    chat.close_send().map_err(failed("close"))?;
    let end = chat.message().await.map_err(failed("the stream"))?;
    ensure!(end.is_none(), "a response to no request");
    Ok(())
}

/// The two echoed values, as the custom_metadata case expects them.
fn check_echo(
    headers: Option<&protoless::MetadataMap>,
    trailers: Option<&protoless::MetadataMap>,
) -> Outcome {
    let initial = headers.and_then(|headers| headers.get(ECHO_INITIAL));
    ensure!(
        initial == Some("test_initial_metadata_value"),
        "response header {ECHO_INITIAL} was {initial:?}"
    );
    let trailing = trailers.and_then(|trailers| trailers.get_bin(ECHO_TRAILING));
    ensure!(
        trailing.as_deref() == Some(&[0xab, 0xab, 0xab][..]),
        "trailer {ECHO_TRAILING} was {trailing:?}"
    );
    Ok(())
}

async fn custom_metadata(client: TestServiceClient) -> Outcome {
    let response = client
        .unary_call(large_request())
        .metadata(echo_request_metadata())
        .timeout(CALL_TIMEOUT)
        .into_response()
        .await
        .map_err(failed("UnaryCall"))?;
    check_echo(Some(&response.headers), Some(&response.trailers))
        .map_err(|reason| format!("UnaryCall: {reason}"))?;

    let mut chat = client
        .full_duplex_call()
        .metadata(echo_request_metadata())
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("FullDuplexCall"))?;
    chat.send(output_request(&[(314_159, None)], 271_828))
        .await
        .map_err(failed("send"))?;
    sized(chat.message().await, 314_159)?;
    chat.close_send().map_err(failed("close"))?;
    ended(chat.message().await)?;
    check_echo(chat.headers(), chat.trailers())
        .map_err(|reason| format!("FullDuplexCall: {reason}"))
}

/// UnaryCall and FullDuplexCall asked to fail with UNKNOWN and `message`.
async fn echoed_status(client: TestServiceClient, message: &str) -> Outcome {
    let asked = Some(EchoStatus {
        code: 2,
        message: message.to_owned(),
    });
    let request = SimpleRequest {
        response_status: asked.clone(),
        ..SimpleRequest::default()
    };
    let result = client.unary_call(request).timeout(CALL_TIMEOUT).await;
    let status = expect_failure("UnaryCall", result, Code::Unknown)?;
    ensure!(
        status.message() == message,
        "UnaryCall's message was {:?}, expected {message:?}",
        status.message()
    );

    let mut chat = client
        .full_duplex_call()
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("FullDuplexCall"))?;
    let request = StreamingOutputCallRequest {
        response_status: asked,
        ..StreamingOutputCallRequest::default()
    };
    chat.send(request).await.map_err(failed("send"))?;
    chat.close_send().map_err(failed("close"))?;
    let status = expect_failure("FullDuplexCall", chat.message().await, Code::Unknown)?;
    ensure!(
        status.message() == message,
        "FullDuplexCall's message was {:?}, expected {message:?}",
        status.message()
    );
    Ok(())
}

async fn status_code_and_message(client: TestServiceClient) -> Outcome {
    echoed_status(client, "test status message").await
}

async fn special_status_message(client: TestServiceClient) -> Outcome {
    echoed_status(
        client,
        "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n",
    )
    .await
}

async fn unimplemented_method(client: TestServiceClient) -> Outcome {
    let result = client
        .unimplemented_call(Empty {})
        .timeout(CALL_TIMEOUT)
        .await;
    expect_failure("UnimplementedCall", result, Code::Unimplemented).map(drop)
}

async fn unimplemented_service(channel: Channel) -> Outcome {
    let client = UnimplementedServiceClient::new(channel);
    let result = client
        .unimplemented_call(Empty {})
        .timeout(CALL_TIMEOUT)
        .await;
    expect_failure(
        "UnimplementedService/UnimplementedCall",
        result,
        Code::Unimplemented,
    )
    .map(drop)
}

async fn cancel_after_begin(client: TestServiceClient) -> Outcome {
    let mut stream = client
        .streaming_input_call()
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("StreamingInputCall"))?;
    stream.cancel();
    expect_failure("the cancelled call", stream.finish().await, Code::Cancelled).map(drop)
}

async fn cancel_after_first_response(client: TestServiceClient) -> Outcome {
    let mut chat = client
        .full_duplex_call()
        .timeout(CALL_TIMEOUT)
        .await
        .map_err(failed("FullDuplexCall"))?;
    chat.send(output_request(&[(31_415, None)], 27_182))
        .await
        .map_err(failed("send"))?;
    sized(chat.message().await, 31_415)?;
    chat.cancel();
    expect_failure("the cancelled call", chat.message().await, Code::Cancelled).map(drop)
}

async fn timeout_on_sleeping_server(client: TestServiceClient) -> Outcome {
    let opened = client
        .full_duplex_call()
        .timeout(Duration::from_millis(1))
        .await;
    let result = match opened {
        Ok(mut chat) => {
            // The send may already fail: the deadline is what the case is about.
            let _ = chat.send(output_request(&[], 27_182)).await;
            chat.message().await
        }
        Err(status) => Err(status),
    };
    expect_failure("the call", result, Code::DeadlineExceeded).map(drop)
}

async fn pick_first_unary(target: String) -> Outcome {
    let channel = Channel::connect(&target)
        .await
        .map_err(failed("connecting"))?;
    let client = TestServiceClient::new(channel);
    let mut server_id: Option<String> = None;
    for _ in 0..100 {
        let request = SimpleRequest {
            fill_server_id: true,
            ..SimpleRequest::default()
        };
        let reply = client
            .unary_call(request)
            .timeout(CALL_TIMEOUT)
            .await
            .map_err(failed("UnaryCall"))?;
        ensure!(!reply.server_id.is_empty(), "a response has no server_id");
        match &server_id {
            None => server_id = Some(reply.server_id),
            Some(first) => ensure!(
                *first == reply.server_id,
                "server_id changed from {first:?} to {:?}",
                reply.server_id
            ),
        }
    }
    Ok(())
}
