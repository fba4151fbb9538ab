"""What tests/test_inputs_*.py share (issue 14): arbitrary command-line values, stand-in
servers of the test's own, and the checks of the design's promises for bad input.

The promises, for every program of the labs and any input: an exit code the design
gives, no traceback, a few lines on stderr at most (besides the program's own log lines),
and an end within a deadline.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass

import grpc
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from labkit.labs import Process, get_lab
from labkit.procs import LabProcess, LabRunner, Result, python_command
from labkit.protocol import lab_proto

# Each example starts a program (about 0.4 s for a Python client: importing grpc), so few
# examples, and the same ones on every run (derandomize): CI stays fast and reproducible.
PROPERTY = settings(max_examples=10, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.filter_too_much])
RUN_DEADLINE = 20.0  # seconds any one run may take (a hang fails the test)
# A proxy that does not exist: a client that used it could not reach any server.
DEAD_PROXY = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "grpc_proxy": "http://127.0.0.1:9", "no_proxy": ""}
LOG_PREFIXES = ("INFO:", "WARNING:", "ERROR:root:Invalid input")  # a program's own log lines
EXTRA_LINES = 4  # stderr lines allowed besides them (argparse's usage may take 3)


# --- arbitrary values ------------------------------------------------------------------------

def numbers() -> st.SearchStrategy[str]:
    """Numbers as a command line has them: finite and not, huge, tiny, negative, odd forms."""
    return st.one_of(
        st.floats().map(repr),  # nan, inf, -0.0, 5e-324, 1.7976931348623157e+308, ...
        st.integers(-10**20, 10**20).map(str),
        st.integers(10**300, 10**320).map(str),  # 309 digits and more
        st.sampled_from(["nan", "-nan", "inf", "-inf", "Infinity", "1e300", "-1e300", "1e-300",
                         "0", "-0", "-1", "0.05", "1_000", "0x10", " 7 ", "", "٣"]),
    )


def texts() -> st.SearchStrategy[str]:
    """Any text an argument can hold (no NUL: a command line cannot carry one)."""
    return st.text(st.characters(blacklist_characters="\x00"), max_size=30)


def raw_bytes() -> st.SearchStrategy[str]:
    """Bytes that need not be UTF-8, as Python hands them to a program: the invalid ones
    become surrogates (os.fsdecode), which turn back into the same bytes on the way out."""
    return st.binary(min_size=1, max_size=12).filter(lambda b: b"\0" not in b).map(os.fsdecode)


# Values that made programs fail before (issue 14), drawn as often as each kind above.
NOTORIOUS = ["inf", "nan", "1e300", "0", "-1", "1e-9", os.fsdecode(b"Zo\xeb"),
             os.fsdecode(b"\xff\xfe"), "", "a\nb"]


def values() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NOTORIOUS), numbers(), texts(), raw_bytes())


def quick(limit: float) -> Callable[[str], bool]:
    """A filter for values of a flag that sets a wait or an amount of work: a valid value
    above `limit` would only make the run slow (the flag's range is tested elsewhere)."""
    def is_quick(value: str) -> bool:
        try:
            return not float(value) > limit
        except ValueError:
            return True
    return is_quick


def command_lines(flags: dict[str, st.SearchStrategy[str]], switches: Sequence[str] = (),
                  positional: st.SearchStrategy[list[str]] | None = None,
                  ) -> st.SearchStrategy[list[str]]:
    """Up to three of `flags` as `--flag=VALUE` (so that a value starting with "-" is not
    read as a flag), any of the `switches`, then the positional arguments after "--"."""
    pairs = st.lists(st.sampled_from(sorted(flags)).flatmap(
        lambda flag: flags[flag].map(lambda value: f"{flag}={value}")), min_size=1, max_size=3)
    chosen = st.lists(st.sampled_from(list(switches)), unique=True) if switches else st.just([])
    rest = (positional.map(lambda words: ["--", *words]) if positional is not None
            else st.just([]))
    return st.tuples(pairs, chosen, rest).map(lambda parts: [*parts[0], *parts[1], *parts[2]])


# --- running a program ------------------------------------------------------------------------

def run(runner: LabRunner, process: str | Process, *args: str, stdin: bytes = b"",
        timeout: float = RUN_DEADLINE, env: dict[str, str] | None = None) -> Result:
    """Run a program of the lab to its end with raw bytes on stdin (then end of input)."""
    running = runner.start(process, *args, env={**DEAD_PROXY, **(env or {})})
    try:
        assert running.popen.stdin is not None
        try:
            running.popen.stdin.write(stdin)
        except BrokenPipeError:  # it exited without reading: fine
            pass
        running.close_stdin()
        return running.result(timeout)
    finally:
        running.stop()


def with_stdout_to(process: Process, path: str) -> Process:
    """The same program with its stdout sent to `path`, as `python client.py > /dev/full`."""
    command = ("sh", "-c", f'exec "$@" > {path}', "sh", *python_command(process.command))
    return Process(process.name, command, cwd=process.cwd)


def with_import_times(process: Process) -> Process:
    """The same program under `python -X importtime`: it writes a line to stderr as each
    module has been imported, so that a test knows how far it got."""
    command = ("python", "-X", "importtime", *process.command[1:])
    return Process(process.name, command, cwd=process.cwd)


def imported(module: str) -> str:
    """The pattern of -X importtime's line for a module imported at the top level."""
    return rf"^import time:.*\| {module}$"


def assert_kept_its_promises(result: Result, codes: Sequence[int] = (0, 1, 2)) -> None:
    """An exit code the design gives, no traceback, few lines on stderr besides the
    program's own log lines; exit code 2 (a bad flag, or no server) says which."""
    assert result.returncode in codes, result.output
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr, \
        result.stderr
    extra = [line for line in result.stderr.splitlines() if not line.startswith(LOG_PREFIXES)]
    assert len(extra) <= EXTRA_LINES, result.stderr
    if result.returncode == 2:
        assert "error: argument" in extra[-1] or "error: unrecognized" in extra[-1] \
            or "Cannot reach" in extra[-1] or ": error: " in extra[-1], result.stderr


# --- stand-in servers -------------------------------------------------------------------------

def _messages(lab: str) -> Callable[..., object]:
    proto = lab_proto(lab)
    return lambda name, **fields: proto.message(name)(**fields)


class Greeter:
    def SayHello(self, request, context):
        return _messages("hello_world")("HelloReply", message=f"Hello, {request.name}!")


class Assistant:
    """cross_language: the greeting and the product (nan or inf: INVALID_ARGUMENT)."""

    def GreetWithInfo(self, request, context):
        return _messages("cross_language")(
            "GreetResponse", message=f"Hello {request.user_name} from {request.institution}!")

    def Multiply(self, request, context):
        result = request.xin * request.yin
        if result != result or abs(result) == float("inf"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "both factors must be finite")
        return _messages("cross_language")("MultResponse", xin=request.xin, yin=request.yin,
                                           result=result)


class StoryTeller:
    def TellStory(self, request, context):
        make = _messages("streaming_server_side")
        for text in (f"Hi {request.user_name}!\n\n", "Once upon a time.\n", "The end.\n"):
            yield make("TellStoryResponse", text_chunk=text.encode())


class Counter:
    """Three counts, then the end of the stream (the real server counts until cancelled)."""

    def Count(self, request, context):
        for step in range(1, 4):
            yield _messages("remote_counter")("CountResponse", count=step)


class Guesser:
    """The secret is 50."""

    def GuessInt(self, requests, context):
        make = _messages("streaming_bidi")
        for request in requests:
            symbol = "=" if request.guess == 50 else "<" if request.guess < 50 else ">"
            yield make("GuessIntResponse", message=f"Your guess {request.guess} {symbol} 50.",
                       guess=request.guess, symbol=symbol)
            if symbol == "=":
                return


class Chiller:
    def ChillA(self, request, context):
        return request

    def ChillB(self, request, context):
        return request


class FileService:
    """The SHA-256 of the path's text (no file is read)."""

    def HashFile(self, request, context):
        digest = hashlib.sha256(request.path.encode()).hexdigest()
        return _messages("file_hash_service")("HashFileReply", path=request.path,
                                              hex_digest=digest)


SERVICES = {  # lab: (service, servicer)
    "hello_world": ("Greeter", Greeter),
    "cross_language": ("AssistantService", Assistant),
    "streaming_server_side": ("AssistantService", StoryTeller),
    "remote_counter": ("Counter", Counter),
    "streaming_bidi": ("AssistantService", Guesser),
    "multiplexing": ("AssistantService", Chiller),
    "file_hash_service": ("FileService", FileService),
}


class Hanging:
    """A servicer whose every method waits until its call is cancelled."""

    def __init__(self, lab: str) -> None:
        self.arrived = threading.Event()
        service, _ = SERVICES[lab]
        for method in lab_proto(lab).service(service).methods:
            setattr(self, method.name, self._wait)

    def _wait(self, request, context):
        self.arrived.set()
        ended = threading.Event()
        context.add_callback(ended.set)
        ended.wait(30)
        context.abort(grpc.StatusCode.CANCELLED, "cancelled")


@dataclass
class StandIn:
    """A gRPC server of the test's own, on a free port of localhost."""

    server: grpc.Server
    port: int
    servicer: object

    @property
    def target(self) -> str:
        return f"localhost:{self.port}"


def start_stand_in(lab: str, hanging: bool = False) -> StandIn:
    service, servicer_class = SERVICES[lab]
    servicer = Hanging(lab) if hanging else servicer_class()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    server.add_generic_rpc_handlers([lab_proto(lab).handler(service, servicer)])
    port = server.add_insecure_port("localhost:0")
    server.start()
    return StandIn(server, port, servicer)


def stand_ins(labs: Sequence[str], hanging: bool = False) -> Iterator[dict[str, StandIn]]:
    """A stand-in server per lab for a fixture: all stopped at the end."""
    started: dict[str, StandIn] = {}
    try:
        for lab in labs:
            started[lab] = start_stand_in(lab, hanging)
        yield started
    finally:
        for stand_in in started.values():
            stand_in.server.stop(0).wait(5)


class SilentServer:
    """A TCP port that accepts connections and never answers: a client waits for the
    HTTP/2 handshake until its --timeout. `accepted` is set once a client connected."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("localhost", 0))
        self.accepted = threading.Event()
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def target(self) -> str:
        return f"localhost:{self.socket.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:  # closed
                return
            self.connections.append(connection)
            self.accepted.set()

    def close(self) -> None:
        self.socket.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone would not)
        self.socket.close()
        for connection in self.connections:
            connection.close()
        self.thread.join(5)


def runners(lab_root, labs: Sequence[str]) -> Iterator[dict[str, LabRunner]]:
    """A LabRunner per lab for a fixture; whatever they started is stopped at the end."""
    made = {lab: LabRunner(get_lab(lab), lab_root) for lab in labs}
    try:
        yield made
    finally:
        for runner in made.values():
            runner.close()


def start_and_wait_for(runner: LabRunner, process: Process, pattern: str, *args: str,
                       timeout: float = 15) -> LabProcess:
    running = runner.start(process, *args, env=DEAD_PROXY)
    running.wait_for(pattern, timeout=timeout)
    return running
