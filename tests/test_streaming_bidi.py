"""streaming_bidi, black box: the student's server through the test's own client, the
student's client against a referee server of the test's own, and both together as the
slides run them.

The referee words its answers its own way (with a random token), so a client earns its
points only by sending the guesses and printing what came back; it also records every
guess and how each game ended (won, closed by the client, cancelled). The student's server
is played by the test's own client, also several games at once: each game must keep its
own secret.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from labkit.procs import LabProcess, LabRunner, ProcessError, Result, target
from labkit.protocol import lab_proto
from labkit.testing import (
    StandIn,
    assert_health_serving,
    assert_refuses_busy_port,
    assert_says_no_server,
    token,
)

LAB = "streaming_bidi"
PROTO = lab_proto(LAB)
GuessIntRequest = PROTO.message("GuessIntRequest")
GuessIntResponse = PROTO.message("GuessIntResponse")
SERVICE = "AssistantService"

START = "Guessing start! Try an integer between 1 and 100."
FINISHED = "INFO:root:Guessing service finished."
ENDS = 5.0  # seconds a server or client gets to notice that a game ended (it is at once)
# Warnings are shown, never turned into errors: a deprecated call costs no point, but the
# 0-point check below sees it (the slides' server got one from asyncio).
SHOW_DEPRECATIONS = {"PYTHONWARNINGS": "default::DeprecationWarning"}


# --- the test's own client: one game, one guess at a time -----------------------------------

class Game:
    """One GuessInt call of the test's own client. `guess(n)` sends one guess and waits
    for its answer; a failure says, in the student's words, what was expected."""

    def __init__(self, channel: grpc.Channel, timeout: float = 10) -> None:
        self._requests: queue.Queue = queue.Queue()
        self.responses = PROTO.stub(channel, SERVICE).GuessInt(
            iter(self._requests.get, None), timeout=timeout)
        self.ended = threading.Event()
        self.responses.add_done_callback(lambda _call: self.ended.set())

    def send(self, number: int) -> None:
        self._requests.put(GuessIntRequest(guess=number))

    def answer(self, number: int):
        """The next answer of the server, to the guess `number`."""
        try:
            answer = next(self.responses, None)
        except grpc.RpcError as error:
            raise AssertionError(
                f"The server should answer the guess {number}; the call ended instead with "
                f"{error.code().name}: {error.details()}") from None
        assert answer is not None, (
            f"The server should answer the guess {number}; it ended the game (status OK) "
            "without an answer.")
        return answer

    def guess(self, number: int):
        self.send(number)
        return self.answer(number)

    def close(self) -> None:
        """No more guesses: end our side of the stream (half-close)."""
        self._requests.put(None)

    def assert_ends_ok(self, why: str) -> None:
        """The server ends the call with status OK, without another answer."""
        if not self.ended.wait(ENDS):
            self.responses.cancel()
            raise AssertionError(f"{why}; the game was still open {ENDS:g} s later.")
        leftover = [answer.message for answer in self.responses] if \
            self.responses.code() == grpc.StatusCode.OK else []
        assert self.responses.code() == grpc.StatusCode.OK and not leftover, (
            f"{why}; it ended with {self.responses.code().name}"
            + (f" after more answers: {leftover}" if leftover else
               f": {self.responses.details()}"))


def compare(guess: int, secret: int) -> str:
    return "<" if guess < secret else ">" if guess > secret else "="


def slides_answer(guess: int, secret: int) -> str:
    """The slides' message for a guess in 1..100."""
    symbol = compare(guess, secret)
    return f"Your guess {guess} {symbol} true value." + (
        " Congratulations!!!" if symbol == "=" else "")


@dataclass
class Search:
    """The test's own binary search, in one game."""

    low: int = 1
    high: int = 100
    asked: list[int] = field(default_factory=list)
    found: int | None = None

    def next_guess(self) -> int:
        return (self.low + self.high) // 2

    def learn(self, guess: int, symbol: str) -> None:
        self.asked.append(guess)
        if symbol == "=":
            self.found = guess
        elif symbol == "<":
            self.low = guess + 1
        else:
            self.high = guess - 1


# --- reading what the processes printed -------------------------------------------------------

