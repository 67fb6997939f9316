//! Retries per gRFC A6: [`RetryPolicy`], the defaults the trait implies, the retry throttle, and
//! the gRPC service config JSON that carries them to and from other languages' clients.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::intercept::MethodInfo;
use crate::schema::{Idempotency, ServiceSchema};
use crate::{Code, Status};

/// A6 caps attempts at five, whatever a policy says.
const MAX_ATTEMPTS: u32 = 5;

/// How a failed call is tried again, as gRFC A6's `retryPolicy` says: up to `max_attempts`
/// attempts in all, the n-th retry after a delay drawn uniformly from `[0, backoff)`, where
/// `backoff` starts at `initial_backoff` and is multiplied by `backoff_multiplier` after each
/// retry up to `max_backoff`; only failures with one of the retryable codes are retried, and
/// only before the server's response headers arrived (the call is then committed).
///
/// Methods marked `#[idempotent]` or `#[no_side_effects]` retry with
/// [`RetryPolicy::default`] unless told otherwise; others are only retried when the request
/// never reached the server's application ("transparent" retries). A channel
/// ([`Channel::with_retry_policy`](crate::Channel::with_retry_policy),
/// [`Channel::with_service_config`](crate::Channel::with_service_config)) and a call
/// (`.retry_policy(...)`) override that, both ways.
///
/// ```
/// use std::time::Duration;
/// use protoless::{Code, RetryPolicy};
///
/// let policy = RetryPolicy::new(3, [Code::Unavailable, Code::ResourceExhausted])
///     .backoff(Duration::from_millis(50), Duration::from_secs(2), 1.5);
/// assert_eq!(policy.max_attempts(), 3);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    backoff_multiplier: f64,
    retryable_codes: Vec<Code>,
}

impl Default for RetryPolicy {
    /// The policy `#[idempotent]` and `#[no_side_effects]` methods get: 4 attempts, backoff
    /// from 0.1 s to 1 s doubling, retrying `UNAVAILABLE`.
    fn default() -> RetryPolicy {
        RetryPolicy::new(4, [Code::Unavailable])
    }
}

impl RetryPolicy {
    /// Up to `max_attempts` attempts (2 to 5; more count as 5, fewer as 2: a policy that never
    /// retries is no policy, `None` where one is asked for) retrying `retryable_codes`, with the
    /// default backoff (0.1 s to 1 s, doubling).
    ///
    /// # Panics
    /// When `retryable_codes` is empty or holds `OK`: A6 calls such a policy invalid.
    pub fn new(max_attempts: u32, retryable_codes: impl IntoIterator<Item = Code>) -> RetryPolicy {
        let retryable_codes: Vec<Code> = retryable_codes.into_iter().collect();
        assert!(
            !retryable_codes.is_empty() && !retryable_codes.contains(&Code::Ok),
            "a retry policy needs at least one retryable code, and OK is none"
        );
        RetryPolicy {
            max_attempts: max_attempts.clamp(2, MAX_ATTEMPTS),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            backoff_multiplier: 2.0,
            retryable_codes,
        }
    }

    /// This policy with another backoff: the first retry waits up to `initial`, each further
    /// one up to `multiplier` times longer, never more than `max`.
    ///
    /// # Panics
    /// When a duration is zero or the multiplier is not a positive number.
    pub fn backoff(mut self, initial: Duration, max: Duration, multiplier: f64) -> RetryPolicy {
        assert!(
            !initial.is_zero() && !max.is_zero() && multiplier.is_finite() && multiplier > 0.0,
            "backoffs must be positive, and the multiplier a positive number"
        );
        self.initial_backoff = initial;
        self.max_backoff = max;
        self.backoff_multiplier = multiplier;
        self
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The codes worth another attempt.
    pub fn retryable_codes(&self) -> &[Code] {
        &self.retryable_codes
    }

    /// Whether a failure with `code` is worth another attempt.
    pub(crate) fn retries(&self, code: Code) -> bool {
        self.retryable_codes.contains(&code)
    }

    /// The policy the trait implies: [`RetryPolicy::default`] for `#[idempotent]` and
    /// `#[no_side_effects]` methods, none for others.
    fn implied_by(idempotency: Idempotency) -> Option<&'static RetryPolicy> {
        static DEFAULT: std::sync::LazyLock<RetryPolicy> =
            std::sync::LazyLock::new(RetryPolicy::default);
        match idempotency {
            Idempotency::Idempotent | Idempotency::NoSideEffects => Some(&DEFAULT),
            Idempotency::Unknown => None,
        }
    }

