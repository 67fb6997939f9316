//! The cache service from "gRPC: From Tutorial to Production": `Store` and `Get` keys, and
//! `Dump` every item as a stream.
//!
//! `cargo run --example cache` runs a demo; `serve ADDR` serves; `proto` prints the `.proto`.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use protoless::{stream, Message, Server, Status, Stream};

/// Stores a value under a key.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct StoreReq {
    /// The key.
    pub key: String,
    /// The value.
    pub val: Vec<u8>,
}

/// The answer to a store.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct StoreResp {}

/// Asks for the value of a key.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct GetReq {
    /// The key.
    pub key: String,
}

/// The value of a key.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct GetResp {
    /// The value.
    pub val: Vec<u8>,
}

/// Asks for every item.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct DumpReq {}

/// One item of the cache.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct DumpItem {
    /// The key.
    pub key: String,
    /// The value.
    pub val: Vec<u8>,
}

/// A key-value cache.
#[protoless::service(package = "rpc")]
pub trait Cache {
    /// Stores a value, replacing any earlier one.
    async fn store(&self, req: StoreReq) -> Result<StoreResp, Status>;
    /// Returns the value of a key; NOT_FOUND if it has none.
    async fn get(&self, req: GetReq) -> Result<GetResp, Status>;
    /// Streams every item, in key order.
    async fn dump(
        &self,
        req: DumpReq,
    ) -> Result<impl Stream<Item = Result<DumpItem, Status>>, Status>;
}

/// The cache's contents, shared by every call.
#[derive(Default)]
struct CacheService {
    items: Arc<RwLock<BTreeMap<String, Vec<u8>>>>,
}

impl Cache for CacheService {
    async fn store(&self, req: StoreReq) -> Result<StoreResp, Status> {
        let mut items = self
            .items
            .write()
            .map_err(|_| Status::internal("cache lock poisoned"))?;
        items.insert(req.key, req.val);
        Ok(StoreResp {})
    }

    async fn get(&self, req: GetReq) -> Result<GetResp, Status> {
        let items = self
            .items
            .read()
            .map_err(|_| Status::internal("cache lock poisoned"))?;
        match items.get(&req.key) {
            Some(val) => Ok(GetResp { val: val.clone() }),
            None => Err(Status::not_found(format!("Key not found {}", req.key))),
        }
    }

    async fn dump(
        &self,
        _req: DumpReq,
    ) -> Result<impl Stream<Item = Result<DumpItem, Status>>, Status> {
        let items = self.items.clone();
        // One item at a time: the lock is held only to find the next key, never across a send,
        // and the store is never copied whole.
        Ok(stream::generate(move |mut out| async move {
            let mut after: Option<String> = None;
            loop {
                let next = {
                    let items = items
                        .read()
                        .map_err(|_| Status::internal("cache lock poisoned"))?;
                    let lower = after.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
                    items
                        .range::<String, _>((lower, Bound::Unbounded))
                        .next()
                        .map(|(key, val)| DumpItem {
                            key: key.clone(),
                            val: val.clone(),
                        })
                };
                let Some(item) = next else {
                    return Ok(());
                };
                after = Some(item.key.clone());
                out.send(item).await;
            }
        }))
    }
}

/// The example's server, ready to serve.
pub fn server() -> Server {
    Server::builder().add_service(CacheServer::new(CacheService::default()))
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let running = common::Background::start(server()).await?;
    println!("Cache serving on {}", running.addr);
    let client = CacheClient::connect(&running.url()).await?;
    for (key, val) in [("gopher", "go"), ("crab", "rust"), ("snake", "python")] {
        client
            .store(StoreReq {
                key: key.to_owned(),
                val: val.as_bytes().to_vec(),
            })
            .await?;
        println!("Store({key:?}, {val:?})");
    }
    let got = client
        .get(GetReq {
            key: "crab".to_owned(),
        })
        .await?;
    println!("Get(\"crab\") -> {:?}", String::from_utf8_lossy(&got.val));
    match client
        .get(GetReq {
            key: "kiwi".to_owned(),
        })
        .await
    {
        Ok(got) => return Err(format!("Get(\"kiwi\") should fail, got {got:?}").into()),
        Err(status) => println!("Get(\"kiwi\") failed: {status}"),
    }
    let mut items = client.dump(DumpReq {}).await?;
    while let Some(item) = items.message().await? {
        println!(
            "Dump -> {:?} = {:?}",
            item.key,
            String::from_utf8_lossy(&item.val)
        );
    }
    running.stop().await?;
    println!("server stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match common::mode() {
        common::Mode::Demo => demo().await,
        common::Mode::Serve(addr) => common::serve(server(), &addr).await,
        common::Mode::Proto => {
            print!("{}", CacheServer::schema().to_proto()?);
            Ok(())
        }
    }
}
