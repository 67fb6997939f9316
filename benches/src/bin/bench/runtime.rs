//! `--only runtime`: unary throughput and the server's CPU time per call on both of tokio's
//! runtime flavours, against tonic, a bare h2 server, grpc-go and pajamax (the "specialised
//! HTTP/2" floor); on one core, then on two
//! (with each thread's share), then a scaling table over connections × streams.
//!
//! The greeter example runs as shipped (`#[tokio::main]`, health and reflection on): that is the
//! server users start. The bench servers run the same service with nothing else, once per
//! runtime flavour (`bench-server KIND ADDR [--workers N]`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{
    check_answers, cpu_ticks, h2load_on, median, process_cpu_seconds, release_binary, request_body,
    Report, ServerProcess, RUNS,
};

/// Runs for the two-core and scaling tables, which have no targets of their own.
const FEWER_RUNS: usize = 3;

/// One-core loads: connections, streams per connection, requests.
const LOADS: [(u32, u32, u32); 3] = [(1, 100, 200_000), (4, 16, 200_000), (50, 20, 300_000)];

/// A server under comparison: how to start it.
#[derive(Clone)]
struct Contender {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

impl Contender {
    /// `bench-server KIND`: on a current-thread runtime, or a multi-thread one with `workers`.
    fn bench_server(name: &str, kind: &str, workers: Option<usize>) -> Contender {
        let mut args = vec![kind.to_owned(), "127.0.0.1:0".to_owned()];
        if let Some(workers) = workers {
            args.extend(["--workers".to_owned(), workers.to_string()]);
        }
        Contender {
            name: name.to_owned(),
            program: release_binary("bench-server"),
            args,
            env: Vec::new(),
        }
    }

    /// `greeter serve` as shipped: `#[tokio::main]`, one worker per core it may run on.
    fn greeter(name: &str) -> Contender {
        let program = release_binary("examples").join("greeter");
        assert!(
            program.exists(),
            "{} is missing: scripts/bench builds it (cargo build --release --example greeter)",
            program.display()
        );
        Contender {
            name: name.to_owned(),
            program,
            args: vec!["serve".to_owned(), "127.0.0.1:0".to_owned()],
            env: Vec::new(),
        }
    }

    /// grpc-go's greeter server with `procs` as GOMAXPROCS.
    fn grpc_go(program: &Path, procs: usize) -> Contender {
        Contender {
            name: format!("grpc-go 1.33 (GOMAXPROCS={procs})"),
            program: program.to_owned(),
            args: vec!["127.0.0.1:0".to_owned()],
            env: vec![("GOMAXPROCS", procs.to_string())],
        }
    }

    async fn start(&self, cpus: &str) -> ServerProcess {
        let server = ServerProcess::launch(cpus, &self.program, &self.args, &self.env).await;
        // pajamax does not answer HTTP/2 PINGs (RFC 9113 §6.7 says it must), and protoless's
        // client counts a connection ready only once its PING is answered: h2load's check of
        // every answer's status stands in for this one there.
        if !self.name.starts_with("pajamax") {
            check_answers(&server).await;
        }
        server
    }
}

/// pajamax's greeter server, which `scripts/bench` builds (benches/pajamax, its own workspace).
fn pajamax_server() -> Result<Contender, String> {
    let program =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/pajamax/release/pajamax-greeter");
    if !program.exists() {
        return Err(format!(
            "{} is missing: scripts/bench builds it",
            program.display()
        ));
    }
    Ok(Contender {
        name: "pajamax 0.3 (own HTTP/2, thread per connection, unary only)".to_owned(),
        program,
        args: vec!["127.0.0.1:0".to_owned()],
        env: Vec::new(),
    })
}

/// Builds grpc-go's greeter server with `scripts/go-greeter`; why not, when it cannot.
fn grpc_go_server() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/go-greeter");
    let output = std::process::Command::new(&script)
        .output()
        .map_err(|error| format!("{} did not run: {error}", script.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("no output").to_owned();
        return Err(format!("scripts/go-greeter failed: {last}"));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    ))
}

/// One h2load run against `server`: requests per second, and the server's CPU time per call
/// in microseconds.
async fn measure(server: &ServerProcess, load_cpus: &str, load: (u32, u32, u32)) -> [f64; 2] {
    let (connections, streams, requests) = load;
    let pid = server.child.id().expect("the server runs");
    let before = process_cpu_seconds(pid);
    let rate = h2load_on(
        load_cpus,
        &server.url,
        connections,
        streams,
        requests,
        &request_body(),
    )
    .await;
    let cpu = process_cpu_seconds(pid) - before;
    [rate, cpu / f64::from(requests) * 1e6]
}

