"""remote_counter, black box: the student's counter server through the test's own client,
the student's client against a stand-in server of the test's own, and both together as the
slides run them.

- "The counter's cancel frees the worker at once": a server with a single worker
  (--workers 1) counts for a client with a 60 s step; the client leaves (cancels, or
  closes its channel); a second client must then get its counts at once, which only
  happens once the first count has let its worker go.
- The client is run against a stand-in whose counts are its own (not from+1, from+2, ...),
  so that a client earns its points only by calling Count and logging what it was sent.

Kit conventions (no server, busy port, health and reflection) are 0-point checks; the local
procedure, which students run but do not write, is checked in test_remote_counter_local.py
(not graded).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from labkit.labs import get_lab
from labkit.procs import LabProcess, LabRunner, ProcessError, target
from labkit.protocol import lab_proto
from labkit.sandbox import Sandbox
from labkit.testing import (
    OpenStream,
    StandIn,
    assert_health_serving,
    assert_refuses_busy_port,
    assert_says_no_server,
    finished,
    token,
)

LAB = "remote_counter"
PROTO = lab_proto(LAB)
CountRequest = PROTO.message("CountRequest")
CountResponse = PROTO.message("CountResponse")
NO_PROXY = [("grpc.enable_http_proxy", 0)]

INT64_MAX = 2**63 - 1
# `INFO:root:2024-10-23 04:55:14.621176: count=7`, as the slides show (datetime.now()
# prints no fraction when it falls on a whole second).
COUNT_LINE = re.compile(
    r"^INFO:root:(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{6})?): count=(-?\d+)$")
CLIENT_CANCELLED = "INFO:root:Stream cancelled by user (Ctrl+C)."
# A step that a server must never sit out once its client is gone; and how long "at once"
# may take on a busy machine (a server that sleeps out the step is 60 s late).
LONG = 60.0
AT_ONCE = 5.0


def request_line(from_val: int, step: str) -> str:
    return f"INFO:root:Request: from={from_val}, step={step}"


def cancel_line(from_val: int, step: str) -> str:
    return f"INFO:root:Response stream cancelled for request: from={from_val}, step={step}"


def count_values(lines: list[str]) -> list[int] | None:
    """The counts of the slides' count lines; None if a line is not one."""
    matches = [COUNT_LINE.match(line) for line in lines]
    return [int(m.group(2)) for m in matches] if all(matches) else None


# --- the servers of this module ----------------------------------------------------------

@pytest.fixture(scope="module")
def servers(lab_root: Path, sandbox: Sandbox) -> Iterator[dict[str, LabProcess]]:
    """The module's servers, started at once: one with the default flags, and one with a
    single worker (--workers 1) for the tests of cancellation."""
    with LabRunner(get_lab(LAB), lab_root, sandbox=sandbox) as runner:
        started = {"default": runner.start("server", "--port", "0"),
                   "one worker": runner.start("server", "--port", "0", "--workers", "1",
                                              name="server (--workers 1)")}
        for server in started.values():
            server.wait_ready()
        yield started


# --- the test's own client ---------------------------------------------------------------

@dataclass
class Counted:
    """What one Count call of the test's own got."""

    values: list[int]
    arrived: list[float]  # time.monotonic() of each count
    code: grpc.StatusCode  # OK: the test stopped it after `limit` counts
    details: str
    started: float

    def ended(self) -> str:
        if self.code == grpc.StatusCode.OK:
            return f"counts {self.values}"
        return f"counts {self.values}, then {self.code.name}" + (
            f": {self.details}" if self.details else "")


def count(address: str, from_val: int, step_sec: float, limit: int,
          timeout: float = 10) -> Counted:
    """Call Count and take `limit` counts (then cancel), or until the call ends."""
    with grpc.insecure_channel(address, options=NO_PROXY) as channel:
        started = time.monotonic()
        call = PROTO.stub(channel, "Counter").Count(
            CountRequest(from_val=from_val, step_sec=step_sec), timeout=timeout)
        values: list[int] = []
        arrived: list[float] = []
        try:
            for response in call:
                values.append(response.count)
                arrived.append(time.monotonic())
                if len(values) == limit:
                    break
        except grpc.RpcError as error:
            return Counted(values, arrived, error.code(), error.details() or "", started)
        finally:
            call.cancel()
        return Counted(values, arrived, grpc.StatusCode.OK, "", started)


