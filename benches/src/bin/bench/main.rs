//! Runs every benchmark against protoless, tonic + prost and a bare h2 server in one run, on
//! this machine, and prints a table of ratios; `--write` also rewrites BENCHMARKS.md and the
//! chart. Servers are pinned to core 0 and load generators to core 1 (`taskset`); each figure is
//! the median of several runs; every answer is checked before anything is timed.
//!
//! `scripts/bench` builds everything in release mode, installs h2load, and runs this.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use prost::Message as _;
use protoless::Message as _;
use protoless_benches::{loads, tonic_side, Card, Customer, LineItem, Order, Payment};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

mod runtime;
mod web;

const RUNS: usize = 5;
/// How many timed batches each codec operation gets.
const CODEC_BATCHES: usize = 11;
const SERVERS: [&str; 3] = ["protoless", "tonic", "bare"];

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn percentile(latencies: &mut [Duration], fraction: f64) -> Duration {
    latencies.sort();
    latencies[((latencies.len() as f64 - 1.0) * fraction) as usize]
}

fn release_binary(name: &str) -> PathBuf {
    std::env::current_exe().unwrap().with_file_name(name)
}

struct ServerProcess {
    child: Child,
    url: String,
    addr: String,
}

impl ServerProcess {
    async fn start(kind: &str) -> ServerProcess {
        ServerProcess::start_with(kind, &[]).await
    }

    /// A server started with `extra` arguments after its address.
    async fn start_with(kind: &str, extra: &[&str]) -> ServerProcess {
        let mut args = vec![kind.to_owned(), "127.0.0.1:0".to_owned()];
        args.extend(extra.iter().map(|arg| arg.to_string()));
        ServerProcess::launch("0", &release_binary("bench-server"), &args, &[]).await
    }