    /// A6's `retryPolicy` object.
    fn to_json(&self) -> String {
        let codes: Vec<String> = self
            .retryable_codes
            .iter()
            .map(|code| format!("\"{}\"", code.name()))
            .collect();
        format!(
            "{{\"maxAttempts\": {}, \"initialBackoff\": \"{}\", \"maxBackoff\": \"{}\", \
             \"backoffMultiplier\": {}, \"retryableStatusCodes\": [{}]}}",
            self.max_attempts,
            json_duration(self.initial_backoff),
            json_duration(self.max_backoff),
            self.backoff_multiplier,
            codes.join(", ")
        )
    }

    fn from_json(value: &serde_json::Value) -> Result<RetryPolicy, ServiceConfigError> {
        let field = |name: &str| {
            value
                .get(name)
                .ok_or_else(|| ServiceConfigError(format!("retryPolicy has no {name}")))
        };
        let max_attempts = field("maxAttempts")?
            .as_u64()
            .filter(|attempts| *attempts >= 2)
            .ok_or_else(|| ServiceConfigError("maxAttempts must be 2 or more".into()))?;
        let duration = |name: &str| -> Result<Duration, ServiceConfigError> {
            field(name)?
                .as_str()
                .and_then(parse_json_duration)
                .filter(|duration| !duration.is_zero())
                .ok_or_else(|| {
                    ServiceConfigError(format!("{name} must be a positive duration like \"0.1s\""))
                })
        };
        let multiplier = field("backoffMultiplier")?
            .as_f64()
            .filter(|multiplier| multiplier.is_finite() && *multiplier > 0.0)
            .ok_or_else(|| ServiceConfigError("backoffMultiplier must be positive".into()))?;
        let codes = field("retryableStatusCodes")?
            .as_array()
            .filter(|codes| !codes.is_empty())
            .ok_or_else(|| {
                ServiceConfigError("retryableStatusCodes must list at least one code".into())
            })?
            .iter()
            .map(code_from_json)
            .collect::<Result<Vec<Code>, _>>()?;
        if codes.contains(&Code::Ok) {
            return Err(ServiceConfigError("OK is not a retryable code".into()));
        }
        Ok(
            RetryPolicy::new(max_attempts.min(u64::from(MAX_ATTEMPTS)) as u32, codes).backoff(
                duration("initialBackoff")?,
                duration("maxBackoff")?,
                multiplier,
            ),
        )
    }
}

/// How a call is hedged, as gRFC A6's `hedgingPolicy` says: the first attempt at once, then
/// another every `delay` while none has answered, up to `max_attempts` in all (at most 5); an
/// attempt that fails with one of the non-fatal codes lets the next go at once. The first
/// answer wins, and the attempts still running are cancelled. Opt-in, and only for
/// `#[no_side_effects]` methods, as the server may run every attempt; unary calls only.
///
/// ```
/// use std::time::Duration;
/// use protoless::{Code, HedgingPolicy};
///
/// // A second attempt if the first has not answered within 20 ms, a third after 40 ms.
/// let policy = HedgingPolicy::new(3, Duration::from_millis(20)).non_fatal_codes([Code::Unavailable]);
/// assert_eq!(policy.max_attempts(), 3);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct HedgingPolicy {
    max_attempts: u32,
    delay: Duration,
    non_fatal_codes: Vec<Code>,
}

impl HedgingPolicy {
    /// Up to `max_attempts` attempts (2 to 5), `delay` apart; no code non-fatal.
    pub fn new(max_attempts: u32, delay: Duration) -> HedgingPolicy {
        HedgingPolicy {
            max_attempts: max_attempts.clamp(2, MAX_ATTEMPTS),
            delay,
            non_fatal_codes: Vec::new(),
        }
    }

