"""cross_language, black box: the student's Python server through the test's own client,
the student's Go client (built with the real Go toolchain and grpc-go, labkit.builds) and
Python client against a stand-in server of the test's own, and all of them together as
the slides run them.

The stand-in (labkit.testing.StandIn, from the kit's canonical proto) answers with a
greeting and numbers of its own, which the reference server could never send: a client
earns its points only by calling both RPCs with its flags and printing what came back.
It also records each call's deadline, and can stay silent, so that a call without a
deadline shows. The Go client is built once per session; its tests skip with a one-line
reason where `go` is missing (and fail under LABKIT_REQUIRE_ALL=1, as in CI).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import text_format

from labkit.builds import BuildError, go_build
from labkit.labs import Process
from labkit.procs import LabProcess, LabRunner, ProcessError, Result, target
from labkit.protocol import lab_proto
from labkit.testing import (
    Received,
    StandIn,
    assert_health_serving,
    assert_refuses_busy_port,
    assert_says_no_server,
    require_commands,
    token,
)
from tests.output_support import first_difference, said

LAB = "cross_language"
PROTO = lab_proto(LAB)
SERVICE = "AssistantService"
GreetRequest = PROTO.message("GreetRequest")
GreetResponse = PROTO.message("GreetResponse")
MultRequest = PROTO.message("MultRequest")
MultResponse = PROTO.message("MultResponse")

SLIDES_OUTPUT = (
    "> Greet: Hello Assistant?\n"
    "Client received:\n"
    'message:"Hello Peter from SUSTech!"\n'
    "> Mult: Requesting a multiplication task\n"
    "> Client received:\n"
    "xin:3.5 yin:5 result:17.5\n"
)
START_SERVER = "python server/hw_server.py"
GO_BUILD_TIMEOUT = 600  # seconds: a cold build of grpc-go on 2 cores, modules fetched first

# A test that builds the Go client may wait for that build (once per session).
go_test = pytest.mark.timeout(GO_BUILD_TIMEOUT + 60)

# What the clients are told (the same flags for both: Go's flag package reads --name too).
NAME, INSTITUTION, X, Y = "Zoë 李", "EPFL", 1.25, -4.0
FLAGS = ("--name", NAME, "--institution", INSTITUTION, "-x", "1.25", "-y", "-4",
         "--timeout", "7")
# What the stand-in answers to Multiply, whatever it is asked, and how the clients print
# it: Go's shortest form (strconv 'g'), exponents below -4 or from 6 on.
MADE_UP_NUMBERS = (3703701.0, 1e-07, 0.020000000000000004)
MADE_UP_TEXT = "xin:3.703701e+06 yin:1e-07 result:0.020000000000000004"


# --- the stand-in server ------------------------------------------------------------------

class Assistant:
    """The stand-in's AssistantService: a greeting of its own and made-up numbers, never
    what the reference server would send. Methods named in `silent` never answer: they
    hold the call until it ends (its deadline passes, the client cancels it, or the
    stand-in stops), and note that it ended."""

    def __init__(self, silent: tuple[str, ...] = ()) -> None:
        self.word = token()
        self.silent = silent
        self.arrived = {method: threading.Event() for method in ("GreetWithInfo", "Multiply")}
        self.ended = {method: threading.Event() for method in ("GreetWithInfo", "Multiply")}

    def greeting(self, request) -> str:
        return f"Hej {request.user_name} of {request.institution}, {self.word}"

    def hold(self, method: str, context: grpc.ServicerContext) -> None:
        self.arrived[method].set()
        if method in self.silent:
            done = threading.Event()
            if context.add_callback(done.set):  # False: the call has ended already
                done.wait(30)
            self.ended[method].set()

    def GreetWithInfo(self, request, context):
        self.hold("GreetWithInfo", context)
        return GreetResponse(message=self.greeting(request))

    def Multiply(self, request, context):
        self.hold("Multiply", context)
        xin, yin, result = MADE_UP_NUMBERS
        return MultResponse(xin=xin, yin=yin, result=result)


def expected_lines(assistant: Assistant) -> str:
    """What a client prints for the stand-in's replies to FLAGS (as the slides print the
    server's replies)."""
    greeting = assistant.greeting(GreetRequest(user_name=NAME, institution=INSTITUTION))
    return ("> Greet: Hello Assistant?\n"
            "Client received:\n"
            f'message:"{greeting}"\n'
            "> Mult: Requesting a multiplication task\n"
            "> Client received:\n"
            f"{MADE_UP_TEXT}\n")


