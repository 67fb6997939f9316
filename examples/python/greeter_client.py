"""Calls a protoless Greeter server with stock Python grpcio.

    python examples/python/greeter_client.py HOST:PORT
"""

import sys

import grpc

from _stubs import load

helloworld_pb2, helloworld_pb2_grpc = load("helloworld")


def main(target):
    with grpc.insecure_channel(target) as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        for name in ("world", "Python", "gRPC 世界", ""):
            reply = stub.SayHello(helloworld_pb2.HelloRequest(name=name), timeout=10)
            assert reply.message == f"Hello, {name}!", reply.message
            print(f"SayHello({name!r}) -> {reply.message!r}")
        try:
            channel.unary_unary("/helloworld.Greeter/NoSuchMethod")(b"", timeout=10)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error.code()
            print(f"NoSuchMethod failed: {error.code().name}: {error.details()}")
        else:
            raise AssertionError("an unknown method should fail with UNIMPLEMENTED")
    print("greeter client: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