class Subscriber(OpenStream):
    """A Count call of the test's own that stays open (see labkit.testing.OpenStream)."""

    def __init__(self, address: str, from_val: int, step_sec: float) -> None:
        channel = grpc.insecure_channel(address, options=NO_PROXY)
        call = PROTO.stub(channel, "Counter").Count(
            CountRequest(from_val=from_val, step_sec=step_sec), timeout=300)
        super().__init__(channel, call, keep=lambda response: response.count)

    @property
    def values(self) -> list[int]:
        return self.items

    def seen(self) -> str:
        return f"counts {self.values}, {self.state()}"


def logged(server: LabProcess, pattern: str, start: int,
           ended: Callable[[], bool] = lambda: False) -> bool:
    """Whether the server logs a line (from line `start` on) that matches `pattern` within
    AT_ONCE seconds. Stops waiting early once `ended()` (the call it would log for is over,
    so the line will not come): a failing test fails at once."""
    deadline = time.monotonic() + AT_ONCE
    while True:
        over = ended() or time.monotonic() > deadline
        try:
            # Once the call is over, a line logged just before may still be on its way.
            server.wait_for(pattern, timeout=0.5 if over else 0.1, start=start)
            return True
        except ProcessError:
            if over or not server.alive:
                return False


def wait_until_counting(server: LabProcess, from_val: int, start: int,
                        ended: Callable[[], bool]) -> None:
    """Wait (a moment at most) until the server has taken a request in: its log names the
    request's unusual `from` value. A server that logs no such line is given AT_ONCE
    seconds instead (its log is graded elsewhere)."""
    logged(server, rf"\b{from_val}\b", start, ended)


# --- the server: counting ------------------------------------------------------------------

@pytest.mark.parametrize("from_val, step, expected", [
    (6, 0.02, [7, 8, 9, 10]),
    (-2, 0.02, [-1, 0, 1, 2]),
    (INT64_MAX - 3, 0.02, [INT64_MAX - 2, INT64_MAX - 1, INT64_MAX]),
], ids=["from 6", "from -2", "up to the largest int64"])
def test_server_counts_up_from_the_start(servers: dict[str, LabProcess], from_val: int,
                                         step: float, expected: list[int]) -> None:
    got = count(target(servers["default"]), from_val, step, len(expected))
    assert got.values == expected and got.code == grpc.StatusCode.OK, (
        f"Count(from_val={from_val}, step_sec={step}) should stream {expected}, one more "
        f"each step (the first is from_val + 1, as count() in local_procedure.py); the "
        f"test's client got {got.ended()}.")


def test_server_waits_one_step_between_counts(servers: dict[str, LabProcess]) -> None:
    # Lower bounds from the moment of the call (no machine is too fast for them), and a
    # deadline far above the 0.5 s it takes: a server that ignores the step misses one.
    step, number, slack = 0.1, 5, 3.0
    got = count(target(servers["default"]), 6, step, number, timeout=number * step + slack)
    assert got.values == [7, 8, 9, 10, 11], (
        f"Count(from_val=6, step_sec={step}) should stream 7, 8, 9, 10, 11 within about "
        f"{number * step:g} s (one count per step); in {number * step + slack:g} s the test's "
        f"client got {got.ended()}.")
    first, last = got.arrived[0] - got.started, got.arrived[-1] - got.started
    assert first >= step and last >= number * step, (
        f"With step_sec={step} each count should come one step after the one before: the "
        f"first after {step} s, the fifth after {number * step:g} s; they came after "
        f"{first:.2f} s and {last:.2f} s.")


# --- the server's log --------------------------------------------------------------------

