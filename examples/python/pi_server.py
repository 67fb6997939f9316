"""A PiCalculator server in Python grpcio, for calling from the Rust client.

    python examples/python/pi_server.py [HOST:PORT]

Prints `listening on HOST:PORT` once it serves; stops gracefully on SIGTERM or Ctrl-C.
"""

import math
from concurrent import futures

import grpc

from _stubs import load, serve_until_terminated

pi_pb2, pi_pb2_grpc = load("pi")


class PiCalculator(pi_pb2_grpc.PiCalculatorServicer):
    def Calc(self, request, context):
        if request.n <= 0:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"n must be positive, got {request.n}"
            )
        return pi_pb2.PiResponse(value=approximate(request.n))

    def CalcStream(self, request_iterator, context):
        for request in request_iterator:
            if request.n > 0:
                yield pi_pb2.PiStreamResponse(n=request.n, value=approximate(request.n))


def approximate(n):
    return math.sqrt(8 * sum(1 / (2 * i + 1) ** 2 for i in range(n)))


if __name__ == "__main__":
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pi_pb2_grpc.add_PiCalculatorServicer_to_server(PiCalculator(), server)
    serve_until_terminated(server)
