//! [`Telemetry`] (feature `telemetry`): a `tracing` span per call with OpenTelemetry's RPC
//! semantic conventions, and gRFC A66's per-method metrics through the `metrics` facade.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use metrics::{counter, histogram};

use crate::{CallInfo, Interceptor, Outcome, Passing, Side, StartFuture};

/// gRFC A66's bucket boundaries for latencies, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005,
    0.006, 0.008, 0.01, 0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16,
    0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
];

/// gRFC A66's bucket boundaries for message sizes, in bytes.
pub const SIZE_BUCKETS: &[f64] = &[
    0.0,
    1024.0,
    2048.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
    4294967296.0,
];

/// Observes every call: a `tracing` span named `grpc.server` or `grpc.client` with
/// OpenTelemetry's RPC attributes (`rpc.system`, `rpc.service`, `rpc.method`,
/// `rpc.grpc.status_code`, the peer's address on the server, and the W3C `trace_id` the call
/// carries), and gRFC A66's metrics under their names: `grpc.server.call.started`,
/// `grpc.server.call.duration`, `grpc.server.call.sent_total_compressed_message_size` and
/// `grpc.server.call.rcvd_total_compressed_message_size` (labels `grpc.method`, `grpc.status`)
/// on the server; `grpc.client.attempt.started`, `.attempt.duration`,
/// `.attempt.sent_total_compressed_message_size`, `.attempt.rcvd_total_compressed_message_size`
/// and `grpc.client.call.duration` (labels `grpc.method`, `grpc.target`, `grpc.status`) on the
/// client, where each call is one attempt until retries exist. Durations are in seconds (use
/// [`LATENCY_BUCKETS`]), sizes in bytes of messages as sent, compressed or not, without their
/// 5-byte prefix (use [`SIZE_BUCKETS`]).
///
/// Without a `tracing` subscriber and a `metrics` recorder installed, it records nothing.
///
/// ```
/// use protoless::{Server, Telemetry};
///
/// let server = Server::builder().interceptor(Telemetry);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Telemetry;

/// The message bytes a call sent and received on the wire, for A66's size histograms.
#[derive(Default)]
struct MessageBytes {
    sent: AtomicU64,
    received: AtomicU64,
}

/// `rpc.Cache/Get`: the method as A66 labels it.
fn method_label(call: &CallInfo) -> String {
    call.method().path.trim_start_matches('/').to_owned()
}

impl Interceptor for Telemetry {
    fn start<'a>(&'a self, call: &'a mut CallInfo) -> StartFuture<'a> {
        let method = call.method();
        let trace_id = call
            .metadata()
            .get(crate::trace::TRACEPARENT)
            .and_then(crate::TraceContext::parse)
            .map(|trace| trace.trace_id());
        let span = match call.side() {
            Side::Server => tracing::info_span!(
                "grpc.server",
                "rpc.system" = "grpc",
                "rpc.service" = method.service,
                "rpc.method" = method.method,
                "rpc.grpc.status_code" = tracing::field::Empty,
                "client.address" = call.peer_addr().map(|peer| peer.to_string()),
                "trace_id" = trace_id,
            ),
            Side::Client => tracing::info_span!(
                "grpc.client",
                "rpc.system" = "grpc",
                "rpc.service" = method.service,
                "rpc.method" = method.method,
                "rpc.grpc.status_code" = tracing::field::Empty,
                "server.address" = call.target(),
                "trace_id" = trace_id,
            ),
        };
        let method = method_label(call);
        match call.side() {
            Side::Server => {
                counter!("grpc.server.call.started", "grpc.method" => method).increment(1)
            }
            Side::Client => {
                let target = call.target().unwrap_or_default().to_owned();
                let labels = [("grpc.method", method), ("grpc.target", target)];
                counter!("grpc.client.attempt.started", &labels).increment(1);
            }
        }
        call.extensions_mut().insert(span);
        call.extensions_mut()
            .insert(Arc::new(MessageBytes::default()));
        Box::pin(std::future::ready(Ok(())))
    }

    fn message(&self, call: &CallInfo, passing: Passing<'_>) {
        let Some(bytes) = call.extensions().get::<Arc<MessageBytes>>() else {
            return;
        };
        // A request is sent by a client and received by a server.
        let sent = passing.request == (call.side() == Side::Client);
        let total = if sent { &bytes.sent } else { &bytes.received };
        total.fetch_add(passing.wire_size as u64, Ordering::Relaxed);
    }

    fn end(&self, call: &CallInfo, outcome: &mut Outcome) {
        let code = outcome.code();
        if let Some(span) = call.extensions().get::<tracing::Span>() {
            span.record("rpc.grpc.status_code", code.as_i32());
        }
        let seconds = call.elapsed().as_secs_f64();
        let (sent, received) =
            call.extensions()
                .get::<Arc<MessageBytes>>()
                .map_or((0.0, 0.0), |bytes| {
                    let load = |total: &AtomicU64| total.load(Ordering::Relaxed) as f64;
                    (load(&bytes.sent), load(&bytes.received))
                });
        let (method, status) = (method_label(call), code.name().to_owned());
        match call.side() {
            Side::Server => {
                let labels = [("grpc.method", method), ("grpc.status", status)];
                histogram!("grpc.server.call.duration", &labels).record(seconds);
                histogram!(
                    "grpc.server.call.sent_total_compressed_message_size",
                    &labels
                )
                .record(sent);
                histogram!(
                    "grpc.server.call.rcvd_total_compressed_message_size",
                    &labels
                )
                .record(received);
            }
            Side::Client => {
                let target = call.target().unwrap_or_default().to_owned();
                let labels = [
                    ("grpc.method", method),
                    ("grpc.target", target),
                    ("grpc.status", status),
                ];
                histogram!("grpc.client.attempt.duration", &labels).record(seconds);
                histogram!(
                    "grpc.client.attempt.sent_total_compressed_message_size",
                    &labels
                )
                .record(sent);
                histogram!(
                    "grpc.client.attempt.rcvd_total_compressed_message_size",
                    &labels
                )
                .record(received);
                histogram!("grpc.client.call.duration", &labels).record(seconds);
            }
        }
    }
}
