//! The protobuf mapping against the reference: Python's protobuf library builds values of a
//! message that uses every mapping, from stubs generated from protoless's own export, and sends
//! them to a Rust server, which checks them field by field against its own construction of the
//! same case and sends them back for Python to check. For canonical cases (no map of several
//! entries, whose order libraries choose freely) the Rust encoding equals Python's byte for byte. `protoc` (from grpcio-tools) compiles every exported file.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use protoless::{Enumeration, Message, Server, Status};
use support::{python, root, TestServer};

/// A colour, as an enum.
#[derive(Enumeration, Clone, Copy, Debug, PartialEq)]
enum Color {
    Unspecified = 0,
    Red = 1,
    DeepBlue = 5,
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Inner {
    id: i32,
    label: String,
}

/// One of several kinds of value.
#[derive(Message, Clone, Debug, PartialEq)]
enum Choice {
    Number(i64),
    Text(String),
    Nested(Inner),
    Shade(Color),
}

#[derive(Message, Clone, Debug, PartialEq)]
#[proto(reserved(40, 50..=59, "retired"))]
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
    shared_bytes: Bytes,
    color: Color,
    inner: Inner,
    maybe_int: Option<i32>,
    maybe_text: Option<String>,
    maybe_inner: Option<Inner>,
    numbers: Vec<i32>,
    #[proto(sint)]
    zigzags: Vec<i64>,
    doubles: Vec<f64>,
    words: Vec<String>,
    inners: Vec<Inner>,
    colors: Vec<Color>,
    by_bool: BTreeMap<bool, String>,
    by_int32: BTreeMap<i32, Inner>,
    by_int64: BTreeMap<i64, i64>,
    by_uint32: BTreeMap<u32, Color>,
    by_uint64: BTreeMap<u64, Vec<u8>>,
    by_string: BTreeMap<String, f64>,
    #[proto(sint)]
    by_sint32: BTreeMap<i32, String>,
    #[proto(fixed)]
    by_fixed64: BTreeMap<u64, bool>,
    choice: Option<Choice>,
    elapsed: Duration,
    at: std::time::SystemTime,
    next: Option<Box<Everything>>,
    #[proto(tag = 100, name = "renamed_field")]
    pinned: u32,
    /// Named `customJson` in proto3 JSON.
    #[proto(tag = 101, json_name = "customJson")]
    json_named: i32,
}

/// A named case and its value.
#[derive(Message, Clone, Debug, PartialEq)]
struct Case {
    name: String,
    value: Everything,
}

#[derive(Message, Clone, Debug, PartialEq)]
struct Encoded {
    bytes: Vec<u8>,
}

/// A case's value as proto3 JSON.
#[derive(Message, Clone, Debug, PartialEq)]
struct JsonText {
    name: String,
    text: String,
}

/// Checks values that other stacks build.
#[protoless::service(package = "conformance")]
trait Conformance {
    /// Fails with INVALID_ARGUMENT unless the value equals this side's construction of the
    /// named case; echoes it otherwise.
    async fn check(&self, req: Case) -> Result<Case, Status>;
    /// This side's encoding of the named case.
    #[no_side_effects]
    async fn encode(&self, req: Case) -> Result<Encoded, Status>;
    /// This side's proto3 JSON of the named case.
    #[no_side_effects]
    async fn to_json(&self, req: Case) -> Result<JsonText, Status>;
    /// Fails with INVALID_ARGUMENT unless `text`, read as proto3 JSON, equals this side's
    /// construction of the named case.
    #[no_side_effects]
    async fn check_json(&self, req: JsonText) -> Result<JsonText, Status>;
}

fn inner(id: i32, label: &str) -> Inner {
    Inner {
        id,
        label: label.to_owned(),
    }
}

