"""Assistant server: two slow calls, ChillA and ChillB, served by a small thread pool.

Run it with `python server.py`, then `python client.py -a 1 -b 1` in another terminal.
Each call takes a worker thread for as long as it rests; calls that find every worker
busy wait in the pool's queue (first come, first served) until a worker is free.
"""

import serving  # first: from here on, Ctrl+C ends the server cleanly (see serving.py)

import argparse
import asyncio
import itertools
import logging
import threading
import time
from datetime import datetime
from urllib.parse import unquote

import grpc

from assistant_pb2 import ChatMessage
from assistant_pb2_grpc import AssistantServiceServicer, add_AssistantServiceServicer_to_server

DEFAULT_PORT = 50051
DEFAULT_WORKERS = 3  # the slides' pool: small on purpose, so that calls queue
SERVICE_NAME = "AssistantService"


class Assistant(AssistantServiceServicer):
    """Our implementation of the AssistantService that protoc generated for us.

    Its methods are plain `def`, as on the slides: each call runs on a thread of the
    server's pool of --workers threads, and waits in the pool's queue for a free one."""

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
        # BEGIN SOLUTION Check the request, log start (with the peer), rest, log end, echo (lines: README).
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


async def serve(args: argparse.Namespace) -> None:
    # The pool of --workers threads (3) runs ChillA and ChillB; health checks and
    # reflection run apart from it (async), so they answer even when every worker rests.
    server = serving.new_server(args, interceptors=(CallTimer(),))
    add_AssistantServiceServicer_to_server(Assistant(args.chill_a, args.chill_b), server)
    # Listens on --host:--port, logs "Server started on port N", serves until Ctrl+C.
    await serving.run(server, args, SERVICE_NAME)


# Longer chat messages are refused: a chat line, not a file upload.
MAX_MESSAGE_LENGTH = 1000


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


# Trailing metadata keys of every reply, written by CallTimer below and read by the
# client for its timeline: the client only sees when it sent a request and when the reply
# came back, not how much of that time the call waited for a worker.
ARRIVAL_KEY = "arrival"  # 0, 1, 2, ...: the order in which calls joined the pool's queue
QUEUED_SECONDS_KEY = "queued-seconds"  # how long the call waited there for a worker
RAN_SECONDS_KEY = "ran-seconds"  # how long the call then ran on its worker


class CallTimer(grpc.aio.ServerInterceptor):
    """Measures every AssistantService call from outside the servicer: its place in the
    order of arrival, how long it waited for a worker and how long it ran. All three go
    back to the client in the reply's trailing metadata (durations, not clock times: the
    client's clock may not agree with ours)."""

    def __init__(self) -> None:
        self.arrivals = itertools.count()  # hands out 0, 1, 2, ...

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if (handler is None or handler.unary_unary is None
                or not handler_call_details.method.startswith(f"/{SERVICE_NAME}/")):
            return handler  # health checks, reflection: left alone
        # Why here: gRPC runs interceptors as each call comes in, just before the call
        # joins the pool's queue for a worker. So this numbers calls in queue order.
        arrival = next(self.arrivals)
        arrived = time.monotonic()
        servicer_method = handler.unary_unary

        def timed(request: ChatMessage, context: grpc.ServicerContext) -> ChatMessage:
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
            timed, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)


def parse_args() -> argparse.Namespace:
    parser = serving.server_flags("Assistant server (multiplexing lab)", DEFAULT_PORT,
                                  workers=DEFAULT_WORKERS)
    parser.add_argument("--chill-a", type=serving.seconds(0, 3600), default=5.0,
                        help="seconds that ChillA rests (default: 5)")
    parser.add_argument("--chill-b", type=serving.seconds(0, 3600), default=3.0,
                        help="seconds that ChillB rests (default: 3)")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve(parse_args()))
