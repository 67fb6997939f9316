"""A grpcio server for grpc's interop TestService (grpc/grpc doc/interop-test-descriptions.md),
the peer the Rust interop client is checked against.

    python interop_server.py ADDR [--server-id ID]

Prints `listening on 127.0.0.1:PORT` once it serves, and stops gracefully on SIGTERM or Ctrl-C.

grpcio's server API cannot see whether a request message was compressed, so the
CompressedRequest feature (`expect_compressed`) is not checked: client_compressed_unary's probe
does not fail against this server. UnimplementedCall is left out on purpose, so grpcio answers
it with UNIMPLEMENTED.
"""

import argparse
import signal
import sys
import threading
import time
from concurrent import futures

import grpc

import _interop_stubs

stubs = _interop_stubs.load()
messages_pb2 = stubs.messages_pb2

DEFAULT_SERVER_ID = "grpcio-interop-server"
ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
# grpc.StatusCode members carry (number, name); EchoStatus carries the bare number.
STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def echo_metadata(context):
    """Echo Metadata: sends the echo headers back, the initial one at once as initial metadata,
    so that it arrives even on calls that fail or send no message.

    Must run after any set_compression: grpcio announces the compression in the initial metadata.
    """
    received = context.invocation_metadata()
    initial = [(key, value) for key, value in received if key == ECHO_INITIAL_KEY]
    trailing = [(key, value) for key, value in received if key == ECHO_TRAILING_KEY]
    if initial:
        context.send_initial_metadata(initial)
    if trailing:
        context.set_trailing_metadata(trailing)


def finish_with_requested_status(request, context):
    """Echo Status: ends the call with the request's response_status, if it asks for a failure.

    abort() (rather than set_code and return) keeps grpcio from sending a response message before
    the failure, and still sends the trailing metadata set by echo_metadata.
    """
    if request.HasField("response_status") and request.response_status.code != 0:
        code = STATUS_BY_NUMBER.get(request.response_status.code, grpc.StatusCode.UNKNOWN)
        context.abort(code, request.response_status.message)


def payload(size):
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=bytes(size))


def check_response_type(request, context):
    # COMPRESSABLE is the only payload type left in grpc's messages.proto.
    if request.response_type != messages_pb2.COMPRESSABLE:
        message = f"unsupported response_type {request.response_type}"
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)


def stream_responses(request, context):
    """Yields the responses one StreamingOutputCallRequest asks for, in order, each after its
    interval_us (a sleep before the message, relative to the previous one)."""
    for parameters in request.response_parameters:
        if parameters.interval_us > 0:
            time.sleep(parameters.interval_us / 1e6)
        if parameters.HasField("compressed") and not parameters.compressed.value:
            # Only meaningful when the call compresses (see StreamingOutputCall); otherwise a no-op.
            context.disable_next_message_compression()
        yield messages_pb2.StreamingOutputCallResponse(payload=payload(parameters.size))


class TestService(stubs.test_pb2_grpc.TestServiceServicer):
    def __init__(self, server_id):
        self.server_id = server_id

    def EmptyCall(self, request, context):
        echo_metadata(context)
        return stubs.empty_pb2.Empty()

    def UnaryCall(self, request, context):
        if request.response_compressed.value:
            context.set_compression(grpc.Compression.Gzip)
        echo_metadata(context)
        finish_with_requested_status(request, context)
        check_response_type(request, context)
        response = messages_pb2.SimpleResponse(payload=payload(request.response_size))
        if request.fill_server_id:
            response.server_id = self.server_id
        return response

    def StreamingOutputCall(self, request, context):
        # grpcio compresses per call, so any message asking for compression turns gzip on for the
        # call, and the others opt out one by one with disable_next_message_compression.
        if any(parameters.compressed.value for parameters in request.response_parameters):
            context.set_compression(grpc.Compression.Gzip)
        echo_metadata(context)
        check_response_type(request, context)
        yield from stream_responses(request, context)
        finish_with_requested_status(request, context)

    def StreamingInputCall(self, request_iterator, context):
        echo_metadata(context)
        total = sum(len(request.payload.body) for request in request_iterator)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def FullDuplexCall(self, request_iterator, context):
        # Initial metadata goes out before the first request is read, so per-message compression
        # cannot be honoured here (nor does any interop case ask for it on this method).
        echo_metadata(context)
        for request in request_iterator:
            yield from stream_responses(request, context)
            # Echo Status: the server processes no further messages after a requested failure.
            finish_with_requested_status(request, context)

    def HalfDuplexCall(self, request_iterator, context):
        echo_metadata(context)
        requests = list(request_iterator)
        for request in requests:
            yield from stream_responses(request, context)
            finish_with_requested_status(request, context)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("addr", help="address to bind, e.g. 127.0.0.1:0")
    parser.add_argument("--server-id", default=DEFAULT_SERVER_ID, help="server_id for fill_server_id")
    args = parser.parse_args()

    # Each streaming call holds a worker thread for its whole life, so the pool is sized for
    # clients that keep many streams open at once.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    stubs.test_pb2_grpc.add_TestServiceServicer_to_server(TestService(args.server_id), server)
    try:
        port = server.add_insecure_port(args.addr)
    except RuntimeError as error:
        sys.exit(f"cannot bind {args.addr}: {error}")
    if port == 0:
        sys.exit(f"cannot bind {args.addr}")
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=5).wait()


if __name__ == "__main__":
    main()
