//! Retries per gRFC A6 against a server that fails on purpose: the first N attempts of a call
//! fail with a chosen code (with pushback or a RetryInfo delay if asked), or the connection is
//! refused. Attempts are counted on the server.

mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use protoless::error_details::RetryInfo;
use protoless::{
    stream, Channel, Code, Context, HedgingPolicy, Message, MetadataMap, RetryPolicy, Server,
    Status, Stream, Streaming,
};
use support::TestServer;

/// What the server should do with a call.
#[derive(Message, Clone, Debug, PartialEq)]
struct Ask {
    /// Fail this many attempts of the call (counted per key), then succeed.
    fail: u32,
    /// The failures' code.
    code: i32,
    /// Sent as `grpc-retry-pushback-ms` with each failure, when not empty.
    pushback: String,
    /// Sent as a RetryInfo detail's delay, in milliseconds, when not zero.
    retry_info_ms: u64,
    /// Counts attempts apart from other calls.
    key: String,
    /// Hold the first attempt (of `hedged`) until it is cancelled.
    stall_first: bool,
    /// The request's place in a stream of requests.
    seq: u32,
    /// A streaming attempt that fails does so after reading this many requests (0: all).
    fail_after_reading: u32,
    /// A failing `chat` attempt answers each request it reads before failing.
    answer_first: bool,
    /// Padding, to make requests as large as a test needs.
    padding: Vec<u8>,
}

/// The server's count of attempts of the key, and the `grpc-previous-rpc-attempts` it saw.
#[derive(Message, Clone, Debug, PartialEq)]
struct Seen {
    attempts: u32,
    previous: Vec<String>,
    /// The `seq` of each request the attempt read, for streaming methods.
    received: Vec<u32>,
}

#[protoless::service(package = "flaky")]
trait Flaky {
    /// Safe to repeat: retried by default.
    #[idempotent]
    async fn idempotent(&self, req: Ask, ctx: Context) -> Result<Seen, Status>;
    /// Not safe to repeat: retried only transparently.
    async fn once(&self, req: Ask, ctx: Context) -> Result<Seen, Status>;
    /// Safe to send many times at once: hedged when asked.
    #[no_side_effects]
    async fn hedged(&self, req: Ask, ctx: Context) -> Result<Seen, Status>;
    /// A stream of one answer, retried until it starts.
    #[no_side_effects]
    async fn watch(
        &self,
        req: Ask,
        ctx: Context,
    ) -> Result<impl Stream<Item = Result<Seen, Status>>, Status>;
    /// Streamed requests, safe to send again: retried, the requests sent again, until the
    /// server answers.
    #[idempotent]
    async fn gather(&self, reqs: Streaming<Ask>, ctx: Context) -> Result<Seen, Status>;
    /// Streamed requests, not safe to send again: retried only transparently.
    async fn gather_once(&self, reqs: Streaming<Ask>, ctx: Context) -> Result<Seen, Status>;
    /// Both ways, safe to send again: each request answered with its `seq`.
    #[idempotent]
    async fn chat(
        &self,
        reqs: Streaming<Ask>,
        ctx: Context,
    ) -> Result<impl Stream<Item = Result<Seen, Status>>, Status>;
}

#[derive(Default)]
struct Faults {
    attempts: Mutex<std::collections::HashMap<String, (u32, Vec<String>)>>,
    /// Signalled when a stalled attempt is cancelled (its handler dropped).
    cancelled: tokio::sync::Notify,
}

/// Signals `cancelled` when dropped before disarmed.
struct Stalled<'a>(&'a Faults);

impl Drop for Stalled<'_> {
    fn drop(&mut self) {
        self.0.cancelled.notify_one();
    }
}

impl Faults {
    fn attempt(&self, req: &Ask, ctx: &Context) -> Result<Seen, Status> {
        let mut attempts = self.attempts.lock().unwrap();
        let entry = attempts.entry(req.key.clone()).or_default();
        entry.0 += 1;
        let previous = ctx
            .metadata()
            .get("grpc-previous-rpc-attempts")
            .unwrap_or("-")
            .to_owned();
        entry.1.push(previous);
        if entry.0 <= req.fail {
            let mut status = Status::new(Code::from_i32(req.code), "failing on purpose");
            if !req.pushback.is_empty() {
                let mut trailers = MetadataMap::new();
                trailers
                    .insert("grpc-retry-pushback-ms", &req.pushback)
                    .unwrap();
                status = status.with_metadata(trailers);
            }
            if req.retry_info_ms > 0 {
                status = status.with_detail(RetryInfo {
                    retry_delay: Some(Duration::from_millis(req.retry_info_ms)),
                });
            }
            return Err(status);
        }
        Ok(Seen {
            attempts: entry.0,
            previous: entry.1.clone(),
            received: Vec::new(),
        })
    }

