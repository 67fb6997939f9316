"""Calls a protoless Cache server with stock Python grpcio, and shows what production calls
carry besides messages: metadata both ways, deadlines, gzip, and rich error details.

    python examples/python/cache_client.py HOST:PORT

Expects the server's default accounts (`inconshreveable=1000`, `small=2`) and an empty cache.
Checks every answer and exits non-zero if one is wrong, so tests can run it as is.
"""

import sys

import grpc
from grpc_status import rpc_status
from google.rpc import error_details_pb2

from _stubs import load

cache_pb2, cache_pb2_grpc = load("rpc")


def store(stub, key, val, token, **kwargs):
    return stub.Store(cache_pb2.StoreReq(key=key, val=val, account_token=token), timeout=10, **kwargs)


def expect_error(code, call):
    try:
        call()
    except grpc.RpcError as error:
        assert error.code() == code, (error.code(), error.details())
        return error
    raise AssertionError(f"expected {code.name}")


def main(target):
    with grpc.insecure_channel(target) as channel:
        stub = cache_pb2_grpc.CacheStub(channel)

        # Plain calls, and compressed ones: the server decompresses, and answers compressed.
        items = {"python": b"grpcio", "rust": b"protoless"}
        for key, val in items.items():
            store(stub, key, val, "inconshreveable")
        store(stub, "zipped", b"z" * 10_000, "inconshreveable", compression=grpc.Compression.Gzip)
        got = stub.Get(cache_pb2.GetReq(key="zipped"), timeout=10, compression=grpc.Compression.Gzip)
        assert got.val == b"z" * 10_000
        print("gzip both ways: ok")

        error = expect_error(grpc.StatusCode.NOT_FOUND, lambda: stub.Get(cache_pb2.GetReq(key="kiwi"), timeout=10))
        assert error.details() == "Key not found kiwi", error.details()
        print(f"Get('kiwi') failed: {error.code().name}: {error.details()}")

        # Metadata: a dry run checks but stores nothing, and says so in a trailer.
        response, call = stub.Store.with_call(
            cache_pb2.StoreReq(key="dry", val=b"x", account_token="inconshreveable"),
            metadata=[("dry-run", "1")], timeout=10)
        trailers = dict(call.trailing_metadata())
        assert trailers.get("dry-run") == "1", trailers
        expect_error(grpc.StatusCode.NOT_FOUND, lambda: stub.Get(cache_pb2.GetReq(key="dry"), timeout=10))
        print(f"dry run: trailers {trailers}, nothing stored")

        # Accounts: unknown tokens, and the key limit as a rich error.
        error = expect_error(grpc.StatusCode.UNAUTHENTICATED, lambda: store(stub, "k", b"v", "nobody"))
        print(f"unknown account: {error.code().name}: {error.details()}")
        store(stub, "one", b"1", "small")
        store(stub, "two", b"2", "small")
        error = expect_error(grpc.StatusCode.FAILED_PRECONDITION, lambda: store(stub, "three", b"3", "small"))
        status = rpc_status.from_call(error)
        assert status is not None, "no grpc-status-details-bin"
        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info)
        assert (info.reason, info.domain) == ("KEY_LIMIT_EXCEEDED", "cache"), info
        print(f"key limit: {error.code().name}, ErrorInfo reason={info.reason} domain={info.domain}")

        # Deadlines: every call above carries one (timeout=10 becomes grpc-timeout), and Store
        # passes what is left of it on to its Accounts call.

        keys = [item.key for item in stub.Dump(cache_pb2.DumpReq(), timeout=10)]
        assert keys == ["one", "python", "rust", "two", "zipped"], keys
        print(f"Dump -> {keys}")
    print("cache client: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
