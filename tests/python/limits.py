"""The Python half of tests/admission.rs: stock grpcio clients exceeding a protoless server's
limits.

    python limits.py rate TARGET N          N simultaneous cache Stores: how many got through
    python limits.py connections TARGET     a second connection waits while the cap is taken
    python limits.py shed TARGET            a call past the server's concurrent-call limit
    python limits.py idle TARGET SECONDS    the server closes an idle connection (GOAWAY)

Each prints what it saw, one fact per line, and exits non-zero when grpcio did something
unexpected.
"""

import os
import sys
import threading
import time

import grpc
from grpc_status import rpc_status
from google.rpc import error_details_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "interop", "python"))


def retry_delay(error):
    """The RetryInfo delay of a failed call, in seconds, or None."""
    status = rpc_status.from_call(error)
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


def rate(target, count):
    from _stubs import load

    pb, pb_grpc = load("rpc")
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.CacheStub(channel)
        grpc.channel_ready_future(channel).result(timeout=10)
        calls = [
            stub.Store.future(
                pb.StoreReq(key=f"k{i}", val=b"v", account_token="inconshreveable"), timeout=10
            )
            for i in range(count)
        ]
        ok, limited, delays = 0, 0, []
        for call in calls:
            try:
                call.result()
                ok += 1
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                assert error.details() == "service is over rate limit", error.details()
                limited += 1
                delays.append(retry_delay(error))
    print(f"ok {ok}")
    print(f"limited {limited}")
    print(f"retry info on every refusal: {all(d is not None for d in delays)}")


def connections(target):
    from _stubs import load

    pb, pb_grpc = load("helloworld")
    # grpcio shares one connection between channels to the same target unless told not to.
    own = [("grpc.use_local_subchannel_pool", 1)]
    first = grpc.insecure_channel(target, options=own)
    pb_grpc.GreeterStub(first).SayHello(pb.HelloRequest(name="first"), timeout=10)
    print("first connection served")
    second = grpc.insecure_channel(target, options=own)
    try:
        pb_grpc.GreeterStub(second).SayHello(pb.HelloRequest(name="second"), timeout=1)
        print("second connection served while the first was open")
    except grpc.RpcError as error:
        print(f"second connection while the first is open: {error.code().name}")
    first.close()
    reply = pb_grpc.GreeterStub(second).SayHello(
        pb.HelloRequest(name="second"), timeout=10, wait_for_ready=True
    )
    print(f"second connection after the first closed: {reply.message}")
    second.close()


def shed(target):
    from _interop_stubs import load

    stubs = load()
    messages = stubs.messages_pb2
    with grpc.insecure_channel(target) as channel:
        stub = stubs.test_pb2_grpc.TestServiceStub(channel)
        # A full-duplex call held open takes the server's one slot.
        gate = threading.Event()

        def held():
            one = messages.ResponseParameters(size=1)
            yield messages.StreamingOutputCallRequest(response_parameters=[one])
            gate.wait(10)

        duplex = stub.FullDuplexCall(held(), timeout=10)
        next(duplex)
        try:
            stub.UnaryCall(messages.SimpleRequest(), timeout=10)
            print("second call served")
        except grpc.RpcError as error:
            print(f"second call: {error.code().name}")
            print(f"retry after: {retry_delay(error)}")
        gate.set()
        for _ in duplex:
            pass
        stub.UnaryCall(messages.SimpleRequest(), timeout=10)
        print("served again once the slot was free")


def idle(target, seconds):
    from _stubs import load

    pb, pb_grpc = load("helloworld")
    states = []
    seen_idle = threading.Event()

    def watch(state):
        states.append(state)
        if state == grpc.ChannelConnectivity.IDLE and grpc.ChannelConnectivity.READY in states:
            seen_idle.set()

    with grpc.insecure_channel(target) as channel:
        channel.subscribe(watch, try_to_connect=False)
        pb_grpc.GreeterStub(channel).SayHello(pb.HelloRequest(name="idle"), timeout=10)
        started = time.monotonic()
        # The server's GOAWAY takes the channel from READY back to IDLE.
        closed = seen_idle.wait(seconds * 10 + 5)
        print(f"closed by the server when idle: {closed}")
        if closed:
            print(f"after at least the idle time: {time.monotonic() - started >= seconds * 0.9}")
        reply = pb_grpc.GreeterStub(channel).SayHello(pb.HelloRequest(name="back"), timeout=10)
        print(f"next call on a new connection: {reply.message}")
        channel.unsubscribe(watch)


if __name__ == "__main__":
    command, target = sys.argv[1], sys.argv[2]
    if command == "rate":
        rate(target, int(sys.argv[3]))
    elif command == "connections":
        connections(target)
    elif command == "shed":
        shed(target)
    elif command == "idle":
        idle(target, float(sys.argv[3]))
    else:
        sys.exit(f"unknown command {command}")
