"""Number-guessing client: bidirectional streaming.

One game is one GuessInt call. Our guesses go to the server on the request stream while
its answers come back on the response stream, and each next guess depends on the last
answer. Play it yourself (`python client.py`) or let binary search play
(`python client.py --auto`). Start the server first: `python server.py`.
"""

# First: from here on, Ctrl+C ends the client quietly, even while grpc is still loading.
# calling.py holds what every client of the labs does the same way (flags, no server...).
import calling

import logging
import os
import queue
from collections.abc import Iterator

import grpc

from assistant_pb2 import GuessIntRequest, GuessIntResponse
from assistant_pb2_grpc import AssistantServiceStub

DEFAULT_TARGET = "localhost:50051"
MAX_PAUSE = 60  # seconds of "thinking" before each automatic guess
MAX_GAMES = 1000
MAX_LINE = 100  # characters in a line of input: a guess has a few digits
LOWEST, HIGHEST = 1, 100  # the server's secret is an integer in LOWEST..HIGHEST
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # what fits in the proto's int32 field

# How a game can end, as play() reports it.
WON, LEFT, CANCELLED = "won", "left", "cancelled"


class GameError(Exception):
    """The game cannot go on (the server broke its rules); the message says why."""


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
            text = read_line("Guess: ")
            if text is None:
                return None
            guess = parse_guess(text)
            if guess is not None:
                return guess
            logging.error("Invalid input %s. Please enter a valid number.", text)


def read_line(prompt: str) -> str | None:
    """A line typed in after the prompt, as input() reads it; None at the end of input.
    A line of more than MAX_LINE characters is no guess: it ends the input (reading all
    of it could take any amount of memory and time: `< /dev/zero` is one endless line)."""
    print(prompt, end="", flush=True)
    text = calling.read_line(MAX_LINE)
    if text is None:
        print()  # end the "Guess: " line
        return None
    if not os.isatty(0):  # stdin
        # Read from a pipe or a file, the input is not echoed by a terminal: show it, so
        # that the transcript reads as it does in a terminal.
        print(text[:MAX_LINE], flush=True)
    if len(text) > MAX_LINE:
        logging.error("Invalid input: a line of more than %d characters. No more guesses "
                      "are read.", MAX_LINE)
        return None
    return text


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
        calling.sleep(self.pause)
        # BEGIN SOLUTION Halve low..high by last.symbol and guess the middle (exact log lines: README).
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
    # BEGIN SOLUTION Call GuessInt(iter(guesses)); send each guess, print each answer (exact lines: README).
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
    with grpc.insecure_channel(target, options=calling.CHANNEL_OPTIONS) as channel:
        if not calling.wait_for_server(channel, target, timeout, "python server.py"):
            return 2
        stub = AssistantServiceStub(channel)
        for _ in range(games):
            player = BinarySearchPlayer(pause) if auto else KeyboardPlayer()
            try:
                outcome = play(stub, player)
            except grpc.RpcError as error:
                return calling.call_failed("GuessInt", error)
            except GameError as error:
                calling.say(f"Game stopped: {error}")
                return 1
            if outcome != WON:
                break  # left or cancelled: no more games
    return 0


def main() -> int:
    parser = calling.ArgumentParser(description="Number-guessing client (streaming_bidi lab)")
    parser.add_argument("--auto", action="store_true",
                        help="let binary search guess instead of reading guesses from stdin")
    parser.add_argument("--games", type=calling.whole_number(1, MAX_GAMES), default=1,
                        help="games to play one after the other (default: 1)")
    parser.add_argument("--pause", type=calling.seconds(0, MAX_PAUSE), default=0.0,
                        help="auto mode: seconds to wait before each guess (default: 0)")
    calling.add_server_flags(parser, DEFAULT_TARGET)
    args = parser.parse_args()
    return run(args.target, args.auto, args.games, args.pause, args.timeout)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    calling.run_main(main)