    fn attempts(&self, key: &str) -> u32 {
        self.attempts
            .lock()
            .unwrap()
            .get(key)
            .map_or(0, |entry| entry.0)
    }
}

impl Flaky for std::sync::Arc<Faults> {
    async fn idempotent(&self, req: Ask, ctx: Context) -> Result<Seen, Status> {
        self.attempt(&req, &ctx)
    }

    async fn once(&self, req: Ask, ctx: Context) -> Result<Seen, Status> {
        self.attempt(&req, &ctx)
    }

    async fn hedged(&self, req: Ask, ctx: Context) -> Result<Seen, Status> {
        let seen = self.attempt(&req, &ctx)?;
        if req.stall_first && seen.attempts == 1 {
            let _stalled = Stalled(self);
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Ok(seen)
    }

    async fn watch(
        &self,
        req: Ask,
        ctx: Context,
    ) -> Result<impl Stream<Item = Result<Seen, Status>>, Status> {
        let seen = self.attempt(&req, &ctx)?;
        Ok(stream::iter([seen]))
    }

    async fn gather(&self, reqs: Streaming<Ask>, ctx: Context) -> Result<Seen, Status> {
        self.gathered(reqs, &ctx).await
    }

    async fn gather_once(&self, reqs: Streaming<Ask>, ctx: Context) -> Result<Seen, Status> {
        self.gathered(reqs, &ctx).await
    }

    async fn chat(
        &self,
        mut reqs: Streaming<Ask>,
        ctx: Context,
    ) -> Result<impl Stream<Item = Result<Seen, Status>>, Status> {
        let Some(first) = reqs.message().await? else {
            return Err(Status::invalid_argument("no request"));
        };
        let verdict = self.attempt(&first, &ctx);
        let echo = |ask: &Ask| Seen {
            attempts: 0,
            previous: Vec::new(),
            received: vec![ask.seq],
        };
        if let Err(status) = &verdict {
            if !first.answer_first {
                for _ in 1..first.fail_after_reading {
                    reqs.message().await?;
                }
                return Err(status.clone());
            }
        }
        // A failing attempt that answers first is committed when its failure comes.
        Ok(stream::generate(move |mut out| async move {
            out.send(echo(&first)).await;
            verdict?;
            while let Some(ask) = reqs.message().await? {
                out.send(echo(&ask)).await;
            }
            Ok(())
        }))
    }
}

impl Faults {
    /// Reads a stream of requests; the first one says how the attempt goes.
    async fn gathered(&self, mut reqs: Streaming<Ask>, ctx: &Context) -> Result<Seen, Status> {
        let Some(first) = reqs.message().await? else {
            return Err(Status::invalid_argument("no request"));
        };
        let verdict = self.attempt(&first, ctx);
        let mut received = vec![first.seq];
        while verdict.is_ok()
            || first.fail_after_reading == 0
            || received.len() < first.fail_after_reading as usize
        {
            match reqs.message().await? {
                Some(ask) => received.push(ask.seq),
                None => break,
            }
        }
        let mut seen = verdict?;
        seen.received = received;
        Ok(seen)
    }
}

async fn flaky() -> (TestServer, std::sync::Arc<Faults>, FlakyClient) {
    let faults = std::sync::Arc::new(Faults::default());
    let server =
        TestServer::start(Server::builder().add_service(FlakyServer::new(faults.clone()))).await;
    let client = FlakyClient::new(Channel::connect(&server.url()).await.unwrap());
    (server, faults, client)
}

fn ask(key: &str, fail: u32, code: Code) -> Ask {
    Ask {
        fail,
        code: code.as_i32(),
        pushback: String::new(),
        retry_info_ms: 0,
        key: key.to_owned(),
        stall_first: false,
        seq: 0,
        fail_after_reading: 0,
        answer_first: false,
        padding: Vec::new(),
    }
}

/// `base`'s stream of `count` requests, numbered, `size` bytes of padding each.
fn numbered(base: &Ask, count: u32, size: usize) -> impl Iterator<Item = Ask> + '_ {
    (0..count).map(move |seq| Ask {
        seq,
        padding: vec![7; size],
        ..base.clone()
    })
}

