"""The Python half of tests/call_semantics.rs: metadata, deadlines, gzip and Empty answers with
stock grpcio against the Rust test server.

    python semantics.py HOST:PORT EXPORT_DIR
"""

import importlib
import os
import sys
import tempfile
from importlib import resources

import grpc
from grpc_tools import protoc


def load(proto_dir):
    out = tempfile.mkdtemp(prefix="protoless-semantics-")
    include = str(resources.files("grpc_tools") / "_proto")
    args = ["protoc", f"-I{proto_dir}", f"-I{include}", f"--python_out={out}",
            f"--grpc_python_out={out}", os.path.join(proto_dir, "semantics.proto")]
    if protoc.main(args) != 0:
        sys.exit("protoc failed on semantics.proto")
    sys.path.insert(0, out)
    return importlib.import_module("semantics_pb2"), importlib.import_module("semantics_pb2_grpc")


pb, pb_grpc = load(sys.argv[2])


def main(target):
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.SemanticsStub(channel)

        metadata = [("name", "grace"), ("blob-bin", b"\x00\xffbinary")]
        reply, call = stub.Reflect.with_call(pb.Ping(text="hi"), metadata=metadata, timeout=10)
        headers = dict(call.initial_metadata())
        trailers = dict(call.trailing_metadata())
        assert reply.text == "hi"
        assert headers.get("seen-name") == "grace", headers
        assert trailers.get("trailer-name") == "grace", trailers
        assert trailers.get("seen-blob-bin") == b"\x00\xffbinary", trailers
        print("metadata both ways: ok")

        try:
            stub.Reflect(pb.Ping(text="fail"), metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.ABORTED, error.code()
            trailers = dict(error.trailing_metadata())
            assert trailers.get("why") == "asked to", trailers
            assert trailers.get("trailer-name") == "grace", trailers
            print("metadata on a failed call: ok")
        else:
            raise AssertionError("Reflect(fail) should fail")

        try:
            stub.Wait(pb.Ping(text="slow"), timeout=0.5)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error.code()
            print("deadline: ok")
        else:
            raise AssertionError("Wait should run out of time")

        text = "compressible " * 1000
        reply, call = stub.Echo.with_call(pb.Ping(text=text), timeout=10,
                                          compression=grpc.Compression.Gzip)
        assert reply.text == text
        print("gzip: ok")

        stub.Note(pb.Ping(text="from python"), timeout=10)
        stub.Acknowledge(pb.Ping(text="from python too"), timeout=10)
        print("Empty answers: ok")
    print("semantics: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
