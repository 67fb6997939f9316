//! The header names gRPC uses, as constants: looking a header up or inserting it by a string
//! parses and hashes the name every time, which shows up on the per-call path.

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};

use crate::metadata::{is_protocol_header, MetadataMap};

pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
pub(crate) const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
pub(crate) const GRPC_STATUS_DETAILS: HeaderName =
    HeaderName::from_static("grpc-status-details-bin");
pub(crate) const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
/// gRFC A6: how many attempts of this call came before this one.
pub(crate) const GRPC_PREVIOUS_RPC_ATTEMPTS: HeaderName =
    HeaderName::from_static("grpc-previous-rpc-attempts");
pub(crate) const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
pub(crate) const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");

/// The headers gRPC itself reads from a request, a response head or trailers, found in one
/// pass over them: cheaper than looking each up (which hashes its name), and it learns on the
/// way whether any custom metadata came too.
#[derive(Default)]
pub(crate) struct GrpcHeaders<'a> {
    pub(crate) content_type: Option<&'a HeaderValue>,
    pub(crate) encoding: Option<&'a HeaderValue>,
    pub(crate) accept_encoding: Option<&'a HeaderValue>,
    pub(crate) timeout: Option<&'a HeaderValue>,
    pub(crate) status: Option<&'a HeaderValue>,
    pub(crate) message: Option<&'a HeaderValue>,
    pub(crate) details: Option<&'a HeaderValue>,
    /// Whether any header is custom metadata (most calls carry none).
    pub(crate) has_metadata: bool,
}

impl<'a> GrpcHeaders<'a> {
    pub(crate) fn scan(headers: &'a HeaderMap) -> GrpcHeaders<'a> {
        let mut found = GrpcHeaders::default();
        for (name, value) in headers {
            let slot = if name == http::header::CONTENT_TYPE {
                &mut found.content_type
            } else if let Some(grpc) = name.as_str().strip_prefix("grpc-") {
                match grpc {
                    "encoding" => &mut found.encoding,
                    "accept-encoding" => &mut found.accept_encoding,
                    "timeout" => &mut found.timeout,
                    "status" => &mut found.status,
                    "message" => &mut found.message,
                    "status-details-bin" => &mut found.details,
                    // Other `grpc-` keys are the protocol's, but for the few the application
                    // may use (see `is_protocol_header`).
                    _ => {
                        found.has_metadata |= !is_protocol_header(name.as_str());
                        continue;
                    }
                }
            } else {
                found.has_metadata |= !is_protocol_header(name.as_str());
                continue;
            };
            // The first of repeated values, as `HeaderMap::get` gives.
            slot.get_or_insert(value);
        }
        found
    }

    /// The custom metadata among `headers` (those scanned); nothing is allocated when there is
    /// none.
    pub(crate) fn metadata(&self, headers: &HeaderMap) -> MetadataMap {
        if self.has_metadata {
            MetadataMap::from_headers(headers)
        } else {
            MetadataMap::new()
        }
    }
}

/// A header's value as text, if it is visible ASCII.
pub(crate) fn text(value: &HeaderValue) -> Option<&str> {
    value.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn get(value: Option<&HeaderValue>) -> Option<&str> {
        value.map(|value| value.to_str().unwrap())
    }

    #[test]
    fn the_scan_finds_grpc_headers_and_takes_the_first_of_repeated_values() {
        let map = headers(&[
            ("content-type", "application/grpc"),
            ("grpc-timeout", "1S"),
            ("grpc-timeout", "2S"),
            ("grpc-encoding", "gzip"),
            ("grpc-accept-encoding", "gzip,identity"),
            ("grpc-status", "5"),
            ("grpc-message", "gone"),
            ("grpc-status-details-bin", "AAAA"),
            ("te", "trailers"),
            ("user-agent", "test"),
            ("grpc-unknown", "x"),
        ]);
        let found = GrpcHeaders::scan(&map);
        assert_eq!(get(found.content_type), Some("application/grpc"));
        assert_eq!(get(found.timeout), Some("1S"));
        assert_eq!(get(found.encoding), Some("gzip"));
        assert_eq!(get(found.accept_encoding), Some("gzip,identity"));
        assert_eq!(get(found.status), Some("5"));
        assert_eq!(get(found.message), Some("gone"));
        assert_eq!(get(found.details), Some("AAAA"));
        assert!(!found.has_metadata, "only protocol headers were sent");
        assert!(found.metadata(&map).is_empty());
    }

    #[test]
    fn any_custom_header_is_metadata() {
        let map = headers(&[("te", "trailers"), ("x-tenant", "blue")]);
        let found = GrpcHeaders::scan(&map);
        assert!(found.has_metadata);
        assert_eq!(found.metadata(&map).get("x-tenant"), Some("blue"));
        assert_eq!(found.metadata(&map).len(), 1);
    }
}
