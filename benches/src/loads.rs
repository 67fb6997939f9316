//! Client-side loads, each run by the protoless client or by tonic's, returning how long the
//! work took (and per-call latencies where they matter). Each checks every answer.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::tonic_side;
use crate::{BenchClient, Blob, FloodRequest, GreeterClient, HelloRequest, Tick};

/// What a load measured.
pub struct Measured {
    pub elapsed: Duration,
    pub operations: u64,
    pub latencies: Vec<Duration>,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.operations as f64 / self.elapsed.as_secs_f64()
    }
}

fn check_greeting(message: &str) {
    assert_eq!(
        message, "Hello, world!",
        "wrong answer: the benchmark would be meaningless"
    );
}

/// `total` SayHello calls, `concurrency` at a time, over `connections` connections: one
/// channel (client) per connection, or with `protoless-pooled` one channel keeping
/// `connections` connections (`connections_per_address`, round-robin).
pub async fn unary(
    client: &str,
    url: &str,
    connections: usize,
    concurrency: usize,
    total: u64,
) -> Measured {
    let per_task = total / concurrency as u64;
    let mut tasks = Vec::new();
    let started = Instant::now();
    match client {
        "protoless" | "protoless-intercepted" | "protoless-pooled" => {
            let mut clients = Vec::new();
            if client == "protoless-pooled" {
                let channel = protoless::Channel::builder(url)
                    .picker(protoless::balance::RoundRobin::default())
                    .connections_per_address(connections)
                    .lazy()
                    .expect("a valid target");
                channel.try_every_address().await;
                clients.push(GreeterClient::new(channel));
            }
            for _ in 0..connections * usize::from(client != "protoless-pooled") {
                let channel = protoless::Channel::connect(url).await.expect("connect");
                let channel = if client == "protoless" {
                    channel
                } else {
                    channel
                        .with_interceptor(crate::Trivial)
                        .with_interceptor(crate::Trivial)
                        .with_interceptor(crate::Trivial)
                };
                clients.push(GreeterClient::new(channel));
            }
            for task in 0..concurrency {
                let client = clients[task % clients.len()].clone();
                tasks.push(tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(per_task as usize);
                    for _ in 0..per_task {
                        let sent = Instant::now();
                        let reply = client
                            .say_hello(HelloRequest {
                                name: "world".into(),
                            })
                            .await
                            .expect("call");
                        latencies.push(sent.elapsed());
                        check_greeting(&reply.message);
                    }
                    latencies
                }));
            }
        }
        "tonic" => {
            use tonic_side::helloworld::greeter_client::GreeterClient as Tonic;
            let mut clients = Vec::new();
            for _ in 0..connections {
                clients.push(Tonic::connect(url.to_owned()).await.expect("connect"));
            }
            for task in 0..concurrency {
                let mut client = clients[task % connections].clone();
                tasks.push(tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(per_task as usize);
                    for _ in 0..per_task {
                        let sent = Instant::now();
                        let request = tonic_side::helloworld::HelloRequest {
                            name: "world".into(),
                        };
                        let reply = client.say_hello(request).await.expect("call").into_inner();
                        latencies.push(sent.elapsed());
                        check_greeting(&reply.message);
                    }
                    latencies
                }));
            }
        }
        other => panic!("unknown client {other}"),
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("load task"));
    }
    Measured {
        elapsed: started.elapsed(),
        operations: per_task * concurrency as u64,
        latencies,
    }
}

/// One server stream of `count` small messages.
pub async fn flood(client: &str, url: &str, count: u64) -> Measured {
    let mut received = 0u64;
    let started;
    match client {
        "protoless" => {
            let client = BenchClient::connect(url).await.expect("connect");
            started = Instant::now();
            let mut ticks = client.flood(FloodRequest { count }).await.expect("call");
            while let Some(tick) = ticks.message().await.expect("tick") {
                assert_eq!(tick.seq, received);
                received += 1;
            }
        }
        "tonic" => {
            use tonic_side::bench::bench_client::BenchClient as Tonic;
            let mut client = Tonic::connect(url.to_owned()).await.expect("connect");
            started = Instant::now();
            let mut ticks = client
                .flood(tonic_side::bench::FloodRequest { count })
                .await
                .expect("call")
                .into_inner();
            while let Some(tick) = ticks.message().await.expect("tick") {
                assert_eq!(tick.seq, received);
                received += 1;
            }
        }
        other => panic!("unknown client {other}"),
    }
    assert_eq!(received, count);
    Measured {
        elapsed: started.elapsed(),
        operations: count,
        latencies: Vec::new(),
    }
}

/// `rounds` request-reply round trips on one bidirectional stream.
pub async fn ping_pong(client: &str, url: &str, rounds: u64) -> Measured {
    let mut latencies = Vec::with_capacity(rounds as usize);
    let started;
    match client {
        "protoless" => {
            let client = BenchClient::connect(url).await.expect("connect");
            let mut stream = client.ping_pong().await.expect("call");
            started = Instant::now();
            for seq in 0..rounds {
                let sent = Instant::now();
                stream.send(Tick { seq }).await.expect("send");
                let reply = stream.message().await.expect("reply").expect("a reply");
                latencies.push(sent.elapsed());
                assert_eq!(reply.seq, seq + 1);
            }
        }
        "tonic" => {
            use tonic_side::bench::bench_client::BenchClient as Tonic;
            let mut client = Tonic::connect(url.to_owned()).await.expect("connect");
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let outbound = crate::tonic_impl::receiver_stream(rx);
            let mut replies = client.ping_pong(outbound).await.expect("call").into_inner();
            started = Instant::now();
            for seq in 0..rounds {
                let sent = Instant::now();
                tx.send(tonic_side::bench::Tick { seq })
                    .await
                    .expect("send");
                let reply = replies.message().await.expect("reply").expect("a reply");
                latencies.push(sent.elapsed());
                assert_eq!(reply.seq, seq + 1);
            }
        }
        other => panic!("unknown client {other}"),
    }
    Measured {
        elapsed: started.elapsed(),
        operations: rounds,
        latencies,
    }
}

/// `count` echoes of a payload of `size` bytes.
pub async fn blob(client: &str, url: &str, size: usize, count: u64) -> Measured {
    let data = Bytes::from(vec![0x5a; size]);
    let started;
    match client {
        "protoless" => {
            let channel = protoless::Channel::connect(url)
                .await
                .expect("connect")
                .with_max_receive_message_size(64 << 20);
            let client = BenchClient::new(channel);
            started = Instant::now();
            for _ in 0..count {
                let reply = client
                    .blob(Blob { data: data.clone() })
                    .await
                    .expect("call");
                assert_eq!(reply.data.len(), size);
            }
        }
        "tonic" => {
            use tonic_side::bench::bench_client::BenchClient as Tonic;
            let mut client = Tonic::connect(url.to_owned())
                .await
                .expect("connect")
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20);
            started = Instant::now();
            for _ in 0..count {
                let reply = client
                    .blob(tonic_side::bench::Blob {
                        data: data.to_vec(),
                    })
                    .await
                    .expect("call")
                    .into_inner();
                assert_eq!(reply.data.len(), size);
            }
        }
        other => panic!("unknown client {other}"),
    }
    Measured {
        elapsed: started.elapsed(),
        operations: count,
        latencies: Vec::new(),
    }
}
