//! Many servers behind one client: resolution (fixed lists, DNS against a DNS server on
//! loopback, etcd), registration in a real etcd, round_robin and pick_first, connectivity
//! states and wait-for-ready.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protoless::balance::ConnectivityState;
use protoless::balance::{PickFirst, RoundRobin};
use protoless::etcd::{Registration, LEASE_TTL};
use protoless::{CallInfo, Channel, Code, Interceptor, Outcome, StartFuture};
use support::etcd::Etcd;
use support::greeter::{server_with_id, GreeterClient, HelloRequest, ServerId};
use support::{example, ServerProcess, TestServer};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{watch, Notify};

fn hello() -> HelloRequest {
    HelloRequest {
        name: "scale".to_owned(),
    }
}

/// The `server-id` of each of `count` calls' answers, tallied.
async fn tally(client: &GreeterClient, count: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..count {
        let reply = client.say_hello(hello()).into_response().await.unwrap();
        let id = reply.headers.get("server-id").unwrap().to_owned();
        *seen.entry(id).or_default() += 1;
    }
    seen
}

/// The server id that answers the next call.
async fn answered_by(client: &GreeterClient) -> String {
    let reply = client.say_hello(hello()).into_response().await.unwrap();
    reply.headers.get("server-id").unwrap().to_owned()
}

async fn replica(id: &str) -> TestServer {
    TestServer::start(server_with_id(id)).await
}

#[tokio::test]
async fn round_robin_over_a_fixed_list_takes_turns_and_pick_first_sticks() {
    let servers = [replica("a").await, replica("b").await, replica("c").await];
    let list: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    let target = format!("ipv4:{}", list.join(","));

    let channel = Channel::builder(&target)
        .picker(RoundRobin::default())
        .lazy()
        .unwrap();
    assert_eq!(channel.connectivity_state(), ConnectivityState::Idle);
    let states = channel.try_every_address().await;
    assert_eq!(states.len(), 3);
    assert!(
        states.iter().all(|(_, s)| *s == ConnectivityState::Ready),
        "{states:?}"
    );
    let seen = tally(&GreeterClient::new(channel), 30).await;
    assert_eq!(
        seen.values().copied().collect::<Vec<_>>(),
        [10, 10, 10],
        "{seen:?}"
    );

    let first = Channel::builder(&target).picker(PickFirst).lazy().unwrap();
    let seen = tally(&GreeterClient::new(first), 10).await;
    assert_eq!(
        seen.get("a"),
        Some(&10),
        "pick_first sends every call to the first: {seen:?}"
    );
}

