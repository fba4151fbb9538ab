"""cross_language, black box: the Python server, the Go client (built with the real Go
toolchain and grpc-go) and the Python client, as processes.

The Go client is built once per session with `go build` into a temporary folder; its
tests skip with a one-line reason where `go` is missing (and fail under
LABKIT_REQUIRE_ALL=1, as in CI).
"""

from __future__ import annotations

import math
import signal
import struct
import subprocess
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from labkit.builds import BuildError, go_build
from labkit.labs import Process
from labkit.procs import LabProcess, LabRunner, Result, target
from labkit.testing import (
    assert_health_serving, assert_refuses_busy_port, assert_says_no_server, require_commands,
)

LAB = "cross_language"

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


# --- the Go client ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def go_binary(lab_root: Path, sandbox) -> Path:
    """The Go client, built once per session from the lab's client/ folder (as a lab
    process: labkit/builds.py)."""
    require_commands("go", why="the cross_language Go client")
    try:
        return go_build(sandbox, lab_root / LAB / "client", "hw_client")
    except BuildError as error:
        pytest.fail(str(error), pytrace=False)


def start_go(lab: LabRunner, binary: Path, *args: str) -> LabProcess:
    proc = Process("go-client", (str(binary),), cwd="client", target_flag="-addr")
    return lab.start(proc, *args)


def run_go(lab: LabRunner, binary: Path, *args: str, timeout: float = 20) -> Result:
    running = start_go(lab, binary, *args)
    running.close_stdin()
    try:
        return running.result(timeout)
    finally:
        running.stop()


@pytest.fixture
def server(lab: LabRunner) -> LabProcess:
    return lab.start_server()


# --- the slides' output -------------------------------------------------------------------

@go_test
def test_go_client_prints_the_slides_lines(lab: LabRunner, server, go_binary: Path) -> None:
    result = run_go(lab, go_binary, "-addr", target(server))
    assert result.returncode == 0, result.output
    assert result.stdout == SLIDES_OUTPUT
    assert result.stderr == ""


def test_python_client_prints_the_slides_lines(lab: LabRunner, server) -> None:
    result = lab.run("client", "--target", target(server))
    assert result.returncode == 0, result.output
    assert result.stdout == SLIDES_OUTPUT
    # The server's side of the slides: its start line names the port it listens on.
    match = server.wait_for(r"INFO:root:Server started, listening on (\d+)$", timeout=5)
    assert int(match.group(1)) == server.port


@go_test
def test_go_client_sends_its_flags(lab: LabRunner, server, go_binary: Path) -> None:
    result = run_go(lab, go_binary, "-addr", target(server), "-name", "Zoë 李",
                    "-institution", "MIT", "-x", "-1.25", "-y", "4")
    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[2] == 'message:"Hello Zoë 李 from MIT!"'
    assert lines[5] == "xin:-1.25 yin:4 result:-5"


@go_test
@pytest.mark.parametrize("name, institution, x, y", [
    ("Ada", "KTH", "0.1", "0.2"),  # product 0.020000000000000004: all 17 digits shown
    ('Zoë "the" 李', "SUSTech", "1234567", "3"),  # quotes escaped; 3703701 -> 3.703701e+06
    ("Bob", "ETH", "1e-7", "-0.5"),
])
def test_both_clients_print_the_same_lines(lab: LabRunner, server, go_binary: Path,
                                           name: str, institution: str, x: str, y: str) -> None:
    values = ("--name", name, "--institution", institution, "-x", x, "-y", y)
    from_go = run_go(lab, go_binary, "--addr", target(server), *values)
    from_python = lab.run("client", "--addr", target(server), *values)
    assert from_go.returncode == 0 and from_python.returncode == 0, \
        from_go.output + from_python.output
    assert from_go.stdout == from_python.stdout
    # And what they print is the product, to the last digit: it reads back exactly.
    printed = from_go.stdout.splitlines()[5]
    assert float(printed.rsplit("result:", 1)[1]) == float(x) * float(y)