/// The cases, built here exactly as `tests/python/conformance.py` builds them.
fn case(name: &str) -> Option<Everything> {
    let mut value = Everything::default();
    match name {
        "defaults" => {}
        "negatives" => {
            value.double_value = -0.5;
            value.float_value = -1.5;
            value.int32_value = -1;
            value.int64_value = -2;
            value.sint32_value = -3;
            value.sint64_value = -4;
            value.sfixed32_value = -5;
            value.sfixed64_value = -6;
            value.numbers = vec![-1, -128, i32::MIN];
            value.zigzags = vec![-1, 1, -2];
            value.by_int32.insert(-7, inner(-8, "negative"));
            value.json_named = -9;
        }
        "extremes" => {
            value.double_value = f64::MAX;
            value.float_value = f32::MIN_POSITIVE;
            value.int32_value = i32::MAX;
            value.int64_value = i64::MIN;
            value.uint32_value = u32::MAX;
            value.uint64_value = u64::MAX;
            value.sint32_value = i32::MIN;
            value.sint64_value = i64::MAX;
            value.fixed32_value = u32::MAX;
            value.fixed64_value = u64::MAX;
            value.sfixed32_value = i32::MIN;
            value.sfixed64_value = i64::MIN;
            value.doubles = vec![f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE];
            value.pinned = u32::MAX;
        }
        "unicode" => {
            value.string_value = "π ≈ 3.14159 — ünïcödé ✓ 🦀 中文 \u{0} end".to_owned();
            value.bytes_value = (0..=255).collect();
            value.shared_bytes = Bytes::from_static(b"\x00\xff shared");
            value.words = vec!["".to_owned(), "Ωmega".to_owned(), "🎉".to_owned()];
            value.by_string.insert("".to_owned(), -0.0);
        }
        "present_defaults" => {
            value.maybe_int = Some(0);
            value.maybe_text = Some(String::new());
            value.maybe_inner = Some(Inner::default());
            value.bool_value = true;
            value.by_bool.insert(false, String::new());
            value.by_bool.insert(true, "yes".to_owned());
        }
        "large_repeated" => {
            value.numbers = (0..10_000).map(|i| i * 7 - 35_000).collect();
            value.words = (0..1_000).map(|i| format!("word {i}")).collect();
            value.inners = (0..1_000).map(|i| inner(i, "item")).collect();
            value.by_int64 = (0..1_000).map(|i| (i * 1_000_003, -i)).collect();
            value.by_uint64 = (0..100).map(|i| (i, vec![i as u8; i as usize])).collect();
        }
        "enums" => {
            value.color = Color::DeepBlue;
            value.colors = vec![Color::Red, Color::Unspecified, Color::DeepBlue];
            value.by_uint32.insert(3, Color::Red);
        }
        "all_map_keys" => {
            value.by_bool.insert(true, "t".to_owned());
            value.by_int32.insert(i32::MIN, inner(1, "min"));
            value.by_int64.insert(i64::MAX, i64::MIN);
            value.by_uint32.insert(u32::MAX, Color::DeepBlue);
            value.by_uint64.insert(u64::MAX, b"max".to_vec());
            value.by_string.insert("ключ".to_owned(), 2.5);
            value.by_sint32.insert(-1, "minus one".to_owned());
            value.by_sint32.insert(i32::MAX, "max".to_owned());
            value.by_fixed64.insert(1 << 40, true);
        }
        "oneof_number" => value.choice = Some(Choice::Number(-42)),
        "oneof_text" => value.choice = Some(Choice::Text("chosen".to_owned())),
        "oneof_empty_text" => value.choice = Some(Choice::Text(String::new())),
        "oneof_nested" => value.choice = Some(Choice::Nested(inner(9, "nested"))),
        "oneof_enum" => value.choice = Some(Choice::Shade(Color::Red)),
        "well_known" => {
            value.elapsed = Duration::new(90, 500_000_000);
            value.at = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        }
        "before_1970" => value.at = UNIX_EPOCH - Duration::new(86_400, 250_000_000),
        "recursive" => {
            let mut nested = Everything {
                string_value: "leaf".to_owned(),
                ..Everything::default()
            };
            for depth in 0..20 {
                nested = Everything {
                    int32_value: depth,
                    next: Some(Box::new(nested)),
                    ..Everything::default()
                };
            }
            value = nested;
        }
        _ => return None,
    }
    Some(value)
}

