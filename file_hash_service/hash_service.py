"""Hash server in Python: the same service as hash_service.cpp, interchangeable with it.

Run it with `python hash_service.py` (port 50051), then `python file_service.py` in
another terminal: the file service does not care which of the two hash servers answers.
"""

import argparse
import hashlib
import logging
from collections.abc import Iterator
from concurrent import futures

import grpc

import hash_pb2
import hash_pb2_grpc
import serving
from hash_pb2 import Chunk, ShaReply, ShaRequest

DEFAULT_PORT = 50051


class HashServiceImpl(hash_pb2_grpc.HashServiceServicer):
    """Our implementation of the HashService that protoc generated for us."""

    def Sha(self, request: ShaRequest, context: grpc.ServicerContext) -> ShaReply:
        # BEGIN SOLUTION Hash request.data with hashlib's SHA-256; reply the hex digest and size.
        digest = hashlib.sha256(request.data)
        return ShaReply(hex_digest=digest.hexdigest(), size=len(request.data))
        # END SOLUTION

    def ShaStream(self, request_iterator: Iterator[Chunk],
                  context: grpc.ServicerContext) -> ShaReply:
        # BEGIN SOLUTION Feed every chunk of the stream into one SHA-256; reply as Sha does.
        digest = hashlib.sha256()
        size = 0
        # The loop ends when the caller closes its side of the stream. If the caller
        # cancels instead, gRPC ends the call for us and nobody reads our reply.
        for chunk in request_iterator:
            digest.update(chunk.data)  # hashlib lets other threads run while it hashes
            size += len(chunk.data)
        return ShaReply(hex_digest=digest.hexdigest(), size=size)
        # END SOLUTION


def serve(host: str, port: int) -> None:
    # The server runs each call on a thread from this pool: 10 calls at a time.
    requests_thread_pool = futures.ThreadPoolExecutor(max_workers=10)
    # so_reuseport 0: a second server on the same port fails loudly instead of
    # silently sharing the port with the first one (gRPC's default on Linux).
    server = grpc.server(requests_thread_pool, options=[("grpc.so_reuseport", 0)])
    hash_pb2_grpc.add_HashServiceServicer_to_server(HashServiceImpl(), server)
    service_name = hash_pb2.DESCRIPTOR.services_by_name["HashService"].full_name
    serving.run(server, host, port, [service_name])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Hash server (file_hash_service lab, Python)")
    parser.add_argument("--host", default="[::]", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on, 0 for any free port (default: {DEFAULT_PORT})")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    serving.keep_big_buffers_in_the_heap()
    serve(args.host, args.port)
