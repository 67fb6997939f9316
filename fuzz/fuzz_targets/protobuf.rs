//! Protobuf decoding of a message using every mapping the derive offers, recursion included.
//!
//! Whatever the bytes, decoding returns a message or an error (never a panic, a hang, or an
//! allocation out of proportion to the input); and a message it returns is stable: encoding it,
//! decoding that and encoding again gives the same bytes, and `encoded_len` is exact.
#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use protoless::{Enumeration, Message, OpenEnum};

#[derive(Enumeration, Clone, Copy, Debug, PartialEq)]
enum Color {
    Unspecified = 0,
    Red = 1,
    DeepBlue = 5,
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Leaf {
    a: i32,
    label: String,
}

#[derive(Message, Clone, Debug, PartialEq)]
enum Shape {
    Circle(Leaf),
    Label(String),
    Size(i64),
    Tree(Box<Everything>),
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Everything {
    double: f64,
    float: f32,
    int32: i32,
    int64: i64,
    uint32: u32,
    uint64: u64,
    #[proto(sint)]
    sint32: i32,
    #[proto(sint)]
    sint64: i64,
    #[proto(fixed)]
    fixed32: u32,
    #[proto(fixed)]
    fixed64: u64,
    #[proto(fixed)]
    sfixed32: i32,
    #[proto(fixed)]
    sfixed64: i64,
    boolean: bool,
    text: String,
    blob: Vec<u8>,
    shared: Bytes,
    color: Color,
    open_color: OpenEnum<Color>,
    nested: Leaf,
    maybe_number: Option<i64>,
    maybe_text: Option<String>,
    maybe_nested: Option<Leaf>,
    numbers: Vec<i32>,
    #[proto(sint)]
    zigzags: Vec<i64>,
    #[proto(fixed)]
    fixeds: Vec<u64>,
    doubles: Vec<f64>,
    flags: Vec<bool>,
    words: Vec<String>,
    blobs: Vec<Bytes>,
    children: Vec<Leaf>,
    colors: Vec<Color>,
    open_colors: Vec<OpenEnum<Color>>,
    by_name: BTreeMap<String, i64>,
    ordered: BTreeMap<i32, Leaf>,
    painted: BTreeMap<u64, Color>,
    elapsed: Duration,
    at: SystemTime,
    shape: Shape,
    next: Option<Box<Everything>>,
    forest: Vec<Everything>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(first) = Everything::decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    let encoded = first.encode_to_vec();
    assert_eq!(first.encoded_len(), encoded.len(), "encoded_len is exact");
    let second =
        Everything::decode(Bytes::from(encoded.clone())).expect("what the encoder wrote decodes");
    assert_eq!(
        second.encode_to_vec(),
        encoded,
        "decode -> encode -> decode is stable"
    );
});
