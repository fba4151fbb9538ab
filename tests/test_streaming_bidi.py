"""streaming_bidi, black box: the number-guessing server and client as real processes.

Besides the real client, some tests talk to the real server directly over gRPC (many
games, games at once), and one puts the real client in front of a referee server of the
test's own, which plays every secret 1..100 in turn. Both use message classes built from
the lab's own .proto in a private descriptor pool: the lab's stubs are never imported
into the test process (several labs have an "assistant.proto").
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from labkit.labs import get_lab
from labkit.procs import LabProcess, LabRunner, target
from labkit.testing import assert_health_serving, assert_refuses_busy_port, assert_says_no_server

LAB = "streaming_bidi"

START = "Guessing start! Try an integer between 1 and 100."
NO_DEPRECATION = ("-W", "error::DeprecationWarning")


# --- the game's messages, from the lab's proto ------------------------------------------


@dataclass(frozen=True)
class Protocol:
    request: type  # GuessIntRequest
    response: type  # GuessIntResponse
    service: str  # full name of the service
    path: str  # "/<service>/GuessInt"


@pytest.fixture(scope="module")
def protocol(lab_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Protocol:
    folder = lab_root / LAB
    out = tmp_path_factory.mktemp("streaming_bidi_proto") / "assistant.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I.", f"--descriptor_set_out={out}",
         "assistant.proto"], cwd=folder, check=True, capture_output=True,
    )
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        pool.Add(file)
    file = pool.FindFileByName("assistant.proto")
    service = file.services_by_name["AssistantService"]
    method = service.methods_by_name["GuessInt"]
    assert method.client_streaming and method.server_streaming
    return Protocol(
        request=message_factory.GetMessageClass(method.input_type),
        response=message_factory.GetMessageClass(method.output_type),
        service=service.full_name,
        path=f"/{service.full_name}/GuessInt",
    )


class Game:
    """One GuessInt call driven by the test, one guess at a time."""

    def __init__(self, channel: grpc.Channel, protocol: Protocol) -> None:
        self._protocol = protocol
        self._requests: queue.Queue = queue.Queue()
        call = channel.stream_stream(
            protocol.path, request_serializer=protocol.request.SerializeToString,
            response_deserializer=protocol.response.FromString,
        )
        self.responses = call(iter(self._requests.get, None), timeout=15)

    def guess(self, number: int):
        self._requests.put(self._protocol.request(guess=number))
        return next(self.responses)

    def close(self) -> None:
        self._requests.put(None)

    def rest(self) -> list:
        """Close our side and read the server's stream to its end."""
        self.close()
        return list(self.responses)


def bisect(game: Game) -> tuple[int, int]:
    """Find the secret the test's own way; (secret, guesses it took)."""
    low, high, count = 1, 100, 0
    while True:
        guess = (low + high) // 2
        answer = game.guess(guess)
        count += 1
        assert answer.guess == guess
        if answer.symbol == "=":
            return guess, count
        if answer.symbol == "<":
            low = guess + 1
        else:
            assert answer.symbol == ">", answer
            high = guess - 1


@pytest.fixture
def channel_to(request: pytest.FixtureRequest):
    opened: list[grpc.Channel] = []

    def open_channel(server: LabProcess) -> grpc.Channel:
        channel = grpc.insecure_channel(target(server), options=[("grpc.enable_http_proxy", 0)])
        opened.append(channel)
        return channel

    yield open_channel
    for channel in opened:
        channel.close()


def secrets_logged(server: LabProcess) -> list[int]:
    return [int(n) for n in re.findall(r"True value is (\d+)\.", server.stderr)]


def log_since(process: LabProcess, mark: int) -> list[str]:
    """The process's stderr lines from line number `mark` (len(process.lines) earlier) on."""
    return [line for stream, line in process.lines[mark:] if stream == "stderr"]


def wait_for_count(process: LabProcess, text: str, count: int, timeout: float = 5.0,
                   start: int = 0) -> None:
    """Wait until `count` lines of the process (from line number `start` on) contain `text`."""
    deadline = time.monotonic() + timeout
    for _ in range(count):
        process.wait_for(re.escape(text), max(deadline - time.monotonic(), 0.01), start=start)
        start = 1 + next(i for i, (_, line) in enumerate(process.lines)
                         if i >= start and text in line)


def client_lines(text: str) -> list[str]:
    """Lines a person reads, without the protobuf version warnings the design allows."""
    return [line for line in text.splitlines()
            if "Warning" not in line and "warnings.warn" not in line]