@dataclass
class Run:
    """One client run against a stand-in: what the client did, what the stand-in got."""

    result: Result
    calls: list[Received]
    expected: str  # the lines the client should print


# --- the clients ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def go_binary(lab_root: Path, sandbox) -> Path:
    """The Go client, built once per session from the lab's client/ folder (as a lab
    process: labkit/builds.py)."""
    require_commands("go", why="the cross_language Go client")
    try:
        return go_build(sandbox, lab_root / LAB / "client", "hw_client")
    except BuildError as error:
        pytest.fail(f"The Go client does not build:\n{error}", pytrace=False)


def start_go(lab: LabRunner, binary: Path, *args: str) -> LabProcess:
    return lab.start(Process("go-client", (str(binary),), cwd="client", target_flag="-addr"),
                     *args)


def start_client(kind: str, lab: LabRunner, binary: Path | None, *args: str) -> LabProcess:
    """Start the Go client (`binary`) or the Python client, with its input closed."""
    client = start_go(lab, binary, *args) if kind == "go" else lab.start("client", *args)
    client.close_stdin()
    return client


def wait_for_call(arrived: threading.Event, client: LabProcess, timeout: float = 15) -> bool:
    """Wait until the stand-in got the call, or the client has ended without making it (a
    client that died fails the test at once, not after the whole wait)."""
    deadline = time.monotonic() + timeout
    while not arrived.wait(0.05):
        if not client.alive or time.monotonic() > deadline:
            return arrived.is_set()
    return True


def run_client(kind: str, lab: LabRunner, binary: Path | None, *args: str) -> Result:
    """Run a client to its end (20 s at most)."""
    client = start_client(kind, lab, binary, *args)
    try:
        return client.result(timeout=20)
    finally:
        client.stop()


def program(kind: str, start: bool = False) -> str:
    """How messages name a client: "the Go client (hw_client.go)" ("The ..." at the start
    of a sentence)."""
    name = "Go client (hw_client.go)" if kind == "go" else "Python client (hw_client.py)"
    return f"{'The' if start else 'the'} {name}"


def who(kind: str) -> str:
    """The client, at the start of a sentence: "The Go client (hw_client.go)"."""
    return program(kind, start=True)


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    """The stand-in's replies, the same for both clients (they must print the same)."""
    return Assistant()


def run_against_stand_in(kind: str, runner: LabRunner, binary: Path | None,
                         assistant: Assistant) -> Run:
    with StandIn(LAB, SERVICE, assistant) as stand_in:
        result = run_client(kind, runner, binary, "--target", stand_in.target, *FLAGS)
    return Run(result, list(stand_in.calls), expected_lines(assistant))


@pytest.fixture(scope="module")
def go_run(runner: LabRunner, go_binary: Path, assistant: Assistant) -> Run:
    return run_against_stand_in("go", runner, go_binary, assistant)


@pytest.fixture(scope="module")
def python_run(runner: LabRunner, assistant: Assistant) -> Run:
    return run_against_stand_in("python", runner, None, assistant)


# --- what a client must do, for either client -----------------------------------------------

def check_prints_the_replies(kind: str, run: Run) -> None:
    result = run.result
    assert result.stdout == run.expected and result.returncode == 0, (
        f"{who(kind)} should print what the server answered, in the slides' lines "
        f"(here the test's server answers {run.expected.splitlines()[2]} and "
        f"{MADE_UP_TEXT}), and exit 0; it exited {result.returncode}, and "
        + first_difference(run.expected, result.stdout))


def check_sends_its_flags(kind: str, run: Run) -> None:
    methods = [call.method for call in run.calls]
    assert methods == ["GreetWithInfo", "Multiply"], (
        f"{who(kind)} should call GreetWithInfo, then Multiply, once each; the test's "
        f"server received {methods or 'no call'}.")
    greet, mult = (call.request for call in run.calls)
    assert (greet.user_name, greet.institution) == (NAME, INSTITUTION), (
        f"{who(kind)} should send --name and --institution in its GreetRequest "
        f"(user_name={NAME!r}, institution={INSTITUTION!r}); it sent "
        f"user_name={greet.user_name!r}, institution={greet.institution!r}.")
    assert (mult.xin, mult.yin) == (X, Y), (
        f"{who(kind)} should send -x and -y in its MultRequest (xin={X}, yin={Y}); it "
        f"sent xin={mult.xin}, yin={mult.yin}.")


