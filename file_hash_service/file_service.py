"""File service: hashes files for its callers by streaming them to the hash service.

This is `hash_file` of the lecture: it reuses `sha` of the hash service (C++ or Python,
whichever runs at --hash-target) through the stubs generated from the same hash.proto.

    python hash_service.py            # or build/hash_service: port 50051
    python file_service.py            # port 50052, serves files under the current folder
    python client.py hash.proto       # prints the digest, as sha256sum does
"""

import argparse
import logging
import os
import stat
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import BinaryIO

import grpc

import hash_pb2
import hash_pb2_grpc
import serving
from hash_pb2 import Chunk, HashFileReply, HashFileRequest

DEFAULT_PORT = 50052
DEFAULT_HASH_TARGET = "localhost:50051"
NO_DEADLINE = 10 * 365 * 24 * 3600.0  # seconds: longer than any real deadline
# Each Chunk must stay well below gRPC's default limit of 4 MB per message. 1 MiB chunks
# are as fast as any larger size (see README.md, "Benchmark") and keep memory use low.
CHUNK_SIZE = 1024 * 1024
# Clients ignore proxy variables for these local labs.
CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    # When the hash service comes back after a failure, try it again within 2 s
    # (gRPC's default backoff grows to 2 minutes).
    ("grpc.max_reconnect_backoff_ms", 2000),
]


class PathError(Exception):
    """A requested path that we refuse to hash: carries the status code to answer."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def resolve_inside(root: Path, requested: str) -> Path:
    """The real path of `requested` (relative to `root`, or absolute), if it is a regular
    file inside `root`. Otherwise raise PathError with the status code that fits."""
    if not requested:
        raise PathError(grpc.StatusCode.INVALID_ARGUMENT, "the path is empty")
    if "\0" in requested:
        raise PathError(grpc.StatusCode.INVALID_ARGUMENT, "the path contains a NUL character")
    # resolve() follows every symlink and removes every "..": what is left is the file
    # we would really open. Check that it is inside the root before anything else, so
    # that callers cannot even learn which files exist outside it.
    real = (root / requested).resolve()
    if not real.is_relative_to(root):
        raise PathError(grpc.StatusCode.PERMISSION_DENIED,
                        f"{requested}: outside the folder this file service serves")
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        raise PathError(grpc.StatusCode.NOT_FOUND, f"{requested}: no such file") from None
    except OSError as error:
        raise PathError(grpc.StatusCode.PERMISSION_DENIED,
                        f"{requested}: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise PathError(grpc.StatusCode.INVALID_ARGUMENT,
                        f"{requested}: is a directory, not a file")
    if not stat.S_ISREG(mode):  # a FIFO or a device could block us forever or never end
        raise PathError(grpc.StatusCode.INVALID_ARGUMENT, f"{requested}: not a regular file")
    return real


def read_chunks(file: BinaryIO, chunk_size: int) -> Iterator[Chunk]:
    """The file's content as a stream of Chunk messages (nothing at all for an empty file)."""
    while data := file.read(chunk_size):
        yield Chunk(data=data)


def time_left(context: grpc.ServicerContext) -> float | None:
    """Seconds until our caller's deadline; None if the caller set no deadline."""
    left = context.time_remaining()
    # Without a deadline gRPC reports some 292 billion years (its "infinite future"):
    # passing that on as a timeout would overflow, so we pass None, "no deadline".
    return None if left is None or left > NO_DEADLINE else left


class FileServiceImpl(hash_pb2_grpc.FileServiceServicer):
    """Our implementation of the FileService: a client of the HashService."""

    def __init__(self, root: Path, hash_target: str, chunk_size: int) -> None:
        self.root = root
        self.hash_target = hash_target
        self.chunk_size = chunk_size
        # One channel for all calls: gRPC multiplexes them over one connection.
        self.channel = grpc.insecure_channel(hash_target, options=CHANNEL_OPTIONS)
        self.hash_stub = hash_pb2_grpc.HashServiceStub(self.channel)

    def HashFile(self, request: HashFileRequest,
                 context: grpc.ServicerContext) -> HashFileReply:
        try:
            path = resolve_inside(self.root, request.path)
            file = open(path, "rb")
        except PathError as error:
            context.abort(error.code, error.message)
        except OSError as error:  # it exists, but we may not read it
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"{request.path}: {error.strerror}")
        with file:
            # BEGIN SOLUTION Stream the file's chunks to ShaStream and return a HashFileReply.
            # Our caller's deadline becomes the hash service's deadline, and when our
            # call ends early (cancelled, deadline passed) we cancel the hash call too:
            # nobody would read its result.
            hash_call = self.hash_stub.ShaStream.future(
                read_chunks(file, self.chunk_size), timeout=time_left(context))
            if not context.add_callback(hash_call.cancel):
                hash_call.cancel()  # our call ended already
            try:
                reply = hash_call.result()
            except grpc.FutureCancelledError:  # we cancelled it: our caller went away
                context.abort(grpc.StatusCode.CANCELLED, "the call was cancelled")
            except grpc.RpcError as error:
                self.abort_for_hash_error(error, context)
            return HashFileReply(path=request.path, size=reply.size,
                                 hex_digest=reply.hex_digest)
            # END SOLUTION

    def abort_for_hash_error(self, error: grpc.RpcError, context: grpc.ServicerContext) -> None:
        """Pass on a failed hash call to our caller, saying which service failed."""
        code = error.code()
        if code == grpc.StatusCode.UNAVAILABLE:
            context.abort(code, f"the hash service at {self.hash_target} is unavailable "
                                f"(is it running?): {error.details()}")
        context.abort(code, f"the hash service at {self.hash_target} failed: {error.details()}")


def serve(host: str, port: int, root: Path, hash_target: str, chunk_size: int) -> None:
    requests_thread_pool = futures.ThreadPoolExecutor(max_workers=10)
    server = grpc.server(requests_thread_pool, options=[("grpc.so_reuseport", 0)])
    service = FileServiceImpl(root, hash_target, chunk_size)
    hash_pb2_grpc.add_FileServiceServicer_to_server(service, server)
    service_name = hash_pb2.DESCRIPTOR.services_by_name["FileService"].full_name
    logging.info("Serving files under %s, hashing them with the hash service at %s",
                 root, hash_target)
    serving.run(server, host, port, [service_name])
    service.channel.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="File service (file_hash_service lab)")
    parser.add_argument("--host", default="[::]", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on, 0 for any free port (default: {DEFAULT_PORT})")
    parser.add_argument("--root", default=".",
                        help="folder whose files may be hashed (default: the current folder)")
    parser.add_argument("--hash-target", default=DEFAULT_HASH_TARGET,
                        help=f"the hash service, HOST:PORT (default: {DEFAULT_HASH_TARGET})")
    parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE,
                        help=f"bytes per Chunk sent to the hash service (default: {CHUNK_SIZE})")
    args = parser.parse_args()
    if not 1 <= args.chunk_size <= 3 * 1024 * 1024:
        parser.error("--chunk-size must be between 1 and 3145728 (gRPC's limit is 4 MB)")
    if not os.path.isdir(args.root):
        parser.error(f"--root {args.root}: not a folder")
    return args


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    serving.keep_big_buffers_in_the_heap()
    serve(args.host, args.port, Path(args.root).resolve(), args.hash_target, args.chunk_size)