    /// This policy sending the next attempt at once when one fails with any of `codes` (other
    /// failures end the call).
    pub fn non_fatal_codes(mut self, codes: impl IntoIterator<Item = Code>) -> HedgingPolicy {
        self.non_fatal_codes = codes.into_iter().filter(|code| *code != Code::Ok).collect();
        self
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait before each further attempt.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Whether a failure with `code` lets the next attempt go at once.
    pub(crate) fn non_fatal(&self, code: Code) -> bool {
        self.non_fatal_codes.contains(&code)
    }

    fn from_json(value: &serde_json::Value) -> Result<HedgingPolicy, ServiceConfigError> {
        let max_attempts = value
            .get("maxAttempts")
            .and_then(serde_json::Value::as_u64)
            .filter(|attempts| *attempts >= 2)
            .ok_or_else(|| {
                ServiceConfigError("hedgingPolicy.maxAttempts must be 2 or more".into())
            })?;
        let delay = match value.get("hedgingDelay") {
            None => Duration::ZERO,
            Some(delay) => delay
                .as_str()
                .and_then(parse_json_duration)
                .ok_or_else(|| {
                    ServiceConfigError("hedgingDelay must be a duration like \"0.05s\"".into())
                })?,
        };
        let codes = match value.get("nonFatalStatusCodes") {
            None => Vec::new(),
            Some(codes) => codes
                .as_array()
                .ok_or_else(|| ServiceConfigError("nonFatalStatusCodes must be a list".into()))?
                .iter()
                .map(code_from_json)
                .collect::<Result<Vec<Code>, _>>()?,
        };
        Ok(
            HedgingPolicy::new(max_attempts.min(u64::from(MAX_ATTEMPTS)) as u32, delay)
                .non_fatal_codes(codes),
        )
    }
}

/// A code in a service config: its name (any case) or its number.
fn code_from_json(value: &serde_json::Value) -> Result<Code, ServiceConfigError> {
    let code = match value {
        serde_json::Value::String(name) => Code::ALL
            .iter()
            .copied()
            .find(|code| code.name().eq_ignore_ascii_case(name)),
        serde_json::Value::Number(number) => number
            .as_i64()
            .filter(|number| (0..=16).contains(number))
            .map(|number| Code::from_i32(number as i32)),
        _ => None,
    };
    code.ok_or_else(|| ServiceConfigError(format!("{value} is not a status code")))
}

/// A duration as protobuf's JSON writes one: seconds with a `s` suffix.
fn json_duration(duration: Duration) -> String {
    let nanos = duration.subsec_nanos();
    if nanos == 0 {
        format!("{}s", duration.as_secs())
    } else {
        let fraction = format!("{nanos:09}");
        format!("{}.{}s", duration.as_secs(), fraction.trim_end_matches('0'))
    }
}

/// `"0.1s"`, `"1s"`, `"2.500s"`: protobuf's JSON form of a non-negative duration.
fn parse_json_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    let (seconds, fraction) = number.split_once('.').unwrap_or((number, ""));
    if seconds.is_empty() && fraction.is_empty() {
        return None;
    }
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if !all_digits(seconds) || !all_digits(fraction) || fraction.len() > 9 {
        return None;
    }
    let seconds: u64 = if seconds.is_empty() {
        0
    } else {
        seconds.parse().ok()?
    };
    let nanos: u32 = format!("{fraction:0<9}").parse().ok()?;
    Some(Duration::new(seconds, nanos))
}

/// A6's retry throttle: a channel's token bucket that stops retries while too many calls fail.
/// Tokens start at `max_tokens`; each failure with a retryable code takes one, each success
/// gives back `token_ratio`; retries are allowed only while more than half remain.
#[derive(Debug)]
pub(crate) struct Throttle {
    /// Thousandths of a token, as A6 allows three decimals of ratio.
    milli_tokens: AtomicU32,
    max_milli_tokens: u32,
    milli_ratio: u32,
}

impl Throttle {
    fn new(max_tokens: u32, token_ratio: f64) -> Throttle {
        let max_milli_tokens = max_tokens * 1000;
        Throttle {
            milli_tokens: AtomicU32::new(max_milli_tokens),
            max_milli_tokens,
            milli_ratio: (token_ratio * 1000.0).round() as u32,
        }
    }

    pub(crate) fn allows_retry(&self) -> bool {
        self.milli_tokens.load(Ordering::Relaxed) > self.max_milli_tokens / 2
    }

    pub(crate) fn failed(&self) {
        let _ = self
            .milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tokens| {
                Some(tokens.saturating_sub(1000))
            });
    }

    pub(crate) fn succeeded(&self) {
        let _ = self
            .milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tokens| {
                Some((tokens + self.milli_ratio).min(self.max_milli_tokens))
            });
    }
}

/// What a channel says about retries: per-method policies from a service config, a policy for
/// every method, and the throttle. Absent, the trait's defaults apply.
#[derive(Clone, Debug, Default)]
pub(crate) struct RetryConfig {
    /// By `/package.Service/Method` or `package.Service`: `None` means "never retry".
    methods: HashMap<String, Option<RetryPolicy>>,
    /// For every method not named above.
    all: Option<Option<RetryPolicy>>,
    /// Hedging, by method or service name as above, and for every `#[no_side_effects]`
    /// method not named.
    hedged: HashMap<String, HedgingPolicy>,
    hedge_all: Option<HedgingPolicy>,
    pub(crate) throttle: Option<Arc<Throttle>>,
}

