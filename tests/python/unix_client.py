"""Calls Greeter.SayHello once in plaintext over a Unix domain socket with stock grpcio.

    python unix_client.py unix:PATH [--name NAME]

PATH should be absolute (unix:/tmp/x.sock or unix:///tmp/x.sock); grpcio also takes a relative
unix:x.sock, resolved against the working directory. Any other plaintext target (HOST:PORT)
works as well. For a unix: target grpcio sends the path, percent-encoded and without its leading
slash, as the :authority (unix:/tmp/x.sock -> `tmp%2Fx.sock`).

Prints the reply's message alone on a line and exits 0. When the call fails it prints
`CODE_NAME: details` (e.g. `UNAVAILABLE: ...`, details on one line) on stdout and exits 1.
"""

import argparse
import os
import sys

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
from _stubs import load  # noqa: E402

helloworld_pb2, helloworld_pb2_grpc = load("helloworld")


def one_line(text):
    """Keeps the `CODE_NAME: details` answer on one stdout line."""
    return " ".join((text or "").split())


def main():
    parser = argparse.ArgumentParser(description="Greeter.SayHello over a Unix socket with grpcio")
    parser.add_argument("target", metavar="unix:PATH", help="unix:/abs/path or unix:///abs/path")
    parser.add_argument("--name", default="world", help="who to greet (default: world)")
    args = parser.parse_args()

    # grpcio's default :authority for a unix: target is the percent-encoded path, which the http
    # crate under h2 (and so protoless) refuses as a malformed authority (RST_STREAM
    # PROTOCOL_ERROR). "localhost" is what grpc-go and protoless clients send.
    options = [("grpc.default_authority", "localhost")]
    with grpc.insecure_channel(args.target, options=options) as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        try:
            reply = stub.SayHello(helloworld_pb2.HelloRequest(name=args.name), timeout=10)
        except grpc.RpcError as error:
            print(f"{error.code().name}: {one_line(error.details())}", flush=True)
            return 1
    print(reply.message, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
