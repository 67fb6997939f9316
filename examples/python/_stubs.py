"""Generates Python stubs with grpcio-tools from the .proto files protoless exported.

The stubs are never written by hand: each run compiles the package's file under examples/proto/
(or under $PROTOLESS_PROTO_DIR) into a fresh temporary directory and imports the result.
"""

import importlib
import os
import sys
import tempfile
from importlib import resources

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.environ.get("PROTOLESS_PROTO_DIR", os.path.join(HERE, "..", "proto"))


def proto_file(package):
    """The exported file of `package`, relative to PROTO_DIR: the one whose package line names it
    (protoless puts it at <package path>/<name>.proto)."""
    for folder, _, files in sorted(os.walk(PROTO_DIR)):
        for file in sorted(files):
            if not file.endswith(".proto"):
                continue
            path = os.path.join(folder, file)
            with open(path) as text:
                if any(line.strip() == f"package {package};" for line in text):
                    return os.path.relpath(path, PROTO_DIR)
    sys.exit(f"no .proto file of package {package} under {PROTO_DIR}")


def load(package):
    """Returns the (messages, services) modules of the exported file of `package`."""
    from grpc_tools import protoc

    relative = proto_file(package)
    folder, file = os.path.split(os.path.join(PROTO_DIR, relative))
    out = tempfile.mkdtemp(prefix="protoless-stubs-")
    well_known = str(resources.files("grpc_tools") / "_proto")
    # Compiled from its own folder, so that the modules are top-level (`helloworld_pb2`), never
    # inside a Python package named after the proto package, which a script of the same name
    # (or the `grpc` library itself) would shadow. A protoless file imports only well-known ones.
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{folder}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            os.path.join(folder, file),
        ]
    )
    if status != 0:
        sys.exit(f"grpc_tools.protoc failed on {relative} (exit {status})")
    sys.path.insert(0, out)
    module = file[: -len(".proto")]
    return importlib.import_module(f"{module}_pb2"), importlib.import_module(f"{module}_pb2_grpc")


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