# --- no server ----------------------------------------------------------------------------

CLIENT_FLAGS = {  # how each client is told its server's address and its timeout
    "go": ("-addr", "-timeout"),
    "python": ("--target", "--timeout"),
}


def run_client(kind: str, lab: LabRunner, request: pytest.FixtureRequest, *args: str) -> Result:
    """Run the Go client (built once per session) or the Python client to the end."""
    if kind == "go":
        return run_go(lab, request.getfixturevalue("go_binary"), *args)
    return lab.run("client", *args)


@pytest.mark.parametrize("kind", [pytest.param("go", marks=go_test), "python"])
def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int,
                                                    request: pytest.FixtureRequest,
                                                    kind: str) -> None:
    address_flag, timeout_flag = CLIENT_FLAGS[kind]
    address = f"localhost:{free_port}"
    result = run_client(kind, lab, request, address_flag, address, timeout_flag, "1")
    assert_says_no_server(result, address, START_SERVER)
    # A timeout of 0 s could never reach any server: the client says so at once.
    result = run_client(kind, lab, request, address_flag, address, timeout_flag, "0")
    assert result.returncode == 2, result.output
    assert timeout_flag in result.stderr and "Traceback" not in result.stderr


# --- on the wire: a stand-in server that records the raw request bytes --------------------

class RecordingServer:
    """A stand-in AssistantService: a generic handler (no stubs, no deserializer) keeps the
    raw bytes of every request and answers with fixed replies, or, with `hang`, never
    answers until the call is cancelled."""

    GREET_REPLY = b"\x0a\x02hi"  # GreetResponse{message: "hi"}: field 1, LEN, 2 bytes

    def __init__(self, hang: bool = False) -> None:
        self.hang = hang
        self.requests: list[tuple[str, bytes]] = []  # (method, raw request bytes)
        self.arrived = threading.Event()
        self.cancelled = threading.Event()
        handlers = {
            "GreetWithInfo": grpc.unary_unary_rpc_method_handler(self.greet),
            "Multiply": grpc.unary_unary_rpc_method_handler(self.multiply),
        }
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4),
            handlers=[grpc.method_handlers_generic_handler("AssistantService", handlers)],
            options=[("grpc.so_reuseport", 0)])
        self.port = self.server.add_insecure_port("localhost:0")
        self.server.start()

    @property
    def target(self) -> str:
        return f"localhost:{self.port}"

    def record(self, method: str, raw: bytes, context: grpc.ServicerContext) -> None:
        self.requests.append((method, raw))
        self.arrived.set()
        if self.hang:
            done = threading.Event()
            context.add_callback(done.set)  # runs when the call ends: cancelled, say
            done.wait(timeout=10)
            if not context.is_active():
                self.cancelled.set()

    def greet(self, raw: bytes, context: grpc.ServicerContext) -> bytes:
        self.record("GreetWithInfo", raw, context)
        return self.GREET_REPLY

    def multiply(self, raw: bytes, context: grpc.ServicerContext) -> bytes:
        self.record("Multiply", raw, context)
        return encode_doubles(1.0, 2.0, 2.0)  # MultResponse{xin: 1, yin: 2, result: 2}

    def stop(self) -> None:
        self.server.stop(0).wait(5)


def encode_doubles(*values: float) -> bytes:
    """Fields 1, 2, ... as doubles (wire type I64: tag (n << 3) | 1, 8 bytes little-endian);
    proto3 leaves out a field that holds its default, 0."""
    return b"".join(bytes([(number << 3) | 1]) + struct.pack("<d", value)
                    for number, value in enumerate(values, start=1) if value != 0)


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    fake = RecordingServer()
    yield fake
    fake.stop()


@pytest.fixture
def hanging() -> Iterator[RecordingServer]:
    fake = RecordingServer(hang=True)
    yield fake
    fake.stop()


