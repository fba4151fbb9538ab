"""Greeter client: calls SayHello on the server and prints the reply.

Start the server first (`python server.py`), then run `python client.py --name Ada`.
"""

# First: from here on, Ctrl+C ends the client quietly, even while grpc is still loading.
# calling.py holds what every client of the labs does the same way (flags, no server...).
import calling

import logging

import grpc

from hello_pb2 import HelloReply, HelloRequest
from hello_pb2_grpc import GreeterStub

DEFAULT_TARGET = "localhost:50051"


def say_hello(stub: GreeterStub, name: str, timeout: float) -> str:
    # The words the tests check: README.md, "What the tests check".
    # BEGIN SOLUTION Send a HelloRequest with the name and return the reply's message.
    request = HelloRequest(name=name)
    response: HelloReply = stub.SayHello(request, timeout=timeout)
    return response.message
    # END SOLUTION


def run(target: str, name: str, timeout: float) -> int:
    """Greet once; return the exit code: 0 done, 1 the call failed, 2 no server."""
    # The channel is our connection to the server; `with` closes it when we are done
    # (also on Ctrl+C, which then cancels the call in flight).
    with grpc.insecure_channel(target, options=calling.CHANNEL_OPTIONS) as channel:
        if not calling.wait_for_server(channel, target, timeout, "python server.py"):
            return 2
        stub = GreeterStub(channel)
        try:
            message = say_hello(stub, name, timeout)
        except grpc.RpcError as error:
            return calling.call_failed("SayHello", error)
    print("Client received: " + message)
    return 0


def main() -> int:
    parser = calling.ArgumentParser(description="Greeter client (hello_world lab)")
    parser.add_argument("--name", type=calling.text, default="World",
                        help="who to greet (default: World)")
    calling.add_server_flags(parser, DEFAULT_TARGET,
                             "seconds to wait for the server, and for the reply")
    args = parser.parse_args()
    return run(args.target, args.name, args.timeout)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    calling.run_main(main)
