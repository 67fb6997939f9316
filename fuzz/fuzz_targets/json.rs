//! Proto3 JSON (`protoless::json`), both ways, on a message using every mapping.
//!
//! Whatever the bytes, reading them as JSON gives a message or an error (never a panic, a hang,
//! or a stack overflow however deep the nesting); a message read from JSON writes as JSON and
//! reads back to the same message. A message decoded from protobuf writes as JSON (or says why
//! not: a time out of JSON's range), and that JSON is stable: read and written again, it is the
//! same text.
#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use protoless::json::{from_json, to_json};
use protoless::{Enumeration, Message};

#[derive(Enumeration, Clone, Copy, Debug, PartialEq)]
enum Color {
    Unspecified = 0,
    Red = 1,
    DeepBlue = 5,
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Leaf {
    id: i32,
    label: String,
}

#[derive(Message, Clone, Debug, PartialEq)]
enum Choice {
    Number(i64),
    Text(String),
    Nested(Leaf),
    Shade(Color),
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Everything {
    double_value: f64,
    float_value: f32,
    int32_value: i32,
    int64_value: i64,
    uint32_value: u32,
    uint64_value: u64,
    #[proto(sint)]
    sint32_value: i32,
    #[proto(sint)]
    sint64_value: i64,
    #[proto(fixed)]
    fixed32_value: u32,
    #[proto(fixed)]
    fixed64_value: u64,
    #[proto(fixed)]
    sfixed32_value: i32,
    #[proto(fixed)]
    sfixed64_value: i64,
    bool_value: bool,
    string_value: String,
    bytes_value: Vec<u8>,
    shared: Bytes,
    color: Color,
    leaf: Leaf,
    maybe_int: Option<i32>,
    maybe_leaf: Option<Leaf>,
    numbers: Vec<i32>,
    floats: Vec<f32>,
    words: Vec<String>,
    leaves: Vec<Leaf>,
    colors: Vec<Color>,
    by_bool: BTreeMap<bool, String>,
    by_int64: BTreeMap<i64, Leaf>,
    by_string: BTreeMap<String, Color>,
    #[proto(fixed)]
    by_fixed32: BTreeMap<u32, f64>,
    choice: Option<Choice>,
    elapsed: Duration,
    at: SystemTime,
    next: Option<Box<Everything>>,
}

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = from_json::<Everything>(data) {
        let json = to_json(&message).expect("a message read from JSON writes as JSON");
        let again: Everything = from_json(json.as_bytes())
            .unwrap_or_else(|error| panic!("{json} does not read back: {error}"));
        assert_eq!(
            again.encode_to_vec(),
            message.encode_to_vec(),
            "{json} reads back as another message"
        );
    }
    if let Ok(message) = Everything::decode(Bytes::copy_from_slice(data)) {
        if let Ok(json) = to_json(&message) {
            let again: Everything = from_json(json.as_bytes())
                .unwrap_or_else(|error| panic!("{json} does not read back: {error}"));
            assert_eq!(to_json(&again).unwrap(), json, "unstable JSON");
        }
    }
});
