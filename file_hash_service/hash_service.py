"""Hash server in Python: the same service as hash_service.cpp, interchangeable with it.

Run it with `python hash_service.py` (port 50051), then `python file_service.py` in
another terminal: the file service does not care which of the two hash servers answers.
"""

import argparse
import ctypes
import hashlib
import logging
import signal
from collections.abc import Iterator
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import hash_pb2
import hash_pb2_grpc
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


def add_standard_services(server: grpc.Server, service_names: list[str]) -> None:
    """Health checking and server reflection, so that tools like grpcurl work without
    the .proto file at hand: `grpcurl -plaintext localhost:50051 list`."""
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *service_names]:  # "" is the health of the server as a whole
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    names = [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)


def stop_on_signals(server: grpc.Server, grace: float = 1.0) -> None:
    """Ctrl+C (SIGINT) and SIGTERM stop the server gracefully: calls in flight get
    `grace` seconds to finish, then they are cancelled."""

    def handle(signum: int, frame: object) -> None:
        logging.info("Received %s, stopping the server...", signal.Signals(signum).name)
        server.stop(grace)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def keep_big_buffers_in_the_heap() -> None:
    """Speed, on Linux with glibc: gRPC and protobuf allocate a fresh 1 MiB buffer for
    every chunk. glibc hands out blocks that big as new memory mappings, and the kernel
    zero-fills each 4 KB page of those on first touch and unmaps them on free: some
    250,000 page faults per GiB hashed. Keeping big blocks in glibc's heap lets them be
    reused instead. Elsewhere (macOS, Windows) there is no mallopt and nothing to do."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's <malloc.h>
    mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # blocks up to 32 MB come from the heap
    mallopt(m_trim_threshold, 64 * 1024 * 1024)  # and the heap keeps 64 MB of free space


def serve(host: str, port: int) -> None:
    # The server runs each call on a thread from this pool: 10 calls at a time.
    requests_thread_pool = futures.ThreadPoolExecutor(max_workers=10)
    # so_reuseport 0: a second server on the same port fails loudly instead of
    # silently sharing the port with the first one (gRPC's default on Linux).
    server = grpc.server(requests_thread_pool, options=[("grpc.so_reuseport", 0)])
    hash_pb2_grpc.add_HashServiceServicer_to_server(HashServiceImpl(), server)
    service_name = hash_pb2.DESCRIPTOR.services_by_name["HashService"].full_name
    add_standard_services(server, [service_name])
    # Only use an insecure port for testing: no TLS. Port 0 asks for any free port,
    # and add_insecure_port returns the one we got.
    try:
        port = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        logging.error("Cannot listen on %s:%d. Is another server using that port? "
                      "Stop it, or start this one with --port 0 for a free port.", host, port)
        raise SystemExit(1) from None
    server.start()
    # Catch the signals before saying we are ready: whoever waits for the ready line
    # may press Ctrl+C right after it.
    stop_on_signals(server)
    logging.info("Server started on port %d", port)
    server.wait_for_termination()
    logging.info("Server stopped")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Hash server (file_hash_service lab, Python)")
    parser.add_argument("--host", default="[::]", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on, 0 for any free port (default: {DEFAULT_PORT})")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    keep_big_buffers_in_the_heap()
    serve(args.host, args.port)
