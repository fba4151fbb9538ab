"""streaming_bidi, hidden tests: not in the starter copy; students see their results once
grades are published. They check what the visible tests leave out: a bidirectional
stream is not a request/response lockstep (guesses may arrive before any answer is sent),
and a game the server ends with an error reaches the player as one clear line.
"""

from __future__ import annotations

import grpc
import pytest
from test_streaming_bidi import (
    LAB,
    SERVICE,
    Game,
    Referee,
    compare,
    run_client,
    slides_answer,
)

from labkit.procs import LabRunner, target
from labkit.testing import StandIn

assert LAB == "streaming_bidi"


def test_server_answers_guesses_sent_ahead_in_order(lab: LabRunner) -> None:
    server = lab.start_server("server", "--secret", "79")
    guesses = [10, 90, 20, 80, 0, 79]
    with grpc.insecure_channel(target(server)) as channel:
        game = Game(channel)
        for guess in guesses:  # all sent before any answer is read
            game.send(guess)
        for guess in guesses:
            answer = game.answer(guess)
            symbol = "" if guess == 0 else compare(guess, 79)
            assert answer.guess == guess and answer.symbol == symbol, (
                f"Guesses sent one after the other without waiting ({guesses}) should each "
                f"get their answer, in the order sent; for {guess} the server answered "
                f"guess={answer.guess}, symbol {answer.symbol!r}: {answer.message!r}.")
            if symbol:
                assert answer.message == slides_answer(guess, 79), (
                    f"The guess {guess} should get {slides_answer(guess, 79)!r}; the server "
                    f"answered {answer.message!r}.")
        game.assert_ends_ok("After the right guess the server should end the game with "
                            "status OK")


def test_client_reports_a_game_the_server_ends_with_an_error(lab: LabRunner) -> None:
    referee = Referee([37], most=1)  # stops the game at the second guess
    with StandIn(LAB, SERVICE, referee) as stand_in:
        result = run_client(lab, "--target", stand_in.target, stdin="50\n60\n70\n",
                            doing="once the server ended the game")
    said = [line for line in result.stderr.splitlines() if "FAILED_PRECONDITION" in line]
    details = f"{referee.word} stops the game"
    if len(said) != 1 or details not in said[0] or result.returncode != 1 or \
            "Traceback" in result.stderr:
        pytest.fail(
            "When the server ends the game with an error (here FAILED_PRECONDITION: "
            f"'{details}: ...'), the client should print one line with the status code and "
            "the details, no traceback, and exit 1; it exited "
            f"{result.returncode} and printed {result.stderr.strip()[-300:]!r}.",
            pytrace=False)
