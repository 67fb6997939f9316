//! Balancing under uneven load: three replicas, one of which answers 5 ms late (a replica on a
//! busy host), called through one channel with 64 calls in flight, by round_robin and by
//! least_request. Prints calls per second, the p99 latency and the slow replica's share, the
//! median of three alternating runs of each.
//!
//! `cargo run --release -p protoless-benches --bin balance`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protoless::balance::{LeastRequest, Picker, RoundRobin};
use protoless::{Channel, Message, Server, Status};
use tokio::net::TcpListener;

/// How long each run calls.
const RUN: Duration = Duration::from_secs(3);
/// Calls in flight.
const IN_FLIGHT: usize = 64;
/// The slow replica's extra latency.
const SLOW: Duration = Duration::from_millis(5);

#[derive(Message, Clone, Debug, PartialEq)]
struct Work {
    n: u64,
}

#[protoless::service(package = "balance")]
trait Replica {
    async fn call(&self, req: Work) -> Result<Work, Status>;
}

/// A replica answering after `delay`, counting its calls.
struct Delayed {
    delay: Duration,
    calls: Arc<AtomicU64>,
}

impl Replica for Delayed {
    async fn call(&self, req: Work) -> Result<Work, Status> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(req)
    }
}

/// What one run measured.
struct Run {
    rate: f64,
    p99: Duration,
    slow_share: f64,
}

async fn run(target: &str, picker: impl Picker, counters: &[Arc<AtomicU64>]) -> Run {
    let before: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let channel = Channel::builder(target).picker(picker).lazy().unwrap();
    channel.try_every_address().await;
    let client = ReplicaClient::new(channel);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let client = client.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < RUN {
                let call = Instant::now();
                client.call(Work { n: 1 }).await.expect("the call succeeds");
                latencies.push(call.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let calls: Vec<u64> = counters
        .iter()
        .zip(&before)
        .map(|(counter, before)| counter.load(Ordering::Relaxed) - before)
        .collect();
    let total: u64 = calls.iter().sum();
    Run {
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p99: latencies[latencies.len() * 99 / 100],
        slow_share: calls[0] as f64 / total as f64,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let mut addresses = Vec::new();
    let mut counters = Vec::new();
    for delay in [SLOW, Duration::ZERO, Duration::ZERO] {
        let calls = Arc::new(AtomicU64::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addresses.push(listener.local_addr().unwrap().to_string());
        let server = Server::builder().add_service(ReplicaServer::new(Delayed {
            delay,
            calls: calls.clone(),
        }));
        tokio::spawn(server.serve_with_listener(listener, std::future::pending::<()>()));
        counters.push(calls);
    }
    let target = format!("ipv4:{}", addresses.join(","));
    let mut results: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..3 {
        results[0].push(run(&target, RoundRobin::default(), &counters).await);
        results[1].push(run(&target, LeastRequest::default(), &counters).await);
    }
    let summary = |runs: &[Run]| {
        (
            median(runs.iter().map(|r| r.rate).collect()),
            median(runs.iter().map(|r| r.p99.as_secs_f64() * 1e3).collect()),
            median(runs.iter().map(|r| r.slow_share * 100.0).collect()),
        )
    };
    let (rr, lr) = (summary(&results[0]), summary(&results[1]));
    println!(
        "three replicas, one {} ms slower; {IN_FLIGHT} calls in flight, {} s runs",
        SLOW.as_millis(),
        RUN.as_secs()
    );
    println!(
        "{:<16} {:>12} {:>10} {:>18}",
        "picker", "calls/s", "p99 (ms)", "slow replica share"
    );
    for (name, (rate, p99, share)) in [("round_robin", rr), ("least_request", lr)] {
        println!("{name:<16} {rate:>12.0} {p99:>10.2} {share:>17.1}%");
    }
    println!(
        "least_request / round_robin: {:.2}x calls/s, {:.2}x p99",
        lr.0 / rr.0,
        lr.1 / rr.1
    );
}
