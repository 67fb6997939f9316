//! What peers put in headers: `grpc-timeout`, `grpc-message` percent-encoding, metadata (ASCII
//! and `-bin`) and its base64.
//!
//! Parsing never panics, and what protoless writes, it reads back unchanged.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use protoless::__fuzz::{
    decode_base64, decode_grpc_message, encode_base64, encode_grpc_message, format_timeout,
    metadata_from_headers, parse_timeout,
};
use protoless::MetadataMap;

#[derive(Arbitrary, Debug)]
struct Input {
    timeout: Vec<u8>,
    deadline: (u64, u32),
    message: String,
    received_message: Vec<u8>,
    base64: Vec<u8>,
    binary: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    key: String,
    value: String,
}

fuzz_target!(|input: Input| {
    // grpc-timeout: a parsed value formats to one that parses to no less.
    if let Some(timeout) = parse_timeout(&input.timeout) {
        let again = parse_timeout(format_timeout(timeout).as_bytes()).expect("formatted parses");
        assert!(again >= timeout, "{again:?} < {timeout:?}");
    }
    let deadline = Duration::new(
        input.deadline.0 % (1 << 40),
        input.deadline.1 % 1_000_000_000,
    );
    let formatted = format_timeout(deadline);
    let parsed = parse_timeout(formatted.as_bytes()).expect("formatted timeouts parse");
    assert!(
        parsed >= deadline || formatted == "99999999H",
        "{formatted} shortens {deadline:?}"
    );

    // grpc-message: any text survives the round trip, and any received value decodes.
    let encoded = encode_grpc_message(&input.message);
    assert!(
        http::HeaderValue::from_str(&encoded).is_ok(),
        "{encoded:?} is no header value"
    );
    assert_eq!(decode_grpc_message(encoded.as_bytes()), input.message);
    let _ = decode_grpc_message(&input.received_message);

    // base64: what is sent decodes; what decodes re-encodes to the same bytes.
    assert_eq!(
        decode_base64(encode_base64(&input.binary).as_bytes()),
        Some(input.binary.clone())
    );
    if let Some(decoded) = decode_base64(&input.base64) {
        assert_eq!(
            decode_base64(encode_base64(&decoded).as_bytes()),
            Some(decoded)
        );
    }

    // Received metadata: whatever valid headers arrive, reading them never panics.
    let mut headers = http::HeaderMap::new();
    for (name, value) in &input.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    let metadata = metadata_from_headers(&headers);
    assert!(metadata.len() <= headers.len());
    for (key, _) in metadata.iter() {
        let _ = metadata.get(key);
        let _ = metadata.get_all(key).count();
        let _ = metadata.get_bin(key);
    }

    // Metadata set by the application: refused with an error, or read back as written.
    let mut sent = MetadataMap::new();
    if sent.insert(&input.key, &input.value).is_ok() {
        assert_eq!(
            sent.get(&input.key.to_ascii_lowercase()),
            Some(input.value.as_str())
        );
    }
    let mut sent = MetadataMap::new();
    let binary_key = format!("{}-bin", input.key);
    if sent.insert_bin(&binary_key, &input.binary).is_ok() {
        assert_eq!(
            sent.get_bin(&binary_key.to_ascii_lowercase()),
            Some(input.binary)
        );
    }
});