@go_test
@pytest.mark.parametrize("name, institution, x, y", [
    ("Peter", "SUSTech", "3.5", "5"),
    ("Zoë 李", "", "0", "-2.5"),  # empty and zero fields are left out by both
])
def test_both_clients_send_byte_identical_requests(lab: LabRunner, recorder: RecordingServer,
                                                   go_binary: Path, name: str,
                                                   institution: str, x: str, y: str) -> None:
    values = ("--name", name, "--institution", institution, "-x", x, "-y", y)
    from_go = run_go(lab, go_binary, "--addr", recorder.target, *values)
    assert from_go.returncode == 0, from_go.output
    go_requests = list(recorder.requests)
    recorder.requests.clear()
    from_python = lab.run("client", "--target", recorder.target, *values)
    assert from_python.returncode == 0, from_python.output

    assert go_requests == recorder.requests
    # ... and they are what the .proto says: field 1 then field 2 of each message.
    name_bytes, institution_bytes = name.encode(), institution.encode()
    greet = b""
    if name_bytes:
        greet += b"\x0a" + bytes([len(name_bytes)]) + name_bytes
    if institution_bytes:
        greet += b"\x12" + bytes([len(institution_bytes)]) + institution_bytes
    assert go_requests == [("GreetWithInfo", greet),
                           ("Multiply", encode_doubles(float(x), float(y)))]


def test_the_slides_request_bytes(lab: LabRunner, recorder: RecordingServer) -> None:
    result = lab.run("client", "--target", recorder.target)
    assert result.returncode == 0, result.output
    # As the protobuf exploration lab shows: b'\n\x05Peter\x12\x07SUSTech'.
    assert recorder.requests[0] == ("GreetWithInfo", b"\n\x05Peter\x12\x07SUSTech")
    assert result.stdout.splitlines()[2] == 'message:"hi"'
    assert result.stdout.splitlines()[5] == "xin:1 yin:2 result:2"


# --- deadlines and Ctrl+C -----------------------------------------------------------------

@go_test
def test_go_client_gives_up_at_its_deadline(lab: LabRunner, hanging: RecordingServer,
                                            go_binary: Path) -> None:
    result = run_go(lab, go_binary, "-addr", hanging.target, "-timeout", "1")
    assert result.returncode == 1, result.output
    # Either side may notice first: "context deadline exceeded" or "Deadline Exceeded".
    assert result.stderr.startswith("GreetWithInfo failed: DeadlineExceeded: ")
    assert len(result.stderr.splitlines()) == 1
    assert result.duration < 1 + 3


def test_python_client_gives_up_at_its_deadline(lab: LabRunner,
                                                hanging: RecordingServer) -> None:
    result = lab.run("client", "--target", hanging.target, "--timeout", "1")
    assert result.returncode == 1, result.output
    assert result.stderr.startswith("GreetWithInfo failed: DEADLINE_EXCEEDED")
    assert len(result.stderr.splitlines()) == 1
    assert result.duration < 1 + 3


def interrupt_during_call(client: LabProcess, fake: RecordingServer) -> None:
    assert fake.arrived.wait(timeout=10), client.describe()
    client.interrupt()
    assert client.wait(timeout=3) == 0, client.describe()
    assert "Cancelled by user (Ctrl+C)." in client.stderr
    assert "Traceback" not in client.stderr
    # The call was cancelled on the wire: the server saw it end without a reply.
    assert fake.cancelled.wait(timeout=3)


@go_test
def test_go_client_ctrl_c_cancels_the_call(lab: LabRunner, hanging: RecordingServer,
                                           go_binary: Path) -> None:
    interrupt_during_call(start_go(lab, go_binary, "-addr", hanging.target), hanging)


