"""Greeter server: the first gRPC service of the lecture.

Run it with `python server.py`, then `python client.py` in another terminal.
"""

import argparse
import logging
import signal
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import hello_pb2
import hello_pb2_grpc
from hello_pb2 import HelloReply, HelloRequest

DEFAULT_PORT = 50051


class GreeterServiceImpl(hello_pb2_grpc.GreeterServicer):
    """Our implementation of the Greeter service that protoc generated for us."""

    def SayHello(self, request: HelloRequest, context: grpc.ServicerContext) -> HelloReply:
        # BEGIN SOLUTION Build a HelloReply whose message greets request.name.
        # An empty name is a valid request in proto3 (it is the default value):
        # we greet it as "Hello, !" rather than reject it, as gRPC's example does.
        response = HelloReply()
        response.message = f"Hello, {request.name}!"
        return response
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


def serve(host: str, port: int) -> None:
    # The server runs each call on a thread from this pool: 10 calls at a time.
    requests_thread_pool = futures.ThreadPoolExecutor(max_workers=10)
    # so_reuseport 0: a second server on the same port fails loudly instead of
    # silently sharing the port with the first one (gRPC's default on Linux).
    server = grpc.server(requests_thread_pool, options=[("grpc.so_reuseport", 0)])
    hello_pb2_grpc.add_GreeterServicer_to_server(GreeterServiceImpl(), server)
    service_name = hello_pb2.DESCRIPTOR.services_by_name["Greeter"].full_name
    add_standard_services(server, [service_name])
    # Only use an insecure port for testing: no TLS. Port 0 asks for any free port,
    # and add_insecure_port returns the one we got.
    try:
        port = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        logging.error("Cannot listen on %s:%d. Is another server using that port? "
                      "Stop it, or start this one with --port 0 for a free port.", host, port)
        raise SystemExit(1)
    server.start()
    # Signal handlers first, then the ready line: whoever waits for that line may
    # press Ctrl+C right after it.
    stop_on_signals(server)
    logging.info("Server started on port %d", port)
    server.wait_for_termination()
    logging.info("Server stopped")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Greeter server (hello_world lab)")
    parser.add_argument("--host", default="[::]", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on, 0 for any free port (default: {DEFAULT_PORT})")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    serve(args.host, args.port)
