"""Calls Greeter.SayHello once over TLS (or mutual TLS) with stock grpcio.

    python tls_client.py TARGET --ca CA_PEM [--cert CERT_PEM --key KEY_PEM]
                         [--server-name NAME] [--name NAME]

TARGET is HOST:PORT or unix:/abs/path (unix:///abs/path works too). --ca is the PEM bundle the
server's certificate must chain to; --cert and --key (both or neither) are the client's
certificate chain and private key for mutual TLS. --server-name overrides the name the server's
certificate is checked against (grpc.ssl_target_name_override; it also becomes the :authority
and the SNI name). Without it grpcio checks the host of TARGET; for a unix: target that is the
percent-encoded path (unix:/tmp/x.sock -> `tmp%2Fx.sock`), which no certificate names, so a
unix: target needs --server-name. --name is the name to greet (default "world").

Prints the reply's message alone on a line and exits 0. When the call fails it prints
`CODE_NAME: details` (e.g. `UNAVAILABLE: ...`, details on one line) on stdout and exits 1;
exit 2 is a bad command line or an unreadable PEM file.
"""

import argparse
import os
import sys

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
from _stubs import load  # noqa: E402

helloworld_pb2, helloworld_pb2_grpc = load("helloworld")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def one_line(text):
    """Keeps the `CODE_NAME: details` answer on one stdout line."""
    return " ".join((text or "").split())


def main():
    parser = argparse.ArgumentParser(description="Greeter.SayHello over TLS with grpcio")
    parser.add_argument("target", metavar="TARGET", help="HOST:PORT or unix:/abs/path")
    parser.add_argument("--ca", required=True, metavar="CA_PEM", help="trusted root certificate(s), PEM")
    parser.add_argument("--cert", metavar="CERT_PEM", help="client certificate chain, PEM (mutual TLS)")
    parser.add_argument("--key", metavar="KEY_PEM", help="client private key, PEM (mutual TLS)")
    parser.add_argument("--server-name", metavar="NAME", help="name to verify the server certificate against")
    parser.add_argument("--name", default="world", help="who to greet (default: world)")
    args = parser.parse_args()
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")

    try:
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(args.ca),
            private_key=read(args.key) if args.key else None,
            certificate_chain=read(args.cert) if args.cert else None,
        )
    except OSError as error:
        print(f"cannot read a PEM file: {error}", file=sys.stderr)
        return 2
    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []

    with grpc.secure_channel(args.target, creds, options=options) as channel:
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
