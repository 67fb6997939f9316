"""The Python half of tests/conformance.rs: builds each case with the protobuf library, from stubs
generated out of protoless's export, and checks it against the Rust server.

    python conformance.py HOST:PORT EXPORT_DIR

For every case: the Rust side must accept the value field by field (Check) and send back an equal
value; and Rust's encoding of the case must equal this library's deterministic encoding.
"""

import json
import os
import sys

import grpc
from google.protobuf import json_format

# The examples' stub generator, pointed at the folder this test exported into.
os.environ["PROTOLESS_PROTO_DIR"] = sys.argv[2]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
from _stubs import load  # noqa: E402

pb, pb_grpc = load("conformance")

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
U32_MAX, U64_MAX = 2**32 - 1, 2**64 - 1
F32_MIN_POSITIVE = 1.1754943508222875e-38
F64_MAX = 1.7976931348623157e308
F64_MIN_POSITIVE = 2.2250738585072014e-308


def inner(id, label):
    return pb.Inner(id=id, label=label)


def build(name):
    """Each case exactly as `case()` in tests/conformance.rs builds it."""
    v = pb.Everything()
    if name == "defaults":
        pass
    elif name == "negatives":
        v.double_value, v.float_value = -0.5, -1.5
        v.int32_value, v.int64_value = -1, -2
        v.sint32_value, v.sint64_value = -3, -4
        v.sfixed32_value, v.sfixed64_value = -5, -6
        v.numbers.extend([-1, -128, I32_MIN])
        v.zigzags.extend([-1, 1, -2])
        v.by_int32[-7].CopyFrom(inner(-8, "negative"))
        v.json_named = -9
    elif name == "extremes":
        v.double_value, v.float_value = F64_MAX, F32_MIN_POSITIVE
        v.int32_value, v.int64_value = I32_MAX, I64_MIN
        v.uint32_value, v.uint64_value = U32_MAX, U64_MAX
        v.sint32_value, v.sint64_value = I32_MIN, I64_MAX
        v.fixed32_value, v.fixed64_value = U32_MAX, U64_MAX
        v.sfixed32_value, v.sfixed64_value = I32_MIN, I64_MIN
        v.doubles.extend([float("inf"), float("-inf"), F64_MIN_POSITIVE])
        v.renamed_field = U32_MAX
    elif name == "unicode":
        v.string_value = "π ≈ 3.14159 — ünïcödé ✓ 🦀 中文 \0 end"
        v.bytes_value = bytes(range(256))
        v.shared_bytes = b"\x00\xff shared"
        v.words.extend(["", "Ωmega", "🎉"])
        v.by_string[""] = -0.0
    elif name == "present_defaults":
        v.maybe_int = 0
        v.maybe_text = ""
        v.maybe_inner.SetInParent()
        v.bool_value = True
        v.by_bool[False] = ""
        v.by_bool[True] = "yes"
    elif name == "large_repeated":
        v.numbers.extend(i * 7 - 35_000 for i in range(10_000))
        v.words.extend(f"word {i}" for i in range(1_000))
        v.inners.extend(inner(i, "item") for i in range(1_000))
        for i in range(1_000):
            v.by_int64[i * 1_000_003] = -i
        for i in range(100):
            v.by_uint64[i] = bytes([i]) * i
    elif name == "enums":
        v.color = pb.COLOR_DEEP_BLUE
        v.colors.extend([pb.COLOR_RED, pb.COLOR_UNSPECIFIED, pb.COLOR_DEEP_BLUE])
        v.by_uint32[3] = pb.COLOR_RED
    elif name == "all_map_keys":
        v.by_bool[True] = "t"
        v.by_int32[I32_MIN].CopyFrom(inner(1, "min"))
        v.by_int64[I64_MAX] = I64_MIN
        v.by_uint32[U32_MAX] = pb.COLOR_DEEP_BLUE
        v.by_uint64[U64_MAX] = b"max"
        v.by_string["ключ"] = 2.5
        v.by_sint32[-1] = "minus one"
        v.by_sint32[I32_MAX] = "max"
        v.by_fixed64[1 << 40] = True
    elif name == "oneof_number":
        v.choice.number = -42
    elif name == "oneof_text":
        v.choice.text = "chosen"
    elif name == "oneof_empty_text":
        v.choice.text = ""
    elif name == "oneof_nested":
        v.choice.nested.CopyFrom(inner(9, "nested"))
    elif name == "oneof_enum":
        v.choice.shade = pb.COLOR_RED
    elif name == "well_known":
        v.elapsed.seconds, v.elapsed.nanos = 90, 500_000_000
        v.at.seconds, v.at.nanos = 1_700_000_000, 123_456_789
    elif name == "before_1970":
        # 86,400.25 s before the epoch: seconds round down, nanos count forward.
        v.at.seconds, v.at.nanos = -86_401, 750_000_000
    elif name == "recursive":
        nested = pb.Everything(string_value="leaf")
        for depth in range(20):
            nested = pb.Everything(int32_value=depth, next=nested)
        v = nested
    else:
        raise ValueError(name)
    return v


