"""Generates the grpc.testing interop stubs with grpcio-tools, shared by the interop peers.

The stubs are never written by hand: each run compiles tests/interop/proto/grpc/testing/*.proto
into a fresh temporary directory and imports the result.
"""

import importlib
import os
import sys
import tempfile
from importlib import resources

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "proto"))
PROTOS = ["grpc/testing/empty.proto", "grpc/testing/messages.proto", "grpc/testing/test.proto"]


class Stubs:
    """The generated modules: empty_pb2, messages_pb2, test_pb2_grpc."""

    def __init__(self, empty_pb2, messages_pb2, test_pb2_grpc):
        self.empty_pb2 = empty_pb2
        self.messages_pb2 = messages_pb2
        self.test_pb2_grpc = test_pb2_grpc


def load():
    """Compiles the interop protos and returns their generated modules as a `Stubs`."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="protoless-interop-stubs-")
    well_known = str(resources.files("grpc_tools") / "_proto")
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
        ]
        + [os.path.join(PROTO_DIR, proto) for proto in PROTOS]
    )
    if status != 0:
        sys.exit(f"grpc_tools.protoc failed on the interop protos (exit {status})")
    # The protos' package is grpc.testing, so protoc writes out/grpc/testing/*_pb2.py and the
    # generated code imports `grpc.testing.empty_pb2`. `grpc` is grpcio's own (regular) package,
    # which would hide out/grpc, so out/grpc is added to its search path: grpc.testing then
    # resolves to the generated folder as a namespace subpackage. grpcio has no `testing` of its own.
    grpc.__path__.append(os.path.join(out, "grpc"))
    names = ("empty_pb2", "messages_pb2", "test_pb2_grpc")
    return Stubs(*(importlib.import_module(f"grpc.testing.{name}") for name in names))