struct Checker;

/// Every case `case` builds.
const CASES: [&str; 16] = [
    "defaults",
    "negatives",
    "extremes",
    "unicode",
    "present_defaults",
    "large_repeated",
    "enums",
    "all_map_keys",
    "oneof_number",
    "oneof_text",
    "oneof_empty_text",
    "oneof_nested",
    "oneof_enum",
    "well_known",
    "before_1970",
    "recursive",
];

impl Conformance for Checker {
    async fn check(&self, req: Case) -> Result<Case, Status> {
        let expected = case(&req.name)
            .ok_or_else(|| Status::not_found(format!("no case named {:?}", req.name)))?;
        if req.value != expected {
            return Err(Status::invalid_argument(format!(
                "case {}: received\n{:#?}\nexpected\n{:#?}",
                req.name, req.value, expected
            )));
        }
        Ok(req)
    }

    async fn encode(&self, req: Case) -> Result<Encoded, Status> {
        let value = case(&req.name)
            .ok_or_else(|| Status::not_found(format!("no case named {:?}", req.name)))?;
        Ok(Encoded {
            bytes: value.encode_to_vec(),
        })
    }

    async fn to_json(&self, req: Case) -> Result<JsonText, Status> {
        let value = case(&req.name)
            .ok_or_else(|| Status::not_found(format!("no case named {:?}", req.name)))?;
        let text = protoless::json::to_json(&value).map_err(|e| Status::internal(e.to_string()))?;
        Ok(JsonText {
            name: req.name,
            text,
        })
    }

    async fn check_json(&self, req: JsonText) -> Result<JsonText, Status> {
        let expected = case(&req.name)
            .ok_or_else(|| Status::not_found(format!("no case named {:?}", req.name)))?;
        let value: Everything = protoless::json::from_json(req.text.as_bytes())
            .map_err(|e| Status::invalid_argument(format!("case {}: {e}", req.name)))?;
        if value != expected {
            return Err(Status::invalid_argument(format!(
                "case {}: read\n{value:#?}\nexpected\n{expected:#?}",
                req.name
            )));
        }
        Ok(req)
    }
}

fn export_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("protoless-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn python_protobuf_values_round_trip_through_rust_field_by_field() {
    let server =
        TestServer::start(Server::builder().add_service(ConformanceServer::new(Checker))).await;
    let stdout =
        support::run_python_against("conformance.py", server.addr, [ConformanceServer::schema()])
            .await;
    for name in [
        "defaults",
        "extremes",
        "unicode",
        "large_repeated",
        "oneof_empty_text",
        "recursive",
    ] {
        assert!(
            stdout.contains(&format!("round trip ok: {name}")),
            "{stdout}"
        );
    }
    // Canonical cases (maps of at most one entry: see conformance.py) encode to the same bytes.
    for name in [
        "defaults",
        "negatives",
        "extremes",
        "unicode",
        "enums",
        "oneof_number",
        "oneof_text",
        "oneof_empty_text",
        "oneof_nested",
        "oneof_enum",
        "well_known",
        "before_1970",
        "recursive",
    ] {
        assert!(stdout.contains(&format!("same bytes: {name}")), "{stdout}");
    }
    for name in CASES {
        for line in [
            format!("same json: {name}"),
            format!("python reads rust json: {name}"),
            format!("rust reads python json: {name}"),
        ] {
            assert!(
                stdout.lines().any(|printed| printed == line),
                "{line}\n{stdout}"
            );
        }
    }
    server.stop().await;
}

