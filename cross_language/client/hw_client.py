"""The lab's client in Python, for students without Go: it does what hw_client.go does
and prints the same lines.

Start the server first (in the cross_language folder: `python server/hw_server.py`),
then, in another terminal: `cd client && python hw_client.py`.
"""

# First: from here on, Ctrl+C ends the client quietly, even while grpc is still loading.
# calling.py holds what every client of the labs does the same way (flags, no server...).
import calling

import argparse
import decimal
import json
import logging

import grpc

from assistant_pb2 import GreetRequest, GreetResponse, MultRequest, MultResponse
from assistant_pb2_grpc import AssistantServiceStub

DEFAULT_TARGET = "localhost:8082"
START_SERVER = "python server/hw_server.py (in the cross_language folder)"


def format_number(value: float) -> str:
    """A double as the Go client (and Go's protobuf text format) writes it: the shortest
    text that reads back as the same number ("5", not Python's "5.0"), in exponent form
    when the exponent is below -4 or above 5 ("1e+06")."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)  # nan, inf, -inf: the server never sends them
    shortest = decimal.Decimal(repr(value)).normalize()  # repr: the shortest digits
    digits = len(shortest.as_tuple().digits)
    exponent = shortest.adjusted()  # 17.5 -> 1, 0.001 -> -3
    if exponent < -4 or exponent > 5:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{max(digits - 1 - exponent, 0)}f}"


# The replies are printed field by field in the protobuf text format's shape, as the Go
# client prints them (Python's own text format writes "xin: 3.5" and "5.0").

def greet_text(reply: GreetResponse) -> str:
    # json.dumps quotes and escapes a string as Go's %q does for the usual characters.
    return "message:" + json.dumps(reply.message, ensure_ascii=False)


def mult_text(reply: MultResponse) -> str:
    return (f"xin:{format_number(reply.xin)} yin:{format_number(reply.yin)} "
            f"result:{format_number(reply.result)}")


def greet(stub: AssistantServiceStub, name: str, institution: str, timeout: float) -> None:
    print("> Greet: Hello Assistant?")
    # BEGIN SOLUTION Call GreetWithInfo with timeout; print "Client received:", greet_text(reply)
    request = GreetRequest(user_name=name, institution=institution)
    reply: GreetResponse = stub.GreetWithInfo(request, timeout=timeout)
    print("Client received:")
    print(greet_text(reply))
    # END SOLUTION


def multiply(stub: AssistantServiceStub, x: float, y: float, timeout: float) -> None:
    print("> Mult: Requesting a multiplication task")
    # BEGIN SOLUTION Call Multiply with timeout; print "> Client received:", mult_text(reply)
    request = MultRequest(xin=x, yin=y)
    reply: MultResponse = stub.Multiply(request, timeout=timeout)
    print("> Client received:")
    print(mult_text(reply))
    # END SOLUTION


def run(args: argparse.Namespace) -> int:
    """Greet, then multiply; return the exit code: 0 done, 1 a call failed, 2 no server."""
    # The channel is our connection to the server; `with` closes it when we are done
    # (also on Ctrl+C, which then cancels the call in flight).
    with grpc.insecure_channel(args.target, options=calling.CHANNEL_OPTIONS) as channel:
        if not calling.wait_for_server(channel, args.target, args.timeout, START_SERVER):
            return 2
        stub = AssistantServiceStub(channel)
        method = "GreetWithInfo"
        try:
            greet(stub, args.name, args.institution, args.timeout)
            method = "Multiply"
            multiply(stub, args.x, args.y, args.timeout)
        except grpc.RpcError as error:
            return calling.call_failed(method, error)
    return 0


def main() -> int:
    parser = calling.ArgumentParser(description="AssistantService client (cross_language lab)")
    parser.add_argument("--name", type=calling.text, default="Peter",
                        help="the user_name to greet (default: Peter)")
    parser.add_argument("--institution", type=calling.text, default="SUSTech",
                        help="the user's institution (default: SUSTech)")
    # float() reads "nan" and "inf" too: the server, not the client, rejects them.
    parser.add_argument("-x", type=float, default=3.5, help="first factor (default: 3.5)")
    parser.add_argument("-y", type=float, default=5.0, help="second factor (default: 5)")
    # --addr: the Go client's name (-addr) for --target.
    calling.add_server_flags(parser, DEFAULT_TARGET,
                             "seconds to wait for the server, and for each reply",
                             target_aliases=("--addr",))
    return run(parser.parse_args())


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    calling.run_main(main)