impl RetryConfig {
    /// The policy for `method`: this configuration's, else the trait's default.
    pub(crate) fn policy<'a>(
        config: Option<&'a RetryConfig>,
        method: &MethodInfo,
    ) -> Option<&'a RetryPolicy> {
        if let Some(config) = config {
            if let Some(policy) = config
                .methods
                .get(method.path)
                .or_else(|| config.methods.get(method.service))
            {
                return policy.as_ref();
            }
            if let Some(policy) = &config.all {
                return policy.as_ref();
            }
        }
        RetryPolicy::implied_by(method.idempotency)
    }

    /// The hedging policy for `method`, if it has one: only `#[no_side_effects]` methods do.
    pub(crate) fn hedging<'a>(
        config: Option<&'a RetryConfig>,
        method: &MethodInfo,
    ) -> Option<&'a HedgingPolicy> {
        let config = config?;
        let none_configured = config.hedged.is_empty() && config.hedge_all.is_none();
        if none_configured || method.idempotency != Idempotency::NoSideEffects {
            return None;
        }
        config
            .hedged
            .get(method.path)
            .or_else(|| config.hedged.get(method.service))
            .or(config.hedge_all.as_ref())
    }

    /// This configuration with `policy` for every method it does not name.
    pub(crate) fn with_all(config: Option<&RetryConfig>, policy: Option<RetryPolicy>) -> Self {
        let mut next = config.cloned().unwrap_or_default();
        next.all = Some(policy);
        next
    }

    /// This configuration hedging every `#[no_side_effects]` method it does not name.
    pub(crate) fn with_hedging(config: Option<&RetryConfig>, policy: HedgingPolicy) -> Self {
        let mut next = config.cloned().unwrap_or_default();
        next.hedge_all = Some(policy);
        next
    }

    /// Reads a gRPC service config (its `methodConfig` retry policies and `retryThrottling`).
    pub(crate) fn parse(json: &str) -> Result<RetryConfig, ServiceConfigError> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|error| ServiceConfigError(format!("not JSON: {error}")))?;
        let mut config = RetryConfig::default();
        if let Some(throttling) = value.get("retryThrottling") {
            let max_tokens = throttling
                .get("maxTokens")
                .and_then(serde_json::Value::as_u64)
                .filter(|tokens| (1..=1000).contains(tokens))
                .ok_or_else(|| ServiceConfigError("maxTokens must be 1 to 1000".into()))?;
            let ratio = throttling
                .get("tokenRatio")
                .and_then(serde_json::Value::as_f64)
                .filter(|ratio| *ratio > 0.0 && ratio.is_finite())
                .ok_or_else(|| ServiceConfigError("tokenRatio must be positive".into()))?;
            config.throttle = Some(Arc::new(Throttle::new(max_tokens as u32, ratio)));
        }
        let methods = match value.get("methodConfig") {
            None => &Vec::new(),
            Some(methods) => methods
                .as_array()
                .ok_or_else(|| ServiceConfigError("methodConfig must be a list".into()))?,
        };
        for entry in methods {
            if entry.get("retryPolicy").is_some() && entry.get("hedgingPolicy").is_some() {
                return Err(ServiceConfigError(
                    "a methodConfig entry has both retryPolicy and hedgingPolicy".into(),
                ));
            }
            let policy = entry
                .get("retryPolicy")
                .map(RetryPolicy::from_json)
                .transpose()?;
            let hedging = entry
                .get("hedgingPolicy")
                .map(HedgingPolicy::from_json)
                .transpose()?;
            let names = entry
                .get("name")
                .and_then(serde_json::Value::as_array)
                .ok_or_else(|| ServiceConfigError("a methodConfig entry has no name".into()))?;
            for name in names {
                let service = name.get("service").and_then(serde_json::Value::as_str);
                let method = name.get("method").and_then(serde_json::Value::as_str);
                let key = match (service, method) {
                    (Some(service), Some(method)) if !method.is_empty() => {
                        format!("/{service}/{method}")
                    }
                    (Some(service), _) if !service.is_empty() => service.to_owned(),
                    // A name without a service is the default for every method.
                    _ => {
                        config.all = Some(policy.clone());
                        if let Some(hedging) = &hedging {
                            config.hedge_all = Some(hedging.clone());
                        }
                        continue;
                    }
                };
                if let Some(hedging) = &hedging {
                    config.hedged.insert(key.clone(), hedging.clone());
                }
                config.methods.insert(key, policy.clone());
            }
        }
        Ok(config)
    }
}

