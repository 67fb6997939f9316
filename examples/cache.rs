//! The cache service from "gRPC: From Tutorial to Production": `Store` and `Get` keys, `Dump`
//! every item as a stream; multi-tenant, with accounts whose key limits `Store` checks by
//! calling the `Accounts` service over gRPC, passing its own deadline on.
//!
//! `cargo run --example cache` runs a demo; `serve ADDR [--account TOKEN=MAX_KEYS]...` serves
//! both services (default accounts: `inconshreveable=1000`, `small=2`); `proto` prints the
//! `.proto`; `service-config` prints the gRPC service config (JSON) with the retry policy the
//! trait implies, for other languages' clients; `call TARGET [--ca FILE] [--cert FILE --key
//! FILE] get KEY` and `call TARGET [...] store KEY VALUE [--token TOKEN]` make one call (`get`
//! prints the value, `store` prints `stored`; a failure prints `CODE_NAME: MESSAGE` on stderr
//! and exits 1, a usage error exits 2). Every call is logged on stderr by an interceptor (`method=... duration=...
//! status=CODE`), on the server and in the demo's client. The article's limits, when asked:
//! `--rate-limit RATE/BURST` (or `off`) on the `rpc.Cache` service, `--max-connections N`,
//! `--max-streams N`; without them the cache serves unlimited. `--metrics ADDR2` serves
//! `GET /metrics` on ADDR2 in Prometheus text format: gRFC A66's per-method metrics, named as
//! OpenTelemetry's Prometheus exporter renders them.

#[path = "common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use protoless::error_details::ErrorInfo;
use protoless::health::HealthReporter;
use protoless::{
    stream, CallInfo, Channel, Code, Context, Interceptor, Message, MetadataMap, Outcome,
    RateLimit, Server, Status, Stream, Telemetry, Web,
};

/// Stores a value under a key.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct StoreReq {
    /// The key.
    pub key: String,
    /// The value.
    pub val: Vec<u8>,
    /// The account the key counts against.
    pub account_token: String,
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

/// Asks for the account a token belongs to.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct GetByTokenReq {
    /// The account's token.
    pub token: String,
}

/// An account.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct Account {
    /// How many keys the account may store.
    pub max_cache_keys: i64,
}

/// The account a token belongs to.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct GetByTokenResp {
    /// The account.
    pub account: Account,
}

/// A key-value cache.
#[protoless::service(package = "rpc", rich_errors)]
pub trait Cache {
    /// Stores a value, replacing any earlier one. Request metadata `dry-run: 1` makes it check
    /// everything but change nothing.
    async fn store(&self, req: StoreReq, ctx: Context) -> Result<StoreResp, Status>;
    /// Returns the value of a key; NOT_FOUND if it has none.
    #[no_side_effects]
    async fn get(&self, req: GetReq) -> Result<GetResp, Status>;
    /// Streams every item, in key order.
    #[no_side_effects]
    async fn dump(
        &self,
        req: DumpReq,
    ) -> Result<impl Stream<Item = Result<DumpItem, Status>>, Status>;
}

/// The accounts of the cache's tenants.
#[protoless::service(package = "rpc")]
pub trait Accounts {
    /// The account of a token; UNAUTHENTICATED for an unknown or empty one.
    #[no_side_effects]
    async fn get_by_token(&self, req: GetByTokenReq) -> Result<GetByTokenResp, Status>;
}

/// The accounts, from `--account` flags.
pub struct AccountsService {
    max_keys: HashMap<String, i64>,
}

impl AccountsService {
    /// Accounts from `TOKEN=MAX_KEYS` pairs; without any, the defaults.
    pub fn new(accounts: &[(String, i64)]) -> Self {
        let max_keys = if accounts.is_empty() {
            [
                ("inconshreveable".to_owned(), 1000),
                ("small".to_owned(), 2),
            ]
            .into()
        } else {
            accounts.iter().cloned().collect()
        };
        AccountsService { max_keys }
    }
}