/// Medians of `runs` runs of each load on each server, the servers' runs alternating:
/// `[load][server] = [req/s, µs per call]`.
async fn medians(
    servers: &[ServerProcess],
    load_cpus: &str,
    loads: &[(u32, u32, u32)],
    runs: usize,
) -> Vec<Vec<[f64; 2]>> {
    let mut result = Vec::new();
    for &load in loads {
        let mut samples = vec![[Vec::new(), Vec::new()]; servers.len()];
        for _ in 0..runs {
            for (server, samples) in servers.iter().zip(&mut samples) {
                let [rate, cpu] = measure(server, load_cpus, load).await;
                samples[0].push(rate);
                samples[1].push(cpu);
            }
        }
        result.push(
            samples
                .into_iter()
                .map(|samples| samples.map(median))
                .collect(),
        );
    }
    result
}

/// CPU ticks of each of `pid`'s threads, by thread id: (name, ticks).
fn thread_ticks(pid: u32) -> Vec<(u32, String, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut threads = Vec::new();
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some((name, ticks)) = cpu_ticks(&stat) else {
            continue;
        };
        let id = task.file_name().to_string_lossy().parse().unwrap_or(0);
        threads.push((id, name.to_owned(), ticks));
    }
    threads
}

/// How a load's CPU time split over `server`'s threads: "name share%" for each thread that
/// did at least 2 % of the work, busiest first.
async fn thread_split(server: &ServerProcess, load: (u32, u32, u32)) -> String {
    let pid = server.child.id().expect("the server runs");
    let before = thread_ticks(pid);
    measure(server, "0,1", load).await;
    let after = thread_ticks(pid);
    let mut used: Vec<(String, u64)> = after
        .into_iter()
        .map(|(id, name, ticks)| {
            let earlier = before
                .iter()
                .find(|(before_id, ..)| *before_id == id)
                .map_or(0, |(.., ticks)| *ticks);
            (name, ticks - earlier)
        })
        .collect();
    let total: u64 = used.iter().map(|(_, ticks)| ticks).sum();
    used.sort_by_key(|(_, ticks)| std::cmp::Reverse(*ticks));
    let shares: Vec<String> = used
        .iter()
        .filter(|(_, ticks)| total > 0 && *ticks * 50 >= total)
        .map(|(name, ticks)| format!("{name} {:.0}%", 100.0 * *ticks as f64 / total as f64))
        .collect();
    shares.join(", ")
}

fn cell([rate, cpu]: [f64; 2]) -> String {
    format!("{rate:.0} req/s · {cpu:.1} µs")
}

fn load_label((connections, streams, _): (u32, u32, u32)) -> String {
    format!("c={connections} m={streams}")
}

/// A target line: the figure, the bound, and whether it holds.
fn target(lines: &mut String, what: &str, figure: f64, bound: f64, at_least: bool) {
    let met = if at_least {
        figure >= bound
    } else {
        figure <= bound
    };
    let status = match (met, (figure / bound - 1.0).abs() < 0.03) {
        (_, true) => "at the margin",
        (true, false) => "met",
        (false, false) => "not met",
    };
    let sign = if at_least { "≥" } else { "≤" };
    println!("{what:<64} {figure:>8.2} {sign} {bound:<5} {status}");
    let _ = writeln!(
        lines,
        "| {what} | {figure:.2} | {sign} {bound} | {status} |"
    );
}

