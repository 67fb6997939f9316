//! gRPC's health checking protocol, `grpc.health.v1.Health`: what Kubernetes gRPC probes, load
//! balancers and `grpc_health_probe` ask.
//!
//! One line turns it on: [`Server::health`](crate::Server::health) with a [`HealthReporter`],
//! the handle through which the application reports each service's status at run time.
//!
//! ```no_run
//! use protoless::health::{HealthReporter, ServingStatus};
//! use protoless::Server;
//!
//! # async fn run() -> std::io::Result<()> {
//! let health = HealthReporter::new();
//! let server = Server::builder().health(health.clone());
//! // Later, when a dependency fails:
//! health.set_status("cache.Cache", ServingStatus::NotServing);
//! # server.serve("127.0.0.1:0").await
//! # }
//! ```
//!
//! When the server starts, the whole server (`""`) and every service it serves are `SERVING`,
//! unless the application reported them otherwise first. When a graceful shutdown starts, every
//! service turns `NOT_SERVING` for good: open `Watch` streams receive `NOT_SERVING` and then end
//! with `OK`, so that they never hold the drain. [`Server::pre_stop_delay`](crate::Server::pre_stop_delay)
//! keeps serving for a while after that, so that balancers notice before connections close.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use protoless_macros::{Enumeration, Message};
use tokio::sync::watch;

use crate::stream::{self, Stream};
use crate::Status;

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct HealthCheckRequest {
    /// The service's full name (`package.Service`), or `""` for the whole server.
    pub service: String,
}

/// `grpc.health.v1.HealthCheckResponse.ServingStatus`.
#[derive(Enumeration, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[proto(crate = "crate", name = "HealthCheckResponse.ServingStatus")]
pub enum ServingStatus {
    /// Not known.
    #[proto(name = "UNKNOWN")]
    Unknown = 0,
    /// Serving.
    #[proto(name = "SERVING")]
    Serving = 1,
    /// Not serving: callers should go elsewhere.
    #[proto(name = "NOT_SERVING")]
    NotServing = 2,
    /// Used only by the Watch method: the service is not known to the server.
    #[proto(name = "SERVICE_UNKNOWN")]
    ServiceUnknown = 3,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct HealthCheckResponse {
    /// The service's status.
    pub status: ServingStatus,
}

/// `grpc.health.v1.HealthListRequest`.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct HealthListRequest {}

/// `grpc.health.v1.HealthListResponse`.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate")]
pub struct HealthListResponse {
    /// Every service the server reports a status for, by name.
    pub statuses: BTreeMap<String, HealthCheckResponse>,
}

/// gRPC's health checking service, as `grpc/health/v1/health.proto` declares it.
#[protoless_macros::service(
    package = "grpc.health.v1",
    crate = "crate",
    // grpc/health/v1/health.proto's own options, so that generated code lands where it does
    // for the standard file.
    csharp_namespace = "Grpc.Health.V1",
    go_package = "google.golang.org/grpc/health/grpc_health_v1",
    java_multiple_files = true,
    java_outer_classname = "HealthProto",
    java_package = "io.grpc.health.v1",
    objc_class_prefix = "GRPC"
)]
pub trait Health {
    /// The service's current status; `NOT_FOUND` for a service the server does not know.
    async fn check(&self, req: HealthCheckRequest) -> Result<HealthCheckResponse, Status>;

    /// The statuses of every service the server knows.
    async fn list(&self, req: HealthListRequest) -> Result<HealthListResponse, Status>;

    /// The service's status now, then each time it changes; `SERVICE_UNKNOWN` for a service the
    /// server does not know (yet). Ends, after `NOT_SERVING`, when the server shuts down.
    async fn watch(
        &self,
        req: HealthCheckRequest,
    ) -> Result<impl Stream<Item = Result<HealthCheckResponse, Status>> + Send, Status>;
}

/// The application's handle on the health service: report statuses here; clones share them.
#[derive(Clone, Debug, Default)]
pub struct HealthReporter {
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Each known (or watched) service's status; `ServiceUnknown` until it is reported.
    services: Mutex<HashMap<String, watch::Sender<ServingStatus>>>,
    /// Set once shutdown started: statuses no longer change, and Watch streams end.
    closing: watch::Sender<bool>,
}

impl HealthReporter {
    /// A reporter with no status yet; the server it is given to reports itself and its services
    /// `SERVING` when it starts.
    pub fn new() -> HealthReporter {
        HealthReporter::default()
    }

