"""The Python half of the soak (scripts/soak): grpcio clients sending mixed traffic to an
`interop serve` server for a given time, counting calls that fail unexpectedly.

    python soak_client.py TARGET SECONDS THREADS

Each thread runs grpc's interop cases (tests/interop/python/interop_client.py) over and over on
its own channel (all four call shapes, large and gzip messages, errors, cancellations, deadlines),
a fresh channel every tenth round, plus a request past the server's 4 MiB limit that must fail
with RESOURCE_EXHAUSTED. Prints `soak python: N cases, M failed` and the first failures; exits 1
if any case failed.
"""

import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "interop", "python"))

import grpc  # noqa: E402

import interop_client  # noqa: E402

OVERSIZED = 5 * 1024 * 1024


def oversized(peer):
    request = interop_client.messages_pb2.SimpleRequest(
        response_size=1, payload=interop_client.payload(OVERSIZED)
    )
    interop_client.expect_status(grpc.StatusCode.RESOURCE_EXHAUSTED, what="a 5 MiB request")(
        lambda: peer.stub.UnaryCall(request, timeout=20)
    )


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.cases = 0
        self.failed = 0
        self.first_failures = []

    def record(self, name, error):
        with self.lock:
            self.cases += 1
            if error is not None:
                self.failed += 1
                if len(self.first_failures) < 20:
                    self.first_failures.append(f"{name}: {interop_client.describe(error)}")


def run(name, case, peer, tally):
    try:
        case(peer)
    except interop_client.Skip:
        return
    except Exception as error:  # every failure, whatever its kind, counts
        tally.record(name, error)
        return
    tally.record(name, None)


def worker(target, until, tally):
    round_ = 0
    peer = None
    while time.monotonic() < until:
        if round_ % 10 == 0:
            if peer is not None:
                peer.channel.close()
            peer = interop_client.Peer(target)
        round_ += 1
        for name, case in interop_client.CASES.items():
            run(name, case, peer, tally)
        run("oversized", oversized, peer, tally)
    peer.channel.close()


def main():
    if len(sys.argv) != 4:
        print("usage: soak_client.py TARGET SECONDS THREADS", file=sys.stderr)
        sys.exit(2)
    target, seconds, threads = sys.argv[1].removeprefix("http://"), int(sys.argv[2]), int(sys.argv[3])
    until = time.monotonic() + seconds
    tally = Tally()
    workers = [threading.Thread(target=worker, args=(target, until, tally)) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    print(f"soak python: {tally.cases} cases, {tally.failed} failed", flush=True)
    for failure in tally.first_failures:
        print(f"  FAIL {failure}", flush=True)
    sys.exit(0 if tally.failed == 0 else 1)


if __name__ == "__main__":
    main()
