"""The Python half of tests/call_semantics.rs: metadata, deadlines, gzip, deflate and Empty answers
with stock grpcio against the Rust test server.

    python semantics.py HOST:PORT EXPORT_DIR
"""

import os
import sys

import grpc

# The examples' stub generator, pointed at the folder this test exported into.
os.environ["PROTOLESS_PROTO_DIR"] = sys.argv[2]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
from _stubs import load  # noqa: E402

pb, pb_grpc = load("semantics")


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
            # The headers the handler set arrive in a HEADERS frame of their own before the
            # failure, not folded into a Trailers-Only response.
            headers = dict(error.initial_metadata())
            assert headers.get("seen-name") == "grace", headers
            assert "seen-name" not in trailers, trailers
            print("headers before a failure: ok")
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

        reply, call = stub.Echo.with_call(pb.Ping(text=text), timeout=10,
                                          compression=grpc.Compression.Deflate)
        assert reply.text == text
        print("deflate: ok")

        stub.Note(pb.Ping(text="from python"), timeout=10)
        stub.Acknowledge(pb.Ping(text="from python too"), timeout=10)
        print("Empty answers: ok")
    print("semantics: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