@pytest.fixture(scope="module")
def server_79(lab_root: Path):
    """One server with the secret of the slides' manual game, shared by the tests of this
    module that do not stop it (each looks at the server's log from its own mark on)."""
    with LabRunner(get_lab(LAB), lab_root) as runner:
        yield runner.start_server("server", "--secret", "79")


# --- manual mode: the slides' transcript ---------------------------------------------------

SLIDES_MANUAL_INPUT = "50\n75\n81\nxx\n80\n77\n78\n79\n"
SLIDES_MANUAL_STDOUT = f"""{START}
Guess: 50
Your guess 50 < true value.
Guess: 75
Your guess 75 < true value.
Guess: 81
Your guess 81 > true value.
Guess: xx
Guess: 80
Your guess 80 > true value.
Guess: 77
Your guess 77 < true value.
Guess: 78
Your guess 78 < true value.
Guess: 79
Your guess 79 = true value. Congratulations!!!
"""
SLIDES_MANUAL_SERVER_LOG = [
    "INFO:root:Received number guessing request.",
    "INFO:root:True value is 79.",
    "INFO:root:User guessed 50 < 79 (true value).",
    "INFO:root:User guessed 75 < 79 (true value).",
    "INFO:root:User guessed 81 > 79 (true value).",
    "INFO:root:User guessed 80 > 79 (true value).",
    "INFO:root:User guessed 77 < 79 (true value).",
    "INFO:root:User guessed 78 < 79 (true value).",
    "INFO:root:User guessed 79 = 79 (true value).",
    "INFO:root:Guessing service finished.",
]


def test_manual_game_prints_the_slides_transcript(lab: LabRunner, server_79) -> None:
    mark = len(server_79.lines)
    result = lab.run("client", "--target", target(server_79), stdin=SLIDES_MANUAL_INPUT)
    assert result.returncode == 0, result.output
    assert result.stdout == SLIDES_MANUAL_STDOUT
    assert client_lines(result.stderr) == [
        "ERROR:root:Invalid input xx. Please enter a valid number."]
    server_79.wait_for("Guessing service finished.", timeout=5, start=mark)
    assert log_since(server_79, mark) == SLIDES_MANUAL_SERVER_LOG


def test_manual_mode_asks_again_after_anything_not_an_integer(lab: LabRunner, server_79) -> None:
    mark = len(server_79.lines)
    bad = ["xx", "5.0", "", "five", "99999999999"]  # the last does not fit in an int32
    typed = "\n".join([*bad, "79"]) + "\n"
    result = lab.run("client", "--target", target(server_79), stdin=typed)
    assert result.returncode == 0, result.output
    assert client_lines(result.stderr) == [
        f"ERROR:root:Invalid input {text}. Please enter a valid number." for text in bad]
    assert result.stdout.count("Guess: ") == len(bad) + 1
    assert result.stdout.endswith("Your guess 79 = true value. Congratulations!!!\n")
    server_79.wait_for("Guessing service finished.", timeout=5, start=mark)
    # Only the valid guess reached the server.
    guessed = [line for line in log_since(server_79, mark) if "User guessed" in line]
    assert guessed == ["INFO:root:User guessed 79 = 79 (true value)."]


def test_out_of_range_guess_gets_a_message_and_the_game_goes_on(lab: LabRunner,
                                                                  server_79) -> None:
    mark = len(server_79.lines)
    result = lab.run("client", "--target", target(server_79), stdin="0\n101\n-7\n79\n")
    assert result.returncode == 0, result.output
    answers = [line for line in result.stdout.splitlines() if line.startswith("Your guess")]
    assert len(answers) == 4, result.stdout
    for answer, guess in zip(answers[:3], ("0", "101", "-7")):
        assert answer.startswith(f"Your guess {guess} ")
        assert "range" in answer and "1" in answer and "100" in answer, answer
        assert "true value" not in answer, answer  # not a comparison
    assert answers[3] == "Your guess 79 = true value. Congratulations!!!"
    server_79.wait_for("Guessing service finished.", timeout=5, start=mark)
    assert "Traceback" not in server_79.stderr


def test_out_of_range_answer_has_no_comparison_symbol(server_79, channel_to, protocol) -> None:
    game = Game(channel_to(server_79), protocol)
    for guess in (0, 101, -2**31, 2**31 - 1):
        answer = game.guess(guess)
        assert answer.guess == guess
        assert answer.symbol not in ("<", ">", "="), answer
        assert "range" in answer.message
    assert game.guess(79).symbol == "="  # the game went on, with the same secret