    /// Reports `service` (its full name, `package.Service`, or `""` for the whole server) as
    /// `status`. Ignored once the server's shutdown started: it is `NOT_SERVING` for good.
    pub fn set_status(&self, service: &str, status: ServingStatus) {
        if *self.state.closing.borrow() {
            return;
        }
        self.set(service, status);
    }

    /// The status reported for `service`, if any.
    ///
    /// ```
    /// use protoless::health::{HealthReporter, ServingStatus};
    ///
    /// let health = HealthReporter::new();
    /// assert_eq!(health.status("cache.Cache"), None);
    /// health.set_status("cache.Cache", ServingStatus::Serving);
    /// assert_eq!(health.status("cache.Cache"), Some(ServingStatus::Serving));
    /// ```
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        let services = self.state.services.lock().unwrap();
        let status = *services.get(service)?.borrow();
        (status != ServingStatus::ServiceUnknown).then_some(status)
    }

    fn set(&self, service: &str, status: ServingStatus) {
        let mut services = self.state.services.lock().unwrap();
        match services.get(service) {
            Some(sender) => {
                sender.send_if_modified(|current| std::mem::replace(current, status) != status);
            }
            None => {
                services.insert(service.to_owned(), watch::Sender::new(status));
            }
        }
    }

    /// At start: `SERVING` for the server and each of `services` not reported yet.
    pub(crate) fn serving(&self, services: impl IntoIterator<Item = &'static str>) {
        for service in std::iter::once("").chain(services) {
            if self.status(service).is_none() {
                self.set_status(service, ServingStatus::Serving);
            }
        }
    }

    /// At shutdown: every service `NOT_SERVING`, for good, and Watch streams end.
    pub(crate) fn shutting_down(&self) {
        let names: Vec<String> = {
            let services = self.state.services.lock().unwrap();
            services
                .iter()
                .filter(|(_, status)| *status.borrow() != ServingStatus::ServiceUnknown)
                .map(|(name, _)| name.clone())
                .collect()
        };
        for name in names {
            self.set(&name, ServingStatus::NotServing);
        }
        self.state.closing.send_replace(true);
    }

    /// Follows `service`'s status, registering it as `SERVICE_UNKNOWN` if it is not known yet.
    fn subscribe(&self, service: &str) -> watch::Receiver<ServingStatus> {
        let mut services = self.state.services.lock().unwrap();
        services
            .entry(service.to_owned())
            .or_insert_with(|| watch::Sender::new(ServingStatus::ServiceUnknown))
            .subscribe()
    }
}

/// The service answering from a reporter's statuses.
pub(crate) struct HealthService(pub(crate) HealthReporter);

impl Health for HealthService {
    async fn check(&self, req: HealthCheckRequest) -> Result<HealthCheckResponse, Status> {
        match self.0.status(&req.service) {
            Some(status) => Ok(HealthCheckResponse { status }),
            None => Err(Status::not_found(format!(
                "no health status for service {:?}",
                req.service
            ))),
        }
    }

    async fn list(&self, _req: HealthListRequest) -> Result<HealthListResponse, Status> {
        let services = self.0.state.services.lock().unwrap();
        let statuses = services
            .iter()
            .map(|(name, status)| (name.clone(), *status.borrow()))
            .filter(|(_, status)| *status != ServingStatus::ServiceUnknown)
            .map(|(name, status)| (name, HealthCheckResponse { status }))
            .collect();
        Ok(HealthListResponse { statuses })
    }

    async fn watch(
        &self,
        req: HealthCheckRequest,
    ) -> Result<impl Stream<Item = Result<HealthCheckResponse, Status>> + Send, Status> {
        let mut status = self.0.subscribe(&req.service);
        let mut closing = self.0.state.closing.subscribe();
        Ok(stream::generate(move |mut out| async move {
            let mut sent = None;
            loop {
                let current = *status.borrow_and_update();
                if sent != Some(current) {
                    out.send(HealthCheckResponse { status: current }).await;
                    sent = Some(current);
                }
                if *closing.borrow_and_update() {
                    return Ok(());
                }
                tokio::select! {
                    changed = status.changed() => {
                        if changed.is_err() {
                            return Ok(());
                        }
                    }
                    _ = closing.changed() => {}
                }
            }
        }))
    }
}