impl Accounts for AccountsService {
    async fn get_by_token(&self, req: GetByTokenReq) -> Result<GetByTokenResp, Status> {
        match self.max_keys.get(&req.token) {
            Some(&max_cache_keys) if !req.token.is_empty() => Ok(GetByTokenResp {
                account: Account { max_cache_keys },
            }),
            _ => Err(Status::unauthenticated("unknown account token")),
        }
    }
}

/// The cache's contents, shared by every call.
struct Contents {
    items: BTreeMap<String, Vec<u8>>,
    /// Which keys each account has stored, for its limit.
    keys_by_account: HashMap<String, HashSet<String>>,
}

/// The cache, which asks `Accounts` (over gRPC) for each store's limit.
pub struct CacheService {
    contents: Arc<RwLock<Contents>>,
    accounts: AccountsClient,
}

impl CacheService {
    /// A cache whose `Store` asks the `Accounts` service through `accounts`.
    pub fn new(accounts: AccountsClient) -> Self {
        CacheService {
            contents: Arc::new(RwLock::new(Contents {
                items: BTreeMap::new(),
                keys_by_account: HashMap::new(),
            })),
            accounts,
        }
    }
}

fn poisoned<T>(_: T) -> Status {
    Status::internal("cache lock poisoned")
}

impl Cache for CacheService {
    async fn store(&self, req: StoreReq, ctx: Context) -> Result<StoreResp, Status> {
        // A real gRPC call; it inherits this call's deadline.
        let account = self
            .accounts
            .get_by_token(GetByTokenReq {
                token: req.account_token.clone(),
            })
            .await?
            .account;
        let dry_run = ctx.metadata().get("dry-run") == Some("1");
        let mut contents = self.contents.write().map_err(poisoned)?;
        let keys = contents
            .keys_by_account
            .entry(req.account_token)
            .or_default();
        if !keys.contains(&req.key) && keys.len() as i64 >= account.max_cache_keys {
            return Err(Status::failed_precondition(format!(
                "the account already stores its maximum of {} keys",
                account.max_cache_keys
            ))
            .with_detail(ErrorInfo {
                reason: "KEY_LIMIT_EXCEEDED".to_owned(),
                domain: "cache".to_owned(),
                metadata: [(
                    "max_cache_keys".to_owned(),
                    account.max_cache_keys.to_string(),
                )]
                .into(),
            }));
        }
        if dry_run {
            let _ = ctx.insert_trailer("dry-run", "1");
            return Ok(StoreResp {});
        }
        keys.insert(req.key.clone());
        contents.items.insert(req.key, req.val);
        Ok(StoreResp {})
    }

    async fn get(&self, req: GetReq) -> Result<GetResp, Status> {
        let contents = self.contents.read().map_err(poisoned)?;
        match contents.items.get(&req.key) {
            Some(val) => Ok(GetResp { val: val.clone() }),
            None => Err(Status::not_found(format!("Key not found {}", req.key))),
        }
    }

