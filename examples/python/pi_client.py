"""Calls a protoless PiCalculator server with stock Python grpcio.

    python examples/python/pi_client.py HOST:PORT

Checks every answer and exits non-zero if one is wrong, so tests can run it as is.
"""

import math
import sys

import grpc

from _stubs import load

pi_pb2, pi_pb2_grpc = load("pi")


def expected(n):
    return math.sqrt(8 * sum(1 / (2 * i + 1) ** 2 for i in range(n)))


def main(target):
    with grpc.insecure_channel(target) as channel:
        stub = pi_pb2_grpc.PiCalculatorStub(channel)
        for n in (1, 10, 1000):
            # The server may still be starting (README step 6 starts it in the background):
            # wait for it, within the deadline, rather than fail at once.
            reply = stub.Calc(pi_pb2.PiRequest(n=n), timeout=10, wait_for_ready=True)
            assert math.isclose(reply.value, expected(n), rel_tol=1e-12), (n, reply.value)
            print(f"Calc(n={n}) = {reply.value:.10f}")
        for n in (0, -7):
            try:
                stub.Calc(pi_pb2.PiRequest(n=n), timeout=10)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.code()
                assert "n must be positive" in error.details(), error.details()
                print(f"Calc(n={n}) failed: {error.code().name}: {error.details()}")
            else:
                raise AssertionError(f"Calc(n={n}) should fail with INVALID_ARGUMENT")
        # Requests with n <= 0 get no answer; the others are answered in order.
        requests = [pi_pb2.PiRequest(n=n) for n in (3, 0, 30, -1, 300)]
        replies = list(stub.CalcStream(iter(requests), timeout=10))
        assert [r.n for r in replies] == [3, 30, 300], replies
        for reply in replies:
            assert math.isclose(reply.value, expected(reply.n), rel_tol=1e-12), reply
            print(f"CalcStream: n={reply.n} -> {reply.value:.10f}")
    print("pi client: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
