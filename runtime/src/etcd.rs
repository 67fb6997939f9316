//! etcd as a registry of servers: [`Registration`] puts a server's address under a prefix, and
//! `etcd://HOST:PORT/PREFIX` targets find every server registered there and follow their
//! comings and goings through a watch.
//!
//! Keys and values are those etcd's Go naming package (`go.etcd.io/etcd/client/v3/naming`)
//! writes: the key `PREFIX/HOST:PORT`, the value `{"Op":0,"Addr":"HOST:PORT","Metadata":null}`,
//! so grpc-go clients find protoless servers and protoless clients find grpc-go servers. Values
//! without `Op` are read too.
//!
//! protoless speaks etcd's v3 gRPC API itself: `KV`, `Watch` and `Lease` are declared below as
//! protoless traits with etcd's field numbers.
//!
//! ```no_run
//! # async fn run() -> Result<(), protoless::Status> {
//! use protoless::etcd::Registration;
//!
//! // The server side: registered while it serves, with a lease kept alive.
//! let registration = Registration::register("etcd://127.0.0.1:2379/services/greeter", "127.0.0.1:50051").await?;
//! // The client side: every registered replica, calls spread over them.
//! let channel = protoless::Channel::builder("etcd://127.0.0.1:2379/services/greeter")
//!     .picker(protoless::balance::RoundRobin::default())
//!     .lazy()?;
//! // When shutting down, before draining: clients stop sending new calls here.
//! registration.revoke().await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::resolve::{ResolveFuture, Resolver, ResolverUpdates};
use crate::{Channel, Status};

/// How long a registration outlives its server: the lease's time to live.
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// How long the resolver waits before talking to etcd again after a failure.
const RETRY_DELAY: Duration = Duration::from_secs(1);

#[allow(unreachable_pub, missing_docs, dead_code)]
mod api {
    //! The part of etcd's v3 API (`etcdserverpb`, `mvccpb`) that registration and resolution
    //! use, with etcd's own field numbers.

    use protoless_macros::{Enumeration, Message};

