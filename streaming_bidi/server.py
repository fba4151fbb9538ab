"""Number-guessing server: bidirectional streaming.

Each GuessInt call is one game: the server picks a secret integer in 1..100, then
answers every guess the client streams in, until the client finds the number.

Run it with `python server.py`, then `python client.py` (or `python client.py --auto`)
in another terminal.
"""

import argparse
import logging
import random
import signal
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import assistant_pb2
import assistant_pb2_grpc
from assistant_pb2 import GuessIntRequest, GuessIntResponse

DEFAULT_PORT = 50051
LOWEST, HIGHEST = 1, 100  # the secret is an integer in LOWEST..HIGHEST


class SecretPicker:
    """Gives each game its own secret: a fixed one, or the next of a random sequence."""

    def __init__(self, seed: int | None = None, secret: int | None = None) -> None:
        self._secret = secret
        # A seeded generator of our own makes the sequence of secrets reproducible.
        self._random = random.Random(seed)
        # Games start on several worker threads at once: one pick at a time, so that
        # the same seed always gives the same sequence.
        self._lock = threading.Lock()

    def pick(self) -> int:
        if self._secret is not None:
            return self._secret
        with self._lock:
            return self._random.randint(LOWEST, HIGHEST)


def judge(guess: int, true_value: int) -> GuessIntResponse:
    """The answer to one guess, with the symbol and the message the user reads."""
    # BEGIN SOLUTION Compare the guess with the true value and build the GuessIntResponse.
    if not LOWEST <= guess <= HIGHEST:
        # Not a comparison (no symbol): the guess cannot be the secret at all.
        message = (f"Your guess {guess} is out of range. "
                   f"Try an integer between {LOWEST} and {HIGHEST}.")
        return GuessIntResponse(message=message, guess=guess, symbol="")
    if guess < true_value:
        symbol = "<"
    elif guess > true_value:
        symbol = ">"
    else:
        symbol = "="
    message = f"Your guess {guess} {symbol} true value."
    if symbol == "=":
        message += " Congratulations!!!"
    return GuessIntResponse(message=message, guess=guess, symbol=symbol)
    # END SOLUTION


class AssistantServiceImpl(assistant_pb2_grpc.AssistantServiceServicer):
    """Our implementation of the AssistantService that protoc generated for us."""

    def __init__(self, secrets: SecretPicker) -> None:
        self._secrets = secrets

    def GuessInt(
        self, request_iterator: Iterator[GuessIntRequest], context: grpc.ServicerContext
    ) -> Iterator[GuessIntResponse]:
        logging.info("Received number guessing request.")
        # BEGIN SOLUTION Pick this game's secret, then answer each guess until it is found.
        # A local variable, not an attribute of self: calls run at the same time on
        # several threads, and each game must keep its own secret.
        true_value = self._secrets.pick()
        logging.info("True value is %d.", true_value)
        guessed = False
        try:
            # Each guess is read as soon as the client sends it.
            for request in request_iterator:
                response = judge(request.guess, true_value)
                if response.symbol:
                    logging.info("User guessed %d %s %d (true value).",
                                 request.guess, response.symbol, true_value)
                else:
                    logging.info("User guessed %d, outside %d..%d.",
                                 request.guess, LOWEST, HIGHEST)
                yield response
                if response.symbol == "=":
                    # Game won: leaving this method ends our stream (status OK) without
                    # waiting for the client to close its side.
                    guessed = True
                    break
        except grpc.RpcError:
            # Reading the next guess failed: the call was cancelled (Ctrl+C in the
            # client, the client was killed, or this server is stopping). Nothing can
            # be sent on a cancelled call; we just end the game.
            pass
        finally:
            if not guessed:
                # The guesses stopped before the number was found: the client closed its
                # side (end of its input) or the call was cancelled. gRPC may report a
                # cancel as the end of the guesses, so both get the same log line.
                logging.info("Game left unfinished: the true value %d was not guessed.",
                             true_value)
            # Every way out of the game passes here: the worker thread is free again.
            logging.info("Guessing service finished.")
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
    `grace` seconds to finish, then they are cancelled (a game waiting for its next
    guess ends with "Game cancelled ...")."""

    def handle(signum: int, frame: object) -> None:
        logging.info("Received %s, stopping the server...", signal.Signals(signum).name)
        server.stop(grace)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def serve(host: str, port: int, secrets: SecretPicker, max_workers: int) -> None:
    # Each game holds one worker thread from its first to its last message, so at
    # most max_workers games run at once; more wait in line for a free worker.
    requests_thread_pool = futures.ThreadPoolExecutor(max_workers=max_workers)
    # so_reuseport 0: a second server on the same port fails loudly instead of
    # silently sharing the port with the first one (gRPC's default on Linux).
    server = grpc.server(requests_thread_pool, options=[("grpc.so_reuseport", 0)])
    assistant_pb2_grpc.add_AssistantServiceServicer_to_server(
        AssistantServiceImpl(secrets), server)
    service_name = assistant_pb2.DESCRIPTOR.services_by_name["AssistantService"].full_name
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
    # Signal handlers first, ready line second: whoever waits for the ready line may
    # send Ctrl+C the moment they see it.
    stop_on_signals(server)
    logging.info("Server started on port %d", port)
    server.wait_for_termination()
    logging.info("Server stopped")


def secret_value(text: str) -> int:
    """argparse type of --secret: an integer the game can be won with."""
    value = int(text)
    if not LOWEST <= value <= HIGHEST:
        raise argparse.ArgumentTypeError(f"must be between {LOWEST} and {HIGHEST}, not {value}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Number-guessing server (streaming_bidi lab)")
    parser.add_argument("--host", default="[::]", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on, 0 for any free port (default: {DEFAULT_PORT})")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--seed", type=int,
                        help="seed of the random secrets: the same seed, the same sequence "
                             "of secrets (default: a new sequence every run)")
    choice.add_argument("--secret", type=secret_value, metavar=f"{LOWEST}..{HIGHEST}",
                        help="use this secret in every game (for demos and tests)")
    parser.add_argument("--max-workers", type=positive_int, default=10,
                        help="worker threads, the number of games at once (default: 10)")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    serve(args.host, args.port, SecretPicker(args.seed, args.secret), args.max_workers)