#[tokio::test]
async fn idempotent_methods_retry_unavailable_up_to_four_attempts_by_default() {
    let (_server, faults, client) = flaky().await;
    // Three failures, then success on the fourth and last attempt.
    let seen = client
        .idempotent(ask("three", 3, Code::Unavailable))
        .await
        .unwrap();
    assert_eq!(seen.attempts, 4);
    assert_eq!(
        seen.previous,
        ["-", "1", "2", "3"],
        "grpc-previous-rpc-attempts"
    );
    // Four failures: the fourth is the last attempt, and its status is the call's.
    let status = client
        .idempotent(ask("four", 4, Code::Unavailable))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(faults.attempts("four"), 4);
    // A code the default policy does not retry: one attempt.
    let status = client
        .idempotent(ask("internal", 1, Code::Internal))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(faults.attempts("internal"), 1);
}

#[tokio::test]
async fn a_method_that_is_not_idempotent_never_runs_twice() {
    let (_server, faults, client) = flaky().await;
    let status = client
        .once(ask("once", 1, Code::Unavailable))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(faults.attempts("once"), 1);
    // Unless the call asks for retries.
    let seen = client
        .once(ask("asked", 1, Code::Unavailable))
        .retry_policy(Some(RetryPolicy::new(2, [Code::Unavailable])))
        .await
        .unwrap();
    assert_eq!(seen.attempts, 2);
    // And an idempotent method stops retrying when the call says so.
    let status = client
        .idempotent(ask("off", 1, Code::Unavailable))
        .retry_policy(None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(faults.attempts("off"), 1);
}

#[tokio::test]
async fn backoff_stays_within_its_bounds() {
    let (_server, _faults, client) = flaky().await;
    // Four attempts, the retries after at most 100, 200 and 400 ms of jitter.
    let policy = RetryPolicy::new(4, [Code::Unavailable]).backoff(
        Duration::from_millis(100),
        Duration::from_secs(1),
        2.0,
    );
    let started = Instant::now();
    let seen = client
        .idempotent(ask("timed", 3, Code::Unavailable))
        .retry_policy(Some(policy))
        .await
        .unwrap();
    assert_eq!(seen.attempts, 4);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(700 + 300), "{took:?}");
}

