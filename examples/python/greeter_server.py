"""A Greeter server in Python grpcio, for calling from the Rust client.

    python examples/python/greeter_server.py [HOST:PORT]
"""

from concurrent import futures

import grpc

from _stubs import load, serve_until_terminated

helloworld_pb2, helloworld_pb2_grpc = load("helloworld")


class Greeter(helloworld_pb2_grpc.GreeterServicer):
    def SayHello(self, request, context):
        return helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")

    def LotsOfReplies(self, request, context):
        for i in range(1, 11):
            yield helloworld_pb2.HelloReply(message=f"Hello, {request.name}! #{i}")

    def LotsOfGreetings(self, request_iterator, context):
        names = ", ".join(request.name for request in request_iterator)
        return helloworld_pb2.HelloReply(message=f"Hello, {names}!")

    def BidiHello(self, request_iterator, context):
        for request in request_iterator:
            yield helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")


if __name__ == "__main__":
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    serve_until_terminated(server)
