"""Reads a server's schema through grpcio-reflection and compares it with what protoc makes of
the exported .proto files.

    python reflection.py ADDR PROTO_DIR

PROTO_DIR holds the example's exported .proto file(s). Every file they compile to must come back
from the server descriptor for descriptor (options and source info aside; the well-known files
byte for byte as protoc produces them); every service must be found by name and its methods,
messages and enums by symbol; extension queries are answered as the reflection spec says.
Prints one line per check; exits 1 on the first mismatch.
"""

import difflib
import os
import sys
import tempfile
from importlib import resources

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_tools import protoc


def compiled(proto_dir):
    """The FileDescriptorProtos protoc makes of every .proto in proto_dir, imports included."""
    well_known = str(resources.files("grpc_tools") / "_proto")
    files = sorted(
        os.path.relpath(os.path.join(folder, name), proto_dir)
        for folder, _, names in os.walk(proto_dir)
        for name in names
        if name.endswith(".proto")
    )
    with tempfile.TemporaryDirectory() as out:
        path = os.path.join(out, "set.pb")
        status = protoc.main(
            ["protoc", f"-I{proto_dir}", f"-I{well_known}", "--include_imports",
             f"--descriptor_set_out={path}", *files]
        )
        if status != 0:
            sys.exit(f"protoc failed on {files}")
        with open(path, "rb") as data:
            return {file.name: file for file in descriptor_pb2.FileDescriptorSet.FromString(data.read()).file}


def without_options(file):
    """A copy without source info or any options, which the comparison leaves aside."""
    file = descriptor_pb2.FileDescriptorProto.FromString(file.SerializeToString())
    file.ClearField("source_code_info")
    file.ClearField("options")

    def strip_message(message):
        message.ClearField("options")
        for field in message.field:
            field.ClearField("options")
        for nested in message.nested_type:
            strip_message(nested)
        for enum in message.enum_type:
            enum.ClearField("options")

    for message in file.message_type:
        strip_message(message)
    for enum in file.enum_type:
        enum.ClearField("options")
    for service in file.service:
        service.ClearField("options")
        for method in service.method:
            method.ClearField("options")
    return file


def symbols(file):
    """Every fully-qualified symbol the file declares."""
    prefix = f"{file.package}." if file.package else ""
    found = []

    def message_symbols(message, scope):
        name = f"{scope}{message.name}"
        found.append(name)
        for nested in message.nested_type:
            if not nested.options.map_entry:
                message_symbols(nested, f"{name}.")
        for enum in message.enum_type:
            found.append(f"{name}.{enum.name}")

    for message in file.message_type:
        message_symbols(message, prefix)
    found.extend(f"{prefix}{enum.name}" for enum in file.enum_type)
    for service in file.service:
        found.append(f"{prefix}{service.name}")
        found.extend(f"{prefix}{service.name}.{method.name}" for method in service.method)
    return found


def check(condition, what):
    if not condition:
        sys.exit(f"FAIL {what}")
    print(f"ok {what}", flush=True)


def main():
    addr, proto_dir = sys.argv[1:3]
    expected = compiled(proto_dir)
    with grpc.insecure_channel(addr) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = database.get_services()
        check("grpc.health.v1.Health" in services, f"services listed: {', '.join(services)}")
        for name, want in expected.items():
            got = database.FindFileByName(name)
            if name.startswith("google/protobuf/"):
                check(got.SerializeToString() == want.SerializeToString(), f"{name} is protoc's, byte for byte")
            else:
                # A server describes the services it serves; an export may hold more (interop's
                # UnimplementedService, which its server leaves out on purpose).
                served = [s for s in want.service if f"{want.package}.{s.name}" in services]
                del want.service[:]
                want.service.extend(served)
                got_text, want_text = str(without_options(got)), str(without_options(want))
                diff = "\n".join(difflib.unified_diff(
                    want_text.splitlines(), got_text.splitlines(), "protoc", "served", lineterm=""))
                check(got_text == want_text, f"{name} equals protoc's descriptor{diff and ': ' + diff}")
                for symbol in symbols(want):
                    check(database.FindFileContainingSymbol(symbol).name == name, f"{symbol} found in {name}")
        # Every listed service resolves into a complete descriptor, dependencies and all.
        pool = descriptor_pool.DescriptorPool(database)
        for service in services:
            methods = [method.name for method in pool.FindServiceByName(service).methods]
            check(methods, f"{service} described: {', '.join(methods)}")
        message = next(iter(symbols(next(f for n, f in expected.items() if not n.startswith("google/")))))
        check(list(database.FindAllExtensionNumbers(message)) == [], f"{message} has no extension numbers")
    # Questions answered with an error, asked on one stream that goes on after each.
    with grpc.insecure_channel(addr) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        requests = [
            reflection_pb2.ServerReflectionRequest(
                file_containing_extension=reflection_pb2.ExtensionRequest(containing_type=message, extension_number=100)
            ),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.such.Symbol"),
            reflection_pb2.ServerReflectionRequest(file_by_filename="no/such/file.proto"),
            reflection_pb2.ServerReflectionRequest(all_extension_numbers_of_type="no.such.Message"),
            reflection_pb2.ServerReflectionRequest(list_services=""),
        ]
        answers = list(stub.ServerReflectionInfo(iter(requests), timeout=10))
        check(len(answers) == len(requests), "one answer per request, in order")
        for request, answer in zip(requests[:4], answers):
            asked = request.WhichOneof("message_request")
            check(answer.WhichOneof("message_response") == "error_response"
                  and answer.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0],
                  f"{asked} of an unknown name is NOT_FOUND: {answer.error_response.error_message}")
            check(answer.original_request == request, f"{asked}: the answer carries the request")
        check(len(answers[4].list_services_response.service) == len(services), "the stream goes on after errors")

if __name__ == "__main__":
    main()
