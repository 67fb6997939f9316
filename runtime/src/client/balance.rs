//! Load balancing: which of a channel's connections each call goes to.
//!
//! A channel resolves its target into addresses (see [`resolve`](crate::resolve)), keeps a
//! subchannel (a connection, with gRPC's connectivity states and reconnect backoff) to each,
//! and asks a [`Picker`] which ready one each call attempt uses. Three come with protoless:
//!
//! | picker | connects to | sends each call to |
//! | --- | --- | --- |
//! | [`PickFirst`] (the default, as in gRPC) | the first address that accepts, in order | that one |
//! | [`RoundRobin`] | every address | the next ready one in turn (gRFC A61/A62's `round_robin`) |
//! | [`LeastRequest`] | every address | the less loaded of two ready ones chosen at random |
//!
//! ```no_run
//! # async fn run() -> Result<(), protoless::Status> {
//! use protoless::balance::RoundRobin;
//! use protoless::Channel;
//!
//! let channel = Channel::builder("ipv4:127.0.0.1:50051,127.0.0.1:50052")
//!     .picker(RoundRobin::default())
//!     .lazy()?;
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

pub use super::subchannel::ConnectivityState;
use super::subchannel::{Connector, Load, Subchannel};
use crate::resolve::{Resolver, ResolverUpdates};
use crate::transport::{Address, Resolution, Target};
use crate::Status;

/// Chooses the connection each call attempt goes to, among the ready ones.
///
/// Implement it to balance by your own rule; the channel calls [`pick`](Self::pick) once per
/// attempt, so keep it quick and lock-free.
///
/// ```
/// use protoless::balance::{Endpoint, Picker};
///
/// /// Every call to the ready endpoint with the fewest calls in flight.
/// struct Fewest;
///
/// impl Picker for Fewest {
///     fn pick(&self, ready: &[Endpoint]) -> usize {
///         (0..ready.len()).min_by_key(|&i| ready[i].outstanding()).unwrap_or(0)
///     }
/// }
/// ```
pub trait Picker: Send + Sync + 'static {
    /// The index in `ready` (never empty, in the resolver's order) of the endpoint the next
    /// attempt goes to. An index out of range counts modulo the length.
    fn pick(&self, ready: &[Endpoint]) -> usize;

    /// Whether the channel keeps a connection to every address (`true`, the default), or
    /// connects to one at a time, in order, until one accepts (`false`, as `pick_first`).
    fn connects_to_all(&self) -> bool {
        true
    }
}

impl<P: Picker + ?Sized> Picker for Arc<P> {
    fn pick(&self, ready: &[Endpoint]) -> usize {
        (**self).pick(ready)
    }

    fn connects_to_all(&self) -> bool {
        (**self).connects_to_all()
    }
}

/// A ready connection, as a [`Picker`] sees it.
#[derive(Clone)]
pub struct Endpoint {
    subchannel: Arc<Subchannel>,
    sender: SendRequest<Bytes>,
    generation: u64,
}

impl Endpoint {
    /// The address, as the resolver reported it (`HOST:PORT`).
    pub fn address(&self) -> String {
        self.subchannel.address.to_string()
    }

    /// Calls started on this endpoint that have not ended yet.
    pub fn outstanding(&self) -> usize {
        self.subchannel.outstanding.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("address", &self.subchannel.address)
            .field("outstanding", &self.outstanding())
            .finish()
    }
}

/// gRPC's default: connect to the addresses in order until one accepts, and send every call
/// there (gRFC A62). When that connection ends, the channel starts over from the first.
#[derive(Clone, Copy, Debug, Default)]
pub struct PickFirst;

impl Picker for PickFirst {
    fn pick(&self, _ready: &[Endpoint]) -> usize {
        0
    }

    fn connects_to_all(&self) -> bool {
        false
    }
}

/// A connection to every address, and calls to the ready ones in turn, starting at a random
/// one (gRFC A61's `round_robin`).
#[derive(Debug)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl Default for RoundRobin {
    fn default() -> RoundRobin {
        RoundRobin {
            next: AtomicUsize::new(random() as usize),
        }
    }
}

impl Picker for RoundRobin {
    fn pick(&self, ready: &[Endpoint]) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % ready.len()
    }
}

/// A connection to every address, and each call to the one with fewer calls in flight of two
/// different ready ones chosen at random ("the power of two choices", as gRFC A48's
/// `least_request`):
/// unlike [`RoundRobin`], it sends less to a replica that answers slowly.
#[derive(Debug)]
pub struct LeastRequest {
    state: AtomicU64,
}

