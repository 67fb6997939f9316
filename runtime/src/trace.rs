//! [`TraceContext`]: W3C trace context (`traceparent`) carried in metadata, so that a chain of
//! calls (a handler calling other services) shares one trace.
//!
//! A server reads the `traceparent` a call arrives with; the client calls its handler makes
//! send the same trace with a span id of their own, as
//! <https://www.w3.org/TR/trace-context/> describes. Tracing systems (OpenTelemetry and the
//! like) join the hops by the trace id.

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};

/// One hop of a distributed trace: the trace's id, this hop's span id, and the trace flags.
///
/// ```
/// use protoless::TraceContext;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let parent = TraceContext::parse(header).unwrap();
/// let child = parent.child();
/// assert_eq!(child.trace_id(), parent.trace_id());
/// assert_ne!(child.span_id(), parent.span_id());
/// assert!(child.to_header().starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    flags: u8,
}

/// The metadata key W3C trace context travels under.
pub(crate) const TRACEPARENT: &str = "traceparent";

impl TraceContext {
    /// A `traceparent` value (`00-TRACE_ID-SPAN_ID-FLAGS`, lowercase hex); `None` when malformed,
    /// or when an id is all zeros, which the specification forbids.
    pub fn parse(header: &str) -> Option<TraceContext> {
        let mut parts = header.trim().split('-');
        let version = parts.next()?;
        let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
        // Version 00 has exactly four fields; later versions may add some, and ff is invalid.
        let hex = |text: &str, len: usize| {
            text.len() == len
                && text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(version, 2) || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        if !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
            return None;
        }
        let context = TraceContext {
            trace_id: u128::from_str_radix(trace, 16).ok()?,
            span_id: u64::from_str_radix(span, 16).ok()?,
            flags: u8::from_str_radix(flags, 16).ok()?,
        };
        (context.trace_id != 0 && context.span_id != 0).then_some(context)
    }

    /// A new trace, with a random trace id, sampled.
    pub fn new_root() -> TraceContext {
        TraceContext {
            trace_id: (u128::from(random_u64()) << 64) | u128::from(random_u64()),
            span_id: random_u64(),
            flags: 1,
        }
    }

    /// The next hop of the same trace: the same trace id and flags, a new span id.
    pub fn child(&self) -> TraceContext {
        TraceContext {
            span_id: random_u64(),
            ..*self
        }
    }

    /// The trace id, as 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// This hop's span id, as 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The `traceparent` value for this hop.
    pub fn to_header(&self) -> String {
        let mut header = String::with_capacity(55);
        let _ = write!(
            header,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        );
        header
    }

    /// The trace context of the call being handled, when it arrived with one: client calls
    /// made from here carry its trace on.
    pub fn current() -> Option<TraceContext> {
        crate::server::inherited().trace
    }
}

/// A random, non-zero 64-bit number: std's randomly keyed SipHash of a counter, which is enough
/// for ids that need only not to collide.
fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_headers_are_refused() {
        for header in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceContext::parse(header), None, "{header:?}");
        }
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(TraceContext::parse(later).is_some());
    }

    #[test]
    fn headers_round_trip_and_children_differ() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::parse(header).unwrap();
        assert_eq!(context.to_header(), header);
        let root = TraceContext::new_root();
        assert_ne!(root.child(), root.child());
        assert_eq!(TraceContext::parse(&root.to_header()), Some(root));
    }
}