#[tokio::test]
async fn pushback_sets_the_delay_or_stops_the_retries() {
    let (_server, faults, client) = flaky().await;
    let mut pushed = ask("pushed", 1, Code::Unavailable);
    pushed.pushback = "300".into();
    let started = Instant::now();
    client.idempotent(pushed).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(faults.attempts("pushed"), 2);

    let mut refused = ask("refused", 1, Code::Unavailable);
    refused.pushback = "-1".into();
    let status = client.idempotent(refused).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(faults.attempts("refused"), 1, "negative pushback: no retry");

    let mut informed = ask("informed", 1, Code::Unavailable);
    informed.retry_info_ms = 250;
    let started = Instant::now();
    client.idempotent(informed).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn no_attempt_outlives_the_deadline() {
    let (_server, faults, client) = flaky().await;
    let mut slow = ask("deadline", 4, Code::Unavailable);
    slow.pushback = "10000".into();
    let started = Instant::now();
    let status = client
        .idempotent(slow)
        .timeout(Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(faults.attempts("deadline"), 1);
}

#[tokio::test]
async fn server_streams_retry_until_they_start() {
    let (_server, _faults, client) = flaky().await;
    let mut answers = client
        .watch(ask("stream", 2, Code::Unavailable))
        .await
        .unwrap();
    let seen = answers.message().await.unwrap().unwrap();
    assert_eq!(seen.attempts, 3);
}

#[tokio::test]
async fn the_throttle_stops_retries_under_sustained_failure() {
    let faults = std::sync::Arc::new(Faults::default());
    let server =
        TestServer::start(Server::builder().add_service(FlakyServer::new(faults.clone()))).await;
    // Ten tokens: each failed attempt takes one, each success gives one back, and retries
    // stop at five or fewer.
    let channel = Channel::connect(&server.url())
        .await
        .unwrap()
        .with_service_config(r#"{"retryThrottling": {"maxTokens": 10, "tokenRatio": 1}}"#)
        .unwrap();
    let client = FlakyClient::new(channel);
    let mut attempts = Vec::new();
    for (call, fail) in [(0, 100), (1, 0), (2, 100), (3, 100)] {
        let key = format!("throttled-{call}");
        let _ = client.idempotent(ask(&key, fail, Code::Unavailable)).await;
        attempts.push(faults.attempts(&key));
    }
    // Four failed attempts leave 6 tokens (a failure counted twice would leave 5); a success
    // makes 7; the next call fails to 6, retries, fails to 5 and stops: two attempts (one
    // with a double count). Then no retries: 5 tokens, then 4.
    assert_eq!(attempts, [4, 1, 2, 1]);
}

#[tokio::test]
async fn grpcio_with_the_generated_service_config_retries_as_the_rust_client_does() {
    let (server, faults, client) = flaky().await;
    let dir = std::env::temp_dir().join(format!("protoless-retry-{}", std::process::id()));
    protoless::schema::export(&dir, [FlakyServer::schema()]).unwrap();
    let config = protoless::service_config(&[FlakyServer::schema()]);
    assert!(
        !config.contains("\"Once\""),
        "a method that must not retry is left out"
    );
    std::fs::write(dir.join("service-config.json"), &config).unwrap();
    let output = tokio::process::Command::new(support::python())
        .arg(support::root().join("tests/python/retry.py"))
        .arg(server.url().trim_start_matches("http://"))
        .arg(&dir)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let printed = support::succeeded("retry.py", &output);
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [
            "py-three: attempts 4 previous -,1,2,3",
            "py-four: UNAVAILABLE",
            "py-once: UNAVAILABLE",
            "py-gather: attempts 3 received 0,1,2",
            "py-gather-once: UNAVAILABLE",
        ]
    );
    // The Rust client, same calls: the same attempts on the server.
    let three = client
        .idempotent(ask("rs-three", 3, Code::Unavailable))
        .await;
    let four = client
        .idempotent(ask("rs-four", 4, Code::Unavailable))
        .await;
    let once = client.once(ask("rs-once", 1, Code::Unavailable)).await;
    let mut gather = client.gather().await.unwrap();
    let mut gather_once = client.gather_once().await.unwrap();
    for request in numbered(&ask("rs-gather", 2, Code::Unavailable), 3, 0) {
        gather.send(request).await.unwrap();
    }
    for request in numbered(&ask("rs-gather-once", 1, Code::Unavailable), 3, 0) {
        gather_once.send(request).await.unwrap();
    }
    let gathered = gather.finish().await.unwrap();
    assert_eq!((gathered.attempts, gathered.received), (3, vec![0, 1, 2]));
    assert_eq!(
        gather_once.finish().await.unwrap_err().code(),
        Code::Unavailable
    );
    assert_eq!(three.unwrap().attempts, 4);
    assert_eq!(four.unwrap_err().code(), Code::Unavailable);
    assert_eq!(once.unwrap_err().code(), Code::Unavailable);
    for (python, rust) in [
        ("py-four", "rs-four"),
        ("py-once", "rs-once"),
        ("py-gather", "rs-gather"),
        ("py-gather-once", "rs-gather-once"),
    ] {
        assert_eq!(faults.attempts(python), faults.attempts(rust), "{python}");
    }
}

/// `cache service-config` and `cache call`, as a user runs them.
#[tokio::test]
async fn the_cache_contract() {
    let config = tokio::process::Command::new(support::example("cache"))
        .arg("service-config")
        .output()
        .await
        .unwrap();
    let config = support::succeeded("cache service-config", &config);
    let value: serde_json::Value = serde_json::from_str(&config).expect("one JSON object");
    let names: Vec<String> = value["methodConfig"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|entry| entry["name"].as_array().unwrap().clone())
        .map(|name| format!("{}/{}", name["service"], name["method"]).replace('"', ""))
        .collect();
    assert_eq!(
        names,
        ["rpc.Cache/Get", "rpc.Cache/Dump", "rpc.Accounts/GetByToken"],
        "Store must not retry"
    );

    let server = support::ServerProcess::spawn(
        tokio::process::Command::new(support::example("cache")).args(["serve", "127.0.0.1:0"]),
    )
    .await;
    let cache = |args: &[&str]| {
        let mut command = tokio::process::Command::new(support::example("cache"));
        command.arg("call").arg(&server.addr).args(args);
        command.output()
    };
    let stored = cache(&["store", "k", "v"]).await.unwrap();
    assert_eq!(support::succeeded("cache call store", &stored), "stored\n");
    let got = cache(&["get", "k"]).await.unwrap();
    assert_eq!(support::succeeded("cache call get", &got), "v\n");
    let missing = cache(&["get", "nothing"]).await.unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "NOT_FOUND: Key not found nothing\n"
    );
    let refused = cache(&["store", "k2", "v", "--token", "nobody"])
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).starts_with("UNAUTHENTICATED: "));
    let usage = cache(&["fetch", "k"]).await.unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let (exited_cleanly, _) = server.terminate().await;
    assert!(exited_cleanly);
}