    /// `program` with `args` and `env`, pinned to `cpus` (a `taskset` list), once it has
    /// printed `listening on ADDR`.
    async fn launch(
        cpus: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
    ) -> ServerProcess {
        let mut child = Command::new("taskset")
            .args(["-c", cpus])
            .arg(program)
            .args(args)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("{} starts: {error}", program.display()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the server prints its address");
        let addr = line
            .strip_prefix("listening on ")
            .expect("listening on ADDR")
            .to_owned();
        ServerProcess {
            child,
            url: format!("http://{addr}"),
            addr,
        }
    }

    fn rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Runs `bench load ...` pinned to core 1 and returns its one line of output.
async fn pinned_load(args: &[String]) -> String {
    let output = Command::new("taskset")
        .args(["-c", "1"])
        .arg(std::env::current_exe().unwrap())
        .arg("load")
        .args(args)
        .output()
        .await
        .expect("load runs");
    assert!(
        output.status.success(),
        "load {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// h2load against `addr`: requests per second (its own count of successes is checked).
async fn h2load(addr: &str, connections: u32, streams: u32, requests: u32, body: &Path) -> f64 {
    h2load_url(
        &format!("http://{addr}"),
        connections,
        streams,
        requests,
        body,
    )
    .await
}

/// h2load against `base` (`http://` or `https://` and the address).
async fn h2load_url(base: &str, connections: u32, streams: u32, requests: u32, body: &Path) -> f64 {
    h2load_on("1", base, connections, streams, requests, body).await
}

/// h2load pinned to `cpus` against `base`: native gRPC SayHello calls.
async fn h2load_on(
    cpus: &str,
    base: &str,
    connections: u32,
    streams: u32,
    requests: u32,
    body: &Path,
) -> f64 {
    let load = Load {
        connections,
        streams,
        requests,
        body,
        headers: &["content-type: application/grpc", "te: trailers"],
        http1: false,
    };
    h2load_with(cpus, base, &load).await
}

/// What h2load sends: how many requests, over how many connections and streams each, with
/// which body and headers, over HTTP/2 or (`http1`) HTTP/1.1.
struct Load<'a> {
    connections: u32,
    streams: u32,
    requests: u32,
    body: &'a Path,
    headers: &'a [&'a str],
    http1: bool,
}

/// h2load pinned to `cpus` against greeter's SayHello at `base`: requests per second, after
/// checking that every request got a 2xx answer.
async fn h2load_with(cpus: &str, base: &str, load: &Load<'_>) -> f64 {
    let requests = load.requests;
    let mut command = Command::new("taskset");
    command.args(["-c", cpus, "h2load"]).args([
        "-n",
        &requests.to_string(),
        "-c",
        &load.connections.to_string(),
        "-m",
        &load.streams.to_string(),
    ]);
    if load.http1 {
        command.arg("--h1");
    }
    for header in load.headers {
        command.args(["-H", header]);
    }
    let output = command
        .arg("-d")
        .arg(load.body)
        .arg(format!("{base}/helloworld.Greeter/SayHello"))
        .output()
        .await
        .expect("h2load runs (scripts/bench installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    let succeeded = text
        .lines()
        .find(|line| line.starts_with("requests:"))
        .and_then(|line| {
            line.split(',')
                .find(|part| part.trim().ends_with("succeeded"))
        })
        .and_then(|part| part.trim().split(' ').next()?.parse::<u32>().ok());
    assert_eq!(succeeded, Some(requests), "h2load saw failures:\n{text}");
    let status_2xx = text
        .lines()
        .find(|line| line.starts_with("status codes:"))
        .and_then(|line| {
            line.split(',')
                .next()?
                .split_whitespace()
                .nth(2)?
                .parse::<u32>()
                .ok()
        });
    assert_eq!(
        status_2xx,
        Some(requests),
        "h2load saw non-2xx answers:\n{text}"
    );
    text.lines()
        .find(|line| line.starts_with("finished in"))
        .and_then(|line| {
            line.split(',')
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .expect("h2load prints its rate")
}

fn request_body() -> PathBuf {
    let message = protoless_benches::HelloRequest {
        name: "world".into(),
    }
    .encode_to_vec();
    let mut framed = vec![0];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(&message);
    let path = std::env::temp_dir().join("protoless-bench-request.bin");
    std::fs::write(&path, framed).unwrap();
    path
}

/// Each server answers a real call correctly before anything is timed.
async fn check_answers(server: &ServerProcess) {
    let client = protoless_benches::GreeterClient::connect(&server.url)
        .await
        .expect("connect");
    let reply = client
        .say_hello(protoless_benches::HelloRequest {
            name: "world".into(),
        })
        .await
        .expect("grpc-status 0");
    assert_eq!(reply.message, "Hello, world!");
}

struct Report {
    rows: Vec<[String; 5]>,
    chart: Vec<(String, [f64; 3])>,
    /// Sections of their own (Markdown), written after the chart.
    sections: Vec<String>,
}

impl Report {
    fn row(&mut self, scenario: &str, protoless: String, tonic: String, ratio: f64, target: &str) {
        let ratio = format!("{ratio:.2}x");
        println!("{scenario:<48} {protoless:>16} {tonic:>16} {ratio:>8} {target}");
        self.rows.push([
            scenario.to_owned(),
            protoless,
            tonic,
            ratio,
            target.to_owned(),
        ]);
    }

    /// A row of two figures where more is better (rates): the ratio is protoless over tonic.
    fn more_is_better(&mut self, scenario: &str, figures: [f64; 2], decimals: usize, target: &str) {
        self.figures(scenario, figures, decimals, figures[0] / figures[1], target);
    }

    /// A row of two figures where less is better (times, sizes): the ratio is tonic over
    /// protoless, so that above 1 still means protoless is better.
    fn less_is_better(&mut self, scenario: &str, figures: [f64; 2], decimals: usize, target: &str) {
        self.figures(scenario, figures, decimals, figures[1] / figures[0], target);
    }

    fn figures(
        &mut self,
        scenario: &str,
        [protoless, tonic]: [f64; 2],
        decimals: usize,
        ratio: f64,
        target: &str,
    ) {
        let (ours, theirs) = (
            format!("{protoless:.decimals$}"),
            format!("{tonic:.decimals$}"),
        );
        self.row(scenario, ours, theirs, ratio, target);
    }
}

async fn unary_server_throughput(report: &mut Report) {
    let body = request_body();
    // All three servers run side by side (idle but for the one under load), and their runs
    // alternate: a slow minute on this machine then costs each of them a run alike.
    let mut servers = Vec::new();
    for kind in SERVERS {
        let server = ServerProcess::start(kind).await;
        check_answers(&server).await;
        servers.push(server);
    }
    for (connections, streams, requests) in
        [(1u32, 1u32, 20_000u32), (4, 16, 200_000), (50, 20, 300_000)]
    {
        let mut runs = [const { Vec::new() }; 3];
        for _ in 0..RUNS {
            for (server, runs) in servers.iter().zip(&mut runs) {
                runs.push(h2load(&server.addr, connections, streams, requests, &body).await);
            }
        }
        let rates = runs.map(median);
        let label = format!("unary SayHello, h2load c={connections} m={streams} (req/s)");
        let target = if (connections, streams) == (50, 20) {
            "≥1.4x tonic, ≥0.9 of bare"
        } else {
            ""
        };
        report.more_is_better(&label, [rates[0], rates[1]], 0, target);
        report.row(
            &format!("  share of the bare h2 ceiling ({:.0} req/s)", rates[2]),
            format!("{:.0}%", 100.0 * rates[0] / rates[2]),
            format!("{:.0}%", 100.0 * rates[1] / rates[2]),
            rates[0] / rates[1],
            "",
        );
        report
            .chart
            .push((format!("c={connections} m={streams}"), rates));
    }
}

/// Unary throughput over TLS (rustls on ring on both sides), h2load c=50 m=20: what TLS costs
/// each server, compared in the same run.
async fn tls_unary(report: &mut Report) {
    let dir = std::env::temp_dir().join(format!("protoless-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let certificate = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert_path, certificate.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let tls = [
        "--tls",
        cert_path.to_str().unwrap(),
        key_path.to_str().unwrap(),
    ];
    let servers = [
        ServerProcess::start_with("protoless", &tls).await,
        ServerProcess::start_with("tonic", &tls).await,
    ];
    let body = request_body();
    let mut runs = [Vec::new(), Vec::new()];
    for _ in 0..RUNS {
        for (server, runs) in servers.iter().zip(&mut runs) {
            let base = format!("https://{}", server.addr);
            runs.push(h2load_url(&base, 50, 20, 300_000, &body).await);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    report.more_is_better(
        "unary SayHello over TLS, h2load c=50 m=20 (req/s)",
        runs.map(median),
        0,
        "",
    );
}

/// What three trivial interceptors cost, on the server (h2load c=50 m=20) and on the client (64
/// calls in flight against the plain server): each against none, in the same run.
async fn interceptors(report: &mut Report) {
    let body = request_body();
    let servers = [
        ServerProcess::start("protoless-intercepted").await,
        ServerProcess::start("protoless").await,
    ];
    for server in &servers {
        check_answers(server).await;
    }
    let mut runs = [Vec::new(), Vec::new()];
    for _ in 0..RUNS {
        for (server, runs) in servers.iter().zip(&mut runs) {
            runs.push(h2load(&server.addr, 50, 20, 300_000, &body).await);
        }
    }
    report.more_is_better(
        "server, 3 interceptors vs none, c=50 m=20 (req/s)",
        runs.map(median),
        0,
        "≥0.9 of none",
    );
    let loads: Vec<Vec<String>> = ["protoless-intercepted", "protoless"]
        .into_iter()
        .map(|client| {
            let url = servers[1].url.clone();
            ["unary", client, &url, "1", "64", "200000"]
                .map(str::to_owned)
                .to_vec()
        })
        .collect();
    let measured = median_loads(&loads).await;
    report.more_is_better(
        "client, 3 interceptors vs none, 64 in flight (calls/s)",
        [measured[0].rate, measured[1].rate],
        0,
        "≥0.9 of none",
    );
}

/// One load run: its rate and its p99 latency in microseconds.
async fn one_load(args: &[String]) -> Measurement {
    let line = pinned_load(args).await;
    let mut parts = line.split_whitespace().map(|part| part.parse().unwrap());
    let mut next = || {
        parts
            .next()
            .expect("load prints rate, p99 and CPU per operation")
    };
    Measurement {
        rate: next(),
        p99: next(),
        cpu: next(),
    }
}

/// What a load reports, or the medians of several.
struct Measurement {
    /// Operations per second.
    rate: f64,
    /// The 99th percentile latency, in microseconds.
    p99: f64,
    /// The load process's CPU time per operation, in microseconds.
    cpu: f64,
}

/// The median rate and p99 of each load, their runs alternating (see
/// `unary_server_throughput`).
async fn median_loads(loads: &[Vec<String>]) -> Vec<Measurement> {
    let mut runs = vec![[const { Vec::new() }; 3]; loads.len()];
    for _ in 0..RUNS {
        for (args, runs) in loads.iter().zip(&mut runs) {
            let measured = one_load(args).await;
            runs[0].push(measured.rate);
            runs[1].push(measured.p99);
            runs[2].push(measured.cpu);
        }
    }
    runs.into_iter()
        .map(|runs| {
            let [rate, p99, cpu] = runs.map(median);
            Measurement { rate, p99, cpu }
        })
        .collect()
}

async fn client_and_latency(report: &mut Report) {
    // The same protoless server for both clients: only the client differs.
    let server = ServerProcess::start("protoless").await;
    check_answers(&server).await;
    for (concurrency, total) in [(1usize, 20_000u64), (64, 200_000)] {
        let loads: Vec<Vec<String>> = ["protoless", "tonic"]
            .into_iter()
            .map(|client| {
                vec![
                    "unary".into(),
                    client.into(),
                    server.url.clone(),
                    "1".into(),
                    concurrency.to_string(),
                    total.to_string(),
                ]
            })
            .collect();
        let results = median_loads(&loads).await;
        let target = if concurrency == 64 {
            "≥1.3x tonic"
        } else {
            ""
        };
        report.more_is_better(
            &format!("client throughput, {concurrency} in flight (calls/s)"),
            [results[0].rate, results[1].rate],
            0,
            target,
        );
        // The client and the server take turns on one connection, so the throughput above
        // includes the server's time; this is the client's own.
        report.less_is_better(
            &format!("  client CPU per call, {concurrency} in flight (µs, lower is better)"),
            [results[0].cpu, results[1].cpu],
            2,
            "",
        );
    }
    // The same 64 calls in flight from a client on the multi-thread runtime.
    let loads: Vec<Vec<String>> = ["protoless", "tonic"]
        .into_iter()
        .map(|client| {
            [
                "--multi-thread",
                "unary",
                client,
                &server.url,
                "1",
                "64",
                "200000",
            ]
            .map(str::to_owned)
            .to_vec()
        })
        .collect();
    let results = median_loads(&loads).await;
    report.more_is_better(
        "client throughput, 64 in flight, multi-thread runtime (calls/s)",
        [results[0].rate, results[1].rate],
        0,
        "≥1.3x tonic",
    );
    report.less_is_better(
        "  client CPU per call, 64 in flight, multi-thread (µs, lower is better)",
        [results[0].cpu, results[1].cpu],
        2,
        "",
    );
    drop(server);
    // p99 latency at 4 connections x 16 streams: one load generator, the two servers.
    let servers = both_servers().await;
    let loads: Vec<Vec<String>> = servers
        .iter()
        .map(|server| {
            vec![
                "unary".into(),
                "protoless".into(),
                server.url.clone(),
                "4".into(),
                "64".into(),
                "128000".into(),
            ]
        })
        .collect();
    let p99: Vec<f64> = median_loads(&loads).await.iter().map(|r| r.p99).collect();
    report.less_is_better(
        "p99 latency at c=4 m=16 (µs, lower is better)",
        [p99[0], p99[1]],
        0,
        "no worse than tonic",
    );
}

/// Starts a protoless and a tonic server, each checked.
async fn both_servers() -> [ServerProcess; 2] {
    let protoless = ServerProcess::start("protoless").await;
    check_answers(&protoless).await;
    let tonic = ServerProcess::start("tonic").await;
    check_answers(&tonic).await;
    [protoless, tonic]
}

/// `load` with each side's client against its own server.
fn each_side(servers: &[ServerProcess; 2], load: &str, args: &[String]) -> Vec<Vec<String>> {
    ["protoless", "tonic"]
        .into_iter()
        .zip(servers)
        .map(|(kind, server)| {
            let mut all = vec![load.to_owned(), kind.to_owned(), server.url.clone()];
            all.extend_from_slice(args);
            all
        })
        .collect()
}

async fn streaming(report: &mut Report) {
    let servers = both_servers().await;
    let rates = median_loads(&each_side(&servers, "flood", &["1000000".into()])).await;
    let round_trips = median_loads(&each_side(&servers, "ping-pong", &["20000".into()])).await;
    report.more_is_better(
        "server stream of 1,000,000 small messages (msg/s)",
        [rates[0].rate, rates[1].rate],
        0,
        "≥1.5x tonic",
    );
    report.more_is_better(
        "bidirectional ping-pong (round trips/s)",
        [round_trips[0].rate, round_trips[1].rate],
        0,
        "",
    );
}

/// Three `Calc(n = 2e9)` calls with a 300 ms deadline, on each server: how long small calls
/// wait meanwhile (slowest of 20), and how much CPU the server still spends on the abandoned
/// sums in the second that starts one second after their deadline.
async fn cpu_bound(report: &mut Report) {
    let servers = both_servers().await;
    let mut slowest = [0.0; 2];
    let mut burnt = [0.0; 2];
    for (side, server) in servers.iter().enumerate() {
        let (latency, cpu) = cpu_bound_run(server).await;
        slowest[side] = latency.as_secs_f64() * 1000.0;
        burnt[side] = cpu * 1000.0;
    }
    report.less_is_better(
        "small Calc while 3 CPU-bound Calcs run: slowest (ms)",
        slowest,
        2,
        "well under 100 ms",
    );
    // A server that stopped spends no measurable CPU (the clock counts 10 ms ticks): the ratio
    // is taken against one tick, so it reads "at least".
    let ratio = burnt[1] / burnt[0].max(10.0);
    report.row(
        "CPU on them 1 s after their deadline (ms per s)",
        format!("{:.0}", burnt[0]),
        format!("{:.0}", burnt[1]),
        ratio,
        "0: the sums stop",
    );
}

async fn cpu_bound_run(server: &ServerProcess) -> (Duration, f64) {
    use protoless_benches::{PiCalculatorClient, PiRequest};
    let client = PiCalculatorClient::connect(&server.url).await.unwrap();
    let deadline = Duration::from_millis(300);
    let sent = Instant::now();
    let big: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .calc(PiRequest { n: 2_000_000_000 })
                    .timeout(deadline)
                    .await
            })
        })
        .collect();
    let small = PiCalculatorClient::connect(&server.url).await.unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        small.calc(PiRequest { n: 10 }).await.expect("a small Calc");
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        sent.elapsed() < deadline,
        "the small calls outlasted the big ones: the machine is too busy to measure this"
    );
    for call in big {
        let outcome = call.await.unwrap();
        assert!(outcome.is_err(), "a 2e9-term sum finished within 300 ms");
    }
    let pid = server.child.id().expect("running");
    tokio::time::sleep_until((sent + deadline + Duration::from_secs(1)).into()).await;
    let before = process_cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let burnt = process_cpu_seconds(pid) - before;
    // Let the tonic server's sums run out before the next benchmark uses the core.
    while server_is_busy(pid).await {}
    (slowest, burnt)
}

/// Whether the server used CPU in the last 200 ms.
async fn server_is_busy(pid: u32) -> bool {
    let before = process_cpu_seconds(pid);
    tokio::time::sleep(Duration::from_millis(200)).await;
    process_cpu_seconds(pid) - before > 0.05
}

async fn large_messages(report: &mut Report) {
    let servers = both_servers().await;
    for (size, count, label) in [(1usize << 20, 200u64, "1 MiB"), (16 << 20, 20, "16 MiB")] {
        let args = [size.to_string(), count.to_string()];
        let rates = median_loads(&each_side(&servers, "blob", &args)).await;
        report.more_is_better(
            &format!("unary echo of {label} (calls/s)"),
            [rates[0].rate, rates[1].rate],
            1,
            "",
        );
    }
}

fn order() -> Order {
    Order {
        id: "order-2026-11-23-000042".into(),
        customer: Some(Customer {
            id: 42,
            name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
        }),
        items: (0..8)
            .map(|i| LineItem {
                sku: format!("SKU-{i:05}"),
                quantity: i + 1,
                unit_price: 9.99 * f64::from(i + 1),
            })
            .collect(),
        total: 359.64,
        payment: Some(Payment::Card(Card {
            number: "4111111111111111".into(),
            expiry_month: 12,
            expiry_year: 2030,
        })),
        tags: [
            ("channel".to_owned(), "web".to_owned()),
            ("promo".to_owned(), "none".to_owned()),
        ]
        .into(),
    }
}

/// Nanoseconds per call of each of `works`, the median of several timed batches. The works'
/// batches alternate, so that drift on the machine falls on all of them alike.
fn nanos_per_op<const N: usize>(mut works: [&mut dyn FnMut(); N]) -> [f64; N] {
    const BATCH: u32 = 50_000;
    for work in &mut works {
        for _ in 0..BATCH / 10 {
            work();
        }
    }
    let mut runs = [const { Vec::new() }; N];
    for _ in 0..CODEC_BATCHES {
        for (work, runs) in works.iter_mut().zip(&mut runs) {
            let started = Instant::now();
            for _ in 0..BATCH {
                work();
            }
            runs.push(started.elapsed().as_nanos() as f64 / f64::from(BATCH));
        }
    }
    runs.map(median)
}

fn codec(report: &mut Report) {
    let ours = order();
    let bytes = ours.encode_to_vec();
    let theirs =
        tonic_side::bench::Order::decode(bytes.as_slice()).expect("prost reads protoless's bytes");
    assert_eq!(
        theirs.encode_to_vec().len(),
        bytes.len(),
        "same encoded size"
    );
    assert_eq!(
        protoless_benches::Order::decode(theirs.encode_to_vec()).unwrap(),
        ours
    );
    let postcard = protoless::Codec::Postcard
        .encode(&ours, bytes::BytesMut::new())
        .unwrap()
        .freeze();
    let mut buf = bytes::BytesMut::with_capacity(1024);
    let mut prost_buf = Vec::with_capacity(1024);
    let shared = bytes::Bytes::from(bytes.clone());
    let [ours_encode, prost_encode, ours_decode, prost_decode, postcard_encode, postcard_decode] =
        nanos_per_op([
            &mut || {
                buf.clear();
                ours.encode(&mut buf);
                std::hint::black_box(&buf);
            },
            &mut || {
                prost_buf.clear();
                theirs.encode(&mut prost_buf).unwrap();
                std::hint::black_box(&prost_buf);
            },
            &mut || {
                std::hint::black_box(protoless_benches::Order::decode(shared.clone()).unwrap());
            },
            &mut || {
                std::hint::black_box(tonic_side::bench::Order::decode(shared.clone()).unwrap());
            },
            &mut || {
                std::hint::black_box(
                    protoless::Codec::Postcard
                        .encode(&ours, bytes::BytesMut::new())
                        .unwrap(),
                );
            },
            &mut || {
                std::hint::black_box(
                    protoless::Codec::Postcard
                        .decode::<Order>(postcard.clone())
                        .unwrap(),
                );
            },
        ]);
    report.less_is_better(
        "codec: encode a nested Order (ns, lower is better)",
        [ours_encode, prost_encode],
        0,
        "no slower than prost",
    );
    report.less_is_better(
        "codec: decode a nested Order (ns, lower is better)",
        [ours_decode, prost_decode],
        0,
        "no slower than prost",
    );
    report.row(
        &format!(
            "codec: postcard vs protobuf encode ({} vs {} bytes)",
            postcard.len(),
            bytes.len()
        ),
        format!("{postcard_encode:.0}"),
        format!("{ours_encode:.0}"),
        ours_encode / postcard_encode,
        "(both protoless)",
    );
    report.row(
        "codec: postcard vs protobuf decode (ns)",
        format!("{postcard_decode:.0}"),
        format!("{ours_decode:.0}"),
        ours_decode / postcard_decode,
        "(both protoless)",
    );
}

async fn memory(report: &mut Report) {
    const CONNECTIONS: usize = 200;
    const STREAMS: usize = 200;
    let mut per_connection = Vec::new();
    let mut per_stream = Vec::new();
    for kind in ["protoless", "tonic"] {
        let server = ServerProcess::start(kind).await;
        check_answers(&server).await;
        let before = server.rss_kib();
        let mut idle = Vec::new();
        for _ in 0..CONNECTIONS {
            let channel = protoless::Channel::connect(&server.url)
                .await
                .expect("connect");
            // One call, so that the connection is fully set up on both sides.
            let client = protoless_benches::GreeterClient::new(channel);
            client
                .say_hello(protoless_benches::HelloRequest {
                    name: "world".into(),
                })
                .await
                .unwrap();
            idle.push(client);
        }
        let after_connections = server.rss_kib();
        let client = protoless_benches::BenchClient::connect(&server.url)
            .await
            .unwrap();
        let mut open = Vec::new();
        for seq in 0..STREAMS as u64 {
            let mut stream = client.ping_pong().await.unwrap();
            stream.send(protoless_benches::Tick { seq }).await.unwrap();
            stream.message().await.unwrap().unwrap();
            open.push(stream);
        }
        let after_streams = server.rss_kib();
        per_connection.push((after_connections.saturating_sub(before)) as f64 / CONNECTIONS as f64);
        per_stream.push((after_streams.saturating_sub(after_connections)) as f64 / STREAMS as f64);
    }
    report.less_is_better(
        "memory per idle connection (KiB, lower is better)",
        [per_connection[0], per_connection[1]],
        1,
        "",
    );
    report.less_is_better(
        "memory per open stream (KiB, lower is better)",
        [per_stream[0], per_stream[1]],
        1,
        "",
    );
}

/// The chart: unary throughput against load, for the three servers, as SVG.
fn chart(points: &[(String, [f64; 3])]) -> String {
    let (width, height, left, bottom) = (640.0, 360.0, 70.0, 40.0);
    let max = points
        .iter()
        .flat_map(|(_, rates)| rates.iter().copied())
        .fold(1.0, f64::max)
        * 1.1;
    let colors = ["#d9480f", "#1c7ed6", "#868e96"];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Unary SayHello throughput under h2load (req/s, one server core)</text>\n",
        width / 2.0
    );
    let plot_width = width - left - 20.0;
    let plot_height = height - bottom - 40.0;
    for tick in 0..=4 {
        let value = max * f64::from(tick) / 4.0;
        let y = 30.0 + plot_height * (1.0 - f64::from(tick) / 4.0);
        let _ = writeln!(svg, "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}k</text>", width - 20.0, left - 6.0, y + 4.0, value / 1000.0);
    }
    let group = plot_width / points.len() as f64;
    for (index, (label, rates)) in points.iter().enumerate() {
        let x0 = left + group * index as f64 + group * 0.15;
        let bar = group * 0.7 / 3.0;
        for (server, rate) in rates.iter().enumerate() {
            let bar_height = plot_height * rate / max;
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                x0 + bar * server as f64,
                30.0 + plot_height - bar_height,
                bar - 2.0,
                bar_height,
                colors[server]
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            x0 + bar * 1.5,
            height - bottom + 16.0
        );
    }
    for (server, name) in ["protoless", "tonic + prost", "bare h2 (ceiling)"]
        .iter()
        .enumerate()
    {
        let x = left + 10.0 + 160.0 * server as f64;
        let _ = writeln!(svg, "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{name}</text>", height - 18.0, colors[server], x + 16.0, height - 8.0);
    }
    svg.push_str("</svg>\n");
    svg
}

fn write_report(report: &Report, elapsed: Duration) -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    std::fs::write(root.join("benches/chart.svg"), chart(&report.chart))?;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|name| name.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let h2load = std::process::Command::new("h2load")
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut text = String::new();
    let _ = writeln!(text, "# Benchmarks\n\nGenerated by `scripts/bench` (which runs `target/release/bench --write`) on {}; the run took {:.0} s.\n", std::env::var("BENCH_DATE").unwrap_or_else(|_| "the date of the commit".into()), elapsed.as_secs_f64());
    let _ = writeln!(text, "- Machine: {cpu}, {} cores; servers pinned to core 0, load generators to core 1 (`taskset`).", std::thread::available_parallelism().map_or(0, |n| n.get()));
    let _ = writeln!(
        text,
        "- Versions: {rustc}; protoless {}; tonic 0.14.9 + prost 0.14.6; h2 0.4.20; {h2load}.",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(text, "- Each figure is the median of {RUNS} runs (codec times: of {CODEC_BATCHES} timed batches), the compared sides' runs alternating. Ratios are protoless over tonic (for latencies, memory and codec times: tonic over protoless), so above 1 means protoless is better.\n");
    text.push_str("| scenario | protoless | tonic + prost | ratio | target |\n| --- | ---: | ---: | ---: | --- |\n");
    for row in &report.rows {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} |",
            row[0].trim(),
            row[1],
            row[2],
            row[3],
            row[4]
        );
    }
    text.push_str("\n![Unary throughput against load](benches/chart.svg)\n");
    for section in &report.sections {
        text.push('\n');
        text.push_str(section);
    }
    let notes = root.join("benches/NOTES.md");
    if let Ok(notes) = std::fs::read_to_string(notes) {
        text.push('\n');
        text.push_str(&notes);
    }
    std::fs::write(root.join("BENCHMARKS.md"), text)
}