@pytest.mark.parametrize("from_val, step_sec, step", [(6, 2.0, "2"), (-3, 0.5, "0.5")])
def test_server_logs_the_slides_lines(servers: dict[str, LabProcess], from_val: int,
                                      step_sec: float, step: str) -> None:
    server = servers["default"]
    mark = len(server.lines)
    what = f"For Count(from_val={from_val}, step_sec={step_sec}) the server"
    with Subscriber(target(server), from_val, step_sec) as subscriber:
        expect_logged(server, mark, request_line(from_val, step),
                    f"{what} should log the slides' line {{line!r}} as the request comes in "
                    "(a whole number of seconds without '.0')",
                    ended=lambda: subscriber.code is not None)
        subscriber.leave("cancels")
        expect_logged(server, mark, cancel_line(from_val, step),
                    f"{what} should log {{line!r}} as soon as the client cancels")


def expect_logged(server: LabProcess, start: int, line: str, should: str,
                ended: Callable[[], bool] = lambda: False) -> None:
    """Fail with `should` (in which {line!r} names the line) unless the server logs `line`
    (see `logged`)."""
    if not logged(server, f"^{re.escape(line)}$", start, ended):
        log = [text for _, text in server.lines[start:]][-3:]
        pytest.fail(f"{should.format(line=line)}; its last lines were {log}.", pytrace=False)


# --- the server: the cancel frees the worker at once -------------------------------------------

@pytest.mark.parametrize("how", ["cancels", "closes its channel"])
def test_cancel_frees_the_worker_at_once(servers: dict[str, LabProcess], how: str) -> None:
    server = servers["one worker"]
    mark = len(server.lines)
    start = 4711 if how == "cancels" else 4712  # a value no other call on this server has
    with Subscriber(target(server), start, LONG) as first:
        wait_until_counting(server, start, mark, ended=lambda: first.code is not None)
        first.leave(how)
        left = time.monotonic()
        second = count(target(server), 100, 0.05, 2, timeout=AT_ONCE)
        waited = time.monotonic() - left
    # Any two counts will do: what they are is checked by the tests of counting.
    assert len(second.values) == 2, (
        f"When a client {how.replace('its', 'their')} during a {LONG:g} s step, the server "
        f"should stop counting for it at once and free its only worker (--workers 1); a "
        f"second client (from 100, step 0.05) got {second.ended()} in {waited:.1f} s (a "
        f"server that sleeps out the step holds the worker until then).")


# --- the server: bad requests and the end of int64 --------------------------------------------

@pytest.mark.parametrize("from_val, step_sec, words", [
    (6, 0.0, "more than 0"),
    (6, -2.0, "more than 0"),
    (6, float("nan"), "finite"),
    (6, float("inf"), "finite"),
    (6, 1e-9, "between"),  # a flood rather than a counter
    (6, 1e300, "between"),  # more than a day
    (INT64_MAX, 1.0, "overflow"),
], ids=["step 0", "step -2", "step nan", "step inf", "step 1e-9", "step 1e300",
        "from the largest int64"])
def test_server_refuses_bad_requests(servers: dict[str, LabProcess], from_val: int,
                                     step_sec: float, words: str) -> None:
    server = servers["default"]
    mark = len(server.lines)
    got = count(target(server), from_val, step_sec, 1, timeout=AT_ONCE)
    assert got.code == grpc.StatusCode.INVALID_ARGUMENT and words in got.details, (
        f"Count(from_val={from_val}, step_sec={step_sec}) should be refused with "
        f"INVALID_ARGUMENT and check_request's reason ('...{words}...'); the test's client "
        f"got {got.ended()}.")
    logged = [line for _, line in server.lines[mark:] if "Request:" in line]
    assert not logged, (
        f"A bad request should be refused before it is logged or counted; the server "
        f"logged {logged}.")


