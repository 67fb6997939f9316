"""A grpcio client running grpc's interop cases (grpc/grpc doc/interop-test-descriptions.md),
the peer the Rust interop server is checked against.

    python interop_client.py TARGET [--case NAME]...

TARGET is HOST:PORT or http://HOST:PORT. Without --case every case runs, in CASES order. Prints
`PASS NAME`, `FAIL NAME: REASON` or `SKIP NAME: REASON` per case, then `N passed, M failed`;
exits 0 when nothing failed, 1 otherwise, 2 on an unknown case name.
"""

import argparse
import json
import queue
import sys

import grpc

import _interop_stubs

stubs = _interop_stubs.load()
empty_pb2 = stubs.empty_pb2
messages_pb2 = stubs.messages_pb2

# Every call carries a deadline, so that a misbehaving server fails a case instead of hanging it.
TIMEOUT = 10

REQUEST_STREAM_SIZES = [27182, 8, 1828, 45904]
RESPONSE_STREAM_SIZES = [31415, 9, 2653, 58979]
ECHO_INITIAL = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
ECHO_TRAILING = ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
# Escaped so that the bytes are unambiguous: U+263A is the BMP smiley, U+1F608 the non-BMP devil.
SPECIAL_STATUS_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"


class CaseFailed(Exception):
    pass


class Skip(Exception):
    """A case grpcio's client API cannot express."""


def check(condition, reason):
    if not condition:
        raise CaseFailed(reason)


def payload(size):
    return messages_pb2.Payload(body=bytes(size))


def check_payload(response_payload, size, what="response"):
    body = response_payload.body
    check(len(body) == size, f"{what} payload is {len(body)} bytes, expected {size}")
    check(body == bytes(size), f"{what} payload is not all zeros")


def expect_status(code, details=None, what="call"):
    """Returns a checker that runs a call (a thunk) and checks that it fails with `code` (and
    `details`); `what` names the call in the failure reason."""

    def run(call):
        try:
            call()
        except grpc.RpcError as error:
            got = f"{error.code().name}: {error.details()!r}"
            check(error.code() == code, f"{what}: expected {code.name}, got {got}")
            if details is not None:
                check(error.details() == details, f"{what}: expected message {details!r}, got {got}")
        else:
            raise CaseFailed(f"{what} succeeded, expected {code.name}")

    return run


class RequestPipe:
    """A request iterator the case feeds one message at a time; close() half-closes the call.

    grpcio sends requests from its own thread as the iterator yields them, which is what lets the
    streaming cases interleave sends with receives.
    """

    _CLOSED = object()

    def __init__(self):
        self._queue = queue.Queue()

    def send(self, request):
        self._queue.put(request)

    def close(self):
        self._queue.put(self._CLOSED)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is self._CLOSED:
            raise StopIteration
        return item


def large_unary_request(**fields):
    return messages_pb2.SimpleRequest(response_size=314159, payload=payload(271828), **fields)


def streaming_request(sizes, request_size=None, **fields):
    request = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=size) for size in sizes], **fields
    )
    if request_size is not None:
        request.payload.CopyFrom(payload(request_size))
    return request


# --- the cases ---------------------------------------------------------------------------------


def empty_unary(peer):
    response = peer.stub.EmptyCall(empty_pb2.Empty(), timeout=TIMEOUT)
    check(isinstance(response, empty_pb2.Empty), f"response is {type(response).__name__}, not Empty")


def large_unary(peer):
    response = peer.stub.UnaryCall(large_unary_request(), timeout=TIMEOUT)
    check_payload(response.payload, 314159)


def client_compressed_unary(peer):
    # The probe: an uncompressed request claiming to be compressed must be refused.
    probe = large_unary_request(expect_compressed=messages_pb2.BoolValue(value=True))
    expect_status(grpc.StatusCode.INVALID_ARGUMENT, what="the uncompressed probe")(
        lambda: peer.stub.UnaryCall(probe, timeout=TIMEOUT, compression=grpc.Compression.NoCompression)
    )
    for compressed in (True, False):
        request = large_unary_request(expect_compressed=messages_pb2.BoolValue(value=compressed))
        compression = grpc.Compression.Gzip if compressed else grpc.Compression.NoCompression
        response = peer.stub.UnaryCall(request, timeout=TIMEOUT, compression=compression)
        check_payload(response.payload, 314159, f"compressed={compressed}")


def server_compressed_unary(peer):
    # grpcio does not expose a received message's compressed flag, so only success and sizes are
    # checked; whether the server really compressed is left to clients that can see the flag.
    for compressed in (True, False):
        request = large_unary_request(response_compressed=messages_pb2.BoolValue(value=compressed))
        response = peer.stub.UnaryCall(request, timeout=TIMEOUT)
        check_payload(response.payload, 314159, f"response_compressed={compressed}")


