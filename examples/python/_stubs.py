"""Generates Python stubs with grpcio-tools from the .proto files protoless exported.

The stubs are never written by hand: each run compiles examples/proto/<name>.proto (or the file
in $PROTOLESS_PROTO_DIR) into a fresh temporary directory and imports the result.
"""

import importlib
import os
import sys
import tempfile
from importlib import resources

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.environ.get("PROTOLESS_PROTO_DIR", os.path.join(HERE, "..", "proto"))


def load(name):
    """Returns the (messages, services) modules for examples/proto/<name>.proto."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="protoless-stubs-")
    well_known = str(resources.files("grpc_tools") / "_proto")
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            os.path.join(PROTO_DIR, f"{name}.proto"),
        ]
    )
    if status != 0:
        sys.exit(f"grpc_tools.protoc failed on {name}.proto (exit {status})")
    sys.path.insert(0, out)
    return importlib.import_module(f"{name}_pb2"), importlib.import_module(f"{name}_pb2_grpc")


def serve_until_terminated(server):
    """Starts `server`, announces its address, and stops it gracefully on SIGTERM or Ctrl-C."""
    import signal
    import threading

    port = server.add_insecure_port(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:0")
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=5).wait()