/// CPU time this process has used, user and system, in seconds.
fn cpu_seconds() -> f64 {
    process_cpu_seconds(std::process::id())
}

/// CPU time process `pid` has used, user and system, in seconds (from `/proc/PID/stat`, whose
/// clock ticks are 1/100 s on Linux).
fn process_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    cpu_ticks(&stat).map_or(0.0, |(_, ticks)| ticks as f64 / 100.0)
}

/// The command name and the CPU clock ticks (user and system) of a `/proc/.../stat` line, of
/// a process or of one of its threads.
fn cpu_ticks(stat: &str) -> Option<(&str, u64)> {
    // The name is in parentheses and may hold spaces.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let tick = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Some((&stat[open + 1..close], tick(11)? + tick(12)?))
}

async fn load(args: &[String]) {
    let cpu_before = cpu_seconds();
    let measured = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["unary", client, url, connections, concurrency, total] => {
            loads::unary(
                client,
                url,
                connections.parse().unwrap(),
                concurrency.parse().unwrap(),
                total.parse().unwrap(),
            )
            .await
        }
        ["flood", client, url, count] => loads::flood(client, url, count.parse().unwrap()).await,
        ["ping-pong", client, url, rounds] => {
            loads::ping_pong(client, url, rounds.parse().unwrap()).await
        }
        ["blob", client, url, size, count] => {
            loads::blob(client, url, size.parse().unwrap(), count.parse().unwrap()).await
        }
        _ => panic!("unknown load {args:?}"),
    };
    let mut latencies = measured.latencies.clone();
    let p99 = if latencies.is_empty() {
        Duration::ZERO
    } else {
        percentile(&mut latencies, 0.99)
    };
    let cpu_per_operation = (cpu_seconds() - cpu_before) / measured.operations as f64;
    println!(
        "{:.3} {:.1} {:.3}",
        measured.per_second(),
        p99.as_secs_f64() * 1e6,
        cpu_per_operation * 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("load") {
        // A load generator: one thread, like the servers, pinned by the caller; with
        // `--multi-thread`, on tokio's multi-thread runtime (one worker on its one core), as a
        // client under `#[tokio::main]` runs.
        let multi_thread = args.get(1).map(String::as_str) == Some("--multi-thread");
        let mut runtime = if multi_thread {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(1);
            builder
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        let runtime = runtime.enable_all().build().unwrap();
        let rest = if multi_thread { &args[2..] } else { &args[1..] };
        return runtime.block_on(load(rest));
    }
    let write = args.iter().any(|arg| arg == "--write");
    // `--only codec` (or unary, client, streaming, large, cpu, tls, interceptors, runtime, memory) runs
    // one group, for profiling.
    let only = args
        .iter()
        .position(|arg| arg == "--only")
        .and_then(|at| args.get(at + 1))
        .cloned();
    let wanted = |group: &str| only.as_deref().is_none_or(|only| only == group);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let started = Instant::now();
        let mut report = Report {
            rows: Vec::new(),
            chart: Vec::new(),
            sections: Vec::new(),
        };
        println!(
            "{:<48} {:>16} {:>16} {:>8} target",
            "scenario", "protoless", "tonic+prost", "ratio"
        );
        if wanted("unary") {
            unary_server_throughput(&mut report).await;
        }
        if wanted("client") {
            client_and_latency(&mut report).await;
        }
        if wanted("streaming") {
            streaming(&mut report).await;
        }
        if wanted("large") {
            large_messages(&mut report).await;
        }
        if wanted("cpu") {
            cpu_bound(&mut report).await;
        }
        if wanted("tls") {
            tls_unary(&mut report).await;
        }
        if wanted("interceptors") {
            interceptors(&mut report).await;
        }
        if wanted("runtime") {
            runtime::runtimes(&mut report).await;
        }
        if wanted("web") {
            web::web(&mut report).await;
        }
        if wanted("codec") {
            codec(&mut report);
        }
        if wanted("memory") {
            memory(&mut report).await;
        }
        if write && only.is_none() {
            write_report(&report, started.elapsed()).expect("write BENCHMARKS.md");
            println!("wrote BENCHMARKS.md and benches/chart.svg");
        }
    });
}
