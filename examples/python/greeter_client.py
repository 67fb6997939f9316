"""Calls a protoless Greeter server with stock Python grpcio, in all four call shapes.

    python examples/python/greeter_client.py HOST:PORT

Checks every answer and exits non-zero if one is wrong, so tests can run it as is.
"""

import queue
import sys

import grpc

from _stubs import load

helloworld_pb2, helloworld_pb2_grpc = load("helloworld")
HelloRequest = helloworld_pb2.HelloRequest


def unary(stub, channel):
    for name in ("world", "Python", "gRPC 世界", ""):
        reply = stub.SayHello(HelloRequest(name=name), timeout=10)
        assert reply.message == f"Hello, {name}!", reply.message
        print(f"SayHello({name!r}) -> {reply.message!r}")
    try:
        channel.unary_unary("/helloworld.Greeter/NoSuchMethod")(b"", timeout=10)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error.code()
        print(f"NoSuchMethod failed: {error.code().name}: {error.details()}")
    else:
        raise AssertionError("an unknown method should fail with UNIMPLEMENTED")


def server_streaming(stub):
    replies = [r.message for r in stub.LotsOfReplies(HelloRequest(name="py"), timeout=10)]
    assert replies == [f"Hello, py! #{i}" for i in range(1, 11)], replies
    print(f"LotsOfReplies -> {len(replies)} replies, last {replies[-1]!r}")


def client_streaming(stub):
    names = ["Ada", "Grace", "Барбара"]
    reply = stub.LotsOfGreetings(iter(HelloRequest(name=n) for n in names), timeout=10)
    assert reply.message == "Hello, Ada, Grace, Барбара!", reply.message
    empty = stub.LotsOfGreetings(iter([]), timeout=10)
    assert empty.message == "Hello, !", empty.message
    print(f"LotsOfGreetings -> {reply.message!r}")


def bidi(stub):
    # Ping-pong: each request is sent only after the previous reply arrived, which proves the
    # server answers each request as soon as it comes.
    outbox = queue.Queue()
    requests = iter(outbox.get, None)
    replies = stub.BidiHello(requests, timeout=10)
    for name in ("ping", "pong", "ping again"):
        outbox.put(HelloRequest(name=name))
        reply = next(replies)
        assert reply.message == f"Hello, {name}!", reply.message
        print(f"BidiHello({name!r}) -> {reply.message!r}")
    outbox.put(None)
    assert list(replies) == []


def main(target):
    with grpc.insecure_channel(target) as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        unary(stub, channel)
        server_streaming(stub)
        client_streaming(stub)
        bidi(stub)
    print("greeter client: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