def test_server_stops_at_the_largest_int64(servers: dict[str, LabProcess]) -> None:
    got = count(target(servers["default"]), INT64_MAX - 2, 0.02, 5, timeout=AT_ONCE)
    assert got.values == [INT64_MAX - 1, INT64_MAX] and \
        got.code == grpc.StatusCode.OUT_OF_RANGE and str(INT64_MAX) in got.details, (
            f"Counting from {INT64_MAX - 2}, the server should send {INT64_MAX - 1} and "
            f"{INT64_MAX} (the largest int64), then end the call with OUT_OF_RANGE and a "
            f"message naming {INT64_MAX}; the test's client got {got.ended()}.")


# --- the client, against the stand-in --------------------------------------------------------

class Counter:
    """The stand-in's Count: counts of its own (never from+1, from+2, ...), `pace` seconds
    apart, until the call ends; or, with `fail_after`, an error after that many counts."""

    def __init__(self, pace: float = 0.02, fail_after: int | None = None,
                 code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        base = int(token(), 16)
        self.values = [base + n * n for n in range(1, 200)]
        self.pace = pace
        self.fail_after = fail_after
        self.code = code
        self.details = f"the counter {token()} went away"
        self.ended = threading.Event()
        self.ended_at: float | None = None

    def _end(self) -> None:
        self.ended_at = time.monotonic()
        self.ended.set()

    def Count(self, request, context):
        context.add_callback(self._end)
        for number, value in enumerate(self.values):
            if number == self.fail_after:
                context.abort(self.code, self.details)
            if self.ended.wait(self.pace):
                return
            yield CountResponse(count=value)


def received(stand_in: StandIn) -> list[tuple[str, int, float]]:
    """The calls the stand-in received: (method, from_val, step_sec)."""
    return [(call.method, call.request.from_val, call.request.step_sec)
            for call in stand_in.calls]


def test_client_logs_the_counts_it_is_sent(lab: LabRunner) -> None:
    counter = Counter()
    with StandIn(LAB, "Counter", counter) as stand_in:
        result = lab.run("client", "--target", stand_in.target, "--from", "41", "--step",
                         "0.25", "--count", "4", timeout=15)
        left = bool(stand_in.calls) and counter.ended.wait(AT_ONCE)
    requests = received(stand_in)
    assert requests == [("Count", 41, 0.25)], (
        "python client.py --from 41 --step 0.25 should call Count once with from_val=41 and "
        f"step_sec=0.25; the test's server received {requests or 'no call'}.")
    lines = result.stderr.splitlines()
    assert count_values(lines) == counter.values[:4] and result.returncode == 0, (
        "With --count 4 the client should log the first 4 counts the server sent, "
        f"{counter.values[:4]}, one line each as the slides ('INFO:root:<date and time>: "
        f"count=N'), and exit 0; it exited {result.returncode} and logged {lines[-5:]}.")
    assert result.stdout == "", (
        f"The client logs its counts (stderr) and prints nothing else; it printed "
        f"{result.stdout[:80]!r}.")
    assert left, "After its 4 counts the client should end the call; it was still open."


def test_client_ctrl_c_cancels_the_stream(lab: LabRunner) -> None:
    counter = Counter(pace=0.1)
    with StandIn(LAB, "Counter", counter) as stand_in:
        client = lab.start("client", "--target", stand_in.target)
        client.close_stdin()
        try:
            client.wait_for(rf"count={counter.values[2]}$", timeout=10)
        except ProcessError:
            pytest.fail(f"The client should log each count as it comes ('count="
                        f"{counter.values[0]}', ... from the test's server); it did not log "
                        f"the third, count={counter.values[2]}.", pytrace=False)
        pressed = time.monotonic()
        client.interrupt()
        code = finished(client, 10, "Ctrl+C should cancel the stream and end the client"
                        ).returncode
        cancelled = counter.ended.wait(AT_ONCE)
    requests = received(stand_in)
    assert requests == [("Count", 6, 2.0)], (
        "python client.py should call Count once with the slides' from_val=6 and "
        f"step_sec=2; the test's server received {requests}.")
    lines = client.stderr.splitlines()
    assert code == 0 and lines[-1:] == [CLIENT_CANCELLED], (
        f"Ctrl+C should cancel the stream, log {CLIENT_CANCELLED!r} and exit 0; the client "
        f"exited {code} and logged {lines[-3:]}.")
    values = count_values(lines[:-1])
    assert values is not None and values == counter.values[:len(values)], (
        "Before Ctrl+C the client should log the counts it was sent, in order, one line "
        f"each ('INFO:root:<date and time>: count=N'); it logged {lines[:-1][-4:]}.")
    assert cancelled and counter.ended_at - pressed < AT_ONCE, (
        "Ctrl+C should end the call at once, so that the server stops counting for the "
        "client; the test's server still had the call open 5 s later.")


def test_client_reports_a_failed_call(lab: LabRunner) -> None:
    refused = Counter(fail_after=0, code=grpc.StatusCode.INVALID_ARGUMENT)
    broken = Counter(fail_after=2, code=grpc.StatusCode.UNAVAILABLE)
    with StandIn(LAB, "Counter", refused) as one, StandIn(LAB, "Counter", broken) as two:
        # Both at once: they take as long as the slower.
        clients = [lab.start("client", "--target", stand_in.target, name=f"client ({name})")
                   for stand_in, name in ((one, "refused"), (two, "broken"))]
        results = [finished(client, 15, "When its call fails, the client should say so and "
                            "exit") for client in clients]
    for counter, result, counted in ((refused, results[0], 0), (broken, results[1], 2)):
        line = f"Count failed: {counter.code.name}: {counter.details}"
        lines = result.stderr.splitlines()
        assert result.returncode == 1 and lines[-1:] == [line], (
            f"When the call fails ({counter.code.name} after {counted} counts), the client "
            f"should print one line {line!r} and exit 1; it exited {result.returncode} and "
            f"logged {lines[-3:]}.")
        assert count_values(lines[:-1]) == counter.values[:counted], (
            f"Before the call failed, the client should log the {counted} counts it was sent; "
            f"it logged {lines[:-1]}.")


# --- both, as the slides run them -----------------------------------------------------------

def test_slides_run(lab: LabRunner, servers: dict[str, LabProcess]) -> None:
    # The slides' run, faster: counts 7, 8, 9 ..., then Ctrl+C in the client's terminal.
    server = servers["default"]
    mark = len(server.lines)
    client = lab.start("client", "--target", target(server), "--step", "0.1")
    client.close_stdin()
    try:
        client.wait_for(r"count=9$", timeout=10)
    except ProcessError:
        pytest.fail("python client.py --step 0.1 against python server.py should log count=7, "
                    "count=8, count=9 ...; it did not log count=9.", pytrace=False)
    client.interrupt()
    code = finished(client, 10, "Ctrl+C in the client should cancel the stream and end the "
                    "client").returncode
    lines = client.stderr.splitlines()
    values = count_values(lines[:-1])
    assert code == 0 and lines[-1:] == [CLIENT_CANCELLED] and values is not None and \
        values[:3] == [7, 8, 9] and values == list(range(7, 7 + len(values))), (
            "python client.py --step 0.1, then Ctrl+C after count=9, should log count=7, 8, "
            f"9 ... and {CLIENT_CANCELLED!r} (the slides' lines), and exit 0; it exited {code} "
            f"and logged {lines[:3]} ... {lines[-2:]}.")
    for line in (request_line(6, "0.1"), cancel_line(6, "0.1")):
        expect_logged(server, mark, line, "The server should log the slides' line {line!r}")


# --- what the kit gives: 0-point checks -------------------------------------------------------

def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "0.5")
    assert_says_no_server(result, f"localhost:{free_port}", "python server.py", timeout=0.5)


def test_server_reports_a_busy_port_clearly(lab: LabRunner,
                                            servers: dict[str, LabProcess]) -> None:
    port = servers["default"].port
    second = lab.start("server", "--port", str(port))
    assert_refuses_busy_port(second, port)


def test_reflection_and_health(servers: dict[str, LabProcess]) -> None:
    address = target(servers["default"])
    with grpc.insecure_channel(address) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "counter.Counter" in services, services
    assert_health_serving(address, "counter.Counter")