#[tokio::test]
async fn a_channel_policy_applies_to_every_method_either_way() {
    let (server, faults, _client) = flaky().await;
    let channel = Channel::connect(&server.url()).await.unwrap();
    let retrying = FlakyClient::new(
        channel
            .clone()
            .with_retry_policy(Some(RetryPolicy::new(2, [Code::Unavailable]))),
    );
    assert_eq!(
        retrying
            .once(ask("channel-on", 1, Code::Unavailable))
            .await
            .unwrap()
            .attempts,
        2
    );
    let never = FlakyClient::new(channel.with_retry_policy(None));
    let status = never
        .idempotent(ask("channel-off", 1, Code::Unavailable))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(faults.attempts("channel-off"), 1);
}

#[tokio::test]
async fn with_round_robin_a_retry_goes_to_the_next_replica() {
    let (mut servers, mut faults) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let replica = std::sync::Arc::new(Faults::default());
        let server = Server::builder().add_service(FlakyServer::new(replica.clone()));
        servers.push(TestServer::start(server).await);
        faults.push(replica);
    }
    let channel = Channel::builder(&format!("ipv4:{},{}", servers[0].addr, servers[1].addr))
        .picker(protoless::balance::RoundRobin::default())
        .lazy()
        .unwrap();
    channel.try_every_address().await;
    let client = FlakyClient::new(channel);
    // Each replica fails its first attempt: the first goes to one, the retry to the other,
    // the third back to the first, which then answers.
    let seen = client
        .idempotent(ask("spread", 1, Code::Unavailable))
        .await
        .unwrap();
    assert_eq!(seen.attempts, 2, "the answering replica's own count");
    let mut attempts = [faults[0].attempts("spread"), faults[1].attempts("spread")];
    attempts.sort();
    assert_eq!(attempts, [1, 2], "three attempts, alternating replicas");
}

#[tokio::test]
async fn hedging_sends_another_attempt_after_the_delay_and_cancels_the_loser() {
    let (_server, faults, client) = flaky().await;
    let started = Instant::now();
    let seen = client
        .hedged(Ask {
            stall_first: true,
            ..ask("hedge", 0, Code::Ok)
        })
        .hedging(HedgingPolicy::new(3, Duration::from_millis(50)))
        .await
        .unwrap();
    // The second attempt answered, 50 ms in, carrying grpc-previous-rpc-attempts: 1.
    assert_eq!(seen.attempts, 2);
    assert_eq!(seen.previous, ["-", "1"]);
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "did not wait for the stalled one"
    );
    // The first, still running, was cancelled.
    tokio::time::timeout(Duration::from_secs(5), faults.cancelled.notified())
        .await
        .expect("the losing attempt is cancelled on the server");
    assert_eq!(faults.attempts("hedge"), 2, "no third attempt");
}