def test_python_client_ctrl_c_cancels_the_call(lab: LabRunner,
                                               hanging: RecordingServer) -> None:
    interrupt_during_call(lab.start("client", "--target", hanging.target), hanging)


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("args, method, words", [
    (("--name", ""), "GreetWithInfo", "user_name is empty"),
    (("-x", "nan"), "Multiply", "xin is nan"),
    (("-x=-inf",), "Multiply", "xin is -inf"),  # "-x -inf" would read -inf as an option
    (("-x", "1e200", "-y", "1e200"), "Multiply", "too large for a double"),
])
def test_python_client_reports_bad_input_in_one_line(lab: LabRunner, server,
                                                     args: tuple[str, ...], method: str,
                                                     words: str) -> None:
    result = lab.run("client", "--target", target(server), *args)
    assert result.returncode == 1, result.output
    assert result.stderr.splitlines() == [result.stderr.strip()]  # one line
    assert result.stderr.startswith(f"{method} failed: INVALID_ARGUMENT: ")
    assert words in result.stderr
    assert "Traceback" not in server.stderr


def encode_strings(*values: str) -> bytes:
    """Fields 1, 2, ... as strings (wire type LEN: tag (n << 3) | 2, length, UTF-8)."""
    out = b""
    for number, value in enumerate(values, start=1):
        data = value.encode()
        if data:  # proto3 leaves out "", the default
            out += bytes([(number << 3) | 2, len(data)]) + data
    return out


@pytest.mark.parametrize("method, request_bytes, words", [
    ("GreetWithInfo", encode_strings("", "SUSTech"), "user_name is empty"),
    ("GreetWithInfo", encode_strings(" \t", "SUSTech"), "user_name is empty"),
    ("GreetWithInfo", encode_strings("Peter", ""), "institution is empty"),
    ("GreetWithInfo", b"", "user_name is empty"),  # nothing set at all
    ("Multiply", encode_doubles(math.nan, 2.0), "xin is nan"),
    ("Multiply", encode_doubles(1.0, math.inf), "yin is inf"),
    ("Multiply", encode_doubles(-math.inf, 0.0), "xin is -inf"),
    ("Multiply", encode_doubles(-1e300, 1e300), "too large for a double"),
], ids=["no-name", "blank-name", "no-institution", "empty", "nan", "inf", "-inf", "overflow"])
def test_server_rejects_bad_requests_and_keeps_serving(server, method: str,
                                                      request_bytes: bytes, words: str) -> None:
    """The server's checks, without any client's parsing in between: raw request bytes."""
    with grpc.insecure_channel(target(server)) as channel:
        call = channel.unary_unary(f"/AssistantService/{method}")
        with pytest.raises(grpc.RpcError) as caught:
            call(request_bytes, timeout=5)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert words in caught.value.details()
        multiply = channel.unary_unary("/AssistantService/Multiply")
        assert multiply(encode_doubles(1.5, -4.0), timeout=5) == encode_doubles(1.5, -4.0, -6.0)
    assert "Traceback" not in server.stderr


@go_test
@pytest.mark.parametrize("args, method, words", [
    (("-name", ""), "GreetWithInfo", "user_name is empty"),
    (("-x", "NaN"), "Multiply", "xin is nan"),
    (("-x", "-1e300", "-y", "1e300"), "Multiply", "too large for a double"),
])
def test_go_client_reports_bad_input_in_one_line(lab: LabRunner, server, go_binary: Path,
                                                 args: tuple[str, ...], method: str,
                                                 words: str) -> None:
    result = run_go(lab, go_binary, "-addr", target(server), *args)
    assert result.returncode == 1, result.output
    assert result.stderr.startswith(f"{method} failed: InvalidArgument: ")
    assert words in result.stderr and len(result.stderr.splitlines()) == 1


# --- the server's life ------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_server_stops_gracefully_on_signal(server, signum: int) -> None:
    server.signal(signum)
    assert server.wait(timeout=2 + 1) == 0, server.describe()
    assert "Server stopped" in server.stderr
    assert "Traceback" not in server.stderr


def test_server_reports_a_busy_port_clearly(lab: LabRunner, server) -> None:
    second = lab.start("server", "--port", str(server.port))
    assert_refuses_busy_port(second, server.port)


def test_server_answers_health_checks(server) -> None:
    assert_health_serving(target(server), "AssistantService")
