"""What the lab tests share: stand-in servers of the test's own, the design's conventions
as one assertion each, and toolchain checks.

- `StandIn`: a gRPC server run by the test itself, from the kit's canonical proto, that
  stands in for the lab's server when a student's CLIENT is graded. It answers differently
  from the reference (a reply the test makes up), so a client earns its points only by
  calling and printing what it got; and it records what it received (requests, deadlines).
  A student's SERVER is graded through the test's own client (labkit.protocol's stubs).
- `require`/`require_commands`: a test that needs a toolchain (Go, CMake and gRPC C++)
  skips with a one-line reason where it is missing, except under LABKIT_REQUIRE_ALL=1 (set
  by .ci/run), where a missing toolchain fails the test instead of hiding it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from labkit.labs import Process
from labkit.procs import LabProcess, LabRunner, ProcessError, Result
from labkit.protocol import LabProto, lab_proto

NO_DEADLINE = 1e6  # seconds: grpc reports "no deadline" as a huge time remaining


def token() -> str:
    """A short random word: a stand-in's reply the reference could never print."""
    return secrets.token_hex(3)


@dataclass
class Received:
    """One call a stand-in server received."""

    method: str
    request: object  # the request message (the first one, for a request stream)
    deadline: float | None  # seconds left when it arrived; None: the client set none
    metadata: dict[str, str] = field(default_factory=dict)


class StandIn:
    """A server of the test's own for `service` of a lab (from the kit's proto), serving
    `servicer`'s methods (each called as grpc calls a servicer: request, context).

        with StandIn("hello_world", "Greeter", Greeter()) as server:
            lab.run("client", "--target", server.target)
            assert server.calls[0].deadline is not None

    Every call is recorded in `calls` before the servicer runs."""

    def __init__(self, lab: str, service: str, servicer: object, workers: int = 16) -> None:
        self.proto: LabProto = lab_proto(lab)
        self.service = service
        self.calls: list[Received] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                                   options=[("grpc.so_reuseport", 0)])
        self._server.add_generic_rpc_handlers(
            (self.proto.handler(service, _Recording(self, servicer)),))
        self.port = self._server.add_insecure_port("localhost:0")

    @property
    def target(self) -> str:
        return f"localhost:{self.port}"

    def record(self, method: str, request: object, context: grpc.ServicerContext) -> None:
        left = context.time_remaining()
        metadata = {key: value for key, value in context.invocation_metadata()
                    if isinstance(value, str)}
        with self._lock:
            self.calls.append(Received(method, request,
                                       left if left is not None and left < NO_DEADLINE
                                       else None, metadata))

    def __enter__(self) -> StandIn:
        self._server.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.stop(grace=None)


class _Recording:
    """Wraps a stand-in's servicer: records each call, then lets the servicer answer."""

    def __init__(self, stand_in: StandIn, servicer: object) -> None:
        self._stand_in = stand_in
        self._servicer = servicer

    def __getattr__(self, method: str):
        behaviour = getattr(self._servicer, method)

        def recorded(request, context):
            self._stand_in.record(method, request, context)
            return behaviour(request, context)

        return recorded


def require(condition: bool, reason: str) -> None:
    """Skip (or fail, with LABKIT_REQUIRE_ALL=1) unless `condition` holds."""
    if condition:
        return
    if os.environ.get("LABKIT_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (LABKIT_REQUIRE_ALL=1: nothing may be skipped)", pytrace=False)
    pytest.skip(reason)


def require_commands(*commands: str, why: str) -> None:
    """Require programs on PATH, e.g. require_commands("go", why="the Go client")."""
    missing = [command for command in commands if shutil.which(command) is None]
    require(not missing, f"{why} needs {', '.join(missing)} on PATH")


def assert_says_no_server(result: Result, target: str, start_command: str,
                          timeout: float = 1.0) -> None:
    """The design's rule for a client whose server is not there: one line on stderr that
    names the target and the command that starts the server, no traceback, nothing on
    stdout, exit code 2, within its --timeout (plus a few seconds to start the program)."""
    assert result.returncode == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert target in lines[0] and start_command in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "panic" not in result.stderr
    assert result.duration < timeout + 3


def assert_refuses_busy_port(second: LabProcess, port: int) -> None:
    """A second server started on a port that a first one holds: one clear line that names
    the port and the way out (--port 0), exit code 1, no traceback."""
    assert second.wait(timeout=10) == 1, second.describe()
    assert "Traceback" not in second.stderr
    assert str(port) in second.stderr and "--port 0" in second.stderr, second.stderr