#[tokio::test]
async fn hedging_moves_on_at_once_after_a_non_fatal_failure_and_stops_at_a_fatal_one() {
    let (_server, faults, client) = flaky().await;
    let policy =
        HedgingPolicy::new(3, Duration::from_secs(10)).non_fatal_codes([Code::Unavailable]);
    let started = Instant::now();
    let seen = client
        .hedged(ask("non-fatal", 1, Code::Unavailable))
        .hedging(policy.clone())
        .await
        .unwrap();
    assert_eq!(seen.attempts, 2);
    assert!(started.elapsed() < Duration::from_secs(5), "no 10 s delay");
    let status = client
        .hedged(ask("fatal", 1, Code::Internal))
        .hedging(policy.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(faults.attempts("fatal"), 1);
    // Only methods without side effects can be hedged.
    let status = client
        .idempotent(ask("refused", 0, Code::Ok))
        .hedging(policy)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(faults.attempts("refused"), 0);
}

#[tokio::test]
async fn a_service_configs_hedging_policy_applies_to_its_methods() {
    let faults = std::sync::Arc::new(Faults::default());
    let server =
        TestServer::start(Server::builder().add_service(FlakyServer::new(faults.clone()))).await;
    let channel = Channel::lazy(&server.url())
        .unwrap()
        .with_service_config(
            r#"{"methodConfig": [{"name": [{"service": "flaky.Flaky", "method": "Hedged"}],
                "hedgingPolicy": {"maxAttempts": 2, "hedgingDelay": "0.05s",
                                  "nonFatalStatusCodes": ["UNAVAILABLE"]}}]}"#,
        )
        .unwrap();
    let client = FlakyClient::new(channel);
    let seen = client
        .hedged(Ask {
            stall_first: true,
            ..ask("configured", 0, Code::Ok)
        })
        .await
        .unwrap();
    assert_eq!(seen.attempts, 2);
    // And a channel-wide policy.
    let channel = Channel::lazy(&server.url())
        .unwrap()
        .with_hedging_policy(HedgingPolicy::new(2, Duration::from_millis(50)));
    let seen = FlakyClient::new(channel)
        .hedged(Ask {
            stall_first: true,
            ..ask("channel-wide", 0, Code::Ok)
        })
        .await
        .unwrap();
    assert_eq!(seen.attempts, 2);
}

/// What the fake server below does with the next request, once it has read all of it.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Resets the stream with this reason.
    Reset(h2::Reason),
    /// Closes the whole connection, unanswered.
    Close,
}

/// An HTTP/2 server that reads each request whole, then does the next scripted fault, or
/// (with none left) answers trailers-only `NOT_FOUND`; it counts the requests it read, by path.
struct FaultyServer {
    addr: std::net::SocketAddr,
    script: std::sync::Arc<Mutex<std::collections::VecDeque<Fault>>>,
    read: std::sync::Arc<Mutex<std::collections::HashMap<String, u32>>>,
}

impl FaultyServer {
    async fn start(script: impl IntoIterator<Item = Fault>) -> FaultyServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = FaultyServer {
            addr: listener.local_addr().unwrap(),
            script: std::sync::Arc::new(Mutex::new(script.into_iter().collect())),
            read: std::sync::Arc::default(),
        };
        let (script, read) = (server.script.clone(), server.read.clone());
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                tokio::spawn(serve_faulty(socket, script.clone(), read.clone()));
            }
        });
        server
    }

    fn read(&self, path: &str) -> u32 {
        self.read.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn serve_faulty(
    socket: tokio::net::TcpStream,
    script: std::sync::Arc<Mutex<std::collections::VecDeque<Fault>>>,
    read: std::sync::Arc<Mutex<std::collections::HashMap<String, u32>>>,
) {
    let Ok(mut connection) = h2::server::handshake(socket).await else {
        return;
    };
    let close = std::sync::Arc::new(tokio::sync::Notify::new());
    loop {
        let accepted = tokio::select! {
            accepted = connection.accept() => accepted,
            () = close.notified() => return,
        };
        let Some(Ok((request, mut respond))) = accepted else {
            return;
        };
        let (script, read, close) = (script.clone(), read.clone(), close.clone());
        tokio::spawn(async move {
            let path = request.uri().path().to_owned();
            let mut body = request.into_body();
            while let Some(chunk) = body.data().await {
                let Ok(chunk) = chunk else { return };
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            *read.lock().unwrap().entry(path).or_default() += 1;
            let fault = script.lock().unwrap().pop_front();
            match fault {
                Some(Fault::Reset(reason)) => respond.send_reset(reason),
                Some(Fault::Close) => {
                    close.notify_one();
                    // Dropping `respond` would reset the stream (CANCEL) before the connection
                    // closes: held, the client sees only the connection end.
                    std::future::pending::<()>().await;
                    drop(respond);
                }
                None => {
                    let response = http::Response::builder()
                        .header("content-type", "application/grpc")
                        .header("grpc-status", "5")
                        .header("grpc-message", "answered")
                        .body(())
                        .unwrap();
                    let _ = respond.send_response(response, true);
                }
            }
        });
    }
}

fn faulty_client(server: &FaultyServer) -> FlakyClient {
    FlakyClient::new(Channel::lazy(&format!("http://{}", server.addr)).unwrap())
}

#[tokio::test]
async fn a_stream_refused_after_the_request_was_read_is_sent_again_whatever_the_method() {
    let server = FaultyServer::start([Fault::Reset(h2::Reason::REFUSED_STREAM)]).await;
    let status = faulty_client(&server)
        .once(ask("refused", 0, Code::Ok))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::NotFound, "answered")
    );
    assert_eq!(server.read("/flaky.Flaky/Once"), 2, "a transparent retry");
}