    use crate::{Status, Stream, Streaming};

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct ResponseHeader {
        pub cluster_id: u64,
        pub member_id: u64,
        pub revision: i64,
        pub raft_term: u64,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct KeyValue {
        pub key: Vec<u8>,
        pub create_revision: i64,
        pub mod_revision: i64,
        pub version: i64,
        pub value: Vec<u8>,
        pub lease: i64,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct RangeRequest {
        pub key: Vec<u8>,
        pub range_end: Vec<u8>,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct RangeResponse {
        pub header: Option<ResponseHeader>,
        pub kvs: Vec<KeyValue>,
        pub more: bool,
        pub count: i64,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct PutRequest {
        pub key: Vec<u8>,
        pub value: Vec<u8>,
        pub lease: i64,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct PutResponse {
        pub header: Option<ResponseHeader>,
    }

    /// `WatchRequest`, whose `request_union` oneof this client only ever sets to a create.
    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct WatchRequest {
        pub create_request: Option<WatchCreateRequest>,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct WatchCreateRequest {
        pub key: Vec<u8>,
        pub range_end: Vec<u8>,
        pub start_revision: i64,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct WatchResponse {
        pub header: Option<ResponseHeader>,
        pub watch_id: i64,
        pub created: bool,
        pub canceled: bool,
        pub compact_revision: i64,
        pub cancel_reason: String,
        pub fragment: bool,
        #[proto(tag = 11)]
        pub events: Vec<Event>,
    }

    #[derive(Enumeration, Clone, Copy, Debug, PartialEq, Eq)]
    #[proto(crate = "crate", name = "Event.EventType")]
    pub enum EventType {
        #[proto(name = "PUT")]
        Put = 0,
        #[proto(name = "DELETE")]
        Delete = 1,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct Event {
        pub r#type: EventType,
        pub kv: Option<KeyValue>,
        pub prev_kv: Option<KeyValue>,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct LeaseGrantRequest {
        pub ttl: i64,
        pub id: i64,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct LeaseGrantResponse {
        pub header: Option<ResponseHeader>,
        pub id: i64,
        pub ttl: i64,
        pub error: String,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct LeaseRevokeRequest {
        pub id: i64,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct LeaseRevokeResponse {
        pub header: Option<ResponseHeader>,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct LeaseKeepAliveRequest {
        pub id: i64,
    }

    #[derive(Message, Clone, Debug)]
    #[proto(crate = "crate")]
    pub struct LeaseKeepAliveResponse {
        pub header: Option<ResponseHeader>,
        pub id: i64,
        pub ttl: i64,
    }

    #[protoless_macros::service(package = "etcdserverpb", name = "KV", crate = "crate")]
    pub trait Kv {
        async fn range(&self, req: RangeRequest) -> Result<RangeResponse, Status>;
        async fn put(&self, req: PutRequest) -> Result<PutResponse, Status>;
    }

    #[protoless_macros::service(package = "etcdserverpb", crate = "crate")]
    pub trait Watch {
        async fn watch(
            &self,
            reqs: Streaming<WatchRequest>,
        ) -> Result<impl Stream<Item = Result<WatchResponse, Status>> + Send, Status>;
    }

    #[protoless_macros::service(package = "etcdserverpb", crate = "crate")]
    pub trait Lease {
        async fn lease_grant(&self, req: LeaseGrantRequest) -> Result<LeaseGrantResponse, Status>;
        async fn lease_revoke(
            &self,
            req: LeaseRevokeRequest,
        ) -> Result<LeaseRevokeResponse, Status>;
        async fn lease_keep_alive(
            &self,
            reqs: Streaming<LeaseKeepAliveRequest>,
        ) -> Result<impl Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send, Status>;
    }
}

use api::{
    EventType, KvClient, LeaseClient, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest,
    PutRequest, RangeRequest, WatchClient, WatchCreateRequest, WatchRequest,
};

/// `etcd://HOST:PORT/PREFIX` → the etcd endpoint and the prefix.
fn parse_target(target: &str) -> Result<(String, String), Status> {
    match crate::transport::Target::parse(target)?.resolution {
        crate::transport::Resolution::Etcd { endpoint, prefix } => Ok((endpoint, prefix)),
        _ => Err(Status::invalid_argument(format!(
            "{target:?} is not etcd://HOST:PORT/PREFIX"
        ))),
    }
}

/// A channel to the etcd at `endpoint` (`HOST:PORT`), with no proxy.
fn etcd_channel(endpoint: &str) -> Result<Channel, Status> {
    // Keepalive, so that a watch on a connection that died silently ends and starts over
    // (etcd allows a ping every 5 s by default).
    Channel::builder(&format!("http://{endpoint}"))
        .no_proxy()
        .keepalive(Duration::from_secs(10), Duration::from_secs(5))
        .lazy()
}

/// The key under which `address` registers under `prefix`.
fn key(prefix: &str, address: &str) -> String {
    format!("{prefix}/{address}")
}

/// The value etcd's Go naming package writes for `address`.
fn value(address: &str) -> String {
    // In the Go struct's field order, byte for byte what grpc-go writes (serde_json's own
    // objects sort their keys).
    let address = serde_json::Value::from(address);
    format!(r#"{{"Op":0,"Addr":{address},"Metadata":null}}"#)
}

/// The address a registration's value names; `None` for a deletion (`"Op": 1`) or a value
/// that is not a registration.
fn address_of(value: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(value).ok()?;
    if value
        .get("Op")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0)
        != 0
    {
        return None;
    }
    value.get("Addr")?.as_str().map(str::to_owned)
}

/// The end of the range of keys starting with `prefix`: the prefix with its last byte
/// incremented (etcd's `clientv3.GetPrefixRangeEnd`).
fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte 0xff: to the end of the keyspace.
    vec![0]
}

/// A server's entry in etcd, under a lease kept alive in the background until
/// [`revoke`](Self::revoke) (or, when dropped, left to expire within [`LEASE_TTL`]).
#[derive(Debug)]
pub struct Registration {
    channel: Channel,
    key: String,
    lease: std::sync::Arc<std::sync::atomic::AtomicI64>,
    keep_alive: JoinHandle<()>,
}

impl Registration {
    /// Registers `address` (`HOST:PORT`, as clients should dial it) under the prefix of
    /// `target` (`etcd://HOST:PORT/PREFIX`): a lease of [`LEASE_TTL`], the key
    /// `PREFIX/ADDRESS` under it, and a task keeping the lease alive (and registering again
    /// should etcd lose it). Fails with `UNAVAILABLE` when etcd cannot be reached.
    pub async fn register(target: &str, address: &str) -> Result<Registration, Status> {
        let (endpoint, prefix) = parse_target(target)?;
        let channel = etcd_channel(&endpoint)?;
        let entry = Entry {
            channel: channel.clone(),
            key: key(&prefix, address),
            value: value(address),
        };
        let id = entry.put().await?;
        let lease = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(id));
        let key = entry.key.clone();
        let keep_alive = tokio::spawn(entry.keep_alive(lease.clone()));
        Ok(Registration {
            channel,
            key,
            lease,
            keep_alive,
        })
    }

    /// The key registered: `PREFIX/ADDRESS`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Removes the registration now (revoking its lease): for the start of a graceful
    /// shutdown, so that clients stop sending new calls before the server drains.
    pub async fn revoke(self) -> Result<(), Status> {
        self.keep_alive.abort();
        let id = self.lease.load(std::sync::atomic::Ordering::Acquire);
        LeaseClient::new(self.channel.clone())
            .lease_revoke(LeaseRevokeRequest { id })
            .timeout(Duration::from_secs(2))
            .await?;
        Ok(())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.keep_alive.abort();
    }
}

/// One registration's key and value, and the channel to etcd.
struct Entry {
    channel: Channel,
    key: String,
    value: String,
}

impl Entry {
    /// A new lease, and the key under it; the lease's id. Waits up to a few seconds for etcd
    /// to come up (a server and its etcd often start together).
    async fn put(&self) -> Result<i64, Status> {
        let timeout = Duration::from_secs(5);
        let lease = LeaseClient::new(self.channel.clone())
            .lease_grant(LeaseGrantRequest {
                ttl: LEASE_TTL.as_secs() as i64,
                id: 0,
            })
            .timeout(timeout)
            .wait_for_ready()
            .await?;
        if !lease.error.is_empty() {
            return Err(Status::unavailable(format!(
                "etcd refused a lease: {}",
                lease.error
            )));
        }
        KvClient::new(self.channel.clone())
            .put(PutRequest {
                key: self.key.clone().into_bytes(),
                value: self.value.clone().into_bytes(),
                lease: lease.id,
            })
            .timeout(timeout)
            .await?;
        Ok(lease.id)
    }

    /// Keeps the lease alive for ever, renewing it a third of its time to live; when etcd
    /// says it expired (or cannot be reached for longer), registers again under a new one.
    async fn keep_alive(self, lease: std::sync::Arc<std::sync::atomic::AtomicI64>) {
        use std::sync::atomic::Ordering;
        let period = LEASE_TTL / 3;
        loop {
            let id = lease.load(Ordering::Acquire);
            let expired = match self.renew(id, period).await {
                Ok(()) => true,
                Err(status) => {
                    tracing::warn!(key = %self.key, %status, "etcd lease keep-alive failed");
                    tokio::time::sleep(RETRY_DELAY).await;
                    false
                }
            };
            if expired || !self.alive(id).await {
                match self.put().await {
                    Ok(id) => lease.store(id, Ordering::Release),
                    Err(status) => {
                        tracing::warn!(key = %self.key, %status, "etcd registration failed");
                        tokio::time::sleep(RETRY_DELAY).await;
                    }
                }
            }
        }
    }

    /// Renews lease `id` every `period` on one stream: returns `Ok` when etcd says the lease
    /// is gone, `Err` when the stream fails.
    async fn renew(&self, id: i64, period: Duration) -> Result<(), Status> {
        let mut stream = LeaseClient::new(self.channel.clone())
            .lease_keep_alive()
            .await?;
        loop {
            stream.send(LeaseKeepAliveRequest { id }).await?;
            let answer = tokio::time::timeout(LEASE_TTL, stream.message())
                .await
                .map_err(|_| Status::unavailable("etcd did not answer a lease keep-alive"))??;
            match answer {
                Some(answer) if answer.ttl > 0 => tokio::time::sleep(period).await,
                Some(_) => return Ok(()),
                None => return Err(Status::unavailable("etcd ended the keep-alive stream")),
            }
        }
    }

    /// Whether the key is still there under lease `id`, after a failed keep-alive.
    async fn alive(&self, id: i64) -> bool {
        let found = KvClient::new(self.channel.clone())
            .range(RangeRequest {
                key: self.key.clone().into_bytes(),
                range_end: Vec::new(),
            })
            .timeout(Duration::from_secs(2))
            .await;
        // Unknown (etcd unreachable) counts as alive: the keep-alive tries again.
        found.map_or(true, |found| found.kvs.iter().any(|kv| kv.lease == id))
    }
}

/// The resolver behind `etcd://HOST:PORT/PREFIX`: the keys under `PREFIX/`, then a watch from
/// the next revision.
pub(crate) struct EtcdResolver {
    endpoint: String,
    prefix: String,
}

impl EtcdResolver {
    pub(crate) fn new(endpoint: String, prefix: String) -> EtcdResolver {
        EtcdResolver { endpoint, prefix }
    }
}

impl Resolver for EtcdResolver {
    fn resolve(&self, updates: ResolverUpdates) -> ResolveFuture {
        let endpoint = self.endpoint.clone();
        let prefix = format!("{}/", self.prefix);
        Box::pin(async move {
            let channel = match etcd_channel(&endpoint) {
                Ok(channel) => channel,
                Err(status) => return updates.fail(status),
            };
            loop {
                let status = follow(&channel, &prefix, &updates).await;
                if updates.is_closed() {
                    return;
                }
                tracing::warn!(%endpoint, %prefix, %status, "etcd resolution failed");
                updates.fail(Status::unavailable(format!(
                    "resolving etcd://{endpoint}/{prefix}: {}",
                    status.message()
                )));
                tokio::time::sleep(RETRY_DELAY).await;
            }
        })
    }
}

/// Reads the registrations under `prefix`, reports them, and reports every change a watch
/// sees, until something fails.
async fn follow(channel: &Channel, prefix: &str, updates: &ResolverUpdates) -> Status {
    let key = prefix.as_bytes().to_vec();
    let end = range_end(&key);
    let listed = KvClient::new(channel.clone())
        .range(RangeRequest {
            key: key.clone(),
            range_end: end.clone(),
        })
        .timeout(Duration::from_secs(5))
        .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(status) => return status,
    };
    let mut registered: BTreeMap<Vec<u8>, String> = listed
        .kvs
        .into_iter()
        .filter_map(|kv| Some((kv.key, address_of(&kv.value)?)))
        .collect();
    updates.update(registered.values().cloned().collect());
    let revision = listed.header.map_or(0, |header| header.revision);
    let mut watch = match WatchClient::new(channel.clone()).watch().await {
        Ok(watch) => watch,
        Err(status) => return status,
    };
    let create = WatchRequest {
        create_request: Some(WatchCreateRequest {
            key,
            range_end: end,
            start_revision: revision + 1,
        }),
    };
    if let Err(status) = watch.send(create).await {
        return status;
    }
    loop {
        let response = match watch.message().await {
            Ok(Some(response)) => response,
            Ok(None) => return Status::unavailable("etcd ended the watch"),
            Err(status) => return status,
        };
        if response.canceled || response.compact_revision != 0 {
            return Status::unavailable(format!(
                "etcd cancelled the watch: {}",
                response.cancel_reason
            ));
        }
        if response.events.is_empty() {
            continue;
        }
        for event in response.events {
            let Some(kv) = event.kv else { continue };
            match (event.r#type, address_of(&kv.value)) {
                (EventType::Put, Some(address)) => {
                    registered.insert(kv.key, address);
                }
                _ => {
                    registered.remove(&kv.key);
                }
            }
        }
        updates.update(registered.values().cloned().collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_etcds_go_naming_package_writes_and_reads_them() {
        let written = value("127.0.0.1:50051");
        assert_eq!(
            written,
            r#"{"Op":0,"Addr":"127.0.0.1:50051","Metadata":null}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"Op": 0, "Addr": "127.0.0.1:50051", "Metadata": null})
        );
        assert_eq!(
            address_of(written.as_bytes()).as_deref(),
            Some("127.0.0.1:50051")
        );
        assert_eq!(
            address_of(br#"{"Addr":"10.0.0.1:80"}"#).as_deref(),
            Some("10.0.0.1:80"),
            "a value without Op is an addition"
        );
        assert_eq!(address_of(br#"{"Op":1,"Addr":"10.0.0.1:80"}"#), None);
        assert_eq!(address_of(b"10.0.0.1:80"), None);
        assert_eq!(key("services/greeter", "h:1"), "services/greeter/h:1");
    }

    #[test]
    fn prefix_range_ends_as_etcd_computes_them() {
        assert_eq!(range_end(b"svc/"), b"svc0".to_vec());
        assert_eq!(range_end(b"a\xff"), b"b".to_vec());
        assert_eq!(range_end(b"\xff\xff"), vec![0]);
    }
}
