//! [`RateLimit`] (feature `rate-limit`): an interceptor that refuses calls past a rate, before
//! anything is decoded, as grpc-go's `InTapHandle` with a `rate.Limiter` does.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::error_details::RetryInfo;
use crate::{CallInfo, Interceptor, StartFuture, Status};

/// Refuses calls past `rate` per second (with bursts of up to `burst`), with
/// `RESOURCE_EXHAUSTED`, the message you choose (default `service is over rate limit`) and a
/// `google.rpc.RetryInfo` saying when a token will be free; nothing of a refused call is
/// decoded. On the wire: a Trailers-Only response with `grpc-status: 8`, `grpc-message` and
/// `grpc-status-details-bin`.
///
/// One bucket for every call it sees by default; [`service`](Self::service) or
/// [`method`](Self::method) narrow what it sees, and [`per_key`](Self::per_key) keeps a bucket
/// per value of a metadata key (per tenant). A token bucket is governor's GCRA.
///
/// ```
/// use protoless::{RateLimit, Server};
///
/// // The article's limit: 150 calls a second, bursts of 5, on the rpc.Cache service.
/// let server = Server::builder().interceptor(RateLimit::new(150, 5).service("rpc.Cache"));
/// ```
pub struct RateLimit {
    quota: Quota,
    buckets: Buckets,
    service: Option<String>,
    method: Option<String>,
    message: String,
}

enum Buckets {
    One(Arc<RateLimiter<NotKeyed, InMemoryState, DefaultClock>>),
    PerKey {
        key: String,
        buckets: Arc<RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>>,
    },
}

fn quota(rate: u32, burst: u32) -> Quota {
    let rate = NonZeroU32::new(rate.max(1)).expect("at least one");
    let burst = NonZeroU32::new(burst.max(1)).expect("at least one");
    Quota::per_second(rate).allow_burst(burst)
}

impl RateLimit {
    /// `rate` calls a second, in bursts of up to `burst` (both at least 1).
    pub fn new(rate: u32, burst: u32) -> RateLimit {
        let quota = quota(rate, burst);
        RateLimit {
            quota,
            buckets: Buckets::One(Arc::new(RateLimiter::direct(quota))),
            service: None,
            method: None,
            message: "service is over rate limit".to_owned(),
        }
    }

    /// Limits only calls to `service` (`package.Service`).
    pub fn service(mut self, service: impl Into<String>) -> RateLimit {
        self.service = Some(service.into());
        self
    }

    /// Limits only calls to `path` (`/package.Service/Method`).
    pub fn method(mut self, path: impl Into<String>) -> RateLimit {
        self.method = Some(path.into());
        self
    }

    /// Keeps a bucket of the same rate per value of the request metadata `key` (a tenant or
    /// API key); calls without it share one bucket.
    pub fn per_key(mut self, key: impl Into<String>) -> RateLimit {
        self.buckets = Buckets::PerKey {
            key: key.into(),
            buckets: Arc::new(RateLimiter::keyed(self.quota)),
        };
        self
    }

    /// The message of a refusal.
    pub fn message(mut self, message: impl Into<String>) -> RateLimit {
        self.message = message.into();
        self
    }

    fn applies_to(&self, call: &CallInfo) -> bool {
        let method = call.method();
        self.service.as_deref().is_none_or(|s| s == method.service)
            && self.method.as_deref().is_none_or(|m| m == method.path)
    }

    /// `Ok` with a token, or when a token will be free.
    fn take(&self, call: &CallInfo) -> Result<(), std::time::Duration> {
        let clock = DefaultClock::default();
        let now = clock.now();
        let outcome = match &self.buckets {
            Buckets::One(limiter) => limiter.check(),
            Buckets::PerKey { key, buckets } => {
                let value = call.metadata().get(key).unwrap_or_default().to_owned();
                buckets.check_key(&value)
            }
        };
        outcome.map_err(|not_until| not_until.wait_time_from(now))
    }
}

impl Interceptor for RateLimit {
    fn start<'a>(&'a self, call: &'a mut CallInfo) -> StartFuture<'a> {
        let outcome = if self.applies_to(call) {
            self.take(call)
        } else {
            Ok(())
        };
        Box::pin(std::future::ready(outcome.map_err(|wait| {
            Status::resource_exhausted(self.message.clone()).with_detail(RetryInfo {
                retry_delay: Some(wait),
            })
        })))
    }
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("service", &self.service)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intercept::{CallKind, MethodInfo, Side};
    use crate::{Code, MetadataMap};

    fn call(path: &'static str, tenant: Option<&str>) -> CallInfo {
        let mut metadata = MetadataMap::new();
        if let Some(tenant) = tenant {
            metadata.insert("tenant", tenant).unwrap();
        }
        let method = MethodInfo::from_path(path, CallKind::Unary);
        CallInfo::new(method, Side::Server, metadata, None, None)
    }

    async fn admitted(limit: &RateLimit, mut call: CallInfo) -> Result<(), Status> {
        limit.start(&mut call).await
    }

    #[tokio::test]
    async fn a_burst_passes_then_refusals_carry_retry_info() {
        let limit = RateLimit::new(1, 2);
        assert!(admitted(&limit, call("/a.S/M", None)).await.is_ok());
        assert!(admitted(&limit, call("/a.S/M", None)).await.is_ok());
        let refused = admitted(&limit, call("/a.S/M", None)).await.unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert_eq!(refused.message(), "service is over rate limit");
        let retry: RetryInfo = refused.detail().expect("a RetryInfo");
        assert!(retry.retry_delay.is_some_and(|delay| delay.as_millis() > 0));
    }

    #[tokio::test]
    async fn limits_apply_to_their_service_and_per_key() {
        let limit = RateLimit::new(1, 1).service("a.Limited").per_key("tenant");
        // Another service is not limited.
        for _ in 0..3 {
            assert!(admitted(&limit, call("/a.Free/M", Some("x"))).await.is_ok());
        }
        // Each tenant has its own bucket.
        assert!(admitted(&limit, call("/a.Limited/M", Some("x")))
            .await
            .is_ok());
        assert!(admitted(&limit, call("/a.Limited/M", Some("x")))
            .await
            .is_err());
        assert!(admitted(&limit, call("/a.Limited/M", Some("y")))
            .await
            .is_ok());
        let by_method = RateLimit::new(1, 1).method("/a.S/One");
        assert!(admitted(&by_method, call("/a.S/One", None)).await.is_ok());
        assert!(admitted(&by_method, call("/a.S/One", None)).await.is_err());
        assert!(admitted(&by_method, call("/a.S/Two", None)).await.is_ok());
    }
}