def client_streaming(peer):
    requests = [
        messages_pb2.StreamingInputCallRequest(payload=payload(size)) for size in REQUEST_STREAM_SIZES
    ]
    response = peer.stub.StreamingInputCall(iter(requests), timeout=TIMEOUT)
    check(
        response.aggregated_payload_size == 74922,
        f"aggregated_payload_size is {response.aggregated_payload_size}, expected 74922",
    )


def client_compressed_streaming(peer):
    raise Skip(
        "grpcio compresses a whole call; it cannot compress one request message and not the next"
    )


def server_streaming(peer):
    request = streaming_request(RESPONSE_STREAM_SIZES)
    responses = list(peer.stub.StreamingOutputCall(request, timeout=TIMEOUT))
    check_stream_sizes(responses, RESPONSE_STREAM_SIZES)


def server_compressed_streaming(peer):
    # As in server_compressed_unary: grpcio cannot see the per-message compressed flag, so only
    # success and sizes are checked.
    request = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[
            messages_pb2.ResponseParameters(size=31415, compressed=messages_pb2.BoolValue(value=True)),
            messages_pb2.ResponseParameters(size=92653, compressed=messages_pb2.BoolValue(value=False)),
        ]
    )
    responses = list(peer.stub.StreamingOutputCall(request, timeout=TIMEOUT))
    check_stream_sizes(responses, [31415, 92653])


def check_stream_sizes(responses, sizes):
    check(len(responses) == len(sizes), f"got {len(responses)} responses, expected {len(sizes)}")
    for index, (response, size) in enumerate(zip(responses, sizes)):
        check_payload(response.payload, size, f"response #{index + 1}")


def ping_pong(peer):
    pipe = RequestPipe()
    responses = peer.stub.FullDuplexCall(pipe, timeout=TIMEOUT)
    try:
        sizes = zip(RESPONSE_STREAM_SIZES, REQUEST_STREAM_SIZES)
        for index, (response_size, request_size) in enumerate(sizes):
            # Each request goes out only after the previous reply came back.
            pipe.send(streaming_request([response_size], request_size))
            response = next(responses, None)
            check(response is not None, f"stream ended after {index} responses, expected 4")
            check_payload(response.payload, response_size, f"response #{index + 1}")
    finally:
        pipe.close()
    rest = list(responses)
    check(not rest, f"got {len(rest)} responses after the fourth")


def empty_stream(peer):
    responses = list(peer.stub.FullDuplexCall(iter([]), timeout=TIMEOUT))
    check(not responses, f"got {len(responses)} responses, expected none")


def custom_metadata(peer):
    metadata = [ECHO_INITIAL, ECHO_TRAILING]

    response, call = peer.stub.UnaryCall.with_call(
        large_unary_request(), metadata=metadata, timeout=TIMEOUT
    )
    check_payload(response.payload, 314159)
    check_echoed_metadata("UnaryCall", call)

    requests = iter([streaming_request([314159], 271828)])
    responses = peer.stub.FullDuplexCall(requests, metadata=metadata, timeout=TIMEOUT)
    check_stream_sizes(list(responses), [314159])
    check_echoed_metadata("FullDuplexCall", responses)


def check_echoed_metadata(method, call):
    key, value = ECHO_INITIAL
    initial = [v for k, v in call.initial_metadata() if k == key]
    check(initial == [value], f"{method}: initial metadata {key} is {initial}, expected {[value]}")
    key, value = ECHO_TRAILING
    trailing = [v for k, v in call.trailing_metadata() if k == key]
    check(trailing == [value], f"{method}: trailing metadata {key} is {trailing}, expected {[value]}")


def status_code_and_message(peer):
    check_echoed_status(peer.stub, "test status message")


def special_status_message(peer):
    check_echoed_status(peer.stub, SPECIAL_STATUS_MESSAGE, unary_only=True)


def check_echoed_status(stub, message, unary_only=False):
    status = messages_pb2.EchoStatus(code=2, message=message)
    unary_request = messages_pb2.SimpleRequest(response_status=status)
    expect_status(grpc.StatusCode.UNKNOWN, message, "UnaryCall")(
        lambda: stub.UnaryCall(unary_request, timeout=TIMEOUT)
    )
    if not unary_only:
        stream_request = messages_pb2.StreamingOutputCallRequest(response_status=status)
        expect_status(grpc.StatusCode.UNKNOWN, message, "FullDuplexCall")(
            lambda: list(stub.FullDuplexCall(iter([stream_request]), timeout=TIMEOUT))
        )


def unimplemented_method(peer):
    expect_status(grpc.StatusCode.UNIMPLEMENTED)(
        lambda: peer.stub.UnimplementedCall(empty_pb2.Empty(), timeout=TIMEOUT)
    )


