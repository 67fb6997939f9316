//! Base64 for `-bin` metadata: sent padded, accepted padded or not (as the gRPC spec requires);
//! and for the web protocols and JSON, which accept URL-safe base64 too.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub(crate) fn decode(text: &[u8]) -> Option<Vec<u8>> {
    LENIENT.decode(text).ok()
}

const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Standard or URL-safe base64, padded or not: what protobuf's JSON parsers and the Connect
/// protocol accept.
pub(crate) fn decode_any(text: &[u8]) -> Option<Vec<u8>> {
    LENIENT
        .decode(text)
        .or_else(|_| LENIENT_URL_SAFE.decode(text))
        .ok()
}
