"""Checks a server's health service with grpcio-health-checking's stubs.

    python health.py ADDR SERVICE

Check answers SERVING for the whole server ("") and for SERVICE, and NOT_FOUND for an unknown
service. Then a Watch on "" prints `watching SERVING` and waits: the test shuts the server down
meanwhile, and the Watch must receive NOT_SERVING and then end with OK. Prints what it saw; exits 1
on anything else.
"""

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def main():
    addr, service = sys.argv[1:3]
    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ["", service]:
            status = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status
            if status != health_pb2.HealthCheckResponse.SERVING:
                sys.exit(f"Check({name!r}) answered {status}")
            print(f"check {name!r} SERVING", flush=True)
        try:
            stub.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=10)
            sys.exit("an unknown service was found")
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                sys.exit(f"an unknown service: {error.code()}")
        print("check 'no.Such' NOT_FOUND", flush=True)

        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
        seen = []
        for response in watch:
            name = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            seen.append(name)
            print(f"watching {name}", flush=True)
        if watch.code() != grpc.StatusCode.OK:
            sys.exit(f"the Watch ended with {watch.code()}: {watch.details()}")
        if seen != ["SERVING", "NOT_SERVING"]:
            sys.exit(f"the Watch saw {seen}")
        print("watch ended OK", flush=True)


if __name__ == "__main__":
    main()
