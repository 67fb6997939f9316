//! [`Telemetry`] (feature `telemetry`): a `tracing` span per call with OpenTelemetry's RPC
//! semantic conventions, and gRFC A66's per-method metrics through the `metrics` facade.

use metrics::{counter, histogram};

use crate::{CallInfo, Interceptor, Outcome, Side, StartFuture};

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
/// carries), and gRFC A66's metrics under their names: `grpc.server.call.started` and
/// `grpc.server.call.duration` (labels `grpc.method`, `grpc.status`) on the server;
/// `grpc.client.attempt.started`, `grpc.client.attempt.duration` and
/// `grpc.client.call.duration` on the client (each call is one attempt: protoless has no retries
/// above the interceptors yet). Durations are in seconds; use [`LATENCY_BUCKETS`] for their
/// histograms.
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
                "trace_id" = trace_id,
            ),
        };
        let label = method_label(call);
        match call.side() {
            Side::Server => {
                counter!("grpc.server.call.started", "grpc.method" => label).increment(1)
            }
            Side::Client => {
                counter!("grpc.client.attempt.started", "grpc.method" => label).increment(1)
            }
        }
        call.extensions_mut().insert(span);
        Box::pin(std::future::ready(Ok(())))
    }

    fn end(&self, call: &CallInfo, outcome: &mut Outcome) {
        let code = outcome.code();
        if let Some(span) = call.extensions().get::<tracing::Span>() {
            span.record("rpc.grpc.status_code", code.as_i32());
        }
        let seconds = call.elapsed().as_secs_f64();
        let (method, status) = (method_label(call), code.name());
        match call.side() {
            Side::Server => histogram!(
                "grpc.server.call.duration",
                "grpc.method" => method,
                "grpc.status" => status
            )
            .record(seconds),
            Side::Client => {
                histogram!(
                    "grpc.client.attempt.duration",
                    "grpc.method" => method.clone(),
                    "grpc.status" => status
                )
                .record(seconds);
                histogram!(
                    "grpc.client.call.duration",
                    "grpc.method" => method,
                    "grpc.status" => status
                )
                .record(seconds);
            }
        }
    }
}