def without_warnings(lines: Sequence[str]) -> list[str]:
    """The lines a person reads: Python's warnings left out (protobuf's version notes,
    which the design allows, and deprecations: each is a '...Warning: ...' line and the
    indented source line under it)."""
    kept: list[str] = []
    after_warning = False
    for line in lines:
        if "Warning: " in line:
            after_warning = True
        elif not (after_warning and line.startswith(" ")):
            after_warning = False
            kept.append(line)
    return kept


def lines_of(text: str) -> list[str]:
    return without_warnings(text.splitlines())


def log_since(process: LabProcess, mark: int) -> list[str]:
    """The process's log lines (stderr) from line number `mark` on, warnings left out."""
    return without_warnings([line for stream, line in process.lines[mark:]
                             if stream == "stderr"])


def wait_for_log(process: LabProcess, line: str, mark: int, what: str) -> int:
    """Wait until the server logs `line` (from line number `mark` on); its line number."""
    try:
        process.wait_for("^" + re.escape(line) + "$", timeout=ENDS, start=mark)
    except AssertionError:
        raise AssertionError(
            f"{what}, the server should log {line!r}; it did not within {ENDS:g} s (its "
            f"last lines: {log_since(process, mark)[-4:]}).") from None
    return next(number for number, (_, text) in enumerate(process.lines)
                if number >= mark and text == line)


def assert_transcript(seen: Sequence[str], expected: Sequence[str], who: str) -> None:
    """Line by line; the message names the first line that differs."""
    for number, (got, want) in enumerate(zip(seen, expected, strict=False), 1):
        assert got == want, (
            f"Line {number} of what {who} printed should be {want!r}; it is {got!r}.")
    assert len(seen) == len(expected), (
        f"{who.capitalize()} should print {len(expected)} lines, ending with "
        f"{expected[-1] if expected else ''!r}; it printed {len(seen)}"
        + (f", ending with {seen[-1]!r}." if seen else "."))


# --- servers shared by the tests of this module ---------------------------------------------
# Each test reads the server's log from its own mark on; none stops a shared server.

@pytest.fixture(scope="module")
def server_79(runner: LabRunner) -> LabProcess:
    """The secret of the slides' manual game, in every game."""
    return runner.start_server("server", "--secret", "79", env=SHOW_DEPRECATIONS)


@pytest.fixture(scope="module")
def server_random(runner: LabRunner) -> LabProcess:
    """Random secrets, as `python server.py` plays them."""
    return runner.start_server("server", env=SHOW_DEPRECATIONS)


@pytest.fixture(scope="module")
def channel_79(server_79: LabProcess):
    with grpc.insecure_channel(target(server_79)) as channel:
        yield channel


# --- the server, through the test's own client ------------------------------------------------

def test_server_answers_each_guess_until_it_is_found(server_79, channel_79) -> None:
    mark = len(server_79.lines)
    game = Game(channel_79)
    guesses = [50, 1, 78, 100, 80, 79]
    for guess in guesses:
        answer = game.guess(guess)
        expected = (guess, compare(guess, 79), slides_answer(guess, 79))
        assert (answer.guess, answer.symbol, answer.message) == expected, (
            f"With the secret 79, the guess {guess} should get guess={guess}, symbol "
            f"{expected[1]!r} and the message {expected[2]!r}; the server answered "
            f"guess={answer.guess}, symbol {answer.symbol!r}, message {answer.message!r}.")
    game.assert_ends_ok("After the right guess the server should end the game at once (its "
                        "stream ends with status OK), before the client closes its side")
    game.close()
    wait_for_log(server_79, FINISHED, mark, "At the end of a game")
    expected_log = ["INFO:root:Received number guessing request.",
                    "INFO:root:True value is 79.",
                    *(f"INFO:root:User guessed {g} {compare(g, 79)} 79 (true value)."
                      for g in guesses),
                    FINISHED]
    assert_transcript(log_since(server_79, mark), expected_log, "the server")


