"""Greeter client: calls SayHello on the server and prints the reply.

Start the server first (`python server.py`), then run `python client.py --name Ada`.
"""

import argparse
import logging
import sys

import grpc

from hello_pb2 import HelloReply, HelloRequest
from hello_pb2_grpc import GreeterStub

DEFAULT_TARGET = "localhost:50051"
# These labs talk to servers on your own machine or classroom network: a proxy set in
# the environment (http_proxy, ...) would only get in the way.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]


def wait_for_server(channel: grpc.Channel, target: str, timeout: float) -> bool:
    """True once the channel is connected; False (with one line on stderr) if the server
    cannot be reached within `timeout` seconds."""
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        print(f"Cannot reach the server at {target} (waited {timeout:g} s). "
              "Start it first: python server.py", file=sys.stderr)
        return False


def say_hello(stub: GreeterStub, name: str, timeout: float) -> str:
    # BEGIN SOLUTION Send a HelloRequest with the name and return the reply's message.
    request = HelloRequest(name=name)
    response: HelloReply = stub.SayHello(request, timeout=timeout)
    return response.message
    # END SOLUTION


def run(target: str, name: str, timeout: float) -> int:
    """Greet once; return the exit code: 0 done, 1 the call failed, 2 no server."""
    # The channel is our connection to the server; `with` closes it when we are done.
    with grpc.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        if not wait_for_server(channel, target, timeout):
            return 2
        stub = GreeterStub(channel)
        try:
            message = say_hello(stub, name, timeout)
        except grpc.RpcError as error:
            print(f"SayHello failed: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    print("Client received: " + message)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Greeter client (hello_world lab)")
    parser.add_argument("--name", default="World", help="who to greet (default: World)")
    parser.add_argument("--target", default=DEFAULT_TARGET,
                        help=f"server address HOST:PORT (default: {DEFAULT_TARGET})")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the server and for the reply (default: 5)")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    try:
        sys.exit(run(args.target, args.name, args.timeout))
    except KeyboardInterrupt:
        # Ctrl+C while waiting: leaving the `with` block above closed the channel,
        # which cancels the call in flight.
        logging.info("Cancelled by user (Ctrl+C).")