# Deterministic serialization orders map entries by each library's own rule (this one's differs
# from sorted order), which the protobuf spec leaves open; so bytes are compared for the cases
# whose maps hold at most one entry. The others are compared as values (the round trip).
SEVERAL_MAP_ENTRIES = {"present_defaults", "large_repeated", "all_map_keys"}

CASES = ["defaults", "negatives", "extremes", "unicode", "present_defaults", "large_repeated",
         "enums", "all_map_keys", "oneof_number", "oneof_text", "oneof_empty_text", "oneof_nested",
         "oneof_enum", "well_known", "before_1970", "recursive"]


def check_json(stub, name):
    """The case's proto3 JSON both ways: protobuf's json_format (default options) and Rust's
    must print equal JSON values, and each must read the other's back to the same value."""
    value = build(name)
    ours = json_format.MessageToJson(value)
    theirs = stub.ToJson(pb.Case(name=name), timeout=30).text
    if json.loads(ours) != json.loads(theirs):
        ours_value, theirs_value = json.loads(ours), json.loads(theirs)
        keys = sorted(set(ours_value) | set(theirs_value))
        differing = [k for k in keys if ours_value.get(k) != theirs_value.get(k)]
        return [f"{name}: JSON differs in {differing}:\n  python: "
                + ", ".join(f"{k}={ours_value.get(k)!r}" for k in differing)
                + "\n  rust:   " + ", ".join(f"{k}={theirs_value.get(k)!r}" for k in differing)]
    print(f"same json: {name}")
    failures = []
    try:
        if json_format.Parse(theirs, pb.Everything()) != value:
            failures.append(f"{name}: Rust's JSON reads as another value")
        else:
            print(f"python reads rust json: {name}")
    except json_format.ParseError as error:
        failures.append(f"{name}: Rust's JSON does not parse: {error}")
    try:
        stub.CheckJson(pb.JsonText(name=name, text=ours), timeout=30)
        print(f"rust reads python json: {name}")
    except grpc.RpcError as error:
        failures.append(f"{name}: CheckJson failed: {error.code().name}: {error.details()}")
    return failures


def main(target):
    failures = []
    options = [("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = pb_grpc.ConformanceStub(channel)
        for name in CASES:
            value = build(name)
            try:
                echoed = stub.Check(pb.Case(name=name, value=value), timeout=30)
            except grpc.RpcError as error:
                failures.append(f"{name}: Check failed: {error.code().name}: {error.details()}")
                continue
            if echoed.value != value or echoed.name != name:
                failures.append(f"{name}: the echoed value differs")
                continue
            print(f"round trip ok: {name}")
            if name in SEVERAL_MAP_ENTRIES:
                continue
            ours = value.SerializeToString(deterministic=True)
            theirs = stub.Encode(pb.Case(name=name), timeout=30).bytes
            if ours != theirs:
                at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                          min(len(ours), len(theirs)))
                start = max(0, at - 16)
                failures.append(
                    f"{name}: encodings differ at byte {at} of {len(ours)} (python) / {len(theirs)} (rust)\n"
                    f"  python: ...{ours[start:at + 32].hex()}\n  rust:   ...{theirs[start:at + 32].hex()}")
                continue
            print(f"same bytes: {name}")
        for name in CASES:
            failures.extend(check_json(stub, name))
    if failures:
        sys.exit("\n".join(failures))
    print("conformance: all cases passed")


if __name__ == "__main__":
    main(sys.argv[1])