#[tokio::test]
async fn pick_first_skips_an_address_that_refuses_and_fails_fast_when_none_answers() {
    // A port nothing listens on, listed first.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let server = replica("second").await;
    let client =
        GreeterClient::new(Channel::lazy(&format!("ipv4:{closed_addr},{}", server.addr)).unwrap());
    assert_eq!(answered_by(&client).await, "second");

    let nobody = Channel::lazy(&format!("ipv4:{closed_addr}")).unwrap();
    let started = Instant::now();
    let status = GreeterClient::new(nobody.clone())
        .say_hello(hello())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains(&closed_addr.to_string()),
        "{status:?}"
    );
    assert_eq!(
        nobody.connectivity_state(),
        ConnectivityState::TransientFailure
    );
    // In transient failure, the next call fails at once rather than dialling again.
    let status = GreeterClient::new(nobody)
        .say_hello(hello())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn wait_for_ready_rides_out_a_server_that_is_not_up_yet() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let channel = Channel::lazy(&format!("http://{addr}")).unwrap();
    let client = GreeterClient::new(channel.clone());
    let status = client.say_hello(hello()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);

    // Waits through the reconnect backoff (about a second) until the server is there.
    let waiting = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .say_hello(hello())
                .wait_for_ready()
                .timeout(Duration::from_secs(10))
                .await
        }
    });
    let listener = TcpListener::bind(addr).await.unwrap();
    let server = tokio::spawn(
        server_with_id("late")
            .serve_with_listener(listener, async { std::future::pending::<()>().await }),
    );
    let reply = waiting.await.unwrap().unwrap();
    assert_eq!(reply.message, "Hello, scale!");
    server.abort();

    // Without a server, wait-for-ready ends at the deadline.
    let gone = Channel::lazy(&format!("http://{addr}"))
        .unwrap()
        .with_wait_for_ready();
    let started = Instant::now();
    let status = GreeterClient::new(gone)
        .say_hello(hello())
        .timeout(Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// A DNS server on loopback answering every A query with `answers`, except the first
/// `unanswered` A queries, which get no record.
async fn dns_server(answers: Vec<Ipv4Addr>, mut unanswered: usize) -> SocketAddr {
    use hickory_proto::op::{Message, MessageType};
    use hickory_proto::rr::{rdata::A, RData, Record, RecordType};

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buffer = [0u8; 512];
        loop {
            let (len, peer) = socket.recv_from(&mut buffer).await.unwrap();
            let Ok(query) = Message::from_vec(&buffer[..len]) else {
                continue;
            };
            let mut response = Message::new();
            response
                .set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_op_code(query.op_code())
                .set_recursion_desired(query.recursion_desired())
                .set_recursion_available(true)
                .set_authoritative(true);
            response.add_queries(query.queries().to_vec());
            for question in query.queries() {
                if question.query_type() == RecordType::A && unanswered > 0 {
                    unanswered -= 1;
                } else if question.query_type() == RecordType::A {
                    for ip in &answers {
                        response.add_answer(Record::from_rdata(
                            question.name().clone(),
                            60,
                            RData::A(A(*ip)),
                        ));
                    }
                }
            }
            let _ = socket.send_to(&response.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

#[tokio::test]
async fn dns_resolves_every_record_and_round_robin_uses_them_all() {
    let ips = [
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(127, 0, 0, 2),
        Ipv4Addr::new(127, 0, 0, 3),
    ];
    // One port on three loopback addresses, as DNS names addresses, not ports.
    let first = TcpListener::bind((ips[0], 0)).await.unwrap();
    let port = first.local_addr().unwrap().port();
    let mut listeners = vec![first];
    for ip in &ips[1..] {
        listeners.push(TcpListener::bind((*ip, port)).await.unwrap());
    }
    let mut servers = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let server = server_with_id(&format!("127.0.0.{}", i + 1));
        servers.push(tokio::spawn(server.serve_with_listener(listener, async {
            std::future::pending::<()>().await
        })));
    }
    let dns = dns_server(ips.to_vec(), 0).await;
    let channel = Channel::builder(&format!("dns://{dns}/svc.test:{port}"))
        .picker(RoundRobin::default())
        .lazy()
        .unwrap();
    let states = channel.try_every_address().await;
    let mut addresses: Vec<String> = states.iter().map(|(a, _)| a.clone()).collect();
    addresses.sort();
    assert_eq!(
        addresses,
        ips.iter()
            .map(|ip| format!("{ip}:{port}"))
            .collect::<Vec<_>>()
    );
    let seen = tally(&GreeterClient::new(channel), 30).await;
    assert_eq!(
        seen.values().copied().collect::<Vec<_>>(),
        [10, 10, 10],
        "{seen:?}"
    );
    for server in servers {
        server.abort();
    }
}

#[tokio::test]
async fn registration_lives_with_its_lease_and_etcdctl_reads_it() {
    let Some(etcd) = Etcd::start_or_skip().await else {
        return;
    };
    let register = etcd.target("services/greeter");
    let mut command = Command::new(example("greeter"));
    command.args([
        "serve",
        "127.0.0.1:0",
        "--server-id",
        "killed",
        "--register",
        &register,
    ]);
    let server = ServerProcess::spawn(&mut command).await;
    let key = format!("services/greeter/{}", server.addr);
    // Registered within a second of listening.
    let listening = Instant::now();
    let entries = loop {
        let entries = etcd.get_prefix("services/greeter/").await;
        if !entries.is_empty() || listening.elapsed() > Duration::from_secs(1) {
            break entries;
        }
    };
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].0, key);
    assert_eq!(
        entries[0].1,
        format!(r#"{{"Op":0,"Addr":"{}","Metadata":null}}"#, server.addr),
        "as grpc-go's naming package writes it"
    );

    // Killed without a goodbye: the key goes when the lease expires.
    let pid = server.pid().to_string();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .await
        .unwrap()
        .success());
    let killed = Instant::now();
    while !etcd.get_prefix("services/greeter/").await.is_empty() {
        assert!(
            killed.elapsed() < LEASE_TTL + Duration::from_secs(2),
            "the key outlived its lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);

    // A graceful shutdown removes the key before the server exits.
    let mut command = Command::new(example("greeter"));
    command.args(["serve", "127.0.0.1:0", "--register", &register]);
    let server = ServerProcess::spawn(&mut command).await;
    while etcd.get_prefix("services/greeter/").await.is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopping = Instant::now();
    let (exited_cleanly, output) = server.terminate().await;
    assert!(exited_cleanly, "{output}");
    assert!(etcd.get_prefix("services/greeter/").await.is_empty());
    assert!(
        stopping.elapsed() < LEASE_TTL,
        "deregistered by revoking, not by expiry"
    );
}

#[tokio::test]
async fn the_watch_adds_and_removes_replicas_within_a_second() {
    let Some(etcd) = Etcd::start_or_skip().await else {
        return;
    };
    let target = etcd.target("services/watched");
    let a = replica("a").await;
    let registered_a = Registration::register(&target, &a.addr.to_string())
        .await
        .unwrap();
    let channel = Channel::builder(&target)
        .picker(RoundRobin::default())
        .lazy()
        .unwrap();
    let client = GreeterClient::new(channel);
    assert_eq!(answered_by(&client).await, "a");

    let b = replica("b").await;
    let registered_b = Registration::register(&target, &b.addr.to_string())
        .await
        .unwrap();
    let added = Instant::now();
    while answered_by(&client).await != "b" {
        assert!(
            added.elapsed() < Duration::from_secs(1),
            "b not used within a second"
        );
    }

    registered_a.revoke().await.unwrap();
    let removed = Instant::now();
    // Once the removal is seen, every call goes to b.
    loop {
        let seen = tally(&client, 6).await;
        if seen.keys().collect::<Vec<_>>() == ["b"] {
            break;
        }
        assert!(
            removed.elapsed() < Duration::from_secs(1),
            "a still used: {seen:?}"
        );
    }
    drop(registered_b);
}

#[tokio::test]
async fn keys_written_as_grpc_gos_naming_package_does_are_found() {
    let Some(etcd) = Etcd::start_or_skip().await else {
        return;
    };
    let go = replica("go-registered").await;
    let bare = replica("no-op-field").await;
    // What grpc-go's etcd endpoints manager writes, and a value without "Op".
    let value = format!(r#"{{"Op":0,"Addr":"{}","Metadata":null}}"#, go.addr);
    let put = etcd
        .etcdctl(&["put", &format!("services/go/{}", go.addr), &value])
        .await
        .unwrap();
    assert!(put.status.success(), "{put:?}");
    let value = format!(r#"{{"Addr":"{}"}}"#, bare.addr);
    let put = etcd
        .etcdctl(&["put", &format!("services/go/{}", bare.addr), &value])
        .await
        .unwrap();
    assert!(put.status.success(), "{put:?}");

    let channel = Channel::builder(&etcd.target("services/go"))
        .picker(RoundRobin::default())
        .lazy()
        .unwrap();
    channel.try_every_address().await;
    let seen = tally(&GreeterClient::new(channel), 4).await;
    assert_eq!(seen.get("go-registered"), Some(&2), "{seen:?}");
    assert_eq!(seen.get("no-op-field"), Some(&2), "{seen:?}");
}

#[tokio::test]
async fn greeter_call_spreads_over_three_registered_replicas_within_ten_percent() {
    let Some(etcd) = Etcd::start_or_skip().await else {
        return;
    };
    let register = etcd.target("services/spread");
    let mut replicas = Vec::new();
    for id in ["r1", "r2", "r3"] {
        let mut command = Command::new(example("greeter"));
        command.args([
            "serve",
            "127.0.0.1:0",
            "--server-id",
            id,
            "--register",
            &register,
        ]);
        replicas.push(ServerProcess::spawn(&mut command).await);
    }
    while etcd.get_prefix("services/spread/").await.len() < 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = Command::new(example("greeter"))
        .args(["call", &register, "--count", "300", "--name", "spread"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let tally: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("server-id "))
        .collect();
    assert_eq!(tally.len(), 3, "{stdout}");
    for (line, id) in tally.iter().zip(["r1", "r2", "r3"]) {
        let count: usize = line
            .strip_prefix(&format!("server-id {id}: "))
            .unwrap_or_else(|| panic!("{line:?}"))
            .parse()
            .unwrap();
        assert!((90..=110).contains(&count), "{line}: outside 100 ± 10 %");
    }
    assert_eq!(
        stdout
            .lines()
            .filter(|line| *line == "Hello, spread!")
            .count(),
        300
    );
    for replica in replicas {
        let (ok, output) = replica.terminate().await;
        assert!(ok, "{output}");
    }
}

/// Records, on the server, each call's peer and how each call ended.
#[derive(Clone, Default)]
struct Observed {
    peers: Arc<Mutex<HashSet<SocketAddr>>>,
    ended: Arc<Mutex<Vec<Code>>>,
    ended_now: Arc<Notify>,
}

impl Interceptor for Observed {
    fn start<'a>(&'a self, call: &'a mut CallInfo) -> StartFuture<'a> {
        if let Some(peer) = call.peer_addr() {
            self.peers.lock().unwrap().insert(peer);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn end(&self, _call: &CallInfo, outcome: &mut Outcome) {
        self.ended.lock().unwrap().push(outcome.code());
        self.ended_now.notify_one();
    }
}

#[tokio::test]
async fn max_connection_age_moves_calls_to_fresh_connections_without_failures() {
    let observed = Observed::default();
    let server = TestServer::start(
        server_with_id("aging")
            .max_connection_age(Duration::from_millis(100), Some(Duration::from_secs(5)))
            .interceptor(observed.clone()),
    )
    .await;
    let client = GreeterClient::new(Channel::lazy(&server.url()).unwrap());
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        workers.push(tokio::spawn(async move {
            let mut calls = 0;
            while started.elapsed() < Duration::from_millis(700) {
                client.say_hello(hello()).await.expect("no call fails");
                calls += 1;
            }
            calls
        }));
    }
    let mut calls = 0;
    for worker in workers {
        calls += worker.await.unwrap();
    }
    let connections = observed.peers.lock().unwrap().len();
    assert!(
        connections >= 4,
        "{calls} calls over {connections} connections: each lives about 100 ms"
    );
}

/// A TCP proxy to `upstream` that forwards until told to stall, then holds every connection
/// open without forwarding another byte: a peer that vanished without closing.
async fn stalling_proxy(upstream: SocketAddr) -> (SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stall, stalled) = watch::channel(false);
    tokio::spawn(async move {
        loop {
            let (downstream, _) = listener.accept().await.unwrap();
            let upstream = tokio::net::TcpStream::connect(upstream).await.unwrap();
            let (down_read, down_write) = downstream.into_split();
            let (up_read, up_write) = upstream.into_split();
            tokio::spawn(forward(down_read, up_write, stalled.clone()));
            tokio::spawn(forward(up_read, down_write, stalled.clone()));
        }
    });
    (addr, stall)
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = stalled.wait_for(|stalled| *stalled) => break,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if *stalled.borrow() || to.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    // Silent from now on, with both sockets held open.
    std::future::pending::<()>().await;
    drop((from, to));
}

#[tokio::test]
async fn client_keepalive_fails_calls_on_a_connection_that_went_silent() {
    let server = replica("silent").await;
    let (proxy, stall) = stalling_proxy(server.addr).await;
    let channel = Channel::builder(&format!("http://{proxy}"))
        .keepalive(Duration::from_millis(100), Duration::from_millis(200))
        .lazy()
        .unwrap();
    let client = GreeterClient::new(channel.clone());
    let mut chat = client.bidi_hello().await.unwrap();
    chat.send(hello()).await.unwrap();
    assert!(chat.message().await.unwrap().is_some());
    stall.send(true).unwrap();
    let stalled = Instant::now();
    let status = chat.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        stalled.elapsed() < Duration::from_secs(2),
        "{:?}",
        stalled.elapsed()
    );
    // The dead connection is gone; the channel reconnects (through the proxy, which now
    // forwards nothing, so the new connection cannot finish its handshake).
    assert_ne!(channel.connectivity_state(), ConnectivityState::Ready);
}

#[tokio::test]
async fn server_keepalive_ends_the_calls_of_a_client_that_went_silent() {
    let observed = Observed::default();
    let server = TestServer::start(
        server_with_id("pinging")
            .keepalive(Duration::from_millis(100), Duration::from_millis(200))
            .interceptor(observed.clone()),
    )
    .await;
    let (proxy, stall) = stalling_proxy(server.addr).await;
    let client = GreeterClient::new(Channel::lazy(&format!("http://{proxy}")).unwrap());
    let mut chat = client.bidi_hello().await.unwrap();
    chat.send(hello()).await.unwrap();
    assert!(chat.message().await.unwrap().is_some());
    stall.send(true).unwrap();
    let stalled = Instant::now();
    // An abandoned stream to a vanished client ends, server side.
    tokio::time::timeout(Duration::from_secs(3), observed.ended_now.notified())
        .await
        .expect("the server ended the call");
    assert!(
        stalled.elapsed() < Duration::from_secs(2),
        "{:?}",
        stalled.elapsed()
    );
    let ended = observed.ended.lock().unwrap().clone();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_ne!(ended[0], Code::Ok);
    drop(chat);
}

#[tokio::test]
async fn health_checking_keeps_calls_off_a_server_that_is_not_serving() {
    use protoless::health::{HealthReporter, ServingStatus};

    let health = HealthReporter::new();
    let watched = TestServer::start(
        protoless::Server::builder()
            .health(health.clone())
            .add_service(support::greeter::GreeterServer::new(
                support::greeter::Greetings,
            ))
            .interceptor(ServerId("watched".into())),
    )
    .await;
    // Without a health service: UNIMPLEMENTED counts as healthy.
    let plain = TestServer::start(
        protoless::Server::builder()
            .add_service(support::greeter::GreeterServer::new(
                support::greeter::Greetings,
            ))
            .interceptor(ServerId("plain".into())),
    )
    .await;
    let channel = Channel::builder(&format!("ipv4:{},{}", watched.addr, plain.addr))
        .picker(RoundRobin::default())
        .health_check("")
        .lazy()
        .unwrap();
    let states = channel.try_every_address().await;
    assert!(
        states.iter().all(|(_, s)| *s == ConnectivityState::Ready),
        "{states:?}"
    );
    let client = GreeterClient::new(channel);
    let seen = tally(&client, 10).await;
    assert_eq!(seen.get("watched"), Some(&5), "{seen:?}");
    assert_eq!(seen.get("plain"), Some(&5), "{seen:?}");

    health.set_status("", ServingStatus::NotServing);
    let changed = Instant::now();
    loop {
        let seen = tally(&client, 4).await;
        if seen.keys().collect::<Vec<_>>() == ["plain"] {
            break;
        }
        assert!(changed.elapsed() < Duration::from_secs(1), "{seen:?}");
    }
    // Only the healthy one, for as long as the other is not serving.
    assert_eq!(tally(&client, 10).await.get("plain"), Some(&10));

    health.set_status("", ServingStatus::Serving);
    let changed = Instant::now();
    while answered_by(&client).await != "watched" {
        assert!(
            changed.elapsed() < Duration::from_secs(1),
            "back in rotation"
        );
    }
}

/// A raw HTTP/2 connection to `addr` that pings `times`, `every` apart, with no call open;
/// how many PINGs were answered, and how the connection ended.
async fn ping(addr: SocketAddr, times: usize, every: Duration) -> (usize, Result<(), h2::Error>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, mut connection) = h2::client::handshake(stream).await.unwrap();
    let mut pings = connection.ping_pong().unwrap();
    let ended = tokio::spawn(connection);
    let mut answered = 0;
    for _ in 0..times {
        match tokio::time::timeout(Duration::from_secs(2), pings.ping(h2::Ping::opaque())).await {
            Ok(Ok(_)) => answered += 1,
            _ => break,
        }
        tokio::time::sleep(every).await;
    }
    drop((sender, pings));
    (answered, ended.await.unwrap())
}

#[tokio::test]
async fn a_client_pinging_too_often_gets_goaway_enhance_your_calm() {
    let strict = replica_with(|server| server.ping_policy(Duration::from_secs(300), false)).await;
    let (answered, ended) = ping(strict.addr, 6, Duration::ZERO).await;
    let error = ended.expect_err("the server ends the connection");
    assert!(error.is_go_away(), "{error:?}");
    assert_eq!(
        error.reason(),
        Some(h2::Reason::ENHANCE_YOUR_CALM),
        "{error:?}"
    );
    assert!(
        answered <= 4,
        "three strikes, then out: {answered} answered"
    );

    // Pings at the pace the policy allows (and permitted without calls) are all answered.
    let relaxed = replica_with(|server| server.ping_policy(Duration::from_millis(50), true)).await;
    let (answered, ended) = ping(relaxed.addr, 4, Duration::from_millis(80)).await;
    assert_eq!(answered, 4);
    assert!(ended.is_ok(), "{ended:?}");
}

async fn replica_with(
    configure: impl FnOnce(protoless::Server) -> protoless::Server,
) -> TestServer {
    TestServer::start(configure(server_with_id("policed"))).await
}

#[tokio::test]
async fn several_connections_per_address_share_the_calls() {
    let observed = Observed::default();
    let server = TestServer::start(server_with_id("one").interceptor(observed.clone())).await;
    let channel = Channel::builder(&server.url())
        .picker(RoundRobin::default())
        .connections_per_address(3)
        .lazy()
        .unwrap();
    let states = channel.try_every_address().await;
    assert_eq!(states.len(), 3, "{states:?}");
    assert_eq!(
        tally(&GreeterClient::new(channel), 30).await.get("one"),
        Some(&30)
    );
    assert_eq!(
        observed.peers.lock().unwrap().len(),
        3,
        "three connections used"
    );
}

/// Reports its fixed list at once, from `resolve` itself, before its future runs.
struct ReportsAtOnce(Vec<String>);

impl protoless::resolve::Resolver for ReportsAtOnce {
    fn resolve(
        &self,
        updates: protoless::resolve::ResolverUpdates,
    ) -> protoless::resolve::ResolveFuture {
        updates.update(self.0.clone());
        Box::pin(async move {
            // Keeps the updates (and the channel's interest) for as long as the channel lives.
            let _updates = updates;
            std::future::pending::<()>().await;
        })
    }
}

#[tokio::test]
async fn a_custom_resolver_may_report_before_its_future_runs() {
    let servers = [replica("x").await, replica("y").await];
    let channel = Channel::resolving(ReportsAtOnce(
        servers.iter().map(|s| s.addr.to_string()).collect(),
    ))
    .picker(RoundRobin::default())
    .lazy()
    .unwrap();
    channel.try_every_address().await;
    let seen = tally(&GreeterClient::new(channel), 4).await;
    assert_eq!(
        seen.values().copied().collect::<Vec<_>>(),
        [2, 2],
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_failed_dns_lookup_is_tried_again_without_being_asked() {
    let server = replica("found-later").await;
    // The first lookup finds nothing; the resolver looks again about a second later.
    let dns = dns_server(vec![Ipv4Addr::LOCALHOST], 1).await;
    let channel = Channel::lazy(&format!("dns://{dns}/svc.test:{}", server.addr.port())).unwrap();
    let client = GreeterClient::new(channel);
    let status = client.say_hello(hello()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("svc.test"), "{status:?}");
    let reply = client
        .say_hello(hello())
        .wait_for_ready()
        .timeout(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reply.message, "Hello, scale!");
}

#[tokio::test]
async fn keepalive_without_calls_notices_a_silent_connection_before_the_next_call() {
    let server = replica("idle").await;
    let (proxy, stall) = stalling_proxy(server.addr).await;
    let channel = Channel::builder(&format!("http://{proxy}"))
        .keepalive(Duration::from_millis(100), Duration::from_millis(200))
        .keepalive_without_calls()
        .lazy()
        .unwrap();
    channel.try_every_address().await;
    assert_eq!(channel.connectivity_state(), ConnectivityState::Ready);
    stall.send(true).unwrap();
    let stalled = Instant::now();
    while channel.connectivity_state() == ConnectivityState::Ready {
        assert!(stalled.elapsed() < Duration::from_secs(2), "still ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Holds every call for `0` before it runs.
struct Slow(Duration);

impl Interceptor for Slow {
    fn start<'a>(&'a self, _call: &'a mut CallInfo) -> StartFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(self.0).await;
            Ok(())
        })
    }
}

#[tokio::test]
async fn least_request_sends_fewer_calls_to_a_slow_replica_than_round_robin() {
    let slow =
        TestServer::start(server_with_id("slow").interceptor(Slow(Duration::from_millis(200))))
            .await;
    let fast = replica("fast").await;
    let target = format!("ipv4:{},{}", slow.addr, fast.addr);
    // 20 calls 5 ms apart: round_robin splits them evenly; least_request sees the slow
    // replica's calls pile up (the fast one answers within the 5 ms) and sends it fewer.
    async fn spread(channel: Channel) -> BTreeMap<String, usize> {
        channel.try_every_address().await;
        let client = GreeterClient::new(channel);
        let mut calls = Vec::new();
        for _ in 0..20 {
            let client = client.clone();
            calls.push(tokio::spawn(async move { answered_by(&client).await }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut seen = BTreeMap::new();
        for call in calls {
            *seen.entry(call.await.unwrap()).or_default() += 1;
        }
        seen
    }
    let even = spread(
        Channel::builder(&target)
            .picker(RoundRobin::default())
            .lazy()
            .unwrap(),
    )
    .await;
    assert_eq!(even.get("slow"), Some(&10), "{even:?}");
    let uneven = spread(
        Channel::builder(&target)
            .picker(protoless::balance::LeastRequest::default())
            .lazy()
            .unwrap(),
    )
    .await;
    assert!(uneven.get("slow").copied().unwrap_or(0) <= 3, "{uneven:?}");
}
