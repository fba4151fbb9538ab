"""Number-guessing server: bidirectional streaming.

Each GuessInt call is one game: the server picks a secret integer in 1..100, then
answers every guess the client streams in, until the client finds the number.

Run it with `python server.py`, then `python client.py` (or `python client.py --auto`)
in another terminal.
"""

import serving  # first: from here on, Ctrl+C ends the server cleanly (see serving.py)

import argparse
import asyncio
import logging
import random
from collections.abc import AsyncIterator

import grpc

import assistant_pb2_grpc
from assistant_pb2 import GuessIntRequest, GuessIntResponse

DEFAULT_PORT = 50051
LOWEST, HIGHEST = 1, 100  # the secret is an integer in LOWEST..HIGHEST


class AssistantServiceImpl(assistant_pb2_grpc.AssistantServiceServicer):
    """Our implementation of the AssistantService that protoc generated for us.

    Its method is `async def`, as the slides' server (it uses asyncio): a game that
    waits for the player's next guess costs no thread, so a whole class can play at once."""

    def __init__(self, secrets: "SecretPicker") -> None:
        self._secrets = secrets

    async def GuessInt(
        self, request_iterator: AsyncIterator[GuessIntRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[GuessIntResponse]:
        logging.info("Received number guessing request.")
        # BEGIN SOLUTION Pick this game's own secret; answer each guess until found (log lines: README).
        # A local variable, not an attribute of self: many games are played at the same
        # time, and each must keep its own secret.
        true_value = self._secrets.pick()
        logging.info("True value is %d.", true_value)
        guessed = False
        try:
            # Each guess is read as soon as the client sends it.
            async for request in request_iterator:
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
        finally:
            # Every way out of the game passes here: the client closed its side (end of
            # its input), the call was cancelled (Ctrl+C in the client, the client gone,
            # this server stopping: gRPC then cancels the wait for the next guess).
            if not guessed:
                logging.info("Game left unfinished: the true value %d was not guessed.",
                             true_value)
            logging.info("Guessing service finished.")
        # END SOLUTION


def judge(guess: int, true_value: int) -> GuessIntResponse:
    """The answer to one guess, with the symbol and the message the user reads."""
    # BEGIN SOLUTION Compare guess and true value; build the GuessIntResponse (exact messages: README).
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


async def serve(args: argparse.Namespace) -> None:
    server = serving.new_server(args)
    secrets = SecretPicker(args.seed, args.secret)
    assistant_pb2_grpc.add_AssistantServiceServicer_to_server(AssistantServiceImpl(secrets),
                                                              server)
    # Listens on --host:--port, logs "Server started on port N", serves until Ctrl+C.
    await serving.run(server, args, "AssistantService")


class SecretPicker:
    """Gives each game its own secret: a fixed one, or the next of a random sequence."""

    def __init__(self, seed: int | None = None, secret: int | None = None) -> None:
        self._secret = secret
        # A seeded generator of our own makes the sequence of secrets reproducible
        # (games start one at a time, on the server's event loop).
        self._random = random.Random(seed)

    def pick(self) -> int:
        if self._secret is not None:
            return self._secret
        return self._random.randint(LOWEST, HIGHEST)


def parse_args() -> argparse.Namespace:
    parser = serving.server_flags("Number-guessing server (streaming_bidi lab)", DEFAULT_PORT)
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--seed", type=serving.number(-2**63, 2**63 - 1),
                        help="seed of the random secrets: the same seed, the same sequence "
                             "of secrets (default: a new sequence every run)")
    choice.add_argument("--secret", type=serving.number(LOWEST, HIGHEST),
                        metavar=f"{LOWEST}..{HIGHEST}",
                        help="use this secret in every game (for demos and tests)")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve(parse_args()))
