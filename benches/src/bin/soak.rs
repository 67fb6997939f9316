//! The Rust half of the soak (`scripts/soak`): mixed traffic against an `interop serve` server
//! for a given time, counting calls that fail unexpectedly.
//!
//!     soak TARGET SECONDS WORKERS
//!
//! Each worker runs gRPC's interop cases over and over (all four call shapes, large and gzip
//! messages, errors, cancellations both before and after the first response, deadlines), most
//! over its own long-lived channel and every tenth round over a fresh connection, plus a request
//! past the server's 4 MiB limit that must fail with RESOURCE_EXHAUSTED. Prints
//! `soak rust: N cases, M failed` and the first failures; exits 1 if any case failed.

#![allow(missing_docs, dead_code, unreachable_pub)] // the interop example, included whole

#[path = "../../../examples/interop.rs"]
mod interop;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use interop::{cases, Payload, PayloadType, SimpleRequest, TestServiceClient};
use protoless::{Channel, Code};

/// A request body past the server's default 4 MiB receive limit.
const OVERSIZED: usize = 5 * 1024 * 1024;

#[derive(Default)]
struct Tally {
    cases: AtomicU64,
    failed: AtomicU64,
    first_failures: Mutex<Vec<String>>,
}

impl Tally {
    fn record(&self, name: &str, outcome: Result<(), String>) {
        self.cases.fetch_add(1, Ordering::Relaxed);
        if let Err(reason) = outcome {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut failures = self.first_failures.lock().unwrap();
            if failures.len() < 20 {
                failures.push(format!("{name}: {reason}"));
            }
        }
    }
}

/// A unary call whose request is past the server's limit: RESOURCE_EXHAUSTED, and the channel
/// goes on serving.
async fn oversized(channel: &Channel) -> Result<(), String> {
    let request = SimpleRequest {
        response_size: 1,
        payload: Some(Payload {
            payload_type: PayloadType::Compressable,
            body: vec![0; OVERSIZED],
        }),
        ..SimpleRequest::default()
    };
    let result = TestServiceClient::new(channel.clone())
        .unary_call(request)
        .timeout(Duration::from_secs(20))
        .await;
    match result {
        Err(status) if status.code() == Code::ResourceExhausted => Ok(()),
        Err(status) => Err(format!("expected RESOURCE_EXHAUSTED, got {status}")),
        Ok(_) => Err("a 5 MiB request was accepted".to_owned()),
    }
}

async fn worker(target: String, until: Instant, tally: Arc<Tally>) {
    let mut channel = None;
    let mut round = 0u64;
    while Instant::now() < until {
        // Every tenth round on a fresh connection: connection churn is traffic too.
        if round.is_multiple_of(10) {
            channel = None;
        }
        round += 1;
        let shared = match &channel {
            Some(channel) => channel,
            None => match Channel::connect(&target).await {
                Ok(connected) => channel.insert(connected),
                Err(status) => {
                    tally.record("connect", Err(status.to_string()));
                    continue;
                }
            },
        };
        for name in cases::NAMES {
            let outcome = cases::run_on(shared, &target, name).await;
            tally.record(name, outcome);
        }
        tally.record("oversized", oversized(shared).await);
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, seconds, workers] = &args[..] else {
        eprintln!("usage: soak TARGET SECONDS WORKERS");
        std::process::exit(2);
    };
    let (Ok(seconds), Ok(workers)) = (seconds.parse::<u64>(), workers.parse::<usize>()) else {
        eprintln!("usage: soak TARGET SECONDS WORKERS (whole numbers)");
        std::process::exit(2);
    };
    let until = Instant::now() + Duration::from_secs(seconds);
    let tally = Arc::new(Tally::default());
    let running: Vec<_> = (0..workers)
        .map(|_| tokio::spawn(worker(target.clone(), until, tally.clone())))
        .collect();
    for worker in running {
        worker.await.expect("a soak worker panicked");
    }
    let (cases, failed) = (
        tally.cases.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
    );
    println!("soak rust: {cases} cases, {failed} failed");
    for failure in tally.first_failures.lock().unwrap().iter() {
        println!("  FAIL {failure}");
    }
    std::process::exit(i32::from(failed > 0));
}