def check_sets_deadlines(kind: str, run: Run) -> None:
    assert len(run.calls) == 2, (
        f"{who(kind)} should call GreetWithInfo and Multiply, each with a deadline; the "
        f"test's server received {[call.method for call in run.calls] or 'no call'}.")
    for call in run.calls:
        deadline = call.deadline
        assert deadline is not None and 1 < deadline <= 7.5, (
            f"{who(kind)} should give {call.method} a deadline (--timeout, 7 s here), so "
            "that a silent server cannot hang it; "
            + ("it set none." if deadline is None else f"it set {deadline:.1f} s."))


@contextlib.contextmanager
def waiting_on_silence(kind: str, lab: LabRunner, binary: Path | None, method: str,
                       timeout: str) -> Iterator[tuple[Assistant, Received, LabProcess]]:
    """A client run against a stand-in that never answers `method`, from the moment that
    call has arrived (the stand-in's servicer, the call it received, the client); the
    client is stopped at the end."""
    silent = Assistant(silent=(method,))
    with StandIn(LAB, SERVICE, silent) as stand_in:
        client = start_client(kind, lab, binary, "--target", stand_in.target,
                              "--timeout", timeout)
        try:
            assert wait_for_call(silent.arrived[method], client), (
                f"{who(kind)} should call {method}; the test's server got no {method} "
                "call.")
            yield silent, next(c for c in stand_in.calls if c.method == method), client
        finally:
            client.stop()


def check_gives_up_on_a_silent_server(kind: str, lab: LabRunner, binary: Path | None) -> None:
    """The stand-in answers GreetWithInfo, then never answers Multiply: with --timeout 1
    the client must give up on its own, with one line, exit 1."""
    with waiting_on_silence(kind, lab, binary, "Multiply", "1") as (_, multiply, client):
        assert multiply.deadline is not None, (
            f"{who(kind)} called Multiply without a deadline: against a server that "
            "never answers it would wait forever (--timeout 1 should end it after 1 s).")
        code = client.wait(timeout=multiply.deadline + 10)
    expected = "DeadlineExceeded" if kind == "go" else "DEADLINE_EXCEEDED"
    lines = client.stderr.splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("Multiply failed: ") \
            and expected in lines[0], (
        f"When Multiply gets no answer within --timeout, {program(kind)} should print one "
        f"line `Multiply failed: {expected}: ...` and exit 1; it exited {code} and printed "
        f"{said(client.stderr)}.")


def check_ctrl_c_cancels_the_call(kind: str, lab: LabRunner, binary: Path | None) -> None:
    """Ctrl+C while GreetWithInfo waits for a silent server: the client cancels the call
    (the server sees it end long before its deadline), and exits 0."""
    with waiting_on_silence(kind, lab, binary, "GreetWithInfo", "60") as (silent, _, client):
        client.interrupt()
        try:
            code = client.wait(timeout=10)
        except ProcessError:
            pytest.fail(f"Ctrl+C should cancel the call in flight and end {program(kind)}; "
                        "it was still running 10 s later.", pytrace=False)
        assert silent.ended["GreetWithInfo"].wait(10), (
            f"Ctrl+C in {program(kind)} should cancel the call in flight (the server sees "
            "it end); the call was still open 10 s later.")
    assert code == 0 and "Traceback" not in client.stderr and "panic" not in client.stderr, (
        f"Ctrl+C during a call: {program(kind)} should cancel it and exit 0, without a "
        f"traceback; it exited {code} and printed {said(client.stderr)}.")


BAD_INPUT = [  # what the server rejects (INVALID_ARGUMENT), and what it says
    (("--name", ""), "GreetWithInfo", "user_name is empty"),
    (("-x", "1e200", "-y", "1e200"), "Multiply", "too large for a double"),
]


def check_reports_bad_input_in_one_line(kind: str, lab: LabRunner, binary: Path | None,
                                        server: LabProcess) -> None:
    code_name = "InvalidArgument" if kind == "go" else "INVALID_ARGUMENT"
    for args, method, words in BAD_INPUT:
        result = run_client(kind, lab, binary, "--target", target(server), *args)
        line = f"{method} failed: {code_name}: "
        assert result.returncode == 1 and result.stderr.startswith(line) and \
            words in result.stderr and len(result.stderr.splitlines()) == 1, (
                f"With {' '.join(args)!r}, the server answers {method} with INVALID_ARGUMENT "
                f"({words}); {program(kind)} should print one line "
                f"`{line}...` and exit 1. It exited {result.returncode} and printed "
                f"{said(result.stderr)} on stderr.")