def test_end_of_input_mid_game_ends_it_cleanly(lab: LabRunner, server_79) -> None:
    mark = len(server_79.lines)
    result = lab.run("client", "--target", target(server_79), stdin="50\n", timeout=10)
    assert result.returncode == 0, result.output
    assert result.stdout.startswith(f"{START}\nGuess: 50\nYour guess 50 < true value.\nGuess: ")
    last = result.stdout.splitlines()[-1]
    assert "unfinished" in last, result.stdout
    assert "Traceback" not in result.stderr
    # The server learns that the client left, logs it and frees the game's worker.
    server_79.wait_for("Guessing service finished.", timeout=5, start=mark)
    assert log_since(server_79, mark)[-3:] == [
        "INFO:root:User guessed 50 < 79 (true value).",
        "INFO:root:Game left unfinished: the true value 79 was not guessed.",
        "INFO:root:Guessing service finished.",
    ]


def test_end_of_input_before_any_guess(lab: LabRunner, server_79) -> None:
    mark = len(server_79.lines)
    result = lab.run("client", "--target", target(server_79), stdin="", timeout=10)
    assert result.returncode == 0, result.output
    assert result.stdout.startswith(f"{START}\nGuess: ")
    assert "unfinished" in result.stdout.splitlines()[-1]
    server_79.wait_for("Guessing service finished.", timeout=5, start=mark)
    assert "INFO:root:Game left unfinished: the true value 79 was not guessed." in log_since(
        server_79, mark)


# --- auto mode ------------------------------------------------------------------------


def test_auto_game_prints_the_slides_transcript(lab: LabRunner) -> None:
    server = lab.start_server("server", "--secret", "36")
    result = lab.run("client", "--target", target(server), "--auto")
    assert result.returncode == 0, result.output
    assert result.stdout == f"""{START}
Your guess 50 > true value.
Your guess 25 < true value.
Your guess 37 > true value.
Your guess 31 < true value.
Your guess 34 < true value.
Your guess 35 < true value.
Your guess 36 = true value. Congratulations!!!
"""
    assert client_lines(result.stderr) == [
        "INFO:root:Init guess: go for 50", "INFO:root:Guessing: 25", "INFO:root:Guessing: 37",
        "INFO:root:Guessing: 31", "INFO:root:Guessing: 34", "INFO:root:Guessing: 35",
        "INFO:root:Guessing: 36",
    ]
    server.wait_for("Guessing service finished.", timeout=5)
    assert log_since(server, 0)[-2:] == [
        "INFO:root:User guessed 36 = 36 (true value).", "INFO:root:Guessing service finished."]


class Referee:
    """A stand-in server of the test's own: game i (in the order the calls arrive) has
    the secret secrets[i]. It records how many guesses each game took."""

    def __init__(self, protocol: Protocol, secrets: list[int]) -> None:
        self.protocol = protocol
        self.secrets = list(secrets)
        self.games: list[tuple[int, list[int]]] = []  # (secret, guesses)
        self.lock = threading.Lock()

    def guess_int(self, request_iterator, context):
        with self.lock:
            secret = self.secrets[len(self.games)]
            guesses: list[int] = []
            self.games.append((secret, guesses))
        for request in request_iterator:
            guesses.append(request.guess)
            symbol = "<" if request.guess < secret else ">" if request.guess > secret else "="
            message = f"Your guess {request.guess} {symbol} true value."
            if symbol == "=":
                message += " Congratulations!!!"
            yield self.protocol.response(message=message, guess=request.guess, symbol=symbol)
            if symbol == "=":
                return

    def serve(self) -> tuple[grpc.Server, int]:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handler = grpc.stream_stream_rpc_method_handler(
            self.guess_int, request_deserializer=self.protocol.request.FromString,
            response_serializer=self.protocol.response.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(self.protocol.service, {"GuessInt": handler})])
        port = server.add_insecure_port("localhost:0")
        server.start()
        return server, port


