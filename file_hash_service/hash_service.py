"""Hash server in Python: the same service as hash_service.cpp, interchangeable with it.

Run it with `python hash_service.py` (port 50051), then `python file_service.py` in
another terminal: the file service does not care which of the two hash servers answers.
"""

import serving  # first: from here on, Ctrl+C ends the server cleanly (see serving.py)

import argparse
import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator

import grpc

import hash_pb2_grpc
from hash_pb2 import Chunk, ShaReply, ShaRequest

DEFAULT_PORT = 50051


class HashServiceImpl(hash_pb2_grpc.HashServiceServicer):
    """Our implementation of the HashService that protoc generated for us."""

    async def Sha(self, request: ShaRequest, context: grpc.aio.ServicerContext) -> ShaReply:
        # BEGIN SOLUTION Hash request.data with hashlib's SHA-256; reply the hex digest and size.
        digest = hashlib.sha256(request.data)
        return ShaReply(hex_digest=digest.hexdigest(), size=len(request.data))
        # END SOLUTION

    async def ShaStream(self, request_iterator: AsyncIterator[Chunk],
                        context: grpc.aio.ServicerContext) -> ShaReply:
        # BEGIN SOLUTION Feed every chunk of the stream into one SHA-256; reply as Sha does (README, step 4).
        digest = hashlib.sha256()
        size = 0
        # The loop ends when the caller closes its side of the stream. If the caller
        # cancels instead, gRPC ends the call for us and nobody reads our reply.
        async for chunk in request_iterator:
            digest.update(chunk.data)
            size += len(chunk.data)
        return ShaReply(hex_digest=digest.hexdigest(), size=size)
        # END SOLUTION


async def serve(args: argparse.Namespace) -> None:
    server = serving.new_server(args)
    hash_pb2_grpc.add_HashServiceServicer_to_server(HashServiceImpl(), server)
    # Listens on --host:--port, logs "Server started on port N", serves until Ctrl+C.
    await serving.run(server, args, "filehash.HashService")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    parser = serving.server_flags("Hash server (file_hash_service lab, Python)", DEFAULT_PORT)
    args = parser.parse_args()
    serving.keep_big_buffers_in_the_heap()
    asyncio.run(serve(args))