def test_server_answers_out_of_range_guesses_and_the_game_goes_on(server_79,
                                                                  channel_79) -> None:
    mark = len(server_79.lines)
    game = Game(channel_79)
    for guess in (0, 101, -7, 2**31 - 1, -2**31):
        answer = game.guess(guess)
        assert answer.guess == guess and answer.symbol == "" and \
            "out of range" in answer.message, (
                f"A guess outside 1..100 ({guess}) should get guess={guess}, no symbol and a "
                f"message saying it is out of range; the server answered guess="
                f"{answer.guess}, symbol {answer.symbol!r}, message {answer.message!r}.")
    answer = game.guess(79)
    assert answer.symbol == "=", (
        "After guesses out of range the game should go on with the same secret: 79 should "
        f"win; the server answered {answer.message!r} (symbol {answer.symbol!r}).")
    game.close()
    wait_for_log(server_79, FINISHED, mark, "At the end of a game")


def test_server_ends_a_game_the_player_leaves(server_79, channel_79) -> None:
    unfinished = "INFO:root:Game left unfinished: the true value 79 was not guessed."
    for leave in ("close", "cancel"):
        mark = len(server_79.lines)
        game = Game(channel_79)
        game.guess(60)
        if leave == "close":
            game.close()
            game.assert_ends_ok("When the client closes its side of the stream (end of its "
                                "input), the server should end the game with status OK")
            how = "When the client closes its side mid-game"
        else:
            game.responses.cancel()
            how = "When the client cancels the call mid-game (Ctrl+C)"
        left = wait_for_log(server_79, unfinished, mark, how)
        wait_for_log(server_79, FINISHED, left + 1, f"{how}, after {unfinished!r}")


def test_concurrent_games_each_keep_their_own_secret(server_random) -> None:
    # Eight games at once on one channel, played in turns by binary search: every game is
    # in flight while the others are played. Each game starts (and gets its first answer)
    # before the next one starts, so the server logs the true values in the games' order.
    mark = len(server_random.lines)
    with grpc.insecure_channel(target(server_random)) as channel:
        games = []
        for _ in range(8):
            game, search = Game(channel), Search()
            guess = search.next_guess()
            search.learn(guess, game.guess(guess).symbol)
            games.append((game, search))
        while any(search.found is None for _, search in games):
            for number, (game, search) in enumerate(games, 1):
                if search.found is not None:
                    continue
                assert search.low <= search.high, (
                    f"Each game should keep its own secret: game {number} of 8 (played at "
                    "the same time as the others) got answers that contradict each other "
                    f"for the guesses {search.asked}.")
                guess = search.next_guess()
                search.learn(guess, game.guess(guess).symbol)
        for game, _ in games:
            game.close()
    logged = [int(n) for n in re.findall(r"^INFO:root:True value is (\d+)\.$",
                                         "\n".join(log_since(server_random, mark)),
                                         re.MULTILINE)]
    secrets = [search.found for _, search in games]
    assert logged == secrets, (
        "Each game should keep its own secret: the 8 games played at the same time were "
        f"won with {secrets}, but the server logged the true values {logged} for them.")
    assert len(set(secrets)) > 1, (
        "Each game should get a secret of its own, picked at random when the game starts; "
        f"all 8 games had the secret {secrets[0]}.")


# --- the client, against the referee ---------------------------------------------------------

WORDS = {"<": "is too small", ">": "is too big", "=": "is it, well played"}


@dataclass
class Played:
    """One game as the referee saw it."""

    secret: int
    guesses: list[int] = field(default_factory=list)
    ended: str = ""  # "won", "closed" (the client half-closed), "cancelled", "stopped"