def unimplemented_service(peer):
    other = stubs.test_pb2_grpc.UnimplementedServiceStub(peer.channel)
    expect_status(grpc.StatusCode.UNIMPLEMENTED)(
        lambda: other.UnimplementedCall(empty_pb2.Empty(), timeout=TIMEOUT)
    )


def cancel_after_begin(peer):
    pipe = RequestPipe()
    try:
        call = peer.stub.StreamingInputCall.future(pipe, timeout=TIMEOUT)
        # cancel() is refused if the call already ended (say, the server was unreachable).
        check(call.cancel(), f"the call ended with {call.code().name} before it could be cancelled")
        check(call.code() == grpc.StatusCode.CANCELLED, f"the call ended with {call.code().name}")
    finally:
        pipe.close()


def cancel_after_first_response(peer):
    pipe = RequestPipe()
    try:
        responses = peer.stub.FullDuplexCall(pipe, timeout=TIMEOUT)
        pipe.send(streaming_request([31415], 27182))
        first = next(responses)
        check_payload(first.payload, 31415)
        responses.cancel()
        expect_status(grpc.StatusCode.CANCELLED)(lambda: next(responses))
        code = responses.code()
        check(code == grpc.StatusCode.CANCELLED, f"the call ended with {code.name}")
    finally:
        pipe.close()


def timeout_on_sleeping_server(peer):
    # The client never half-closes, so the server keeps waiting for requests until the 1 ms
    # deadline ends the call.
    pipe = RequestPipe()
    try:
        responses = peer.stub.FullDuplexCall(pipe, timeout=0.001)
        pipe.send(messages_pb2.StreamingOutputCallRequest(payload=payload(27182)))
        expect_status(grpc.StatusCode.DEADLINE_EXCEEDED)(lambda: next(responses))
    finally:
        pipe.close()


def pick_first_unary(peer):
    # Its own channel, configured for pick_first as the case asks; every call must reach one server.
    config = json.dumps({"loadBalancingConfig": [{"pick_first": {}}]})
    with grpc.insecure_channel(peer.target, options=[("grpc.service_config", config)]) as pick_first:
        pick_first_stub = stubs.test_pb2_grpc.TestServiceStub(pick_first)
        server_ids = set()
        for _ in range(100):
            request = messages_pb2.SimpleRequest(fill_server_id=True)
            server_ids.add(pick_first_stub.UnaryCall(request, timeout=TIMEOUT).server_id)
    check("" not in server_ids, "a response has an empty server_id")
    check(len(server_ids) == 1, f"calls reached {len(server_ids)} servers: {sorted(server_ids)}")


CASES = {
    case.__name__: case
    for case in [
        empty_unary,
        large_unary,
        client_compressed_unary,
        server_compressed_unary,
        client_streaming,
        client_compressed_streaming,
        server_streaming,
        server_compressed_streaming,
        ping_pong,
        empty_stream,
        custom_metadata,
        status_code_and_message,
        special_status_message,
        unimplemented_method,
        unimplemented_service,
        cancel_after_begin,
        cancel_after_first_response,
        timeout_on_sleeping_server,
        pick_first_unary,
    ]
}


# --- running -----------------------------------------------------------------------------------


class Peer:
    """What a case gets: the shared channel, its TestService stub, and the target (for cases that
    need a channel of their own)."""

    def __init__(self, target):
        self.target = target
        self.channel = grpc.insecure_channel(target)
        self.stub = stubs.test_pb2_grpc.TestServiceStub(self.channel)


def describe(error):
    """One line for a FAIL: the status of a failed RPC, or the exception's message."""
    if isinstance(error, grpc.RpcError) and hasattr(error, "code"):
        reason = f"RPC failed with {error.code().name}: {error.details()!r}"
    elif isinstance(error, CaseFailed):
        reason = str(error)
    else:
        reason = f"{type(error).__name__}: {error}"
    return " ".join(reason.split())


def run_case(name, peer):
    try:
        CASES[name](peer)
    except Skip as skip:
        print(f"SKIP {name}: {skip}", flush=True)
        return None
    except Exception as error:  # every failure, whatever its kind, is this case's FAIL
        print(f"FAIL {name}: {describe(error)}", flush=True)
        return False
    print(f"PASS {name}", flush=True)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="HOST:PORT or http://HOST:PORT")
    parser.add_argument(
        "--case", action="append", dest="cases", metavar="NAME", help="a case to run (repeatable)"
    )
    args = parser.parse_args()

    names = args.cases or list(CASES)
    unknown = [name for name in names if name not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}", file=sys.stderr)
        sys.exit(2)

    peer = Peer(args.target.removeprefix("http://"))
    results = [run_case(name, peer) for name in names]
    peer.channel.close()

    passed, failed = results.count(True), results.count(False)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