#[tokio::test]
async fn a_stream_reset_after_the_request_was_read_is_not_retried() {
    let server = FaultyServer::start([
        Fault::Reset(h2::Reason::INTERNAL_ERROR),
        Fault::Reset(h2::Reason::CANCEL),
    ])
    .await;
    let client = faulty_client(&server);
    let status = client
        .idempotent(ask("reset", 0, Code::Ok))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    let status = client
        .once(ask("cancelled", 0, Code::Ok))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    assert_eq!(server.read("/flaky.Flaky/Idempotent"), 1);
    assert_eq!(server.read("/flaky.Flaky/Once"), 1);
}

#[tokio::test]
async fn a_connection_closed_after_the_request_was_read_retries_only_what_may_run_twice() {
    let server = FaultyServer::start([Fault::Close, Fault::Close]).await;
    let client = faulty_client(&server);
    // Not idempotent: the server may have run it, so it fails and is never sent again.
    let status = client.once(ask("closed", 0, Code::Ok)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(server.read("/flaky.Flaky/Once"), 1, "never twice");
    // Idempotent: sent again on a fresh connection, which answers.
    let status = client
        .idempotent(ask("closed", 0, Code::Ok))
        .wait_for_ready()
        .timeout(Duration::from_secs(10))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::NotFound, "answered")
    );
    assert_eq!(server.read("/flaky.Flaky/Idempotent"), 2);
}

