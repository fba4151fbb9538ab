"""AssistantService server in Python, for clients in any language (the lab's is in Go).

Run it from the cross_language folder: `python server/hw_server.py`; then, in another
terminal, `cd client && go run hw_client.go` (or `python hw_client.py`).
"""

import argparse
import logging
import math
import signal
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import assistant_pb2
import assistant_pb2_grpc
from assistant_pb2 import GreetRequest, GreetResponse, MultRequest, MultResponse

DEFAULT_PORT = 8082


def greet_request_problem(request: GreetRequest) -> str | None:
    """What is wrong with a GreetRequest, or None. proto3 cannot mark a field as
    required: a missing string arrives as "", so the server has to check."""
    if not request.user_name.strip():
        return "user_name is empty: say who is to be greeted"
    if not request.institution.strip():
        return "institution is empty: say where the user is from"
    return None


def mult_request_problem(request: MultRequest) -> str | None:
    """What is wrong with a MultRequest, or None. A double can carry NaN and infinity,
    which have no meaningful product here."""
    for field, value in (("xin", request.xin), ("yin", request.yin)):
        if not math.isfinite(value):
            return f"{field} is {value}: both factors must be finite numbers"
    if not math.isfinite(request.xin * request.yin):
        # Two finite doubles can still have a product too large for a double (1e200 * 1e200).
        return (f"the product of {request.xin!r} and {request.yin!r} is too large "
                "for a double (it overflows to infinity)")
    return None


class AssistantServiceImpl(assistant_pb2_grpc.AssistantServiceServicer):
    """Our implementation of the AssistantService that protoc generated for us."""

    def GreetWithInfo(self, request: GreetRequest,
                      context: grpc.ServicerContext) -> GreetResponse:
        problem = greet_request_problem(request)
        if problem:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        # BEGIN SOLUTION Greet the user: "Hello <user_name> from <institution>!".
        message = f"Hello {request.user_name} from {request.institution}!"
        return GreetResponse(message=message)
        # END SOLUTION

    def Multiply(self, request: MultRequest, context: grpc.ServicerContext) -> MultResponse:
        problem = mult_request_problem(request)
        if problem:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        # BEGIN SOLUTION Send back both factors and their product.
        product = request.xin * request.yin
        return MultResponse(xin=request.xin, yin=request.yin, result=product)
        # END SOLUTION


def add_standard_services(server: grpc.Server, service_names: list[str]) -> None:
    """Health checking and server reflection, so that tools like grpcurl work without
    the .proto file at hand: `grpcurl -plaintext localhost:8082 list`."""
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
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=10),
                         options=[("grpc.so_reuseport", 0)])  # a busy port fails loudly
    assistant_pb2_grpc.add_AssistantServiceServicer_to_server(AssistantServiceImpl(), server)
    service_name = assistant_pb2.DESCRIPTOR.services_by_name["AssistantService"].full_name
    add_standard_services(server, [service_name])
    # No TLS: only for labs and tests. Port 0 asks for any free port, and
    # add_insecure_port returns the one we got.
    try:
        port = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        logging.error("Cannot listen on %s:%d. Is another server using that port? "
                      "Stop it, or start this one with --port 0 for a free port.", host, port)
        raise SystemExit(1)
    server.start()
    # Signal handlers first: a Ctrl+C right after the ready line must stop us gracefully.
    stop_on_signals(server)
    logging.info("Server started, listening on %d", port)  # the slides' line
    logging.info("Server started on port %d", port)  # the line every lab's server logs
    server.wait_for_termination()
    logging.info("Server stopped")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="AssistantService server (cross_language lab)")
    parser.add_argument("--host", default="[::]", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on, 0 for any free port (default: {DEFAULT_PORT})")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    serve(args.host, args.port)