#[test]
fn the_conformance_export_declares_every_mapping() {
    let proto = ConformanceServer::schema().to_proto().unwrap();
    for line in [
        "import \"google/protobuf/duration.proto\";",
        "import \"google/protobuf/timestamp.proto\";",
        "  reserved 40, 50 to 59;",
        "  reserved \"retired\";",
        "  oneof choice {",
        "    int64 number = 1;",
        "    Color shade = 4;",
        "  map<sint32, string> by_sint32 = 34;",
        "  map<fixed64, bool> by_fixed64 = 35;",
        "  google.protobuf.Duration elapsed = 37;",
        "  google.protobuf.Timestamp at = 38;",
        "  uint32 renamed_field = 100;",
        "  int32 json_named = 101 [json_name = \"customJson\"];",
        "  rpc Encode(Case) returns (Encoded) {",
        "    option idempotency_level = NO_SIDE_EFFECTS;",
        "  COLOR_DEEP_BLUE = 5;",
    ] {
        assert!(
            proto.lines().any(|l| l == line),
            "missing {line:?} in\n{proto}"
        );
    }
}

/// A method may share its name with its message: the export qualifies the type so that protoc
/// does not take it for the method.
#[protoless::service(package = "clash")]
trait SameNames {
    async fn inner(&self, req: Inner) -> Result<Inner, Status>;
}