# --- the student's server, through the test's own client ------------------------------------

@pytest.fixture(scope="module")
def server(runner: LabRunner) -> LabProcess:
    """The lab's server, shared by the tests that only call it."""
    return runner.start_server()


def call(server: LabProcess, method: str, request):
    """The test's own call of the student's server; a failed call fails the test."""
    with grpc.insecure_channel(target(server)) as channel:
        try:
            return getattr(PROTO.stub(channel, SERVICE), method)(request, timeout=10)
        except grpc.RpcError as error:
            failed = error
    shown = text_format.MessageToString(request, as_one_line=True)
    pytest.fail(f"{method}({shown[:120]}) should be answered; the server answered "
                f"{failed.code().name}: {failed.details()}", pytrace=False)


@pytest.mark.parametrize("name, institution", [
    ("Peter", "SUSTech"), ("Zoë 李", "EPFL"), ('Ada "the" Lovelace', "Analytical\\Engine"),
    ("x" * 300, "MIT")])
def test_server_greets_with_name_and_institution(server, name: str, institution: str) -> None:
    reply = call(server, "GreetWithInfo", GreetRequest(user_name=name, institution=institution))
    expected = f"Hello {name} from {institution}!"
    assert reply.message == expected, (
        f"GreetWithInfo(user_name={name[:40]!r}, institution={institution!r}) should answer "
        f"{expected[:80]!r} (the slides' greeting); the server answered {reply.message[:80]!r}.")


@pytest.mark.parametrize("x, y", [(3.5, 5.0), (0.1, 0.2), (-1.25, 4.0), (1e-7, -0.5),
                                  (0.0, -2.5), (1234567.0, 3.0)])
def test_server_multiplies(server, x: float, y: float) -> None:
    reply = call(server, "Multiply", MultRequest(xin=x, yin=y))
    assert (reply.xin, reply.yin, reply.result) == (x, y, x * y), (
        f"Multiply(xin={x}, yin={y}) should send back both factors and their product "
        f"(xin={x}, yin={y}, result={x * y!r}); the server sent xin={reply.xin}, "
        f"yin={reply.yin}, result={reply.result!r}.")


# --- the Go client, against the stand-in (the lab's central lesson) -------------------------

@go_test
def test_go_client_prints_the_servers_replies(go_run: Run) -> None:
    check_prints_the_replies("go", go_run)


@go_test
def test_go_client_sends_its_flags(go_run: Run) -> None:
    check_sends_its_flags("go", go_run)


@go_test
def test_go_client_sets_deadlines(go_run: Run) -> None:
    check_sets_deadlines("go", go_run)


@go_test
def test_go_client_gives_up_on_a_silent_server(lab: LabRunner, go_binary: Path) -> None:
    check_gives_up_on_a_silent_server("go", lab, go_binary)


@go_test
def test_go_client_ctrl_c_cancels_the_call(lab: LabRunner, go_binary: Path) -> None:
    check_ctrl_c_cancels_the_call("go", lab, go_binary)


@go_test
def test_go_client_reports_bad_input_in_one_line(lab: LabRunner, go_binary: Path,
                                                 server) -> None:
    check_reports_bad_input_in_one_line("go", lab, go_binary, server)


# --- the Python client, against the stand-in ------------------------------------------------

def test_python_client_prints_the_servers_replies(python_run: Run) -> None:
    check_prints_the_replies("python", python_run)


def test_python_client_sends_its_flags(python_run: Run) -> None:
    check_sends_its_flags("python", python_run)


def test_python_client_sets_deadlines(python_run: Run) -> None:
    check_sets_deadlines("python", python_run)


def test_python_client_gives_up_on_a_silent_server(lab: LabRunner) -> None:
    check_gives_up_on_a_silent_server("python", lab, None)


def test_python_client_ctrl_c_cancels_the_call(lab: LabRunner) -> None:
    check_ctrl_c_cancels_the_call("python", lab, None)


def test_python_client_reports_bad_input_in_one_line(lab: LabRunner, server) -> None:
    check_reports_bad_input_in_one_line("python", lab, None, server)


# --- all together, as the slides run them -----------------------------------------------------

@go_test
def test_go_client_prints_the_slides_lines(lab: LabRunner, server, go_binary: Path) -> None:
    result = run_client("go", lab, go_binary, "-addr", target(server))
    assert (result.returncode, result.stdout) == (0, SLIDES_OUTPUT), (
        "`go run hw_client.go` against `python server/hw_server.py` should print the slides' "
        f"lines and exit 0; it exited {result.returncode}, and "
        + first_difference(SLIDES_OUTPUT, result.stdout))