pub(super) async fn runtimes(report: &mut Report) {
    let grpc_go = grpc_go_server();
    if let Err(why) = &grpc_go {
        println!("grpc-go is left out: {why}");
    }
    let pajamax = pajamax_server();
    if let Err(why) = &pajamax {
        println!("pajamax is left out: {why}");
    }
    let mut text = String::from("## Runtime flavours and peers\n\n");
    let _ = writeln!(
        text,
        "Generated by `target/release/bench --only runtime` (part of `scripts/bench`). Cells: \
         requests per second · the server's CPU time per call (user + system, from /proc; \
         lower is better), each the median of {RUNS} runs (two-core and scaling tables: \
         {FEWER_RUNS}), the servers' runs alternating. `greeter serve` is the example as \
         shipped: `#[tokio::main]`, health and reflection on. The bench servers serve the \
         same SayHello and nothing else.\n"
    );

    // One core: the server on core 0 (a multi-thread runtime gets one worker there), h2load on
    // core 1.
    let mut one_core = vec![
        Contender::greeter("greeter serve (multi-thread, 1 worker)"),
        Contender::bench_server("protoless, multi-thread (1 worker)", "protoless", Some(1)),
        Contender::bench_server("tonic, multi-thread (1 worker)", "tonic", Some(1)),
        Contender::bench_server("bare h2, multi-thread (1 worker)", "bare", Some(1)),
        Contender::bench_server("protoless, current-thread", "protoless", None),
        Contender::bench_server("tonic, current-thread", "tonic", None),
        Contender::bench_server("bare h2, current-thread", "bare", None),
    ];
    if let Ok(program) = &grpc_go {
        one_core.push(Contender::grpc_go(program, 1));
    }
    // After grpc-go, whose index the targets use.
    let pajamax_at = one_core.len();
    if let Ok(contender) = &pajamax {
        one_core.push(contender.clone());
    }
    let mut servers = Vec::new();
    for contender in &one_core {
        servers.push(contender.start("0").await);
    }
    let measured = medians(&servers, "1", &LOADS, RUNS).await;
    drop(servers);
    text.push_str("### One core (server on core 0, h2load on core 1)\n\n| server |");
    for load in LOADS {
        let _ = write!(text, " {} |", load_label(load));
    }
    text.push_str("\n| --- |");
    text.push_str(&" ---: |".repeat(LOADS.len()));
    text.push('\n');
    for (index, contender) in one_core.iter().enumerate() {
        let _ = write!(text, "| {} |", contender.name);
        for by_load in &measured {
            let _ = write!(text, " {} |", cell(by_load[index]));
        }
        text.push('\n');
        println!(
            "{:<44} {}",
            contender.name,
            measured
                .iter()
                .map(|by_load| cell(by_load[index]))
                .collect::<Vec<_>>()
                .join("   ")
        );
    }
    // Indices into `one_core`.
    let (greeter, protoless_multi, tonic_multi, bare_multi) = (0, 1, 2, 3);
    let (protoless_current, bare_current, go) = (4, 6, 7);
    let mut targets = String::from(
        "\n| target (one core) | figure | bound | status |\n| --- | ---: | ---: | --- |\n",
    );
    for (at, load) in LOADS.iter().enumerate() {
        let figures = &measured[at];
        let label = load_label(*load);
        target(
            &mut targets,
            &format!("greeter serve / tonic (multi-thread), req/s, {label}"),
            figures[greeter][0] / figures[tonic_multi][0],
            1.4,
            true,
        );
        if grpc_go.is_ok() {
            target(
                &mut targets,
                &format!("greeter serve / grpc-go, req/s, {label}"),
                figures[greeter][0] / figures[go][0],
                1.0,
                true,
            );
        }
        target(
            &mut targets,
            &format!("greeter serve / bare h2 (multi-thread), req/s, {label}"),
            figures[greeter][0] / figures[bare_multi][0],
            0.9,
            true,
        );
    }
    let busy = LOADS.len() - 1;
    target(
        &mut targets,
        "protoless / bare h2 CPU per call, multi-thread, c=50 m=20",
        measured[busy][protoless_multi][1] / measured[busy][bare_multi][1],
        1.2,
        false,
    );
    target(
        &mut targets,
        "protoless / bare h2 CPU per call, current-thread, c=50 m=20",
        measured[busy][protoless_current][1] / measured[busy][bare_current][1],
        1.2,
        false,
    );
    text.push_str(&targets);
    if pajamax.is_ok() {
        let _ = writeln!(
            text,
            "\nThe floor: pajamax spends {:.1}x less CPU per call than greeter serve at c=50 m=20 \
             ({:.1} µs against {:.1} µs), with no streaming, deadlines or metadata.",
            measured[busy][greeter][1] / measured[busy][pajamax_at][1],
            measured[busy][pajamax_at][1],
            measured[busy][greeter][1],
        );
    }

    // Two cores: the server may use both, and so does h2load.
    let mut one_worker = Contender::greeter("greeter serve (multi-thread, 1 worker)");
    one_worker
        .env
        .push(("TOKIO_WORKER_THREADS", "1".to_owned()));
    let mut two_cores = vec![
        Contender::greeter("greeter serve (multi-thread, 2 workers)"),
        // The same binary with one worker, in the same conditions (both cores, shared with
        // h2load): what a second worker costs, apart from what sharing the cores costs.
        one_worker,
        Contender::bench_server("tonic, multi-thread (2 workers)", "tonic", Some(2)),
        Contender::bench_server("bare h2, multi-thread (2 workers)", "bare", Some(2)),
    ];
    if let Ok(program) = &grpc_go {
        two_cores.push(Contender::grpc_go(program, 2));
    }
    if let Ok(contender) = &pajamax {
        two_cores.push(contender.clone());
    }
    let two_loads = [LOADS[0], LOADS[2]];
    let mut servers = Vec::new();
    for contender in &two_cores {
        servers.push(contender.start("0,1").await);
    }
    let both = medians(&servers, "0,1", &two_loads, FEWER_RUNS).await;
    let mut splits = Vec::new();
    for load in two_loads {
        splits.push(thread_split(&servers[0], load).await);
    }
    drop(servers);
    text.push_str(
        "\n### Two cores (servers and h2load share both; throughput reported, not targeted)\n\n\
         | server | c=1 m=100 | c=50 m=20 |\n| --- | ---: | ---: |\n",
    );
    for (index, contender) in two_cores.iter().enumerate() {
        let _ = writeln!(
            text,
            "| {} | {} | {} |",
            contender.name,
            cell(both[0][index]),
            cell(both[1][index])
        );
    }
    let _ = writeln!(
        text,
        "\ngreeter serve's CPU by thread, two workers: c=1 m=100: {}; c=50 m=20: {}.\n",
        splits[0], splits[1]
    );
    println!("two workers, greeter's CPU by thread: {splits:?}");
    let mut targets = String::from(
        "| target (two cores) | figure | bound | status |\n| --- | ---: | ---: | --- |\n",
    );
    target(
        &mut targets,
        "greeter serve CPU per call, 2 workers / 1 worker, both on two shared cores, c=50 m=20",
        both[1][0][1] / both[1][1][1],
        1.1,
        false,
    );
    let _ = writeln!(
        targets,
        "| (for reference) 2 workers on two shared cores / 1 worker pinned alone, c=50 m=20 | \
         {:.2} | | |",
        both[1][0][1] / measured[busy][greeter][1],
    );
    text.push_str(&targets);

    // Scaling over connections × streams, on both cores.
    let mut scaling = vec![
        Contender::greeter("greeter serve"),
        Contender::bench_server("tonic", "tonic", Some(2)),
    ];
    if let Ok(program) = &grpc_go {
        scaling.push(Contender::grpc_go(program, 2));
    }
    let mut servers = Vec::new();
    for contender in &scaling {
        servers.push(contender.start("0,1").await);
    }
    let streams = [1u32, 10, 100];
    let connections = [1u32, 4, 16, 64];
    let loads: Vec<(u32, u32, u32)> = connections
        .iter()
        .flat_map(|&c| {
            streams
                .iter()
                .map(move |&m| (c, m, (c * m * 500).clamp(20_000, 200_000)))
        })
        .collect();
    let grid = medians(&servers, "0,1", &loads, FEWER_RUNS).await;
    drop(servers);
    let names: Vec<&str> = scaling.iter().map(|c| c.name.as_str()).collect();
    let _ = writeln!(
        text,
        "\n### Scaling on two cores (req/s: {})\n",
        names.join(" / ")
    );
    text.push_str("| connections |");
    for m in streams {
        let _ = write!(text, " m={m} |");
    }
    text.push_str("\n| ---: |");
    text.push_str(&" ---: |".repeat(streams.len()));
    text.push('\n');
    for (row, c) in connections.iter().enumerate() {
        let _ = write!(text, "| c={c} |");
        for column in 0..streams.len() {
            let figures = &grid[row * streams.len() + column];
            let rates: Vec<String> = figures
                .iter()
                .map(|[rate, _]| format!("{rate:.0}"))
                .collect();
            let _ = write!(text, " {} |", rates.join(" / "));
        }
        text.push('\n');
    }
    for (peer, why) in [("grpc-go", grpc_go.err()), ("pajamax", pajamax.err())] {
        if let Some(why) = why {
            let _ = writeln!(text, "\n{peer} was left out of this run: {why}.");
        }
    }
    println!("\n{text}");
    report.sections.push(text);
}
