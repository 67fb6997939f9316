//! A CPU-bound handler must not stall the server: the pi example sums long series through
//! `protoless::run_blocking`, off the async workers, and stops summing when the call's deadline
//! passes. This keeps that true whatever changes in how calls are spawned.

mod support;

use std::time::Duration;

use protoless::Code;
use support::pi::{PiCalculatorClient, PiRequest};
use support::{example, ServerProcess};
use tokio::process::Command;
use tokio::time::Instant;

/// The CPU time a process has used so far (user + system), from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // The kernel counts in clock ticks of 1/100 s on Linux (USER_HZ).
    Duration::from_millis(ticks * 10)
}

/// Waits (polling, bounded) until the process has used `more` CPU time beyond `from`.
async fn cpu_used(pid: u32, from: Duration, more: Duration) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while cpu_time(pid) < from + more {
        assert!(
            Instant::now() < give_up,
            "the big calls never started working"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_bound_calls_leave_others_served_and_stop_at_their_deadline() {
    let server =
        ServerProcess::spawn(Command::new(example("pi")).args(["serve", "127.0.0.1:0"])).await;
    let pid = server.pid();
    let client = PiCalculatorClient::connect(&server.url()).await.unwrap();
    let deadline = Duration::from_millis(1500);
    let idle = cpu_time(pid);
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
    cpu_used(pid, idle, Duration::from_millis(200)).await;

    // Small calls on another connection, while the big ones compute.
    let other = PiCalculatorClient::connect(&server.url()).await.unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let reply = other.calc(PiRequest { n: 10 }).await.unwrap();
        slowest = slowest.max(started.elapsed());
        assert!((reply.value - 3.1096).abs() < 1e-3);
    }
    assert!(
        sent.elapsed() < deadline,
        "the small calls were not made while the big ones ran"
    );
    // Well under 100 ms when the workers are free (a few ms here); generous for a loaded CI.
    assert!(
        slowest < Duration::from_millis(250),
        "a small call took {slowest:?}"
    );

    for call in big {
        let status = call.await.unwrap().unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    }
    // A second after the deadlines, the sums have stopped: the server is idle.
    tokio::time::sleep_until(sent + deadline + Duration::from_secs(1)).await;
    let before = cpu_time(pid);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let burnt = cpu_time(pid) - before;
    assert!(
        burnt < Duration::from_millis(100),
        "the server used {burnt:?} of CPU in 500 ms after the deadlines"
    );
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

/// The pi example's cancellable sum is the plain sum, to the last bit.
#[test]
fn the_cancellable_sum_equals_the_plain_one() {
    use support::pi::approximate_pi;
    let client_side = approximate_pi(3_000_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(support::TestServer::start(support::pi::server()));
    let served = runtime.block_on(async {
        let client = PiCalculatorClient::connect(&server.url()).await.unwrap();
        client.calc(PiRequest { n: 3_000_000 }).await.unwrap().value
    });
    assert_eq!(served.to_bits(), client_side.to_bits());
    runtime.block_on(server.stop());
}