class Referee:
    """The stand-in's GuessInt: game i, in the order the calls come, has the secret
    secrets[i]; answers are worded the referee's own way. A game that needs more than
    `most` guesses is stopped (FAILED_PRECONDITION), so a client that loops fails at once.

    When the client's stream ends, gRPC may show a cancelled call as a plain end of the
    requests, its cancellation following a moment later: the referee waits up to `linger`
    seconds for it before it calls the game closed (half-closed by the client)."""

    def __init__(self, secrets: Sequence[int], most: int = 7, linger: float = 0.0) -> None:
        self.secrets = list(secrets)
        self.most = most
        self.linger = linger
        self.word = f"Referee {token()}"
        self.games: list[Played] = []
        self.changed = threading.Condition()

    def message(self, guess: int, symbol: str) -> str:
        return f"{self.word}: {guess} {WORDS[symbol]}."

    def GuessInt(self, requests, context):
        with self.changed:
            if len(self.games) >= len(self.secrets):
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the referee has no "
                              f"more games ({len(self.secrets)} were asked for)")
            game = Played(self.secrets[len(self.games)])
            self.games.append(game)
        terminated = threading.Event()  # the call ended while we still serve it: cancelled

        def on_termination() -> None:
            terminated.set()
            # gRPC never resumes a handler that waits at its `yield` when the call is
            # cancelled: the game ends here, then, not in the handler.
            with self.changed:
                game.ended = game.ended or "cancelled"
                self.changed.notify_all()

        context.add_callback(on_termination)
        try:
            for request in requests:
                game.guesses.append(request.guess)
                if len(game.guesses) > self.most:
                    game.ended = "stopped"
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{self.word} stops "
                                  f"the game: {self.most} guesses and the number is not found")
                symbol = compare(request.guess, game.secret)
                yield GuessIntResponse(message=self.message(request.guess, symbol),
                                       guess=request.guess, symbol=symbol)
                if symbol == "=":
                    game.ended = "won"
                    return
            game.ended = "cancelled" if terminated.wait(self.linger) else "closed"
        except grpc.RpcError:
            game.ended = "cancelled"
        finally:
            with self.changed:
                self.changed.notify_all()

    def wait_until(self, condition, timeout: float = ENDS) -> bool:
        with self.changed:
            return self.changed.wait_for(condition, timeout)


def run_client(lab: LabRunner, *args: str, stdin: str | None = None, timeout: float = 10,
               doing: str = "its game", env: dict[str, str] | None = None) -> Result:
    """Run the student's client to its end; a client still running at `timeout` fails the
    test with a sentence, not a stack trace."""
    try:
        return lab.run("client", *args, stdin=stdin, timeout=timeout, env=env)
    except ProcessError:
        raise AssertionError(f"The client should finish {doing} and exit; it was still "
                             f"running {timeout:g} s later.") from None


def test_manual_client_sends_the_typed_guesses_and_prints_the_answers(lab: LabRunner) -> None:
    referee = Referee([37])
    with StandIn(LAB, SERVICE, referee) as stand_in:
        result = run_client(lab, "--target", stand_in.target, stdin="50\n20\n37\n",
                            doing="the game once the guess 37 wins it")
    assert referee.games, "The client should call GuessInt; the test's server got no call."
    assert referee.games[0].guesses == [50, 20, 37], (
        "The client should send the typed guesses 50, 20, 37 on the request stream; the "
        f"test's server received {referee.games[0].guesses}.")
    expected = [START, "Guess: 50", referee.message(50, ">"), "Guess: 20",
                referee.message(20, "<"), "Guess: 37", referee.message(37, "=")]
    assert_transcript(lines_of(result.stdout), expected, "the client")
    assert result.returncode == 0, (
        f"After the server's '=' the client should end the game and exit 0; it exited "
        f"{result.returncode}.")


def test_manual_client_leaves_at_the_end_of_its_input(lab: LabRunner) -> None:
    referee = Referee([37])
    with StandIn(LAB, SERVICE, referee) as stand_in:
        result = run_client(lab, "--target", stand_in.target, stdin="50\n",
                            doing="the game at the end of its input (Ctrl+D)")
        # (The client is gone: a game it started ends now, or there was none.)
        referee.wait_until(lambda: not referee.games or referee.games[0].ended)
    assert referee.games and referee.games[0].guesses == [50], (
        "The client should send the typed guess 50; the test's server received "
        f"{referee.games[0].guesses if referee.games else 'no call'}.")
    assert referee.games[0].ended == "closed", (
        "At the end of its input (Ctrl+D) the client should close its side of the stream, "
        f"so that the server ends the game; the test's server saw the game "
        f"{referee.games[0].ended or 'still open'}.")
    last = lines_of(result.stdout)[-1] if result.stdout.strip() else ""
    assert last == "The game was left unfinished: no more guesses." and \
        result.returncode == 0, (
            "At the end of its input the client should print 'The game was left unfinished: "
            f"no more guesses.' and exit 0; it printed {last!r} last and exited "
            f"{result.returncode}.")


