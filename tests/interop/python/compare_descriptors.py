#!/usr/bin/env python3
"""Checks that protoless's export of the interop service matches grpc's own definitions.

    python compare_descriptors.py EXPORT_DIR

EXPORT_DIR holds what `interop proto` exported (grpc.testing.proto). Both it and grpc's
definitions (tests/interop/proto/grpc/testing/{empty,messages,test}.proto) are compiled with
grpc_tools.protoc into descriptor sets, which are then compared on what crosses the wire:

  * messages, by full name, nested ones included: each field's name, number, type, type_name,
    label, proto3_optional and oneof membership (the name of the real oneof it belongs to);
  * enums, by full name: each value's name and number;
  * services, by full name: each method's name, fully qualified input and output types and
    client/server streaming.

A message, enum, service, field, value or method on one side only is a difference too. Comments,
options, file names and declaration order do not matter. Only the types the compiled files
themselves define are compared, not the ones they import.

Prints one line per difference and exits 1 if there is any; otherwise prints
`descriptors match: N messages, M enums, K methods` and exits 0. Exits 2 on bad usage or when
protoc rejects a file.
"""

import glob
import os
import sys
import tempfile
from importlib import resources

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
GRPC_PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "proto"))
GRPC_PROTOS = ["grpc/testing/empty.proto", "grpc/testing/messages.proto", "grpc/testing/test.proto"]

FieldType = descriptor_pb2.FieldDescriptorProto.Type
FieldLabel = descriptor_pb2.FieldDescriptorProto.Label


def compile_set(include_dir, protos, out_dir, name):
    """Compiles `protos` (relative to `include_dir`) into one FileDescriptorSet.

    Returns the set and the names of the files it was asked for (the set also holds imports)."""
    out = os.path.join(out_dir, f"{name}.pb")
    well_known = str(resources.files("grpc_tools") / "_proto")
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{include_dir}",
            f"-I{well_known}",
            f"--descriptor_set_out={out}",
            "--include_imports",
        ]
        + [os.path.join(include_dir, proto) for proto in protos]
    )
    if status != 0:
        print(f"grpc_tools.protoc failed on {name} ({include_dir}), exit {status}", file=sys.stderr)
        sys.exit(2)
    files = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        files.ParseFromString(f.read())
    return files, set(protos)


def collect(files, own):
    """The messages, enums and services the files named in `own` define, by full name."""
    messages, enums, services = {}, {}, {}

    def add_message(prefix, message):
        full = f"{prefix}.{message.name}"
        messages[full] = message
        for nested in message.nested_type:
            add_message(full, nested)
        for enum in message.enum_type:
            enums[f"{full}.{enum.name}"] = enum

    for file in files.file:
        if file.name not in own:
            continue
        prefix = f".{file.package}" if file.package else ""
        for message in file.message_type:
            add_message(prefix, message)
        for enum in file.enum_type:
            enums[f"{prefix}.{enum.name}"] = enum
        for service in file.service:
            services[f"{prefix}.{service.name}"] = service
    # Full names without protoc's leading dot, as a reader writes them.
    strip = lambda table: {name.lstrip("."): value for name, value in table.items()}  # noqa: E731
    return strip(messages), strip(enums), strip(services)


def type_name(value):
    return FieldType.Name(value).removeprefix("TYPE_").lower()


def label_name(value):
    return FieldLabel.Name(value).removeprefix("LABEL_").lower()


def field_shape(message, field):
    """What of a field crosses the wire, as (attribute, readable value) pairs."""
    oneof = None
    if field.HasField("oneof_index") and not field.proto3_optional:
        oneof = message.oneof_decl[field.oneof_index].name
    return [
        ("number", field.number),
        ("type", type_name(field.type)),
        ("type_name", field.type_name.lstrip(".") or None),
        ("label", label_name(field.label)),
        ("proto3_optional", field.proto3_optional),
        ("oneof", oneof),
    ]


def method_shape(method):
    return [
        ("input", method.input_type.lstrip(".")),
        ("output", method.output_type.lstrip(".")),
        ("client_streaming", method.client_streaming),
        ("server_streaming", method.server_streaming),
    ]


def compare_tables(kind, grpc, export, differences, compare):
    """Reports names on one side only, and calls `compare(name, grpc, export)` for shared ones."""
    for name in sorted(grpc.keys() - export.keys()):
        differences.append(f"{kind} {name}: in grpc's definitions, missing from the export")
    for name in sorted(export.keys() - grpc.keys()):
        differences.append(f"{kind} {name}: in the export, not in grpc's definitions")
    for name in sorted(grpc.keys() & export.keys()):
        compare(name, grpc[name], export[name])


def compare_shapes(where, grpc, export, differences):
    for (attribute, want), (_, got) in zip(grpc, export):
        if want != got:
            differences.append(
                f"{where}: {attribute} is {want!r} in grpc's definitions, {got!r} in the export"
            )


def compare(grpc_files, export_files):
    """Returns (differences, counts) between the two (messages, enums, services) triples."""
    grpc_messages, grpc_enums, grpc_services = grpc_files
    export_messages, export_enums, export_services = export_files
    differences = []

    def compare_message(name, grpc, export):
        fields = lambda message: {field.name: field for field in message.field}  # noqa: E731
        compare_tables(
            f"message {name} field", fields(grpc), fields(export), differences,
            lambda field, want, got: compare_shapes(
                f"message {name} field {field}",
                field_shape(grpc, want),
                field_shape(export, got),
                differences,
            ),
        )

    def compare_enum(name, grpc, export):
        values = lambda enum: {value.name: value for value in enum.value}  # noqa: E731
        compare_tables(
            f"enum {name} value", values(grpc), values(export), differences,
            lambda value, want, got: compare_shapes(
                f"enum {name} value {value}",
                [("number", want.number)],
                [("number", got.number)],
                differences,
            ),
        )

    def compare_service(name, grpc, export):
        methods = lambda service: {method.name: method for method in service.method}  # noqa: E731
        compare_tables(
            f"service {name} method", methods(grpc), methods(export), differences,
            lambda method, want, got: compare_shapes(
                f"service {name} method {method}",
                method_shape(want),
                method_shape(got),
                differences,
            ),
        )

    compare_tables("message", grpc_messages, export_messages, differences, compare_message)
    compare_tables("enum", grpc_enums, export_enums, differences, compare_enum)
    compare_tables("service", grpc_services, export_services, differences, compare_service)
    methods = sum(len(service.method) for service in grpc_services.values())
    return differences, (len(grpc_messages), len(grpc_enums), methods)


def main(export_dir):
    if not os.path.isdir(export_dir):
        print(f"{export_dir}: not a directory", file=sys.stderr)
        return 2
    exported = sorted(
        os.path.relpath(path, export_dir)
        for path in glob.glob(os.path.join(export_dir, "**", "*.proto"), recursive=True)
    )
    if not exported:
        print(f"{export_dir}: no .proto file to compare", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="protoless-descriptors-") as out:
        grpc_set, grpc_own = compile_set(GRPC_PROTO_DIR, GRPC_PROTOS, out, "grpc")
        export_set, export_own = compile_set(os.path.abspath(export_dir), exported, out, "export")
    differences, (messages, enums, methods) = compare(
        collect(grpc_set, grpc_own), collect(export_set, export_own)
    )
    for difference in differences:
        print(difference)
    if differences:
        return 1
    print(f"descriptors match: {messages} messages, {enums} enums, {methods} methods")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: compare_descriptors.py EXPORT_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
