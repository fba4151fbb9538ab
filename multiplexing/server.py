"""Assistant server: two slow calls, ChillA and ChillB, served by a small thread pool.

Run it with `python server.py`, then `python client.py -a 1 -b 1` in another terminal.
Each call takes a worker thread for as long as it rests; calls that find every worker
busy wait in the pool's queue (first come, first served) until a worker is free.
"""

import argparse
import itertools
import logging
import signal
import threading
import time
from concurrent import futures
from datetime import datetime
from urllib.parse import unquote

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from assistant_pb2 import ChatMessage
from assistant_pb2_grpc import AssistantServiceServicer, add_AssistantServiceServicer_to_server

DEFAULT_PORT = 50051
# Longer chat messages are refused: a chat line, not a file upload.
MAX_MESSAGE_LENGTH = 1000
SERVICE_NAME = "AssistantService"
# Trailing metadata keys of every reply, written by CallTimer below and read by the
# client for its timeline: the client only sees when it sent a request and when the reply
# came back, not how much of that time the call waited for a worker.
ARRIVAL_KEY = "arrival"  # 0, 1, 2, ...: the order in which calls joined the pool's queue
QUEUED_SECONDS_KEY = "queued-seconds"  # how long the call waited there for a worker
RAN_SECONDS_KEY = "ran-seconds"  # how long the call then ran on its worker
NOT_A_CHAT_MESSAGE = "not a ChatMessage"  # what parse_chat_message gives for bad bytes


def check_request(request: ChatMessage) -> str | None:
    """What is wrong with a request, or None when it is fine."""
    if request.id < 0:
        return f"id must be 0 or more, got {request.id}"
    if len(request.message) > MAX_MESSAGE_LENGTH:
        return (f"message is {len(request.message)} characters long, "
                f"at most {MAX_MESSAGE_LENGTH} are allowed")
    return None


def rest(seconds: float, context: grpc.ServicerContext) -> bool:
    """Rest for `seconds` without blocking shutdown; False if the call ended before that.

    A plain time.sleep() would keep its worker busy even after the client cancelled the
    call or the server began to stop. Instead we wait on an Event that gRPC sets as soon
    as the call ends for any reason (cancelled by the client, server stopping, ...).
    """
    call_ended = threading.Event()
    if not context.add_callback(call_ended.set):
        return False  # the call had already ended
    # wait() returns True when the event was set (the call ended early), False on timeout.
    return not call_ended.wait(seconds)


class Assistant(AssistantServiceServicer):
    """Our implementation of the AssistantService that protoc generated for us."""

    def __init__(self, chill_a: float, chill_b: float) -> None:
        self.chill_a = chill_a  # seconds that ChillA rests
        self.chill_b = chill_b  # seconds that ChillB rests

    def ChillA(self, request: ChatMessage, context: grpc.ServicerContext) -> ChatMessage:
        # BEGIN SOLUTION Chill for chill_a seconds (see chill below) and answer.
        return self.chill("ChillA", self.chill_a, request, context)
        # END SOLUTION

    def ChillB(self, request: ChatMessage, context: grpc.ServicerContext) -> ChatMessage:
        # BEGIN SOLUTION Chill for chill_b seconds (see chill below) and answer.
        return self.chill("ChillB", self.chill_b, request, context)
        # END SOLUTION

    def chill(self, name: str, seconds: float, request: ChatMessage,
              context: grpc.ServicerContext) -> ChatMessage:
        """What ChillA and ChillB both do: log start, rest, log end, echo the request."""
        # BEGIN SOLUTION Check the request, log start (with the peer), rest, log end, echo it back.
        problem = check_request(request)
        if problem:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)  # raises: stops here
        if not context.is_active():  # the client gave up while the call waited for a worker
            logging.info(f"{datetime.now()}: {name} {request.id} cancelled before it started")
            return ChatMessage()
        # The peer is the client's address and port: every call that comes over the same
        # HTTP/2 connection shows the same one. (gRPC writes [ and ] as %5B and %5D.)
        peer = unquote(context.peer())
        logging.info(f"{datetime.now()}: {name} {request.id} start (peer {peer})")
        started = time.monotonic()
        if not rest(seconds, context):
            ran = time.monotonic() - started
            logging.info(f"{datetime.now()}: {name} {request.id} cancelled after {ran:.2f} seconds")
            return ChatMessage()  # nobody is listening any more: the call is over
        logging.info(f"{datetime.now()}: {name} {request.id} end")
        return ChatMessage(id=request.id, message=request.message)
        # END SOLUTION