def test_manual_client_cancels_the_call_on_ctrl_c(lab: LabRunner) -> None:
    referee = Referee([37], linger=ENDS)
    with StandIn(LAB, SERVICE, referee) as stand_in:
        client = lab.start("client", "--target", stand_in.target)
        client.send("50\n")
        try:
            client.wait_for(re.escape(referee.message(50, ">")), timeout=10, stream="stdout")
        except AssertionError:
            pytest.fail("The client should print the server's answer to the typed guess 50 "
                        f"({referee.message(50, '>')!r}); it did not"
                        + (" within 10 s." if client.alive else
                           f" (it exited {client.popen.returncode})."), pytrace=False)
        client.interrupt()
        referee.wait_until(lambda: not referee.games or referee.games[0].ended)
        code = client.wait(timeout=ENDS)
    ended = referee.games[0].ended if referee.games else "never started"
    assert ended == "cancelled", (
        "Ctrl+C in the client should cancel the call, so that the server learns at once "
        f"that the player left; the test's server saw the game {ended or 'still open'}.")
    assert "Guessing cancelled by user (Ctrl+C)." in client.stderr and code == 0, (
        "After Ctrl+C the client should log 'Guessing cancelled by user (Ctrl+C).' and exit "
        f"0; it exited {code} and logged {lines_of(client.stderr)[-2:]}.")


def test_auto_client_wins_every_secret_within_7_guesses(lab: LabRunner) -> None:
    secrets = list(range(1, 101))
    referee = Referee(secrets, most=7)
    with StandIn(LAB, SERVICE, referee) as stand_in:
        result = run_client(lab, "--target", stand_in.target, "--auto", "--games",
                            str(len(secrets)), timeout=30, doing=f"{len(secrets)} games")
    for game in referee.games:
        assert game.ended == "won" and len(game.guesses) <= 7, (
            "Auto mode (binary search) should find any secret in 1..100 within 7 guesses; "
            f"with the secret {game.secret} it guessed {game.guesses}"
            + (" and the test's server stopped it." if game.ended == "stopped" else "."))
    assert len(referee.games) == len(secrets), (
        f"With --auto --games {len(secrets)} the client should play {len(secrets)} games; "
        f"the test's server saw {len(referee.games)} (the client exited "
        f"{result.returncode}).")
    expected_out, expected_log = [], []
    for game in referee.games:
        expected_out += [START, *(referee.message(g, compare(g, game.secret))
                                  for g in game.guesses)]
        expected_log += [f"INFO:root:Init guess: go for {game.guesses[0]}",
                         *(f"INFO:root:Guessing: {g}" for g in game.guesses[1:])]
    assert_transcript(lines_of(result.stdout), expected_out, "the client (stdout)")
    logged = [line for line in lines_of(result.stderr)
              if line.startswith(("INFO:root:Init guess", "INFO:root:Guessing:"))]
    assert_transcript(logged, expected_log, "the client (its 'Init guess'/'Guessing' log)")
    assert result.returncode == 0, f"The client should exit 0; it exited {result.returncode}."


# --- both, as the slides run them ------------------------------------------------------------

SLIDES_MANUAL_INPUT = "50\n75\n81\nxx\n80\n77\n78\n79\n"
SLIDES_MANUAL_STDOUT = [START, "Guess: 50", "Your guess 50 < true value.", "Guess: 75",
                        "Your guess 75 < true value.", "Guess: 81",
                        "Your guess 81 > true value.", "Guess: xx", "Guess: 80",
                        "Your guess 80 > true value.", "Guess: 77",
                        "Your guess 77 < true value.", "Guess: 78",
                        "Your guess 78 < true value.", "Guess: 79",
                        "Your guess 79 = true value. Congratulations!!!"]
SLIDES_MANUAL_SERVER_LOG = [
    "INFO:root:Received number guessing request.",
    "INFO:root:True value is 79.",
    *(f"INFO:root:User guessed {g} {compare(g, 79)} 79 (true value)."
      for g in (50, 75, 81, 80, 77, 78, 79)),
    FINISHED,
]
SLIDES_AUTO_GUESSES = (50, 25, 37, 31, 34, 35, 36)