#[tokio::test]
async fn a_client_stream_failing_before_it_is_answered_is_sent_again_in_full() {
    let (_server, faults, client) = flaky().await;
    // Two attempts fail once every request is read: the retries happen as the answer is read.
    let mut call = client.gather().await.unwrap();
    let mut base = ask("at-the-end", 2, Code::Unavailable);
    for request in numbered(&base, 5, 10) {
        call.send(request).await.unwrap();
    }
    let seen = call.finish().await.unwrap();
    assert_eq!(seen.attempts, 3);
    assert_eq!(seen.previous, ["-", "1", "2"]);
    assert_eq!(seen.received, [0, 1, 2, 3, 4], "every request, in order");
    // A failure after the first request, while the client still sends: requests larger than
    // the stream's flow-control window (1 MiB) make a send wait for the server, which fails
    // the attempt instead, so the retry starts from that send.
    let channel = Channel::builder(&_server.url())
        .retry_buffer(8 << 20, 16 << 20)
        .connect()
        .await
        .unwrap();
    let client = FlakyClient::new(channel);
    let mut call = client.gather().await.unwrap();
    base.key = "while-sending".to_owned();
    base.fail_after_reading = 1;
    for request in numbered(&base, 8, 256 * 1024) {
        call.send(request).await.unwrap();
    }
    let seen = call.finish().await.unwrap();
    assert_eq!(seen.attempts, 3);
    assert_eq!(seen.received, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(faults.attempts("while-sending"), 3);
}

#[tokio::test]
async fn a_client_stream_past_its_retry_buffer_is_committed_and_not_retried() {
    let (server, faults, _client) = flaky().await;
    let channel = Channel::builder(&server.url())
        .retry_buffer(1000, 1 << 20)
        .connect()
        .await
        .unwrap();
    let client = FlakyClient::new(channel.clone());
    // Two requests of about 600 bytes: the second passes the call's 1000.
    let mut call = client.gather().await.unwrap();
    for request in numbered(&ask("bounded", 1, Code::Unavailable), 2, 600) {
        call.send(request).await.unwrap();
    }
    let status = call.finish().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(faults.attempts("bounded"), 1);
    // Within the bound, the same call is retried.
    let mut call = client.gather().await.unwrap();
    for request in numbered(&ask("within", 1, Code::Unavailable), 1, 600) {
        call.send(request).await.unwrap();
    }
    assert_eq!(call.finish().await.unwrap().attempts, 2);
    // The channel's bound counts every call's requests: two calls of 700 bytes against 1000.
    let channel = Channel::builder(&server.url())
        .retry_buffer(1000, 1000)
        .connect()
        .await
        .unwrap();
    let client = FlakyClient::new(channel);
    let first = gather_one(&client, "first", 700).await;
    let second = gather_one(&client, "second", 700).await;
    assert_eq!(second.finish().await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(first.finish().await.unwrap().attempts, 2);
    assert_eq!(faults.attempts("second"), 1);
    // The first call's copies were given back: a third call is retried again.
    let third = gather_one(&client, "third", 700).await;
    assert_eq!(third.finish().await.unwrap().attempts, 2);
}

/// A `gather` call that sent one request of `size` bytes of padding, its first attempt to fail.
async fn gather_one(
    client: &FlakyClient,
    key: &str,
    size: usize,
) -> protoless::ClientStream<Ask, Seen> {
    let mut call = client.gather().await.unwrap();
    let request = numbered(&ask(key, 1, Code::Unavailable), 1, size)
        .next()
        .unwrap();
    call.send(request).await.unwrap();
    call
}

#[tokio::test]
async fn a_client_stream_that_is_not_idempotent_never_runs_twice() {
    let (_server, faults, client) = flaky().await;
    let mut call = client.gather_once().await.unwrap();
    for request in numbered(&ask("once", 1, Code::Unavailable), 3, 10) {
        call.send(request).await.unwrap();
    }
    assert_eq!(call.finish().await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(faults.attempts("once"), 1);
}

#[tokio::test]
async fn a_bidi_call_retries_until_answered_and_not_after() {
    let (_server, faults, client) = flaky().await;
    // The first attempt fails after reading two requests, before answering.
    let mut base = ask("bidi", 1, Code::Unavailable);
    base.fail_after_reading = 2;
    let mut requests = numbered(&base, 4, 10);
    let mut call = client.chat().await.unwrap();
    call.send(requests.next().unwrap()).await.unwrap();
    call.send(requests.next().unwrap()).await.unwrap();
    // Reading finds the failure, and the second attempt gets both requests again.
    let mut received = Vec::new();
    for _ in 0..2 {
        received.extend(call.message().await.unwrap().unwrap().received);
    }
    assert_eq!(faults.attempts("bidi"), 2);
    for request in requests {
        call.send(request).await.unwrap();
    }
    call.close_send().unwrap();
    while let Some(seen) = call.message().await.unwrap() {
        received.extend(seen.received);
    }
    assert_eq!(received, [0, 1, 2, 3]);
    // Answered, then failed: the call was committed by the answer, so the failure stands.
    let mut late = ask("late", 1, Code::Unavailable);
    late.answer_first = true;
    let mut call = client.chat().await.unwrap();
    call.send(late).await.unwrap();
    assert_eq!(call.message().await.unwrap().unwrap().received, [0]);
    assert_eq!(call.message().await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(faults.attempts("late"), 1);
}

#[tokio::test]
async fn a_split_bidi_call_is_committed() {
    let (_server, faults, client) = flaky().await;
    let call = client.chat().await.unwrap();
    let (mut requests, mut responses) = call.split();
    requests
        .send(ask("split", 1, Code::Unavailable))
        .await
        .unwrap();
    assert_eq!(
        responses.message().await.unwrap_err().code(),
        Code::Unavailable
    );
    assert_eq!(faults.attempts("split"), 1);
}

#[tokio::test]
async fn a_client_stream_retries_no_further_than_its_deadline() {
    let (_server, faults, client) = flaky().await;
    // Pushback of 10 s against a deadline of 300 ms: the call fails at its deadline.
    let mut request = ask("deadline", 1, Code::Unavailable);
    request.pushback = "10000".to_owned();
    let started = Instant::now();
    let mut call = client
        .gather()
        .timeout(Duration::from_millis(300))
        .await
        .unwrap();
    call.send(request).await.unwrap();
    let status = call.finish().await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(faults.attempts("deadline"), 1);
}