    async fn dump(
        &self,
        _req: DumpReq,
    ) -> Result<impl Stream<Item = Result<DumpItem, Status>>, Status> {
        let contents = self.contents.clone();
        // One item at a time: the lock is held only to find the next key, never across a send,
        // and the store is never copied whole.
        Ok(stream::generate(move |mut out| async move {
            let mut after: Option<String> = None;
            loop {
                let next = {
                    let contents = contents.read().map_err(poisoned)?;
                    let lower = after.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
                    contents
                        .items
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

/// Logs every call on stderr when it ends: `SIDE method=PATH duration=D status=CODE`, as the
/// article's timing interceptors do.
pub struct CallLog;

impl Interceptor for CallLog {
    fn end(&self, call: &CallInfo, outcome: &mut Outcome) {
        let side = match call.side() {
            protoless::Side::Server => "server",
            protoless::Side::Client => "client",
        };
        eprintln!(
            "{side} method={} duration={:?} status={}",
            call.method().path,
            call.elapsed(),
            outcome.code().name()
        );
    }
}

/// Serves `GET /metrics` on `addr` in Prometheus text format: the `metrics` facade's records,
/// with A66's bucket boundaries for durations, and names as OpenTelemetry's Prometheus
/// exporter writes them (`grpc.server.call.started` becomes
/// `grpc_server_call_started_total`, `grpc.server.call.duration` becomes
/// `grpc_server_call_duration_seconds`, a size `..._bytes`).
fn serve_metrics(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let addr: std::net::SocketAddr = addr.parse()?;
    let (recorder, exporter) = PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            Matcher::Suffix("duration_seconds".to_owned()),
            protoless::LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Suffix("message_size_bytes".to_owned()),
            protoless::SIZE_BUCKETS,
        )?
        .build()?;
    metrics::set_global_recorder(OpenTelemetryNames(recorder))?;
    tokio::spawn(exporter);
    Ok(())
}

/// Renames A66's metrics as OpenTelemetry's Prometheus exporter does: counters end in
/// `_total`, durations in `_seconds`, sizes in `_bytes` (the exporter then writes `.` as `_`).
struct OpenTelemetryNames<R>(R);

fn renamed(key: &metrics::Key, suffix: &str) -> metrics::Key {
    let labels: Vec<metrics::Label> = key.labels().cloned().collect();
    metrics::Key::from_parts(format!("{}{suffix}", key.name()), labels)
}

fn histogram_suffix(name: &str) -> &'static str {
    if name.ends_with(".duration") {
        "_seconds"
    } else if name.ends_with("message_size") {
        "_bytes"
    } else {
        ""
    }
}

impl<R: metrics::Recorder> metrics::Recorder for OpenTelemetryNames<R> {
    fn describe_counter(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        description: metrics::SharedString,
    ) {
        let name = format!("{}_total", key.as_str());
        self.0.describe_counter(name.into(), unit, description);
    }

    fn describe_gauge(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        description: metrics::SharedString,
    ) {
        self.0.describe_gauge(key, unit, description);
    }

    fn describe_histogram(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        description: metrics::SharedString,
    ) {
        let name = format!("{}{}", key.as_str(), histogram_suffix(key.as_str()));
        self.0.describe_histogram(name.into(), unit, description);
    }

    fn register_counter(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Counter {
        self.0.register_counter(&renamed(key, "_total"), metadata)
    }

    fn register_gauge(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Gauge {
        self.0.register_gauge(key, metadata)
    }

    fn register_histogram(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        let suffix = histogram_suffix(key.name());
        self.0.register_histogram(&renamed(key, suffix), metadata)
    }
}

/// The article's limits, each optional: the `rpc.Cache` service's rate, connections, and
/// concurrent calls per connection.
#[derive(Debug, Default, Clone, Copy)]
pub struct Limits {
    /// Calls a second and burst, for `rpc.Cache`.
    pub rate: Option<(u32, u32)>,
    /// Connections at once.
    pub max_connections: Option<usize>,
    /// Concurrent calls per connection (HTTP/2 streams).
    pub max_streams: Option<u32>,
}

impl Limits {
    /// `server` with these limits.
    pub fn apply(self, mut server: Server) -> Server {
        if let Some((rate, burst)) = self.rate {
            server = server.interceptor(RateLimit::new(rate, burst).service("rpc.Cache"));
        }
        if let Some(connections) = self.max_connections {
            server = server.max_connections(connections);
        }
        if let Some(streams) = self.max_streams {
            server = server.max_concurrent_streams(streams);
        }
        server
    }

    /// The limits `--rate-limit RATE/BURST|off`, `--max-connections N` and `--max-streams N`
    /// ask for.
    fn from_options(options: &[(String, String)]) -> Result<Limits, String> {
        let number = |name: &str, value: &str| -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{name} {value:?} is not a number"))
        };
        let mut limits = Limits::default();
        for (name, value) in options {
            match name.as_str() {
                "--rate-limit" if value == "off" => limits.rate = None,
                "--rate-limit" => {
                    let (rate, burst) = value
                        .split_once('/')
                        .ok_or_else(|| format!("--rate-limit {value:?}: expected RATE/BURST"))?;
                    let rate = number(name, rate)? as u32;
                    let burst = number(name, burst)? as u32;
                    limits.rate = Some((rate, burst));
                }
                "--max-connections" => limits.max_connections = Some(number(name, value)? as usize),
                "--max-streams" => limits.max_streams = Some(number(name, value)? as u32),
                _ => {}
            }
        }
        Ok(limits)
    }
}

/// Both services on one server. The cache's own calls to `Accounts` go through a server of
/// their own in this process (`Channel::in_process`): still real gRPC calls, with deadlines and
/// metadata, but independent of the public listener's transport and client-certificate policy.
pub fn server(accounts: &[(String, i64)]) -> Server {
    let private =
        Server::builder().add_service(AccountsServer::new(AccountsService::new(accounts)));
    let channel = Channel::in_process(private);
    // Native gRPC, gRPC-Web and Connect on one port; browsers from any origin may call it (a
    // demo setting: a real service lists its pages' origins with `Web::allow_origin`).
    Server::builder()
        .web(Web::new().allow_any_origin())
        .health(HealthReporter::new())
        .reflection()
        .interceptor(CallLog)
        .interceptor(Telemetry)
        .add_service(CacheServer::new(CacheService::new(AccountsClient::new(
            channel,
        ))))
        .add_service(AccountsServer::new(AccountsService::new(accounts)))
}

/// Parses `--account TOKEN=MAX_KEYS` values.
fn accounts(options: &[(String, String)]) -> Result<Vec<(String, i64)>, String> {
    options
        .iter()
        .filter(|(name, _)| name == "--account")
        .map(|(_, value)| {
            let (token, max) = value
                .split_once('=')
                .ok_or_else(|| format!("--account takes TOKEN=MAX_KEYS, got {value:?}"))?;
            let max = max
                .parse()
                .map_err(|_| format!("MAX_KEYS in --account {value:?} is not a number"))?;
            Ok((token.to_owned(), max))
        })
        .collect()
}

/// The `.proto` file of package `rpc`: both services. (An export into a folder adds the
/// google.rpc files the rich errors use beside it.)
pub fn proto() -> Result<String, protoless::schema::SchemaError> {
    let mut files =
        protoless::schema::render_packages([CacheServer::schema(), AccountsServer::schema()])?;
    Ok(files
        .remove(&protoless::schema::file_name("rpc"))
        .expect("package rpc's file"))
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let running = common::Background::start(server(&[])).await?;
    println!("Cache and Accounts serving on {}", running.addr);
    let channel = Channel::connect(&running.url())
        .await?
        .with_interceptor(CallLog);
    let client = CacheClient::new(channel);
    let store = |key: &str, token: &str| StoreReq {
        key: key.to_owned(),
        val: format!("value of {key}").into_bytes(),
        account_token: token.to_owned(),
    };
    for key in ["gopher", "crab"] {
        client.store(store(key, "small")).await?;
        println!("Store({key:?}) for account \"small\"");
    }
    let limited = client.store(store("snake", "small")).await.unwrap_err();
    let info: ErrorInfo = limited.detail().ok_or("the error carries no ErrorInfo")?;
    println!(
        "Store(\"snake\") failed: {limited}; reason {} in domain {}",
        info.reason, info.domain
    );
    let unknown = client.store(store("kiwi", "nobody")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    println!("Store for an unknown account failed: {unknown}");

    let mut dry_run = MetadataMap::new();
    dry_run.insert("dry-run", "1")?;
    let checked = client
        .store(store("mole", "inconshreveable"))
        .metadata(dry_run)
        .timeout(Duration::from_secs(1))
        .into_response()
        .await?;
    println!("dry run: trailers {:?}", checked.trailers);
    let missing = client
        .get(GetReq {
            key: "mole".to_owned(),
        })
        .await
        .unwrap_err();
    println!("Get(\"mole\") after the dry run: {missing}");

    let got = client
        .get(GetReq {
            key: "crab".to_owned(),
        })
        .await?;
    println!("Get(\"crab\") -> {:?}", String::from_utf8_lossy(&got.val));
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

/// What `cache call` was asked to do.
enum Verb {
    Get {
        key: String,
    },
    Store {
        key: String,
        value: String,
        token: String,
    },
}

/// Parses `call TARGET [--ca FILE] [--cert FILE --key FILE] get KEY` or `... store KEY VALUE
/// [--token TOKEN]` (options before or after the verb), or says what is wrong with it.
fn call_args(args: &[String]) -> Result<(String, Option<protoless::ClientTls>, Verb), String> {
    let [target, rest @ ..] = args else {
        return Err("call needs a TARGET".to_owned());
    };
    let mut options = Vec::new();
    let mut words = Vec::new();
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        if let Some(name) = ["--ca", "--cert", "--key", "--token"]
            .into_iter()
            .find(|name| name == arg)
        {
            let value = rest.next().ok_or_else(|| format!("{name} needs a value"))?;
            options.push((name.to_owned(), value.clone()));
        } else if arg.starts_with("--") {
            return Err(format!("unknown option {arg}"));
        } else {
            words.push(arg.as_str());
        }
    }
    let option = |name| common::option(&options, name);
    let verb = match words[..] {
        ["get", key] => Verb::Get {
            key: key.to_owned(),
        },
        ["store", key, value] => Verb::Store {
            key: key.to_owned(),
            value: value.to_owned(),
            token: option("--token").unwrap_or("inconshreveable").to_owned(),
        },
        _ => return Err("call needs `get KEY` or `store KEY VALUE`".to_owned()),
    };
    let tls = common::client_tls(option("--ca"), option("--cert"), option("--key"))
        .map_err(|error| error.to_string())?;
    Ok((target.clone(), tls, verb))
}

/// `cache call`: one call with the default retry policy (Get retries UNAVAILABLE, Store never
/// runs twice); whether it succeeded.
async fn call(target: &str, tls: Option<protoless::ClientTls>, verb: Verb) -> bool {
    let Ok(channel) = common::call_channel(target, tls, None) else {
        return false;
    };
    let client = CacheClient::new(channel);
    let result = match verb {
        Verb::Get { key } => client.get(GetReq { key }).await.map(|resp| {
            println!("{}", String::from_utf8_lossy(&resp.val));
        }),
        Verb::Store { key, value, token } => client
            .store(StoreReq {
                key,
                val: value.into_bytes(),
                account_token: token,
            })
            .await
            .map(|_| println!("stored")),
    };
    result.inspect_err(common::report).is_ok()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("call") => {
            let (target, tls, verb) = call_args(&args[1..]).unwrap_or_else(|problem| {
                eprintln!(
                    "{problem}\nusage: cache call TARGET [--ca FILE] [--cert FILE --key FILE] \
                     get KEY | store KEY VALUE [--token TOKEN]"
                );
                std::process::exit(2);
            });
            std::process::exit(if call(&target, tls, verb).await { 0 } else { 1 });
        }
        Some("service-config") if args.len() == 1 => {
            print!(
                "{}",
                protoless::service_config(&[CacheServer::schema(), AccountsServer::schema()])
            );
            return Ok(());
        }
        _ => {}
    }
    let options = [
        "--account",
        "--rate-limit",
        "--max-connections",
        "--max-streams",
        "--metrics",
    ];
    match common::mode(&options) {
        common::Mode::Demo => demo().await,
        common::Mode::Serve(addr, options) => {
            let accounts = accounts(&options)?;
            let limits = Limits::from_options(&options)?;
            if let Some(metrics) = common::option(&options, "--metrics") {
                serve_metrics(metrics)?;
            }
            common::serve(limits.apply(server(&accounts)), &addr, &options).await
        }
        common::Mode::Proto => {
            print!("{}", proto()?);
            Ok(())
        }
    }
}