def test_python_client_prints_the_slides_lines(lab: LabRunner, server) -> None:
    result = run_client("python", lab, None, "--target", target(server))
    assert (result.returncode, result.stdout) == (0, SLIDES_OUTPUT), (
        "`python hw_client.py` against `python server/hw_server.py` should print the slides' "
        f"lines and exit 0; it exited {result.returncode}, and "
        + first_difference(SLIDES_OUTPUT, result.stdout))
    # The server's side of the slides: its start line names the port it listens on.
    match = server.wait_for(r"INFO:root:Server started, listening on (\d+)$", timeout=5)
    assert int(match.group(1)) == server.port, (
        f"The server should log the slides' `INFO:root:Server started, listening on "
        f"{server.port}`; it logged port {match.group(1)}.")


@go_test
def test_both_clients_send_the_same_requests_and_print_the_same_lines(go_run: Run,
                                                                      python_run: Run) -> None:
    # One contract, two languages: the same messages on the wire, the same lines printed
    # (doubles in Go's shortest form: 3.703701e+06, 1e-07, 0.020000000000000004).
    go_requests = [call.request.SerializeToString() for call in go_run.calls]
    python_requests = [call.request.SerializeToString() for call in python_run.calls]
    assert len(go_requests) == len(python_requests) == 2, (
        "The Go and Python clients should each call GreetWithInfo and Multiply; the test's "
        f"server received {len(go_requests)} call(s) from Go, {len(python_requests)} from "
        "Python.")
    assert go_requests == python_requests, (
        "Given the same flags, the Go and Python clients should send the same requests; "
        f"Go sent {go_requests}, Python {python_requests}.")
    assert go_run.result.stdout == python_run.result.stdout != "", (
        "Given the same replies, the Go and Python clients should print the same lines; "
        "taking Go's as expected, Python's "
        + first_difference(go_run.result.stdout, python_run.result.stdout))


# --- what the kit gives: 0-point checks ---------------------------------------------------------

@pytest.mark.parametrize("kind", [pytest.param("go", marks=go_test), "python"])
def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int,
                                                    request: pytest.FixtureRequest,
                                                    kind: str) -> None:
    binary = request.getfixturevalue("go_binary") if kind == "go" else None
    address = f"localhost:{free_port}"
    result = run_client(kind, lab, binary, "--target", address, "--timeout", "1")
    assert_says_no_server(result, address, START_SERVER)


@pytest.mark.parametrize("method, request_message, words", [
    ("GreetWithInfo", GreetRequest(institution="SUSTech"), "user_name is empty"),
    ("GreetWithInfo", GreetRequest(user_name=" \t", institution="SUSTech"),
     "user_name is empty"),
    ("GreetWithInfo", GreetRequest(user_name="Peter"), "institution is empty"),
    ("GreetWithInfo", GreetRequest(), "user_name is empty"),  # nothing set at all
    ("Multiply", MultRequest(xin=math.nan, yin=2.0), "xin is nan"),
    ("Multiply", MultRequest(xin=1.0, yin=math.inf), "yin is inf"),
    ("Multiply", MultRequest(xin=-math.inf), "xin is -inf"),
    ("Multiply", MultRequest(xin=-1e300, yin=1e300), "too large for a double"),
], ids=["no-name", "blank-name", "no-institution", "empty", "nan", "inf", "-inf", "overflow"])
def test_server_rejects_bad_requests_and_keeps_serving(server, method: str, request_message,
                                                      words: str) -> None:
    with grpc.insecure_channel(target(server)) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            getattr(PROTO.stub(channel, SERVICE), method)(request_message, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    assert words in caught.value.details(), caught.value.details()
    assert_health_serving(target(server), SERVICE)
    assert "Traceback" not in server.stderr, server.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_server_stops_gracefully_on_signal(lab: LabRunner, signum: int) -> None:
    own = lab.start_server()
    own.signal(signum)
    assert own.wait(timeout=2 + 1) == 0, own.describe()
    assert "Server stopped" in own.stderr
    assert "Traceback" not in own.stderr


def test_server_reports_a_busy_port_clearly(lab: LabRunner, server) -> None:
    second = lab.start("server", "--port", str(server.port))
    assert_refuses_busy_port(second, server.port)


def test_server_answers_health_checks(server) -> None:
    assert_health_serving(target(server), SERVICE)
