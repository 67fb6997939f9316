//! Many greeter replicas behind one client, found through etcd: `cargo run --example cluster`.
//!
//! A demo only (no `serve` or `proto`). It starts an etcd on loopback ports with a temporary
//! data directory (`scripts/etcd-env` installs Debian's etcd-server when it is missing; when no
//! etcd can be started it says so and uses a fixed `ipv4:` list instead), then three greeter
//! replicas, each a process of this program that registers itself under
//! `etcd://127.0.0.1:PORT/services/greeter` and names itself in a `server-id` response header.
//! A client calls through that target with round_robin and shows the spread; then one replica
//! shuts down gracefully (it leaves etcd first, then drains) and another is killed with SIGKILL
//! while a call is in flight on it. Calls keep succeeding, except that one, which the demo
//! reports; the tally shows the change.

// The greeter brings its own copy of the shared command-line module, and its `pub` items are
// used from here as a module's.
#![allow(clippy::duplicate_mod, unreachable_pub)]

#[allow(dead_code)] // the demo server of the other examples is not used here
#[path = "common/mod.rs"]
mod common;
#[allow(dead_code)] // the greeter's own command line is not used here
#[path = "greeter.rs"]
mod greeter;

use std::collections::BTreeMap;
use std::error::Error;
use std::process::Stdio;

use common::etcd::LocalEtcd;
use greeter::{GreeterClient, HelloRequest};
use protoless::balance::RoundRobin;
use protoless::Channel;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Set in a replica's environment: its server id.
const REPLICA: &str = "PROTOLESS_CLUSTER_REPLICA";
/// Set in a replica's environment: the etcd target to register under, if any.
const REGISTER: &str = "PROTOLESS_CLUSTER_REGISTER";
/// The prefix the replicas register under.
const PREFIX: &str = "services/greeter";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    if let Ok(id) = std::env::var(REPLICA) {
        return replica(&id).await;
    }
    let etcd = match LocalEtcd::start().await {
        Ok(etcd) => Some(etcd),
        Err(why) => {
            eprintln!("{why}");
            None
        }
    };
    let register = etcd.as_ref().map(|etcd| etcd.target(PREFIX));
    match &register {
        Some(target) => println!("etcd serving; replicas register under {target}"),
        None => println!("no etcd could be started: the client uses a fixed list instead"),
    }
    let mut replicas = Vec::new();
    for id in ["replica-1", "replica-2", "replica-3"] {
        let replica = Replica::start(id, register.as_deref()).await?;
        println!("{id} listening on {}", replica.addr);
        replicas.push(replica);
    }
    let target = register.clone().unwrap_or_else(|| {
        let addresses: Vec<&str> = replicas.iter().map(|r| r.addr.as_str()).collect();
        format!("ipv4:{}", addresses.join(","))
    });
    let channel = Channel::builder(&target)
        .picker(RoundRobin::default())
        .lazy()?;
    for (address, state) in channel.try_every_address().await {
        println!("client: {address} is {state:?}");
    }
    let client = GreeterClient::new(channel);
    tally("30 calls over three replicas", &client, 30).await;

    let graceful = replicas.remove(0);
    println!("{} shuts down gracefully", graceful.id);
    graceful.terminate().await?;

    // A call held open on the replica about to die: chats until one lands there.
    let doomed = replicas.pop().expect("three replicas");
    let mut chat = loop {
        let mut chat = client.bidi_hello().await?;
        chat.send(hello("are you there?")).await?;
        chat.message().await?.ok_or("the chat ended early")?;
        if chat.headers().and_then(|headers| headers.get("server-id")) == Some(doomed.id.as_str()) {
            break chat;
        }
    };
    let doomed_id = doomed.id.clone();
    println!("{doomed_id} is killed (SIGKILL) with a call in flight on it");
    doomed.kill().await?;
    let in_flight = match chat.send(hello("still there?")).await {
        Err(status) => Err(status),
        Ok(()) => chat.message().await,
    };
    match in_flight {
        Err(status) => println!(
            "the call in flight on {doomed_id} failed: {}: {}",
            status.code(),
            status.message()
        ),
        Ok(answer) => println!("the call in flight on {doomed_id} ended: {answer:?}"),
    }
    tally("30 calls after the changes", &client, 30).await;
    for replica in replicas {
        replica.terminate().await?;
    }
    drop(etcd);
    Ok(())
}

fn hello(name: &str) -> HelloRequest {
    HelloRequest {
        name: name.to_owned(),
    }
}

/// Makes `count` calls and prints how many each replica answered, and any that failed.
async fn tally(title: &str, client: &GreeterClient, count: usize) {
    let mut by_replica = BTreeMap::<String, usize>::new();
    let mut failed = 0;
    for _ in 0..count {
        match client.say_hello(hello("cluster")).into_response().await {
            Ok(reply) => {
                let id = reply.headers.get("server-id").unwrap_or("?").to_owned();
                *by_replica.entry(id).or_default() += 1;
            }
            Err(status) => {
                failed += 1;
                println!("  failed: {}: {}", status.code(), status.message());
            }
        }
    }
    println!("{title}:");
    for (id, calls) in by_replica {
        println!("  server-id {id}: {calls}");
    }
    println!("  failed: {failed}");
}

/// This process as a replica: a greeter naming itself `id`, registered in etcd when asked.
async fn replica(id: &str) -> Result<(), Box<dyn Error>> {
    let mut options = Vec::new();
    if let Ok(etcd) = std::env::var(REGISTER) {
        options.push(("--register".to_owned(), etcd));
    }
    common::serve(greeter::server_with_id(id), "127.0.0.1:0", &options).await
}

/// A replica process.
struct Replica {
    id: String,
    addr: String,
    child: Child,
    _output: Lines<BufReader<ChildStdout>>,
}

impl Replica {
    /// Starts replica `id`, registering under `register` if given; returns once it serves
    /// (and is registered).
    async fn start(id: &str, register: Option<&str>) -> Result<Replica, Box<dyn Error>> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .env(REPLICA, id)
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if let Some(register) = register {
            command.env(REGISTER, register);
        }
        let mut child = command.spawn()?;
        let mut output = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let first = output.next_line().await?.ok_or("the replica exited")?;
        let addr = first
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected output {first:?}"))?
            .to_owned();
        if register.is_some() {
            let registered = output.next_line().await?.ok_or("the replica exited")?;
            if !registered.starts_with("registered in etcd as ") {
                return Err(format!("{id} did not register: {registered:?}").into());
            }
        }
        Ok(Replica {
            id: id.to_owned(),
            addr,
            child,
            _output: output,
        })
    }

    /// SIGTERM: a graceful shutdown, waited for.
    async fn terminate(mut self) -> Result<(), Box<dyn Error>> {
        signal(&self.child, "-TERM").await?;
        self.child.wait().await?;
        Ok(())
    }

    /// SIGKILL: no goodbye.
    async fn kill(mut self) -> Result<(), Box<dyn Error>> {
        self.child.kill().await?;
        Ok(())
    }
}

async fn signal(child: &Child, signal: &str) -> Result<(), Box<dyn Error>> {
    let pid = child.id().ok_or("already exited")?.to_string();
    Command::new("kill").args([signal, &pid]).status().await?;
    Ok(())
}