class CallTimer(grpc.ServerInterceptor):
    """Measures every AssistantService call from outside the servicer: its place in the
    order of arrival, how long it waited for a worker and how long it ran. All three go
    back to the client in the reply's trailing metadata (durations, not clock times: the
    client's clock may not agree with ours). It also answers requests that are not a
    ChatMessage at all."""

    def __init__(self) -> None:
        self.arrivals = itertools.count()  # hands out 0, 1, 2, ...

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if (handler is None or handler.unary_unary is None
                or not handler_call_details.method.startswith(f"/{SERVICE_NAME}/")):
            return handler  # health checks, reflection: left alone
        # Why here: gRPC runs interceptors on its own thread as each call comes in, just
        # before it queues the call for a worker. So this numbers calls in queue order.
        arrival = next(self.arrivals)
        arrived = time.monotonic()
        servicer_method = handler.unary_unary

        def timed(request: ChatMessage | str, context: grpc.ServicerContext) -> ChatMessage:
            if request is NOT_A_CHAT_MESSAGE:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "the request is not a ChatMessage (its bytes do not decode)")
            started = time.monotonic()  # a worker has just taken the call
            reply = servicer_method(request, context)
            ended = time.monotonic()
            context.set_trailing_metadata([
                (ARRIVAL_KEY, str(arrival)),
                (QUEUED_SECONDS_KEY, f"{started - arrived:.3f}"),
                (RAN_SECONDS_KEY, f"{ended - started:.3f}"),
            ])
            return reply

        return grpc.unary_unary_rpc_method_handler(
            timed, request_deserializer=parse_chat_message,
            response_serializer=handler.response_serializer)


def parse_chat_message(data: bytes) -> ChatMessage | str:
    """The request's bytes as a ChatMessage, or NOT_A_CHAT_MESSAGE. (Left to gRPC, a bad
    request would print a traceback in our log before gRPC answers INTERNAL.)"""
    try:
        return ChatMessage.FromString(data)
    except DecodeError:
        return NOT_A_CHAT_MESSAGE  # not None: to gRPC, None means "could not decode"


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
    `grace` seconds to finish, then they are cancelled (which wakes their rest())."""

    def handle(signum: int, frame: object) -> None:
        logging.info("Received %s, stopping the server...", signal.Signals(signum).name)
        server.stop(grace)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def serve(host: str, port: int, chill_a: float, chill_b: float, workers: int) -> None:
    # The server runs each call on a thread from this pool: `workers` calls at a time.
    # Calls that arrive while every worker is busy wait in the pool's queue, in order.
    requests_thread_pool = futures.ThreadPoolExecutor(max_workers=workers)
    # so_reuseport 0: a second server on the same port fails loudly instead of
    # silently sharing the port with the first one (gRPC's default on Linux).
    server = grpc.server(requests_thread_pool, interceptors=[CallTimer()],
                         options=[("grpc.so_reuseport", 0)])
    add_AssistantServiceServicer_to_server(Assistant(chill_a, chill_b), server)
    add_standard_services(server, [SERVICE_NAME])
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


def non_negative_seconds(text: str) -> float:
    """argparse type: a number of seconds, 0 or more."""
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number, 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Assistant server (multiplexing lab)")
    parser.add_argument("--host", default="[::]", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on, 0 for any free port (default: {DEFAULT_PORT})")
    parser.add_argument("--chill-a", type=non_negative_seconds, default=5.0,
                        help="seconds that ChillA rests (default: 5)")
    parser.add_argument("--chill-b", type=non_negative_seconds, default=3.0,
                        help="seconds that ChillB rests (default: 3)")
    parser.add_argument("--workers", type=positive_int, default=3,
                        help="worker threads, i.e. calls served at the same time (default: 3)")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    serve(args.host, args.port, args.chill_a, args.chill_b, args.workers)
