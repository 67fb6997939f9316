"""The Python half of tests/retry.rs: stock grpcio, configured with the service config protoless
generated from the trait, retries against the flaky Rust server.

    python retry.py HOST:PORT EXPORT_DIR

EXPORT_DIR holds the exported .proto files and service-config.json. Prints one line per call:
`KEY: attempts N previous P,...`, `KEY: attempts N received S,...` or `KEY: CODE`.
"""

import os
import sys

import grpc

os.environ["PROTOLESS_PROTO_DIR"] = sys.argv[2]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
from _stubs import load  # noqa: E402

pb, pb_grpc = load("flaky")


def main(target, folder):
    with open(os.path.join(folder, "service-config.json")) as file:
        config = file.read()
    options = [("grpc.service_config", config), ("grpc.enable_retries", 1)]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = pb_grpc.FlakyStub(channel)
        for method, key, fail in [
            (stub.Idempotent, "py-three", 3),
            (stub.Idempotent, "py-four", 4),
            (stub.Once, "py-once", 1),
        ]:
            try:
                seen = method(pb.Ask(fail=fail, code=14, key=key), timeout=10)
                print(f"{key}: attempts {seen.attempts} previous {','.join(seen.previous)}")
            except grpc.RpcError as error:
                print(f"{key}: {error.code().name}")
        # Client streaming: grpcio keeps the requests and sends them again on each attempt.
        for method, key, fail in [
            (stub.Gather, "py-gather", 2),
            (stub.GatherOnce, "py-gather-once", 1),
        ]:
            requests = [pb.Ask(fail=fail, code=14, key=key, seq=seq) for seq in range(3)]
            try:
                seen = method(iter(requests), timeout=10)
                received = ",".join(str(seq) for seq in seen.received)
                print(f"{key}: attempts {seen.attempts} received {received}")
            except grpc.RpcError as error:
                print(f"{key}: {error.code().name}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
