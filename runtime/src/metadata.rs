//! [`MetadataMap`]: the custom headers and trailers of a call, ASCII or binary, as
//! <https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md> defines them.

use std::fmt;

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Custom metadata of a call: request headers, response headers or trailers.
///
/// Keys are lowercase ASCII (`a-z`, `0-9`, `-`, `_`, `.`). A key ending in `-bin` holds binary
/// data, sent base64-encoded; any other key holds printable ASCII. Keys starting with `grpc-`
/// belong to the protocol, as do the HTTP/2 headers gRPC itself uses (`content-type`, `te`,
/// ...): inserting one is refused, so malformed metadata is never sent. The exceptions are
/// gRFC A6's `grpc-retry-pushback-ms`, which a server sets in a failure's trailers to tell
/// clients when (or, negative, whether) to retry, and `grpc-previous-rpc-attempts`, which
/// handlers may read.
///
/// ```
/// use protoless::MetadataMap;
///
/// let mut metadata = MetadataMap::new();
/// metadata.insert("dry-run", "1").unwrap();
/// metadata.insert_bin("trace-bin", [0xde, 0xad]).unwrap();
/// assert_eq!(metadata.get("dry-run"), Some("1"));
/// assert_eq!(metadata.get_bin("trace-bin"), Some(vec![0xde, 0xad]));
/// assert!(metadata.insert("grpc-status", "0").is_err());
/// assert!(metadata.insert("Upper", "x").is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MetadataMap {
    headers: HeaderMap,
}

/// Why a metadata key or value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMetadata {
    message: String,
}

impl fmt::Display for InvalidMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidMetadata {}

impl InvalidMetadata {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        InvalidMetadata {
            message: message.into(),
        }
    }
}

fn invalid(message: String) -> InvalidMetadata {
    InvalidMetadata::new(message)
}

/// Headers that gRPC over HTTP/2 uses itself, which metadata may not set.
const RESERVED: &[&str] = &[
    "content-type",
    "te",
    "user-agent",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Whether `key` (lowercase) belongs to the protocol rather than to custom metadata. Two
/// `grpc-` keys of gRFC A6 are the application's to use, as in grpc-go: a server sets
/// `grpc-retry-pushback-ms` in a failure's trailers, and a handler may read
/// `grpc-previous-rpc-attempts`.
pub(crate) fn is_protocol_header(key: &str) -> bool {
    (key.starts_with("grpc-")
        && key != "grpc-retry-pushback-ms"
        && key != "grpc-previous-rpc-attempts")
        || RESERVED.contains(&key)
}

fn check_key(key: &str) -> Result<HeaderName, InvalidMetadata> {
    if key.is_empty() {
        return Err(invalid("a metadata key cannot be empty".to_owned()));
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
    {
        return Err(invalid(format!(
            "metadata key {key:?} contains {bad:?}: keys are lowercase ASCII letters, digits, `-`, `_` and `.`"
        )));
    }
    if is_protocol_header(key) {
        return Err(invalid(format!(
            "metadata key {key:?} is reserved for the protocol itself"
        )));
    }
    HeaderName::from_bytes(key.as_bytes())
        .map_err(|_| invalid(format!("metadata key {key:?} is not a valid header name")))
}

impl MetadataMap {
    /// An empty map.
    pub fn new() -> MetadataMap {
        MetadataMap::default()
    }

    /// Adds an ASCII value (printable characters and spaces) under `key`, which must not end in
    /// `-bin`. A key may hold several values.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        let name = check_key(key)?;
        if key.ends_with("-bin") {
            return Err(invalid(format!(
                "metadata key {key:?} ends in -bin, so it holds binary data: use insert_bin"
            )));
        }
        if let Some(bad) = value.chars().find(|c| !(' '..='~').contains(c)) {
            return Err(invalid(format!(
                "metadata value for {key:?} contains {bad:?}: ASCII values are printable characters; \
                 use a key ending in -bin for anything else"
            )));
        }
        let value = HeaderValue::from_str(value).map_err(|_| {
            invalid(format!(
                "metadata value for {key:?} is not a valid header value"
            ))
        })?;
        self.headers.append(name, value);
        Ok(())
    }

    /// Adds a binary value under `key`, which must end in `-bin`; it is sent base64-encoded.
    pub fn insert_bin(
        &mut self,
        key: &str,
        value: impl AsRef<[u8]>,
    ) -> Result<(), InvalidMetadata> {
        let name = check_key(key)?;
        if !key.ends_with("-bin") {
            return Err(invalid(format!(
                "metadata key {key:?} holds binary data, so it must end in -bin"
            )));
        }
        let encoded = crate::base64::encode(value.as_ref());
        let value = HeaderValue::from_str(&encoded).expect("base64 is a valid header value");
        self.headers.append(name, value);
        Ok(())
    }

    /// The first ASCII value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(|value| value.to_str().ok())
    }

    /// Every ASCII value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .get_all(key)
            .into_iter()
            .filter_map(|value| value.to_str().ok())
    }

    /// The first binary value of `key` (a `-bin` key), decoded; padded and unpadded base64 are
    /// both accepted, as the spec requires.
    pub fn get_bin(&self, key: &str) -> Option<Vec<u8>> {
        self.headers
            .get(key)
            .and_then(|value| crate::base64::decode(value.as_bytes()))
    }

    /// Whether the map holds no entry.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Every key and raw value (binary values still base64-encoded).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
    }

    /// The custom metadata among received headers: everything but the protocol's own. Most
    /// calls carry none, and then nothing is allocated.
    pub(crate) fn from_headers(headers: &HeaderMap) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        for (name, value) in headers {
            if is_protocol_header(name.as_str()) {
                continue;
            }
            metadata.headers.append(name.clone(), value.clone());
        }
        metadata
    }

    /// Copies every entry into headers about to be sent.
    pub(crate) fn write_to(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
    }

    /// Adds every entry of `other`.
    pub(crate) fn extend(&mut self, other: &MetadataMap) {
        other.write_to(&mut self.headers);
    }
}

impl fmt::Debug for MetadataMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.headers
                    .iter()
                    .map(|(name, value)| (name.as_str(), value)),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_and_reserved_keys_and_values_are_refused() {
        let mut metadata = MetadataMap::new();
        for key in [
            "",
            "Dry-Run",
            "with space",
            "grpc-timeout",
            "content-type",
            "te",
            "é",
        ] {
            assert!(metadata.insert(key, "x").is_err(), "{key:?}");
        }
        assert!(metadata.insert("ok", "line\nbreak").is_err());
        assert!(metadata.insert("ok", "ünïcode").is_err());
        assert!(metadata.insert("data-bin", "x").is_err());
        assert!(metadata.insert_bin("data", [1]).is_err());
        assert!(metadata.is_empty());
    }

    #[test]
    fn binary_values_decode_padded_or_not() {
        let mut headers = HeaderMap::new();
        headers.insert("padded-bin", HeaderValue::from_static("AQI="));
        headers.insert("unpadded-bin", HeaderValue::from_static("AQI"));
        headers.insert("grpc-status", HeaderValue::from_static("0"));
        let metadata = MetadataMap::from_headers(&headers);
        assert_eq!(metadata.get_bin("padded-bin"), Some(vec![1, 2]));
        assert_eq!(metadata.get_bin("unpadded-bin"), Some(vec![1, 2]));
        assert_eq!(metadata.len(), 2, "grpc-status is not custom metadata");
    }
}
