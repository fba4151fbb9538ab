"""Counter server: the local count() of local_procedure.py, made a server-streaming RPC.

Run it with `python server.py`, then `python client.py` in another terminal.
Ctrl+C in the client cancels the stream; this server notices at once and logs it.
"""

import serving  # first: from here on, Ctrl+C ends the server cleanly (see serving.py)

import argparse
import asyncio
import logging
import math
from collections.abc import AsyncIterator

import grpc

import counter_pb2_grpc
from counter_pb2 import CountRequest, CountResponse

DEFAULT_PORT = 50051


class CounterServiceImpl(counter_pb2_grpc.CounterServicer):
    """Our implementation of the Counter service that protoc generated for us."""

    async def Count(self, request: CountRequest,
                    context: grpc.aio.ServicerContext) -> AsyncIterator[CountResponse]:
        # The words the tests check, line by line: README.md, "What the tests check".
        # BEGIN SOLUTION Check and log the request, then yield a count per step until the RPC ends.
        problem = check_request(request)
        if problem is not None:
            # abort() ends the RPC with this status and message; the server keeps serving.
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        described = f"from={request.from_val}, step={seconds_text(request.step_sec)}"
        logging.info(f"Request: {described}")
        cnt = request.from_val
        try:
            while True:
                # The slides' time.sleep(step), the asyncio way: while this count sleeps,
                # the server serves every other client. And when the RPC ends (Ctrl+C in
                # the client, the client gone, the server stopping), gRPC cancels the
                # sleep at once: we notice right away instead of sleeping out the step.
                await asyncio.sleep(request.step_sec)
                if cnt == INT64_MAX:
                    logging.info(f"Count reached the largest int64 for request: {described}")
                    await context.abort(grpc.StatusCode.OUT_OF_RANGE,
                                        f"count reached {INT64_MAX}, the largest int64: "
                                        "it cannot count further")
                cnt += 1
                yield CountResponse(count=cnt)
        except (asyncio.CancelledError, GeneratorExit):
            # CancelledError: the RPC ended while we slept; GeneratorExit: while a count
            # was on its way to the client. Either way the stream is over: say so, go on.
            logging.info(f"Response stream cancelled for request: {described}")
            raise
        # END SOLUTION


async def serve(args: argparse.Namespace) -> None:
    server = serving.new_server(args)
    counter_pb2_grpc.add_CounterServicer_to_server(CounterServiceImpl(), server)
    # Listens on --host:--port, logs "Server started on port N", serves until Ctrl+C.
    await serving.run(server, args, "counter.Counter")


INT64_MAX = 2**63 - 1  # the largest value of `int64 count` in counter.proto
MIN_STEP_SEC = 0.001  # a smaller step would flood the client rather than count
MAX_STEP_SEC = 86400.0  # a day


def seconds_text(seconds: float) -> str:
    """How the slides print a step: 2.0 as "2", 0.5 as "0.5" (and 1e308 as "1e+308")."""
    return str(int(seconds)) if seconds.is_integer() and abs(seconds) < 1e15 else str(seconds)


def check_request(request: CountRequest) -> str | None:
    """What is wrong with the request, or None if we can serve it."""
    step = request.step_sec
    if not math.isfinite(step):
        return f"step must be a finite number of seconds, got {step}"
    if step <= 0:
        return f"step must be more than 0 seconds, got {seconds_text(step)}"
    if not MIN_STEP_SEC <= step <= MAX_STEP_SEC:
        return (f"step must be between {MIN_STEP_SEC:g} and {MAX_STEP_SEC:g} seconds, "
                f"got {seconds_text(step)}")
    if request.from_val >= INT64_MAX:
        return (f"from must be less than {INT64_MAX} (the largest int64): "
                "the first count would overflow")
    return None


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    parser = serving.server_flags("Counter server (remote_counter lab)", DEFAULT_PORT)
    asyncio.run(serve(parser.parse_args()))