impl Default for LeastRequest {
    fn default() -> LeastRequest {
        LeastRequest {
            state: AtomicU64::new(random() | 1),
        }
    }
}

impl Picker for LeastRequest {
    fn pick(&self, ready: &[Endpoint]) -> usize {
        if ready.len() == 1 {
            return 0;
        }
        // xorshift64: cheap, and random enough to choose between replicas.
        let mut x = self.state.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state.store(x, Ordering::Relaxed);
        // Two different endpoints: with two, both are compared every time.
        let len = ready.len() as u64;
        let first = (x % len) as usize;
        let second = (first + 1 + ((x >> 32) % (len - 1)) as usize) % ready.len();
        if ready[second].outstanding() < ready[first].outstanding() {
            second
        } else {
            first
        }
    }
}

/// The picker named as in gRPC's service config: `pick_first`, `round_robin` or
/// `least_request`.
///
/// ```
/// assert!(protoless::balance::by_name("round_robin").is_some());
/// assert!(protoless::balance::by_name("random").is_none());
/// ```
pub fn by_name(name: &str) -> Option<Arc<dyn Picker>> {
    match name {
        "pick_first" => Some(Arc::new(PickFirst)),
        "round_robin" => Some(Arc::new(RoundRobin::default())),
        "least_request" => Some(Arc::new(LeastRequest::default())),
        _ => None,
    }
}

fn random() -> u64 {
    (super::retry::random_fraction() * (1u64 << 53) as f64) as u64
}

/// Where one call attempt goes: a ready connection, picked.
pub(crate) struct Picked {
    pub(crate) subchannel: Arc<Subchannel>,
    pub(crate) sender: SendRequest<Bytes>,
    pub(crate) generation: u64,
}

impl Picked {
    /// The connection failed before the request left: the subchannel reconnects.
    pub(crate) fn lost(&self) {
        self.subchannel.lost(self.generation);
    }

    /// Counts the call on its subchannel until the guard drops.
    pub(crate) fn load(&self) -> Load {
        self.subchannel.load()
    }
}

/// What calls see of a channel's connections at one moment: rebuilt on every change.
struct Snapshot {
    ready: Vec<Endpoint>,
    state: ConnectivityState,
    /// Why calls fail now, in transient failure.
    failure: Option<Status>,
}

/// The subchannels of one channel, its resolver and its picker.
pub(crate) struct Balancer {
    me: Weak<Balancer>,
    picker: Arc<dyn Picker>,
    connector: Arc<Connector>,
    target: Target,
    /// Connections kept to each address.
    per_address: usize,
    subchannels: Mutex<Vec<Arc<Subchannel>>>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Serialises snapshot rebuilds, so that an older one never replaces a newer.
    refreshing: Mutex<()>,
    /// Woken on every new snapshot.
    changed: Notify,
    /// Set by the first call: resolution and connections start then.
    active: AtomicBool,
    /// The runtime of the first call, where connections are made.
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// Calls waiting for a ready connection.
    waiting: AtomicUsize,
    resolver: Mutex<ResolverState>,
}

#[derive(Default)]
struct ResolverState {
    /// The resolver's task, aborted when the channel goes.
    task: Option<AbortHandle>,
    /// Whether the resolver has reported anything yet.
    reported: bool,
    /// The resolver's last failure, while it has no addresses.
    failure: Option<Status>,
    /// Woken when a connection fails or ends, so that the resolver looks again.
    re_resolve: Arc<Notify>,
}

impl Balancer {
    pub(crate) fn new(
        target: Target,
        connector: Connector,
        picker: Arc<dyn Picker>,
        per_address: usize,
    ) -> Arc<Balancer> {
        Arc::new_cyclic(|me| Balancer {
            me: me.clone(),
            picker,
            connector: Arc::new(connector),
            target,
            per_address: per_address.max(1),
            subchannels: Mutex::new(Vec::new()),
            snapshot: RwLock::new(Arc::new(Snapshot {
                ready: Vec::new(),
                state: ConnectivityState::Idle,
                failure: None,
            })),
            refreshing: Mutex::new(()),
            changed: Notify::new(),
            active: AtomicBool::new(false),
            runtime: std::sync::OnceLock::new(),
            waiting: AtomicUsize::new(0),
            resolver: Mutex::new(ResolverState::default()),
        })
    }

