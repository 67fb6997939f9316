//! The protobuf encoding of `#[derive(Message)]` types, checked against the byte examples of
//! https://protobuf.dev/programming-guides/encoding/ and against hostile input.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use protoless::{Codec, Enumeration, Message};

#[derive(Message, Clone, Debug, PartialEq)]
struct Test1 {
    a: i32,
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Test2 {
    #[proto(tag = 2)]
    b: String,
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Test3 {
    #[proto(tag = 3)]
    c: Test1,
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Test5 {
    #[proto(tag = 6)]
    e: Vec<i32>,
}

/// A colour.
#[derive(Enumeration, Clone, Copy, Debug, PartialEq, Eq)]
enum Color {
    Unspecified = 0,
    Red = 1,
    DeepBlue = 5,
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
    nested: Test1,
    maybe_number: Option<i64>,
    maybe_nested: Option<Test1>,
    numbers: Vec<i32>,
    #[proto(sint)]
    zigzags: Vec<i64>,
    words: Vec<String>,
    children: Vec<Test1>,
    colors: Vec<Color>,
    by_name: HashMap<String, i64>,
    ordered: BTreeMap<i32, Test1>,
    next: Option<Box<Everything>>,
}

fn everything() -> Everything {
    Everything {
        double: -1.5e300,
        float: f32::MIN_POSITIVE,
        int32: i32::MIN,
        int64: i64::MIN,
        uint32: u32::MAX,
        uint64: u64::MAX,
        sint32: -2,
        sint64: i64::MIN,
        fixed32: 0xdead_beef,
        fixed64: u64::MAX - 1,
        sfixed32: -7,
        sfixed64: i64::MAX,
        boolean: true,
        text: "ünïcödé ✓ 🦀".to_owned(),
        blob: vec![0, 255, 128],
        shared: Bytes::from_static(b"shared"),
        color: Color::DeepBlue,
        nested: Test1 { a: 150 },
        maybe_number: Some(0),
        maybe_nested: Some(Test1 { a: 0 }),
        numbers: vec![3, 270, 86942, -1],
        zigzags: vec![-1, 1, i64::MIN],
        words: vec!["".to_owned(), "two".to_owned()],
        children: vec![Test1 { a: 1 }, Test1::default()],
        colors: vec![Color::Red, Color::Unspecified],
        by_name: HashMap::from([("a".to_owned(), 1), ("".to_owned(), 0)]),
        ordered: BTreeMap::from([(-1, Test1 { a: 2 }), (0, Test1::default())]),
        next: Some(Box::new(Everything {
            text: "inner".to_owned(),
            ..Everything::default()
        })),
    }
}

#[test]
fn encodes_the_spec_examples_byte_for_byte() {
    assert_eq!(Test1 { a: 150 }.encode_to_vec(), [0x08, 0x96, 0x01]);
    assert_eq!(
        Test2 {
            b: "testing".to_owned()
        }
        .encode_to_vec(),
        b"\x12\x07testing"
    );
    assert_eq!(
        Test3 {
            c: Test1 { a: 150 }
        }
        .encode_to_vec(),
        [0x1a, 0x03, 0x08, 0x96, 0x01]
    );
    assert_eq!(
        Test5 { e: vec![1, 2, 3] }.encode_to_vec(),
        [0x32, 0x03, 0x01, 0x02, 0x03]
    );
    // Negative int32 is sign-extended to ten bytes.
    assert_eq!(
        Test1 { a: -1 }.encode_to_vec(),
        [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
    );
}

#[test]
fn proto3_defaults_are_not_written_but_present_optionals_are() {
    assert!(Everything::default().encode_to_vec().is_empty());
    let present = Everything {
        maybe_number: Some(0),
        ..Everything::default()
    };
    assert_eq!(present.encode_to_vec(), [0x98, 0x01, 0x00]);
}

#[test]
fn every_type_round_trips() {
    let value = everything();
    let bytes = value.encode_to_vec();
    assert_eq!(bytes.len(), value.encoded_len());
    assert_eq!(Everything::decode(bytes).unwrap(), value);
}

#[test]
fn every_type_round_trips_through_postcard() {
    let value = everything();
    let encoded = Codec::Postcard
        .encode(&value, bytes::BytesMut::new())
        .unwrap()
        .freeze();
    let decoded: Everything = Codec::Postcard.decode(encoded).unwrap();
    assert_eq!(decoded, value);
}

#[test]
fn unpacked_repeated_scalars_are_accepted() {
    // Field 6 three times as plain varints, as proto2 encoders write it.
    let unpacked = [0x30, 0x01, 0x30, 0x02, 0x30, 0x03];
    assert_eq!(
        Test5::decode(Bytes::copy_from_slice(&unpacked)).unwrap().e,
        [1, 2, 3]
    );
    // And mixed with a packed run.
    let mixed = [0x30, 0x01, 0x32, 0x02, 0x02, 0x03];
    assert_eq!(
        Test5::decode(Bytes::copy_from_slice(&mixed)).unwrap().e,
        [1, 2, 3]
    );
}

#[test]
fn repeated_singular_fields_last_wins_and_messages_merge() {
    #[derive(Message, Clone, Debug, PartialEq)]
    struct Pair {
        x: i32,
        y: i32,
    }
    #[derive(Message, Clone, Debug, PartialEq)]
    struct Holder {
        name: String,
        pair: Pair,
    }
    let bytes = [
        0x12, 0x02, 0x08, 0x01, // pair { x: 1 }
        0x0a, 0x01, b'a', // name "a"
        0x12, 0x02, 0x10, 0x02, // pair { y: 2 }: merged, not replaced
        0x0a, 0x01, b'b', // name "b": the last wins
    ];
    let decoded = Holder::decode(Bytes::copy_from_slice(&bytes)).unwrap();
    assert_eq!(decoded.name, "b");
    assert_eq!(decoded.pair, Pair { x: 1, y: 2 });
}

#[test]
fn unknown_fields_of_every_wire_type_are_skipped() {
    let bytes = [
        0x50, 0x05, // field 10, varint
        0x59, 1, 2, 3, 4, 5, 6, 7, 8, // field 11, fixed64
        0x62, 0x02, 0xaa, 0xbb, // field 12, length-delimited
        0x6d, 1, 2, 3, 4, // field 13, fixed32
        0x73, 0x08, 0x01, 0x74, // field 14, a group holding a varint
        0x08, 0x96, 0x01, // field 1: the one we know
    ];
    assert_eq!(
        Test1::decode(Bytes::copy_from_slice(&bytes)).unwrap(),
        Test1 { a: 150 }
    );
}

#[test]
fn unknown_enum_numbers_leave_the_default() {
    #[derive(Message, Clone, Debug, PartialEq)]
    struct Painted {
        color: Color,
    }
    assert_eq!(
        Painted::decode(Bytes::copy_from_slice(&[0x08, 0x05]))
            .unwrap()
            .color,
        Color::DeepBlue
    );
    assert_eq!(
        Painted::decode(Bytes::copy_from_slice(&[0x08, 0x63]))
            .unwrap()
            .color,
        Color::Unspecified
    );
    assert_eq!(Color::from_i32(1), Some(Color::Red));
    assert_eq!(Color::DeepBlue.to_i32(), 5);
}

#[test]
fn wrong_wire_types_and_truncation_are_errors() {
    assert!(
        Test1::decode(Bytes::copy_from_slice(&[0x0a, 0x00])).is_err(),
        "field 1 as length-delimited"
    );
    assert!(
        Test2::decode(Bytes::copy_from_slice(&[0x12, 0x05, b'a'])).is_err(),
        "length past the end"
    );
    assert!(
        Test2::decode(Bytes::copy_from_slice(&[0x12, 0x02, 0xff, 0xfe])).is_err(),
        "invalid UTF-8"
    );
    assert!(
        Test1::decode(Bytes::copy_from_slice(&[0x08])).is_err(),
        "missing varint"
    );
    assert!(
        Test1::decode(Bytes::copy_from_slice(&[0x08, 0x96])).is_err(),
        "truncated varint"
    );
}

#[test]
fn nesting_past_the_recursion_limit_is_refused_without_overflowing_the_stack() {
    #[derive(Message, Clone, Debug, PartialEq)]
    struct Node {
        child: Option<Box<Node>>,
        value: i32,
    }
    fn nested(depth: usize) -> Vec<u8> {
        let mut bytes = vec![0x10, 0x01];
        for _ in 0..depth {
            let mut outer = vec![0x0a];
            let mut len = bytes.len();
            while len >= 0x80 {
                outer.push((len as u8) | 0x80);
                len >>= 7;
            }
            outer.push(len as u8);
            outer.extend_from_slice(&bytes);
            bytes = outer;
        }
        bytes
    }
    assert!(Node::decode(nested(99)).is_ok());
    let error = Node::decode(nested(5000)).unwrap_err();
    assert!(error.to_string().contains("recursion limit"), "{error}");
}

#[test]
fn random_bytes_never_panic() {
    // A fixed-seed generator, so that a failure reproduces.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let valid = everything().encode_to_vec();
    for round in 0..20_000 {
        let mut bytes: Vec<u8> = if round % 2 == 0 {
            (0..next() % 64).map(|_| next() as u8).collect()
        } else {
            // Mutate a valid message: the paths deep inside the decoder get exercised too.
            let mut bytes = valid.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            bytes.truncate((next() as usize) % (bytes.len() + 1));
            bytes
        };
        let _ = Everything::decode(std::mem::take(&mut bytes));
    }
}

#[test]
fn the_schema_renders_every_shape() {
    #[protoless::service(package = "shapes")]
    trait Shapes {
        async fn all(&self, req: Everything) -> Result<(), protoless::Status>;
    }
    let proto = ShapesServer::schema().to_proto().unwrap();
    for line in [
        "import \"google/protobuf/empty.proto\";",
        "  rpc All(Everything) returns (google.protobuf.Empty);",
        "  double double = 1;",
        "  sint32 sint32 = 7;",
        "  sfixed64 sfixed64 = 12;",
        "  Color color = 17;",
        "  optional int64 maybe_number = 19;",
        "  Test1 maybe_nested = 20;",
        "  repeated sint64 zigzags = 22;",
        "  map<string, int64> by_name = 26;",
        "  map<int32, Test1> ordered = 27;",
        "  Everything next = 28;",
        "// A colour.",
        "enum Color {",
        "  COLOR_UNSPECIFIED = 0;",
        "  COLOR_DEEP_BLUE = 5;",
    ] {
        assert!(
            proto.lines().any(|l| l == line),
            "missing {line:?} in\n{proto}"
        );
    }
    assert_eq!(
        proto.matches("message Test1 {").count(),
        1,
        "defined once:\n{proto}"
    );
}

#[derive(Message, Clone, Debug, PartialEq)]
enum Shape {
    Circle(Test1),
    Label(String),
    Size(i64),
}

#[test]
fn oneof_members_have_presence_and_the_last_one_wins() {
    // A member holding its default value is still written: it says which member is set.
    assert_eq!(Shape::Size(0).encode_to_vec(), [0x18, 0x00]);
    let label_then_size = [0x12, 0x01, b'x', 0x18, 0x07];
    assert_eq!(
        Shape::decode(Bytes::copy_from_slice(&label_then_size)).unwrap(),
        Shape::Size(7)
    );
    // The same message member twice merges.
    let circle_twice = [0x0a, 0x02, 0x08, 0x01, 0x0a, 0x00];
    assert_eq!(
        Shape::decode(Bytes::copy_from_slice(&circle_twice)).unwrap(),
        Shape::Circle(Test1 { a: 1 })
    );
}

#[test]
fn durations_and_timestamps_round_trip_and_refuse_what_std_cannot_hold() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    #[derive(Message, Clone, Debug, PartialEq)]
    struct Times {
        elapsed: Duration,
        at: SystemTime,
    }
    for (elapsed, at) in [
        (Duration::ZERO, UNIX_EPOCH),
        (
            Duration::new(1, 1),
            UNIX_EPOCH + Duration::new(1_700_000_000, 5),
        ),
        (
            Duration::from_millis(1500),
            UNIX_EPOCH - Duration::new(10, 1),
        ),
    ] {
        let value = Times { elapsed, at };
        assert_eq!(Times::decode(value.encode_to_vec()).unwrap(), value);
    }
    // google.protobuf.Duration { seconds: -1 } has no std::time::Duration.
    let negative = [
        0x0a, 0x0b, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    assert!(Times::decode(Bytes::copy_from_slice(&negative)).is_err());
}

#[test]
fn two_rust_types_with_one_proto_name_are_an_error_naming_both() {
    mod first {
        #[derive(protoless::Message)]
        pub(crate) struct Item {
            pub(crate) id: i32,
        }
    }
    mod second {
        #[derive(protoless::Message)]
        pub(crate) struct Item {
            pub(crate) name: String,
        }
    }
    #[protoless::service(package = "clash")]
    trait Clash {
        async fn one(&self, req: first::Item) -> Result<second::Item, protoless::Status>;
    }
    let error = ClashServer::schema().to_proto().unwrap_err().to_string();
    assert!(
        error.contains("two different Rust types claim the proto name `Item`"),
        "{error}"
    );
    assert!(error.contains("first::Item"), "{error}");
    assert!(error.contains("second::Item"), "{error}");
}

#[test]
fn every_package_gets_one_file_with_shared_types_once() {
    #[protoless::service(package = "alpha")]
    trait One {
        async fn a(&self, req: Test1) -> Result<Test2, protoless::Status>;
    }
    #[protoless::service(package = "alpha")]
    trait Two {
        async fn b(&self, req: Test1) -> Result<Test3, protoless::Status>;
    }
    #[protoless::service(package = "beta.v1")]
    trait Three {
        async fn c(&self, req: Test1) -> Result<(), protoless::Status>;
    }
    let files = protoless::schema::render_packages([
        OneServer::schema(),
        TwoServer::schema(),
        ThreeServer::schema(),
    ])
    .unwrap();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["alpha/alpha.proto", "beta/v1/beta.proto"]
    );
    let alpha = &files["alpha/alpha.proto"];
    assert_eq!(alpha.matches("message Test1 {").count(), 1, "{alpha}");
    assert!(alpha.contains("service One {") && alpha.contains("service Two {"));
    assert!(files["beta/v1/beta.proto"].contains("package beta.v1;"));
}

#[test]
fn open_enums_keep_numbers_this_program_does_not_know() {
    use protoless::OpenEnum;
    #[derive(Message, Clone, Debug, PartialEq)]
    struct Painted {
        color: OpenEnum<Color>,
        history: Vec<OpenEnum<Color>>,
    }
    let from_newer_peer = [0x08, 0x63, 0x12, 0x02, 0x05, 0x64];
    let decoded = Painted::decode(Bytes::copy_from_slice(&from_newer_peer)).unwrap();
    assert_eq!(decoded.color.get(), Err(99));
    assert_eq!(decoded.history[0].get(), Ok(Color::DeepBlue));
    assert_eq!(decoded.history[1].to_i32(), 100);
    // Passed along, the unknown numbers survive.
    assert_eq!(decoded.encode_to_vec(), from_newer_peer);
}

#[derive(Message, Clone, Debug, PartialEq)]
enum Request {
    #[proto(tag = 3)]
    ByName(String),
    #[proto(tag = 5)]
    Child(Test1),
    #[proto(tag = 7)]
    Count(i64),
}

/// A oneof among other fields, numbers pinned per variant, as `ServerReflectionRequest` has.
#[derive(Message, Clone, Debug, PartialEq)]
struct Envelope {
    host: String,
    #[proto(oneof)]
    request: Option<Request>,
    #[proto(tag = 2)]
    trailer: i32,
}

/// A struct field numbered like a oneof member: the schema refuses it.
#[derive(Message, Clone, Debug, PartialEq)]
struct Clashing {
    #[proto(oneof)]
    request: Option<Request>,
    #[proto(tag = 5)]
    child: i32,
}

#[test]
fn a_oneof_field_sits_among_other_fields_with_its_members_numbers() {
    let message = Envelope {
        host: "h".into(),
        request: Some(Request::Count(0)),
        trailer: 9,
    };
    // host = 1, trailer = 2, count = 7 (written although 0: members have presence).
    let bytes = message.encode_to_vec();
    assert_eq!(bytes, [0x0a, 1, b'h', 0x10, 9, 0x38, 0]);
    assert_eq!(Envelope::decode(Bytes::from(bytes)).unwrap(), message);
    // Another member later replaces the first; no member leaves the field `None`.
    let replaced = [0x1a, 1, b'x', 0x2a, 2, 0x08, 4];
    assert_eq!(
        Envelope::decode(Bytes::copy_from_slice(&replaced))
            .unwrap()
            .request,
        Some(Request::Child(Test1 { a: 4 }))
    );
    assert_eq!(Envelope::decode(Bytes::new()).unwrap().request, None);
    #[protoless::service(package = "oneofs")]
    trait Enveloped {
        async fn send(&self, req: Envelope) -> Result<Test1, protoless::Status>;
    }
    #[protoless::service(package = "oneofs")]
    trait Clashed {
        async fn clash(&self, req: Clashing) -> Result<Test1, protoless::Status>;
    }
    let error = ClashedServer::schema().to_proto().unwrap_err().to_string();
    assert!(
        error.contains("gives number 5 to both `child` and `child`"),
        "{error}"
    );
    let proto = EnvelopedServer::schema().to_proto().unwrap();
    assert!(
        proto.contains(
            "message Envelope {\n  string host = 1;\n  oneof request {\n    string by_name = 3;\n    \
             Test1 child = 5;\n    int64 count = 7;\n  }\n  int32 trailer = 2;\n}"
        ),
        "{proto}"
    );
}

// Declared inside `Reading` in the `.proto` file, as `HealthCheckResponse.ServingStatus` is.
#[derive(Enumeration, Clone, Copy, Debug, PartialEq, Eq)]
#[proto(name = "Reading.Unit")]
enum Unit {
    Unspecified = 0,
    Celsius = 1,
}

#[derive(Message, Clone, Debug, PartialEq)]
#[proto(name = "Reading.Source")]
struct Source {
    sensor: String,
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Reading {
    unit: Unit,
    source: Source,
}

#[test]
fn types_named_outer_dot_inner_are_declared_inside_outer() {
    #[protoless::service(package = "nested")]
    trait Sensors {
        async fn read(&self, req: Test1) -> Result<Reading, protoless::Status>;
    }
    let proto = SensorsServer::schema().to_proto().unwrap();
    let expected = "message Reading {\n  enum Unit {\n    UNIT_UNSPECIFIED = 0;\n    \
                    UNIT_CELSIUS = 1;\n  }\n\n  message Source {\n    string sensor = 1;\n  }\n\n  \
                    Reading.Unit unit = 1;\n  Reading.Source source = 2;\n}\n";
    assert!(proto.ends_with(expected), "{proto}");
    // Declared once, inside: never at the top level too.
    assert_eq!(proto.matches("enum Unit").count(), 1, "{proto}");

    // A nested type whose scope the file does not define cannot be rendered.
    #[protoless::service(package = "nested")]
    trait Orphans {
        async fn read(&self, req: Test1) -> Result<Source, protoless::Status>;
    }
    let error = OrphansServer::schema().to_proto().unwrap_err().to_string();
    assert!(
        error.contains("declared inside message `Reading`"),
        "{error}"
    );
}
