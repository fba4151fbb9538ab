"""Number-guessing client: bidirectional streaming.

One game is one GuessInt call. Our guesses go to the server on the request stream while
its answers come back on the response stream, and each next guess depends on the last
answer. Play it yourself (`python client.py`) or let binary search play
(`python client.py --auto`). Start the server first: `python server.py`.
"""

import argparse
import logging
import queue
import sys
import time
from collections.abc import Iterator

import grpc

from assistant_pb2 import GuessIntRequest, GuessIntResponse
from assistant_pb2_grpc import AssistantServiceStub

DEFAULT_TARGET = "localhost:50051"
# These labs talk to servers on your own machine or classroom network: a proxy set in
# the environment (http_proxy, ...) would only get in the way.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]
LOWEST, HIGHEST = 1, 100  # the server's secret is an integer in LOWEST..HIGHEST
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # what fits in the proto's int32 field

# How a game can end, as play() reports it.
WON, LEFT, CANCELLED = "won", "left", "cancelled"


class GameError(Exception):
    """The game cannot go on (the server broke its rules); the message says why."""


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


class GuessQueue:
    """The request stream of one game, fed one guess at a time.

    gRPC reads the requests of a streaming call from an iterator, on a thread of its
    own. Our next guess depends on the server's last answer, so we cannot write the
    requests in advance: the iterator waits on a queue, and put() lets one guess out.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[GuessIntRequest | None] = queue.Queue()

    def put(self, guess: int) -> None:
        self._queue.put(GuessIntRequest(guess=guess))

    def close(self) -> None:
        """No more guesses: ends the iterator, so gRPC closes our side of the stream.
        Without it, gRPC's thread would wait on the queue forever."""
        self._queue.put(None)

    def __iter__(self) -> Iterator[GuessIntRequest]:
        while True:
            request = self._queue.get()
            if request is None:
                return
            yield request


class KeyboardPlayer:
    """Manual mode: the guesses are typed in."""

    def next_guess(self, last: GuessIntResponse | None) -> int | None:
        """The next guess, or None at the end of input (Ctrl+D, or the end of a file)."""
        while True:
            try:
                text = input("Guess: ")
            except EOFError:
                print()  # end the "Guess: " line
                return None
            if not sys.stdin.isatty():
                # Read from a pipe or a file, the input is not echoed by a terminal:
                # show it, so that the transcript reads as it does in a terminal.
                print(text)
            guess = parse_guess(text)
            if guess is not None:
                return guess
            logging.error("Invalid input %s. Please enter a valid number.", text)


def parse_guess(text: str) -> int | None:
    """The integer typed in, or None if it is not one that fits in a GuessIntRequest.
    Integers outside 1..100 are sent: the server says what is wrong with them."""
    try:
        guess = int(text)
    except ValueError:
        return None
    return guess if INT32_MIN <= guess <= INT32_MAX else None


class BinarySearchPlayer:
    """Auto mode: halve the range of possible values after each answer, so that any
    secret in 1..100 is found in at most 7 guesses (2**7 = 128 >= 100)."""

    def __init__(self, pause: float = 0.0) -> None:
        self.low, self.high = LOWEST, HIGHEST  # the secret is in low..high
        self.pause = pause  # seconds to "think" before each guess, so a demo can be followed

    def next_guess(self, last: GuessIntResponse | None) -> int:
        time.sleep(self.pause)
        # BEGIN SOLUTION Narrow low..high with the last answer, then guess the middle.
        if last is None:
            guess = (self.low + self.high) // 2
            logging.info("Init guess: go for %d", guess)
            return guess
        if last.symbol == ">":  # the guess was too big: the secret is below it
            self.high = last.guess - 1
        elif last.symbol == "<":  # the guess was too small: the secret is above it
            self.low = last.guess + 1
        else:
            raise GameError(f"cannot use the answer {last.message!r} (symbol {last.symbol!r})")
        if self.low > self.high:
            raise GameError("the server's answers contradict each other")
        guess = (self.low + self.high) // 2
        logging.info("Guessing: %d", guess)
        return guess
        # END SOLUTION


def play(stub: AssistantServiceStub, player: KeyboardPlayer | BinarySearchPlayer) -> str:
    """Play one game (one GuessInt call); return WON, LEFT or CANCELLED.
    Raises grpc.RpcError if the call fails and GameError if the server breaks the rules."""
    print(f"Guessing start! Try an integer between {LOWEST} and {HIGHEST}.")
    guesses = GuessQueue()
    # BEGIN SOLUTION Start the call with the queue as request stream; send guesses, print answers.
    # The call starts now; gRPC sends each guess as soon as the queue lets it out.
    responses = stub.GuessInt(iter(guesses))
    try:
        answer = None
        while True:
            guess = player.next_guess(answer)
            if guess is None:
                # We stop guessing: close our side; the server then ends the game.
                guesses.close()
                finish(responses)
                print("The game was left unfinished: no more guesses.")
                return LEFT
            guesses.put(guess)
            answer = next(responses, None)  # wait for the answer to this guess
            if answer is None:
                raise GameError("the server ended the game before the number was found")
            print(answer.message)
            if answer.symbol == "=":
                finish(responses)  # the server ends the call after a correct guess
                return WON
    except KeyboardInterrupt:
        # Cancelling the call tells the server at once that we left (it logs it).
        responses.cancel()
        print()  # end the "Guess: " line
        logging.info("Guessing cancelled by user (Ctrl+C).")
        return CANCELLED
    finally:
        guesses.close()  # always: gRPC's thread must not wait on the queue forever
    # END SOLUTION


def finish(responses: Iterator[GuessIntResponse]) -> None:
    """Wait for the server to end the response stream (status OK, or RpcError)."""
    for extra in responses:
        logging.warning("Unexpected answer after the game: %s", extra.message)


def run(target: str, auto: bool, games: int, pause: float, timeout: float) -> int:
    """Play; return the exit code: 0 done, 1 the call failed, 2 no server."""
    with grpc.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        if not wait_for_server(channel, target, timeout):
            return 2
        stub = AssistantServiceStub(channel)
        for _ in range(games):
            player = BinarySearchPlayer(pause) if auto else KeyboardPlayer()
            try:
                outcome = play(stub, player)
            except grpc.RpcError as error:
                print(f"GuessInt failed: {error.code().name}: {error.details()}", file=sys.stderr)
                return 1
            except GameError as error:
                print(f"Game stopped: {error}", file=sys.stderr)
                return 1
            if outcome != WON:
                break  # left or cancelled: no more games
    return 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Number-guessing client (streaming_bidi lab)")
    parser.add_argument("--auto", action="store_true",
                        help="let binary search guess instead of reading guesses from stdin")
    parser.add_argument("--games", type=positive_int, default=1,
                        help="games to play one after the other (default: 1)")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="auto mode: seconds to wait before each guess (default: 0)")
    parser.add_argument("--target", default=DEFAULT_TARGET,
                        help=f"server address HOST:PORT (default: {DEFAULT_TARGET})")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the server (default: 5)")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    try:
        sys.exit(run(args.target, args.auto, args.games, args.pause, args.timeout))
    except KeyboardInterrupt:
        # Ctrl+C before a game started (while waiting for the server): leaving the
        # `with` block in run() closed the channel.
        logging.info("Cancelled by user (Ctrl+C).")
