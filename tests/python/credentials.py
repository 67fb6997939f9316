"""The Python half of tests/interceptors.rs: stock grpcio against a server whose interceptor
requires `authorization: Bearer letmein`.

    python credentials.py HOST:PORT
"""

import os
import sys

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
from _stubs import load  # noqa: E402

helloworld_pb2, helloworld_pb2_grpc = load("helloworld")


def main(target):
    with grpc.insecure_channel(target) as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        try:
            stub.SayHello(helloworld_pb2.HelloRequest(name="grpcio"), timeout=10)
        except grpc.RpcError as error:
            print(f"without a token: {error.code().name}")
        else:
            raise AssertionError("a call without a token was served")
        metadata = [("authorization", "Bearer letmein")]
        reply, call = stub.SayHello.with_call(
            helloworld_pb2.HelloRequest(name="grpcio"), metadata=metadata, timeout=10
        )
        headers = dict(call.initial_metadata())
        print(f"with a token: {reply.message} gate={headers.get('gate')}")


if __name__ == "__main__":
    main(sys.argv[1])
