"""A Greeter server in stock grpcio that serves over TLS, or mutual TLS with --client-ca.

    python tls_server.py ADDR --cert CERT_PEM --key KEY_PEM [--client-ca CA_PEM]

ADDR is HOST:PORT (port 0 picks a free one) or unix:/abs/path. --cert is the server's
certificate chain (leaf first) and --key its private key. With --client-ca the server requires
every client to present a certificate that chains to CA_PEM, and refuses the handshake
otherwise.

The first stdout line is `listening on HOST:PORT` (the port actually bound), or
`listening on unix:PATH` for a unix: ADDR, i.e. a target a client can dial. Then it serves until
SIGTERM or SIGINT and stops gracefully.

SayHello answers `Hello, NAME!`. When the client presented a certificate, the answer is
`Hello, NAME! (client ID)`, where ID is the certificate's subject common name, or its first
subject alternative name when the subject has no CN, as grpcio's auth context reports them.
"""

import argparse
import os
import signal
import sys
import threading
from concurrent import futures

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
from _stubs import load  # noqa: E402

helloworld_pb2, helloworld_pb2_grpc = load("helloworld")


def client_identity(context):
    """The CN (else the first SAN) of the client's certificate, or None when it sent none."""
    # grpcio fills x509_common_name with b"" for a subject without a CN, so skip empty values.
    # Neither key is there when the client sent no certificate.
    auth = context.auth_context()
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        for value in auth.get(key, ()):
            if value:
                return value.decode("utf-8", "replace")
    return None


class Greeter(helloworld_pb2_grpc.GreeterServicer):
    def SayHello(self, request, context):
        message = f"Hello, {request.name}!"
        identity = client_identity(context)
        if identity is not None:
            message += f" (client {identity})"
        return helloworld_pb2.HelloReply(message=message)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    parser = argparse.ArgumentParser(description="grpcio Greeter server over TLS")
    parser.add_argument("addr", metavar="ADDR", help="HOST:PORT or unix:/abs/path")
    parser.add_argument("--cert", required=True, metavar="CERT_PEM", help="server certificate chain, PEM")
    parser.add_argument("--key", required=True, metavar="KEY_PEM", help="server private key, PEM")
    parser.add_argument("--client-ca", metavar="CA_PEM", help="require client certificates from this CA (mTLS)")
    args = parser.parse_args()

    client_ca = read(args.client_ca) if args.client_ca else None
    creds = grpc.ssl_server_credentials(
        [(read(args.key), read(args.cert))],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    # grpcio raises RuntimeError("Failed to bind ...") both for an address in use and for a key
    # that does not match the certificate; its log lines on stderr say which.
    try:
        port = server.add_secure_port(args.addr, creds)
    except RuntimeError as error:
        sys.exit(f"cannot serve {args.addr} with these credentials: {error}")
    server.start()
    if args.addr.startswith("unix:"):
        print(f"listening on {args.addr}", flush=True)
    else:
        host = args.addr.rsplit(":", 1)[0]
        print(f"listening on {host}:{port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=5).wait()


if __name__ == "__main__":
    main()