def test_auto_mode_wins_every_secret_within_7_guesses(lab: LabRunner, protocol) -> None:
    secrets = list(range(1, 101))
    referee = Referee(protocol, secrets)
    server, port = referee.serve()
    try:
        result = lab.run("client", "--target", f"localhost:{port}", "--auto",
                         "--games", str(len(secrets)), timeout=30)
    finally:
        server.stop(None)
    assert result.returncode == 0, result.output
    assert [secret for secret, _ in referee.games] == secrets
    for secret, guesses in referee.games:
        assert guesses[0] == 50
        assert guesses[-1] == secret, (secret, guesses)
        assert len(guesses) <= 7, (secret, guesses)
    assert result.stdout.count("Congratulations!!!") == len(secrets)
    assert result.stdout.count(START) == len(secrets)
    assert result.stderr.count("Init guess: go for 50") == len(secrets)


def test_auto_client_and_server_agree_over_many_games(lab: LabRunner) -> None:
    server = lab.start_server("server", "--seed", "2024")
    result = lab.run("client", "--target", target(server), "--auto", "--games", "30")
    assert result.returncode == 0, result.output
    won = [int(n) for n in re.findall(r"Your guess (\d+) = true value\. Congratulations!!!",
                                      result.stdout)]
    server.wait_for("Guessing service finished.", timeout=5)
    assert won == secrets_logged(server)
    assert len(won) == 30 and len(set(won)) > 10  # random secrets, not one number


# --- the server, driven directly --------------------------------------------------------




def test_server_answers_every_guess_and_ends_the_stream_after_a_win(
        server_79, channel_to, protocol) -> None:
    mark = len(server_79.lines)
    channel = channel_to(server_79)
    low = Game(channel, protocol)
    for guess in range(1, 79):
        answer = low.guess(guess)
        assert (answer.guess, answer.symbol, answer.message) == (
            guess, "<", f"Your guess {guess} < true value.")
    assert low.rest() == []  # we left: the server ends the game without a word
    high = Game(channel, protocol)
    for guess in range(100, 79, -1):
        answer = high.guess(guess)
        assert (answer.guess, answer.symbol, answer.message) == (
            guess, ">", f"Your guess {guess} > true value.")
    answer = high.guess(79)
    assert (answer.guess, answer.symbol, answer.message) == (
        79, "=", "Your guess 79 = true value. Congratulations!!!")
    # The server ends its stream after the correct guess, before we close ours.
    assert list(high.responses) == []
    assert high.responses.code() == grpc.StatusCode.OK
    high.close()
    wait_for_count(server_79, "Guessing service finished.", 2, start=mark)
    log = log_since(server_79, mark)
    assert sum("Game left unfinished" in line for line in log) == 1, log


def test_concurrent_games_each_have_their_own_secret(lab: LabRunner, channel_to,
                                                      protocol) -> None:
    server = lab.start_server("server", "--seed", "7")
    channel = channel_to(server)
    games = [Game(channel, protocol) for _ in range(6)]
    bounds = [[1, 100] for _ in games]
    found: dict[int, int] = {}
    # Round robin: every game is in flight while the others are played.
    while len(found) < len(games):
        for i, game in enumerate(games):
            if i in found:
                continue
            low, high = bounds[i]
            assert low <= high, f"game {i} got contradicting answers"
            guess = (low + high) // 2
            answer = game.guess(guess)
            if answer.symbol == "=":
                found[i] = guess
            elif answer.symbol == "<":
                bounds[i][0] = guess + 1
            else:
                bounds[i][1] = guess - 1
    secrets = [found[i] for i in range(len(games))]
    for game in games:
        game.close()
    wait_for_count(server, "Guessing service finished.", len(games))
    assert sorted(secrets) == sorted(secrets_logged(server))
    assert len(set(secrets)) > 1, secrets


def test_seed_makes_the_secrets_reproducible(lab: LabRunner, channel_to, protocol) -> None:
    def secrets_of(*args: str) -> list[int]:
        server = lab.start_server("server", *args)
        channel = channel_to(server)
        secrets = [bisect(Game(channel, protocol))[0] for _ in range(5)]
        server.stop()
        return secrets

    first = secrets_of("--seed", "42")
    assert secrets_of("--seed", "42") == first
    assert len(set(first)) > 1, first  # still random, game after game
    # --secret only takes a value the game can be won with.
    refused = lab.run("server", "--port", "0", "--secret", "101", timeout=10)
    assert refused.returncode == 2, refused.output
    assert "--secret" in refused.stderr and "Traceback" not in refused.stderr


# --- leaving early: Ctrl+C, workers ----------------------------------------------------