    /// A ready connection for the next attempt, as the picker chooses; waits while the
    /// channel is idle or connecting (and, with `wait_for_ready`, in transient failure).
    pub(crate) async fn pick(&self, wait_for_ready: bool) -> Result<Picked, Status> {
        if let Some(picked) = self.pick_now() {
            return Ok(picked);
        }
        // A call waits: pick_first connects on demand.
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiting);
        self.activate();
        self.refresh();
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(picked) = self.pick_now() {
                return Ok(picked);
            }
            let snapshot = self.snapshot();
            if snapshot.state == ConnectivityState::TransientFailure && !wait_for_ready {
                return Err(snapshot.failure.clone().unwrap_or_else(|| {
                    Status::unavailable(format!("no server of {} is reachable", self.target))
                }));
            }
            changed.await;
        }
    }

    fn pick_now(&self) -> Option<Picked> {
        let snapshot = read(&self.snapshot);
        if snapshot.ready.is_empty() {
            return None;
        }
        let endpoint = &snapshot.ready[self.picker.pick(&snapshot.ready) % snapshot.ready.len()];
        Some(Picked {
            subchannel: endpoint.subchannel.clone(),
            sender: endpoint.sender.clone(),
            generation: endpoint.generation,
        })
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        read(&self.snapshot).clone()
    }

    /// The channel's connectivity state: ready if any subchannel is, else connecting if any
    /// is, else idle if any is, else transient failure.
    pub(crate) fn state(&self) -> ConnectivityState {
        self.snapshot().state
    }

    /// Every address the resolver reported, with its subchannel's state.
    pub(crate) fn endpoints(&self) -> Vec<(String, ConnectivityState)> {
        lock(&self.subchannels)
            .iter()
            .map(|subchannel| (subchannel.address.to_string(), subchannel.state()))
            .collect()
    }

    /// Starts resolving (and, through the picker, connecting), once.
    fn activate(&self) {
        if self.active.swap(true, Ordering::AcqRel) {
            return;
        }
        // Calls run on a runtime; resolvers may report from any thread, so connections are
        // spawned on this one.
        let _ = self.runtime.set(tokio::runtime::Handle::current());
        match &self.target.resolution {
            Resolution::Fixed(addresses) => self.set_addresses(addresses.clone()),
            resolution => {
                let resolver: Arc<dyn Resolver> = match resolution {
                    Resolution::Custom(resolver) => resolver.clone(),
                    Resolution::Dns { server, host, port } => {
                        Arc::new(crate::resolve::Dns::new(host.clone(), *port, *server))
                    }
                    Resolution::Etcd { endpoint, prefix } => Arc::new(
                        crate::etcd::EtcdResolver::new(endpoint.clone(), prefix.clone()),
                    ),
                    Resolution::Fixed(_) => unreachable!("handled above"),
                };
                // Not under the lock: a resolver may report before its future even starts.
                let re_resolve = lock(&self.resolver).re_resolve.clone();
                let resolving = resolver.resolve(ResolverUpdates::new(self.me.clone(), re_resolve));
                let task = tokio::spawn(resolving);
                lock(&self.resolver).task = Some(task.abort_handle());
                self.refresh();
            }
        }
    }

    /// Tries every address once: connects each idle subchannel and waits until none is idle
    /// or connecting (after the resolver's first report).
    pub(crate) async fn try_every_address(&self) {
        self.activate();
        loop {
            let subchannels = lock(&self.subchannels).clone();
            let mut connecting = false;
            for subchannel in &subchannels {
                if subchannel.state() == ConnectivityState::Idle {
                    self.connect(subchannel);
                    connecting = true;
                }
            }
            if connecting {
                self.refresh();
            }
            // Registered before looking, so that no change between the two is missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let reported = lock(&self.resolver).reported;
            let subchannels = lock(&self.subchannels).clone();
            let tried = subchannels.iter().all(|subchannel| {
                !matches!(
                    subchannel.state(),
                    ConnectivityState::Idle | ConnectivityState::Connecting
                )
            });
            if reported && tried {
                return;
            }
            changed.await;
        }
    }

    /// Starts connecting `subchannel`, if idle, on the channel's runtime.
    fn connect(&self, subchannel: &Arc<Subchannel>) {
        if let Some(runtime) = self.runtime.get() {
            subchannel.connect(self.connector.clone(), runtime);
        }
    }

    /// The resolver's new list of addresses: keeps the subchannels of addresses still listed,
    /// adds the new ones and drops the rest.
    pub(crate) fn set_addresses(&self, mut addresses: Vec<Address>) {
        let mut seen = Vec::with_capacity(addresses.len());
        addresses.retain(|address| {
            let new = !seen.contains(address);
            seen.push(address.clone());
            new
        });
        {
            let mut subchannels = lock(&self.subchannels);
            let mut next = Vec::with_capacity(addresses.len() * self.per_address);
            for address in addresses {
                for slot in 0..self.per_address {
                    let existing = subchannels
                        .iter()
                        .find(|s| s.address == address && s.slot == slot);
                    match existing {
                        Some(existing) => next.push(existing.clone()),
                        None => {
                            let authority = match &self.target.authority {
                                Some(authority) => authority.clone(),
                                None => address.authority(),
                            };
                            let subchannel =
                                Subchannel::new(address.clone(), slot, authority, self.me.clone());
                            next.push(subchannel);
                        }
                    }
                }
            }
            for gone in subchannels.iter() {
                if !next.iter().any(|kept| Arc::ptr_eq(kept, gone)) {
                    gone.shut_down();
                }
            }
            *subchannels = next;
            let mut resolver = lock(&self.resolver);
            resolver.reported = true;
            resolver.failure = None;
        }
        self.refresh();
    }

    /// The resolver failed: calls fail with `status` while there are no addresses.
    pub(crate) fn resolution_failed(&self, status: Status) {
        {
            let mut resolver = lock(&self.resolver);
            resolver.reported = true;
            resolver.failure = Some(status);
        }
        self.refresh();
    }

    /// Asks the resolver to look again (a connection failed or ended).
    pub(crate) fn re_resolve(&self) {
        lock(&self.resolver).re_resolve.notify_one();
    }

    /// Connects what the picker wants connected, and publishes a new snapshot.
    pub(crate) fn refresh(&self) {
        let _refreshing = lock(&self.refreshing);
        let subchannels = lock(&self.subchannels).clone();
        if self.active.load(Ordering::Acquire) {
            if self.picker.connects_to_all() {
                for subchannel in &subchannels {
                    self.connect(subchannel);
                }
            } else if self.waiting.load(Ordering::Acquire) > 0
                && !subchannels.iter().any(|subchannel| {
                    matches!(
                        subchannel.state(),
                        ConnectivityState::Ready | ConnectivityState::Connecting
                    )
                })
            {
                if let Some(first_idle) = subchannels
                    .iter()
                    .find(|subchannel| subchannel.state() == ConnectivityState::Idle)
                {
                    self.connect(first_idle);
                }
            }
        }
        let mut ready = Vec::new();
        let mut state = ConnectivityState::TransientFailure;
        let mut failure = None;
        for subchannel in &subchannels {
            let subchannel_state = subchannel.state();
            match subchannel_state {
                ConnectivityState::Ready => {
                    if let Some((sender, generation)) = subchannel.sender() {
                        ready.push(Endpoint {
                            subchannel: subchannel.clone(),
                            sender,
                            generation,
                        });
                    }
                }
                ConnectivityState::TransientFailure => {
                    failure = failure.or_else(|| subchannel.failure());
                }
                _ => {}
            }
            state = better(state, subchannel_state);
        }
        // Sticky transient failure (gRFC A62): while nothing is ready, a channel that was
        // failing keeps failing calls fast, even as its subchannels try again.
        if ready.is_empty()
            && matches!(
                state,
                ConnectivityState::Idle | ConnectivityState::Connecting
            )
        {
            let previous = read(&self.snapshot);
            if previous.state == ConnectivityState::TransientFailure {
                state = ConnectivityState::TransientFailure;
                failure = failure.or_else(|| previous.failure.clone());
            }
        }
        if subchannels.is_empty() {
            let resolver = lock(&self.resolver);
            (state, failure) = match (&resolver.failure, resolver.reported) {
                (Some(status), _) => (ConnectivityState::TransientFailure, Some(status.clone())),
                (None, true) => (
                    ConnectivityState::TransientFailure,
                    Some(Status::unavailable(format!(
                        "{} resolved to no addresses",
                        self.target
                    ))),
                ),
                (None, false) if self.active.load(Ordering::Acquire) => {
                    (ConnectivityState::Connecting, None)
                }
                (None, false) => (ConnectivityState::Idle, None),
            };
        }
        *self
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(Snapshot {
            ready,
            state,
            failure,
        });
        self.changed.notify_waiters();
    }
}

/// Counts a call waiting for a ready connection, while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.resolver).task.take() {
            task.abort();
        }
    }
}

/// The channel's state given one more subchannel's: ready beats connecting beats idle beats
/// transient failure.
fn better(a: ConnectivityState, b: ConnectivityState) -> ConnectivityState {
    let rank = |state| match state {
        ConnectivityState::Ready => 3,
        ConnectivityState::Connecting => 2,
        ConnectivityState::Idle => 1,
        ConnectivityState::TransientFailure => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Locks `mutex`; every update under these locks leaves the data whole, so a panic elsewhere
/// cannot leave it half-written.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}