/// A service config that could not be used: what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfigError(String);

impl std::fmt::Display for ServiceConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid service config: {}", self.0)
    }
}

impl std::error::Error for ServiceConfigError {}

/// The gRPC service config (JSON) that makes grpc-go, grpcio, grpc-js and other clients retry
/// `services` exactly as a protoless client does by default: one `methodConfig` entry per
/// method the trait marks `#[idempotent]` or `#[no_side_effects]`, with
/// [`RetryPolicy::default`]. Methods that must not be retried are left out (clients then only
/// retry transparently), so every entry is valid by grpcio's rules.
///
/// ```
/// # use protoless::{Message, Status};
/// # #[derive(Message)] pub struct Req {}
/// #[protoless::service(package = "kv")]
/// trait Store {
///     #[no_side_effects]
///     async fn get(&self, req: Req) -> Result<Req, Status>;
///     async fn put(&self, req: Req) -> Result<Req, Status>;
/// }
///
/// let json = protoless::service_config(&[StoreServer::schema()]);
/// assert!(json.contains(r#"{"service": "kv.Store", "method": "Get"}"#));
/// assert!(!json.contains("Put"));
/// ```
pub fn service_config(services: &[ServiceSchema]) -> String {
    let mut entries = Vec::new();
    for service in services {
        let full = service.full_name();
        for method in &service.methods {
            if let Some(policy) = RetryPolicy::implied_by(method.idempotency) {
                entries.push(format!(
                    "    {{\n      \"name\": [{{\"service\": \"{full}\", \"method\": \"{}\"}}],\n      \"retryPolicy\": {}\n    }}",
                    method.name,
                    policy.to_json()
                ));
            }
        }
    }
    let mut json = String::from("{\n  \"methodConfig\": [\n");
    json.push_str(&entries.join(",\n"));
    let _ = write!(json, "\n  ]\n}}\n");
    json
}

/// What a failed attempt's server said about retrying: wait this long (`Some`), never retry
/// (`None` inside), or nothing (outer `None`): `grpc-retry-pushback-ms` first (a negative or
/// unreadable value means "do not retry"), then a `google.rpc.RetryInfo` detail's delay.
pub(crate) fn pushback(status: &Status) -> Option<Option<Duration>> {
    if let Some(value) = status.metadata().get("grpc-retry-pushback-ms") {
        return Some(value.trim().parse::<u64>().ok().map(Duration::from_millis));
    }
    status
        .detail::<crate::error_details::RetryInfo>()
        .and_then(|info| info.retry_delay)
        .map(Some)
}

/// The backoff of the attempts to come: A6's exponential backoff with full jitter.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(policy: &RetryPolicy) -> Backoff {
        Backoff {
            next: policy.initial_backoff,
        }
    }

    /// How long to wait before the next retry: uniformly random below the current backoff,
    /// which then grows.
    pub(crate) fn delay(&mut self, policy: &RetryPolicy) -> Duration {
        let current = self.next;
        self.next = current
            .mul_f64(policy.backoff_multiplier)
            .min(policy.max_backoff);
        current.mul_f64(random_fraction())
    }

    /// After a pushback, the backoff starts over.
    pub(crate) fn reset(&mut self, policy: &RetryPolicy) {
        self.next = policy.initial_backoff;
    }
}