def test_ctrl_c_cancels_the_game_and_the_worker_is_free_again(lab: LabRunner) -> None:
    # One worker: a game the server did not finish would keep the next one waiting.
    server = lab.start_server("server", "--secret", "79", "--max-workers", "1")
    client = lab.start("client", "--target", target(server))
    client.wait_for(START, timeout=10, stream="stdout")
    client.send("60\n")
    client.wait_for("Your guess 60 < true value.", timeout=5)
    server.wait_for("User guessed 60 < 79", timeout=5)
    client.interrupt()
    result = client.result(timeout=5)
    assert result.returncode == 0, client.describe()
    assert "Guessing cancelled by user (Ctrl+C)." in result.stderr
    assert "Traceback" not in result.stderr
    server.wait_for("Game left unfinished: the true value 79 was not guessed.", timeout=1)
    server.wait_for("Guessing service finished.", timeout=1)
    # A client killed mid-game, one that leaves at end of input, then one that plays to
    # the end: all served, one after the other, by the single worker.
    killed = lab.start("client", "--target", target(server))
    killed.send("90\n")
    killed.wait_for("Your guess 90 > true value.", timeout=10)
    killed.signal(signal.SIGKILL)
    wait_for_count(server, "Game left unfinished", 2, timeout=2)
    wait_for_count(server, "Guessing service finished.", 2, timeout=1)
    left = lab.run("client", "--target", target(server), stdin="10\n", timeout=10)
    assert left.returncode == 0 and "unfinished" in left.stdout, left.output
    won = lab.run("client", "--target", target(server), "--auto", timeout=10)
    assert won.returncode == 0 and "Congratulations!!!" in won.stdout, won.output
    assert server.stderr.count("Guessing service finished.") == 4


def test_server_stops_within_2_s_with_a_game_in_flight(lab: LabRunner) -> None:
    server = lab.start_server("server", "--secret", "79")
    client = lab.start("client", "--target", target(server))
    client.wait_for(START, timeout=10, stream="stdout")
    client.send("20\n")
    client.wait_for("Your guess 20 < true value.", timeout=5)
    server.interrupt()
    assert server.wait(timeout=2 + 1) == 0, server.describe()
    assert "Server stopped" in server.stderr and "Traceback" not in server.stderr
    assert "Game left unfinished: the true value 79 was not guessed." in server.stderr
    assert "Guessing service finished." in server.stderr
    # The client finds out with its next guess: one clear line, exit 1.
    client.send("30\n")
    assert client.wait(timeout=5) == 1, client.describe()
    errors = [line for line in client_lines(client.stderr) if line.startswith("GuessInt failed")]
    assert len(errors) == 1, client.stderr
    assert "Traceback" not in client.stderr


# --- conventions: no server, warnings, health, busy port -------------------------------


def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "1", "--auto")
    assert_says_no_server(result, f"localhost:{free_port}", "python server.py")


def test_no_deprecation_warnings(lab: LabRunner) -> None:
    argv = [sys.executable, *NO_DEPRECATION, "-u"]
    with LabProcess([*argv, "server.py", "--port", "0", "--secret", "64"], lab.folder,
                    name="server") as server:
        server.wait_ready()
        with LabProcess([*argv, "client.py", "--target", target(server), "--auto"],
                        lab.folder, name="client") as auto:
            assert auto.wait(timeout=10) == 0, auto.describe()
        with LabProcess([*argv, "client.py", "--target", target(server)],
                        lab.folder, name="client") as manual:
            manual.send("64\n")
            manual.close_stdin()
            assert manual.wait(timeout=10) == 0, manual.describe()
        wait_for_count(server, "Guessing service finished.", 2)
        server.interrupt()
        assert server.wait(timeout=3) == 0, server.describe()
    for process in (server, auto, manual):
        assert "Warning" not in process.text(), process.describe()
        assert "Traceback" not in process.text(), process.describe()


def test_health_and_reflection_name_the_service(server_79, channel_to, protocol) -> None:
    assert_health_serving(target(server_79), protocol.service)


def test_server_reports_a_busy_port_clearly(lab: LabRunner, server_79) -> None:
    second = lab.start("server", "--port", str(server_79.port))
    assert_refuses_busy_port(second, server_79.port)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_server_stops_gracefully_on_signal(lab: LabRunner, signum: int) -> None:
    server = lab.start_server()
    server.signal(signum)
    assert server.wait(timeout=2 + 1) == 0, server.describe()
    assert "Server stopped" in server.stderr and "Traceback" not in server.stderr
