"""What both Python servers of this lab (hash_service.py and file_service.py) do the same
way: health and reflection, a clean stop on Ctrl+C, the ready line, and one speed-up.

Each program creates its own server and adds its own service; `run` does the rest.
"""

import ctypes
import logging
import signal

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection


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


def run(server: grpc.Server, host: str, port: int, service_names: list[str]) -> None:
    """Listen on host:port, serve until Ctrl+C or SIGTERM, then return."""
    add_standard_services(server, service_names)
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