def test_slides_manual_game(runner: LabRunner, server_79) -> None:
    mark = len(server_79.lines)
    result = run_client(runner, "--target", target(server_79), stdin=SLIDES_MANUAL_INPUT,
                        doing="the slides' game once 79 wins it", env=SHOW_DEPRECATIONS)
    assert_transcript(lines_of(result.stdout), SLIDES_MANUAL_STDOUT, "the client")
    assert lines_of(result.stderr) == [
        "ERROR:root:Invalid input xx. Please enter a valid number."], (
        "The client should log only 'ERROR:root:Invalid input xx. Please enter a valid "
        f"number.', as the slides show; it logged {lines_of(result.stderr)}.")
    wait_for_log(server_79, FINISHED, mark, "At the end of the slides' game")
    assert_transcript(log_since(server_79, mark), SLIDES_MANUAL_SERVER_LOG, "the server")


def test_slides_auto_game(runner: LabRunner) -> None:
    server = runner.start_server("server", "--secret", "36", env=SHOW_DEPRECATIONS)
    try:
        result = run_client(runner, "--target", target(server), "--auto",
                            doing="the slides' auto game", env=SHOW_DEPRECATIONS)
        assert_transcript(lines_of(result.stdout),
                          [START, *(slides_answer(g, 36) for g in SLIDES_AUTO_GUESSES)],
                          "the client (stdout)")
        assert_transcript(lines_of(result.stderr),
                          ["INFO:root:Init guess: go for 50",
                           *(f"INFO:root:Guessing: {g}" for g in SLIDES_AUTO_GUESSES[1:])],
                          "the client (its log)")
        wait_for_log(server, FINISHED, 0, "At the end of the slides' auto game")
        assert log_since(server, 0)[-2:] == ["INFO:root:User guessed 36 = 36 (true value).",
                                             FINISHED], (
            "The server's log should end as the slides': 'User guessed 36 = 36 (true "
            f"value).', then {FINISHED!r}; it ends with {log_since(server, 0)[-2:]}.")
    finally:
        server.stop()


# --- what the kit gives: 0-point checks --------------------------------------------------------
# (Stopping with calls in flight, malformed bytes, limits: tests/test_serving.py, for
# every server.)

def test_no_deprecation_warnings(server_79, server_random) -> None:
    for server in (server_79, server_random):
        assert "DeprecationWarning" not in server.text(), server.describe()


def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "0.2",
                     "--auto")
    assert_says_no_server(result, f"localhost:{free_port}", "python server.py", timeout=0.2)


def test_health_and_reflection_name_the_service(server_79, channel_79) -> None:
    assert_health_serving(target(server_79), SERVICE)
    services = ProtoReflectionDescriptorDatabase(channel_79).get_services()
    assert SERVICE in services and "grpc.health.v1.Health" in services, services


def test_server_reports_a_busy_port_clearly(runner: LabRunner, server_79) -> None:
    second = runner.start("server", "--port", str(server_79.port))
    assert_refuses_busy_port(second, server_79.port)


def test_seed_and_secret_flags(lab: LabRunner) -> None:
    def secrets_of(*args: str) -> list[int]:
        server = lab.start_server("server", *args)
        try:
            with grpc.insecure_channel(target(server)) as channel:
                for _ in range(5):  # each game logs its secret before its first answer
                    Game(channel).guess(50)
            # The log reaches the test through a pipe, maybe after the answer: wait for it.
            logged = server.wait_for_count(r"True value is (\d+)\.", 5)
            return [int(match.group(1)) for match in logged]
        finally:
            server.stop()

    first = secrets_of("--seed", "42")
    assert secrets_of("--seed", "42") == first
    assert len(set(first)) > 1, first  # still random, game after game
    # --secret only takes a value the game can be won with.
    refused = lab.run("server", "--port", "0", "--secret", "101", timeout=10)
    assert refused.returncode == 2, refused.output
    assert "--secret" in refused.stderr and "Traceback" not in refused.stderr