/// A number in [0, 1) from the standard library's randomly keyed hasher: jitter needs no more.
pub(crate) fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_in_protobuf_json_form() {
        for (text, duration) in [
            ("0.1s", Duration::from_millis(100)),
            ("1s", Duration::from_secs(1)),
            ("2.5s", Duration::from_millis(2500)),
            ("0.000000001s", Duration::from_nanos(1)),
        ] {
            assert_eq!(parse_json_duration(text), Some(duration), "{text}");
            assert_eq!(json_duration(duration), text);
        }
        for bad in ["", "s", "1", "-1s", "1.2.3s", "1.0000000001s", "x1s"] {
            assert_eq!(parse_json_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_service_config_gives_each_named_method_its_policy() {
        let config = RetryConfig::parse(
            r#"{"methodConfig": [
                {"name": [{"service": "a.S", "method": "M"}],
                 "retryPolicy": {"maxAttempts": 9, "initialBackoff": "0.2s", "maxBackoff": "2s",
                                 "backoffMultiplier": 3, "retryableStatusCodes": ["unavailable", 8]}},
                {"name": [{"service": "a.T"}]}
            ], "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.5}}"#,
        )
        .unwrap();
        let method = |path, service| MethodInfo {
            path,
            service,
            method: "M",
            kind: crate::CallKind::Unary,
            idempotency: Idempotency::Idempotent,
        };
        let policy = RetryConfig::policy(Some(&config), &method("/a.S/M", "a.S")).unwrap();
        assert_eq!(policy.max_attempts(), 5, "capped at five");
        assert_eq!(
            policy.retryable_codes(),
            [Code::Unavailable, Code::ResourceExhausted]
        );
        assert_eq!(policy.initial_backoff, Duration::from_millis(200));
        // Named without a policy: never retried, whatever the trait says.
        assert_eq!(
            RetryConfig::policy(Some(&config), &method("/a.T/M", "a.T")),
            None
        );
        // Not named: the trait's default.
        assert_eq!(
            RetryConfig::policy(Some(&config), &method("/a.U/M", "a.U")),
            Some(&RetryPolicy::default())
        );
        assert!(config.throttle.is_some());
    }

    #[test]
    fn invalid_service_configs_say_why() {
        for (json, why) in [
            ("{", "not JSON"),
            (
                r#"{"methodConfig": [{"name": [{"service": "s"}], "retryPolicy": {"maxAttempts": 1,
                   "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2,
                   "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
                "maxAttempts",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "s"}], "retryPolicy": {"maxAttempts": 2,
                   "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2,
                   "retryableStatusCodes": []}}]}"#,
                "retryableStatusCodes",
            ),
            (
                r#"{"methodConfig": [{"name": [{"service": "s"}], "retryPolicy": {},
                   "hedgingPolicy": {}}]}"#,
                "both",
            ),
            (
                r#"{"retryThrottling": {"maxTokens": 0, "tokenRatio": 1}}"#,
                "maxTokens",
            ),
        ] {
            let error = RetryConfig::parse(json).unwrap_err().to_string();
            assert!(error.contains(why), "{error} should say {why}");
        }
    }

    #[test]
    fn the_throttle_stops_retries_below_half_its_tokens_and_recovers() {
        let throttle = Throttle::new(4, 0.5);
        assert!(throttle.allows_retry());
        throttle.failed();
        assert!(throttle.allows_retry(), "3 of 4 tokens");
        throttle.failed();
        assert!(
            !throttle.allows_retry(),
            "2 of 4 tokens is not more than half"
        );
        throttle.succeeded();
        assert!(throttle.allows_retry(), "2.5 of 4");
        for _ in 0..10 {
            throttle.succeeded();
        }
        assert_eq!(
            throttle.milli_tokens.load(Ordering::Relaxed),
            4000,
            "capped"
        );
    }

    #[test]
    fn backoff_is_jittered_below_a_growing_bound() {
        let policy = RetryPolicy::new(5, [Code::Unavailable]).backoff(
            Duration::from_millis(100),
            Duration::from_millis(300),
            2.0,
        );
        let mut backoff = Backoff::new(&policy);
        for bound in [100, 200, 300, 300] {
            let delay = backoff.delay(&policy);
            assert!(
                delay < Duration::from_millis(bound),
                "{delay:?} < {bound} ms"
            );
        }
        backoff.reset(&policy);
        assert!(backoff.delay(&policy) < Duration::from_millis(100));
    }

    #[test]
    fn pushback_reads_the_header_first_and_refuses_on_bad_values() {
        let with = |value: &str| {
            let mut metadata = crate::MetadataMap::new();
            metadata.insert("grpc-retry-pushback-ms", value).unwrap();
            Status::unavailable("x").with_metadata(metadata)
        };
        assert_eq!(
            pushback(&with("250")),
            Some(Some(Duration::from_millis(250)))
        );
        assert_eq!(pushback(&with("-1")), Some(None));
        assert_eq!(pushback(&with("soon")), Some(None));
        assert_eq!(pushback(&Status::unavailable("x")), None);
        let info = Status::unavailable("x").with_detail(crate::error_details::RetryInfo {
            retry_delay: Some(Duration::from_millis(40)),
        });
        assert_eq!(pushback(&info), Some(Some(Duration::from_millis(40))));
    }
}
