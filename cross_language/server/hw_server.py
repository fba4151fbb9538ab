"""AssistantService server in Python, for clients in any language (the lab's is in Go).

Run it from the cross_language folder: `python server/hw_server.py`; then, in another
terminal, `cd client && go run hw_client.go` (or `python hw_client.py`).
"""

import serving  # first: from here on, Ctrl+C ends the server cleanly (see serving.py)

import argparse
import asyncio
import logging
import math

import grpc

import assistant_pb2_grpc
from assistant_pb2 import GreetRequest, GreetResponse, MultRequest, MultResponse

DEFAULT_PORT = 8082


class AssistantServiceImpl(assistant_pb2_grpc.AssistantServiceServicer):
    """Our implementation of the AssistantService that protoc generated for us."""

    async def GreetWithInfo(self, request: GreetRequest,
                            context: grpc.aio.ServicerContext) -> GreetResponse:
        problem = greet_request_problem(request)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        # BEGIN SOLUTION Greet the user: "Hello <user_name> from <institution>!".
        message = f"Hello {request.user_name} from {request.institution}!"
        return GreetResponse(message=message)
        # END SOLUTION

    async def Multiply(self, request: MultRequest,
                       context: grpc.aio.ServicerContext) -> MultResponse:
        problem = mult_request_problem(request)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        # BEGIN SOLUTION Send back both factors and their product (xin, yin, result).
        product = request.xin * request.yin
        return MultResponse(xin=request.xin, yin=request.yin, result=product)
        # END SOLUTION


async def serve(args: argparse.Namespace) -> None:
    server = serving.new_server(args)
    assistant_pb2_grpc.add_AssistantServiceServicer_to_server(AssistantServiceImpl(), server)
    # Listens on --host:--port, logs the slides' line and "Server started on port N"
    # (the line every lab's server logs), serves until Ctrl+C.
    await serving.run(server, args, "AssistantService",
                      slides_line="Server started, listening on %d")


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


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    parser = serving.server_flags("AssistantService server (cross_language lab)", DEFAULT_PORT)
    asyncio.run(serve(parser.parse_args()))