def assert_health_serving(address: str, *services: str) -> None:
    """The standard health service answers SERVING for the server as a whole ("") and for
    each service named."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", *services):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


# --- a student's Python function, called in a child process ------------------------------

class StudentCodeError(AssertionError):
    """The student's code raised: the message holds its traceback (their file and line)."""


# Runs in the child, in the lab folder: the test's own script (it may import the lab's
# modules) sets `result`; the child hands it back as JSON on its last line of output.
_CHILD = """
import json, sys, traceback
data = json.loads(sys.stdin.read())
space = {"payload": data["payload"]}
try:
    exec(compile(data["script"], "<the test's script>", "exec"), space)
    answer = {"ok": True, "value": space.get("result")}
except BaseException as error:
    answer = {"ok": False, "error": "".join(traceback.format_exception(error))}
sys.stdout.write("\\n" + data["marker"] + json.dumps(answer) + "\\n")
sys.stdout.flush()
"""


def run_in_lab(lab: LabRunner, script: str, payload: object = None, timeout: float = 30,
               cwd: str = ".") -> object:
    """Run the test's own `script` in a child Python process, in the lab folder (as a lab
    process: the grading process never imports a student's module). The script reads
    `payload` (JSON data) and sets `result` to JSON data, which is returned. If the
    student's code raises, StudentCodeError carries its traceback; if the child hangs,
    the test fails at `timeout`. Batch many calls into one script: a process costs ~0.1 s.

        decoded = run_in_lab(lab, "import wire_decoder\n"
                                  "result = [wire_decoder.decode_varint(bytes.fromhex(h), 0)"
                                  " for h in payload]", ["96 01"])
    """
    marker = f"labkit-result-{token()}{token()}:"
    child = lab.start(Process("python", ("python", "-c", _CHILD), cwd=cwd))
    try:
        child.send(json.dumps({"payload": payload, "script": script, "marker": marker}))
    except BrokenPipeError:
        pass
    child.close_stdin()
    try:
        child.wait(timeout)
    finally:
        child.stop()
    answers = [line[len(marker):] for line in child.stdout.splitlines()
               if line.startswith(marker)]
    if not answers:
        raise StudentCodeError("The lab's code ended the process before it could answer "
                               f"(exit code {child.popen.returncode}).")
    answer = json.loads(answers[-1])
    if not answer["ok"]:
        raise StudentCodeError(f"The lab's code raised an exception:\n{answer['error']}")
    return answer["value"]


# --- a call of the test's own that stays open ---------------------------------------------

class OpenStream:
    """A server-streaming call of the test's own that stays open, read on a thread of its
    own, so that the test can wait for its messages under a deadline and leave at any
    moment: cancel the call, or close the channel as a client that vanishes does.

    `call` is the call's response iterator; `keep` turns each response into what the test
    keeps in `items` (a count, a chunk of text)."""

    def __init__(self, channel: grpc.Channel, call, keep: Callable[[object], object]) -> None:
        self.channel = channel
        self.call = call
        self.items: list = []
        self.code: grpc.StatusCode | None = None  # None: still open
        self.details = ""
        self._keep = keep
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        code, details = grpc.StatusCode.OK, ""
        try:
            for response in self.call:
                with self._changed:
                    self.items.append(self._keep(response))
                    self._changed.notify_all()
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
        with self._changed:
            self.code, self.details = code, details
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        """True once `count` messages came; False if the call ended or time ran out first."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.items) >= count or self.code is not None,
                                   timeout)
            return len(self.items) >= count

    def state(self) -> str:
        """"still open", or how the call ended, for a failure message."""
        if self.code is None:
            return "still open"
        return f"ended with {self.code.name}" + (f": {self.details}" if self.details else "")

    def leave(self, how: str) -> None:
        """"closes its channel" (a client that vanishes), else cancel the call."""
        if how == "closes its channel":
            self.channel.close()
        else:
            self.call.cancel()

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()
        self._reader.join(timeout=5)

    def __enter__(self) -> OpenStream:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# --- waiting, with the words of a failure -------------------------------------------------

def expect_line(process: LabProcess, pattern: str, should: str, start: int = 0,
                stream: str | None = None, timeout: float = 5.0) -> re.Match[str]:
    """Wait for a line of the process (from line number `start` on) that matches
    `pattern`; else fail with `should`, a sentence that says what was expected."""
    try:
        return process.wait_for(pattern, timeout=timeout, start=start, stream=stream)
    except ProcessError:
        pytest.fail(f"{should}; it did not within {timeout:g} s.", pytrace=False)


def finished(process: LabProcess, timeout: float, should: str) -> Result:
    """What the process left once it exited; else fail with `should`, a sentence that says
    what was expected."""
    try:
        return process.result(timeout)
    except ProcessError:
        pytest.fail(f"{should}; it was still running {timeout:g} s later.", pytrace=False)