#[tokio::test]
async fn protoc_compiles_every_exported_file() {
    let dir = export_dir("protoc");
    let mut files = protoless::schema::export(
        &dir,
        [ConformanceServer::schema(), SameNamesServer::schema()],
    )
    .unwrap();
    for package in ["helloworld", "pi", "rpc"] {
        let name = protoless::schema::file_name(package);
        let copy = dir.join(&name);
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(root().join("examples/proto").join(&name), &copy).unwrap();
        files.push(copy);
    }
    let output = tokio::process::Command::new(python())
        .args([
            "-c",
            "import grpc_tools, os, sys; from grpc_tools import protoc; \
                      include = os.path.join(os.path.dirname(grpc_tools.__file__), '_proto'); \
                      sys.exit(protoc.main(['protoc', '-I' + sys.argv[1], '-I' + include, \
                      '--descriptor_set_out=' + os.devnull] + sys.argv[2:]))",
        ])
        .arg(&dir)
        .args(&files)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "protoc rejected an exported file:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(files.len() >= 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// buf (from the npm registry, installed by `scripts/buf-env`) lints the committed files and the
/// conformance export with the configuration in `examples/proto/buf.yaml`.
#[tokio::test]
async fn buf_lint_passes_on_the_exported_files() {
    let buf = support::buf();
    let dir = export_dir("buf");
    protoless::schema::export(&dir, [ConformanceServer::schema()]).unwrap();
    // The examples' configuration, its naming exceptions applied to this package instead.
    let config = std::fs::read_to_string(root().join("examples/proto/buf.yaml")).unwrap();
    let adapted = config.replace(
        "      - helloworld\n      - pi\n      - rpc\n",
        "      - conformance\n",
    );
    assert!(adapted.contains("- conformance"), "{config}");
    std::fs::write(dir.join("buf.yaml"), adapted).unwrap();
    for target in [root().join("examples/proto"), dir.clone()] {
        let output = tokio::process::Command::new(&buf)
            .arg("lint")
            .current_dir(&target)
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "buf lint failed in {}:\n{}{}",
            target.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();

    // The standard services protoless serves, with the rules their standard names break
    // (grpc.health.v1 and grpc.reflection keep grpc's own names) ignored for them only.
    let dir = export_dir("buf-standard");
    protoless::schema::export(
        &dir,
        [
            protoless::health::HealthServer::schema(),
            protoless::reflection::v1::ServerReflectionServer::schema(),
            protoless::reflection::v1alpha::ServerReflectionServer::schema(),
        ],
    )
    .unwrap();
    std::fs::copy(root().join("tests/buf-standard.yaml"), dir.join("buf.yaml")).unwrap();
    let output = tokio::process::Command::new(&buf)
        .arg("lint")
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "buf lint failed on the health and reflection exports:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_reading_accepts_original_names_numeric_enums_and_strings_and_skips_unknown_fields() {
    let json = r#"{
        "int64_value": 5, "int32Value": "-7", "uint64Value": 1e3, "color": 5,
        "colors": ["COLOR_RED", 0], "byBool": {"true": "t"}, "byInt64": {"-3": "4"},
        "doubleValue": "Infinity", "floatValue": "NaN", "bytesValue": "_-8",
        "elapsed": "1.5s", "at": "1970-01-01T01:00:00+01:00", "unknownField": {"deep": [1]},
        "maybeInt": 0, "inner": null, "choice": {"shade": "COLOR_RED", "text": null}
    }"#;
    let value: Everything = protoless::json::from_json(json.as_bytes()).unwrap();
    assert_eq!(value.int64_value, 5);
    assert_eq!(value.int32_value, -7);
    assert_eq!(value.uint64_value, 1000);
    assert_eq!(value.color, Color::DeepBlue);
    assert_eq!(value.colors, [Color::Red, Color::Unspecified]);
    assert_eq!(value.by_bool[&true], "t");
    assert_eq!(value.by_int64[&-3], 4);
    assert_eq!(value.double_value, f64::INFINITY);
    assert!(value.float_value.is_nan());
    assert_eq!(
        value.bytes_value,
        [0xff, 0xef],
        "URL-safe base64 without padding"
    );
    assert_eq!(value.elapsed, Duration::from_millis(1500));
    assert_eq!(value.at, UNIX_EPOCH);
    assert_eq!(value.maybe_int, Some(0), "presence kept");
    assert_eq!(value.choice, Some(Choice::Shade(Color::Red)));
    // Printed back: canonical names and forms, defaults without presence left out.
    let printed: serde_json::Value =
        serde_json::from_str(&protoless::json::to_json(&value).unwrap()).unwrap();
    assert_eq!(printed["int64Value"], "5");
    assert_eq!(
        printed["colors"],
        serde_json::json!(["COLOR_RED", "COLOR_UNSPECIFIED"])
    );
    assert_eq!(printed["floatValue"], "NaN");
    assert_eq!(printed["maybeInt"], 0);
    assert_eq!(printed["choice"], serde_json::json!({"shade": "COLOR_RED"}));
    assert!(printed.get("stringValue").is_none());
    // A field's json_name is what it is written as, and read by, beside its proto name.
    let named: Everything = protoless::json::from_json(br#"{"customJson": 3}"#).unwrap();
    assert_eq!(named.json_named, 3);
    let named: Everything = protoless::json::from_json(br#"{"json_named": 4}"#).unwrap();
    assert_eq!(named.json_named, 4);
    let printed = protoless::json::to_json(&named).unwrap();
    assert_eq!(printed, r#"{"customJson":4}"#);
}

#[test]
fn json_reading_says_what_is_wrong() {
    let error = |json: &str| {
        protoless::json::from_json::<Everything>(json.as_bytes())
            .unwrap_err()
            .to_string()
    };
    assert!(error("{").starts_with("invalid JSON"), "{}", error("{"));
    assert_eq!(
        error(r#"{"int32Value": 2147483648}"#),
        "field int32_value: 2147483648 is out of range"
    );
    assert_eq!(
        error(r#"{"int32Value": 1.5}"#),
        "field int32_value: 1.5 is not an integer"
    );
    assert_eq!(
        error(r#"{"color": "PURPLE"}"#),
        "field color: \"PURPLE\" is not a value of Color"
    );
    assert_eq!(
        error(r#"{"choice": {"number": "1", "text": "x"}}"#),
        "field choice: number and text are both set, but belong to one oneof choice"
    );
    assert_eq!(
        error(r#"{"elapsed": "5m"}"#),
        "field elapsed: \"5m\" is not a Duration such as \"1.5s\""
    );
    assert_eq!(error("[]"), "Everything must be an object, not an array");
    // A negative Duration is valid JSON, but not a std::time::Duration.
    assert!(error(r#"{"elapsed": "-1.5s"}"#).contains("nanos out of range"));
    // Nesting past protobuf's limit is refused, not a stack overflow.
    let deep = "{\"next\":".repeat(120) + "{}" + &"}".repeat(120);
    assert!(
        error(&deep).ends_with("messages nest deeper than 100"),
        "{}",
        error(&deep)
    );
}
