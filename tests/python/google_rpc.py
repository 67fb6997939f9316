"""Compares protoless's google/rpc exports with googleapis' own files (those googleapis-common-protos
installs beside grpcio-status), descriptor for descriptor, options and source info aside.

    python google_rpc.py EXPORT_DIR

Prints one line per file; exits 1 on a difference, with a diff.
"""

import difflib
import os
import sys
import tempfile
from importlib import resources

import google.rpc
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

FILES = ["google/rpc/status.proto", "google/rpc/error_details.proto"]


def compile_from(root):
    well_known = str(resources.files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory() as out:
        path = os.path.join(out, "set.pb")
        if protoc.main(["protoc", f"-I{root}", f"-I{well_known}", f"--descriptor_set_out={path}", *FILES]) != 0:
            sys.exit(f"protoc failed on {FILES} under {root}")
        with open(path, "rb") as data:
            return {file.name: file for file in descriptor_pb2.FileDescriptorSet.FromString(data.read()).file}


def main():
    ours = compile_from(sys.argv[1])
    theirs = compile_from(os.path.dirname(os.path.dirname(list(google.rpc.__path__)[0])))
    for name in FILES:
        a, b = ours[name], theirs[name]
        for file in (a, b):
            file.ClearField("options")
            file.ClearField("source_code_info")
        if a != b:
            diff = "\n".join(difflib.unified_diff(str(b).splitlines(), str(a).splitlines(), "googleapis", "protoless", lineterm=""))
            sys.exit(f"FAIL {name} differs:\n{diff}")
        print(f"ok {name} equals googleapis' descriptor", flush=True)


if __name__ == "__main__":
    main()
