"""Calls a protoless Cache server with stock Python grpcio.

    python examples/python/cache_client.py HOST:PORT
"""

import sys

import grpc

from _stubs import load

cache_pb2, cache_pb2_grpc = load("rpc")


def main(target):
    with grpc.insecure_channel(target) as channel:
        stub = cache_pb2_grpc.CacheStub(channel)
        items = {"python": b"grpcio", "rust": b"protoless", "bin": bytes(range(256))}
        for key, val in items.items():
            stub.Store(cache_pb2.StoreReq(key=key, val=val), timeout=10)
            print(f"Store({key!r}) ok")
        assert stub.Get(cache_pb2.GetReq(key="rust"), timeout=10).val == b"protoless"
        try:
            stub.Get(cache_pb2.GetReq(key="kiwi"), timeout=10)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND, error.code()
            assert error.details() == "Key not found kiwi", error.details()
            print(f"Get('kiwi') failed: {error.code().name}: {error.details()}")
        else:
            raise AssertionError("Get of a missing key should fail with NOT_FOUND")
        dumped = {item.key: item.val for item in stub.Dump(cache_pb2.DumpReq(), timeout=10)}
        assert dumped == items, dumped
        keys = [item.key for item in stub.Dump(cache_pb2.DumpReq(), timeout=10)]
        assert keys == sorted(items), keys
        print(f"Dump -> {keys}")
    print("cache client: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
