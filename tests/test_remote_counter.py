"""remote_counter, black box: the real server, client and local procedure as processes,
plus calls made straight to the server with grpc."""

from __future__ import annotations

import importlib
import re
import signal
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from types import ModuleType

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from labkit.labs import get_lab
from labkit.procs import LabProcess, LabRunner, target
from labkit.testing import assert_health_serving, assert_refuses_busy_port, assert_says_no_server

LAB = "remote_counter"

INT64_MAX = 2**63 - 1
# `INFO:root:2024-10-23 04:55:14.621176: count=7`, as the slides show (datetime.now()
# prints no fraction when it falls on a whole second).
COUNT_LINE = re.compile(
    r"^INFO:root:(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{6})?): count=(-?\d+)$")
CLIENT_CANCELLED = "INFO:root:Stream cancelled by user (Ctrl+C)."


def counts(stderr: str) -> list[int]:
    """The values of the count lines, failing on any line that is not one."""
    values = []
    for line in stderr.splitlines():
        match = COUNT_LINE.match(line)
        assert match, f"not a count line: {line!r}\n{stderr}"
        values.append(int(match.group(2)))
    return values


def count_times(stderr: str) -> list[datetime]:
    return [datetime.fromisoformat(m.group(1))
            for m in map(COUNT_LINE.match, stderr.splitlines()) if m]


def cancel_line(from_val: int, step: str) -> str:
    return f"^INFO:root:Response stream cancelled for request: from={from_val}, step={step}$"


def seconds_until(process: LabProcess, pattern: str, since: float, start: int = 0) -> float:
    """Wait (5 s at most) for a line, and say how long after `since` it came."""
    process.wait_for(pattern, timeout=5, start=start)
    return time.monotonic() - since


@pytest.fixture
def server(lab: LabRunner) -> LabProcess:
    return lab.start_server()


@pytest.fixture(scope="module")
def shared_server(lab_root) -> Iterator[LabProcess]:
    """One server for the tests of single requests, which leave nothing running behind
    them (it saves a server start per test). Tests of cancellation start their own."""
    with LabRunner(get_lab(LAB), lab_root) as runner:
        yield runner.start_server()


@pytest.fixture(scope="module")
def stubs(lab_root) -> tuple[ModuleType, ModuleType]:
    """The lab's own generated modules (counter_pb2, counter_pb2_grpc)."""
    folder = str(lab_root / LAB)
    sys.path.insert(0, folder)
    try:
        return importlib.import_module("counter_pb2"), importlib.import_module("counter_pb2_grpc")
    finally:
        sys.path.remove(folder)


def call_count(stubs, server: LabProcess, from_val: int, step_sec: float, limit: int) -> list[int]:
    """Call Count straight from the test; return the first `limit` counts."""
    counter_pb2, counter_pb2_grpc = stubs
    with grpc.insecure_channel(target(server)) as channel:
        stub = counter_pb2_grpc.CounterStub(channel)
        call = stub.Count(counter_pb2.CountRequest(from_val=from_val, step_sec=step_sec),
                          timeout=10)
        values = []
        try:
            for response in call:
                values.append(response.count)
                if len(values) == limit:
                    break
        finally:
            call.cancel()
        return values


# --- the client, as the slides run it ------------------------------------------------

def test_count_flag_prints_exactly_n_counts(lab: LabRunner, server) -> None:
    result = lab.run("client", "--target", target(server), "--step", "0.05", "--count", "5")
    assert result.returncode == 0, result.output
    assert result.stdout == ""
    assert counts(result.stderr) == [7, 8, 9, 10, 11]  # from 6 (the slides' default)
    server.wait_for(r"^INFO:root:Request: from=6, step=0\.05$")
    # Leaving after --count N is a cancellation too: the server must see it.
    server.wait_for(cancel_line(6, r"0\.05"), timeout=5)


def test_counts_from_any_start(lab: LabRunner, shared_server) -> None:
    result = lab.run("client", "--target", target(shared_server), "--from", "-2", "--step", "0.02",
                     "--count", "4")
    assert result.returncode == 0, result.output
    assert counts(result.stderr) == [-1, 0, 1, 2]


def test_spacing_between_counts_follows_the_step(lab: LabRunner, server) -> None:
    # Both at once on the same server: the machine's load hits both alike.
    fast = lab.start("client", "--target", target(server), "--step", "0.1", "--count", "6")
    slow = lab.start("client", "--target", target(server), "--step", "0.3", "--count", "4")
    means = {}
    for step, client in ((0.1, fast), (0.3, slow)):
        result = client.result(timeout=15)
        assert result.returncode == 0, client.describe()
        times = count_times(result.stderr)
        mean = (times[-1] - times[0]).total_seconds() / (len(times) - 1)
        assert mean >= 0.9 * step, f"counts came every {mean:.3f} s with --step {step}"
        means[step] = mean
    ratio = means[0.3] / means[0.1]
    assert 2.2 <= ratio <= 3.6, f"mean spacing {means}: ratio {ratio:.2f}, expected about 3"


def test_ctrl_c_mid_stream_cancels_on_both_sides(lab: LabRunner, server) -> None:
    # The slides' run, faster: counts 7, 8, 9 ..., then Ctrl+C in the client's terminal.
    client = lab.start("client", "--target", target(server), "--step", "0.2")
    client.wait_for(r"count=9$", timeout=10)
    mark = len(server.lines)
    pressed = time.monotonic()
    client.interrupt()
    result = client.result(timeout=5)
    assert result.returncode == 0, client.describe()
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1] == CLIENT_CANCELLED, result.stderr
    values = counts("\n".join(lines[:-1]))
    assert values[:3] == [7, 8, 9] and values == list(range(7, 7 + len(values)))
    assert seconds_until(server, cancel_line(6, r"0\.2"), pressed, mark) < 1.0
    assert "Traceback" not in server.stderr


def test_default_step_is_logged_as_the_slides_and_never_waited_out(
        lab: LabRunner, server) -> None:
    # Defaults: from=6, step=2. Ctrl+C before the first count: a server that sleeps out
    # the 2 s step before it notices would log its cancel line too late.
    client = lab.start("client", "--target", target(server))
    server.wait_for(r"^INFO:root:Request: from=6, step=2$")
    mark = len(server.lines)
    pressed = time.monotonic()
    client.interrupt()
    assert client.wait(timeout=5) == 0, client.describe()
    assert client.stderr.splitlines() == [CLIENT_CANCELLED]
    assert seconds_until(server, cancel_line(6, "2"), pressed, mark) < 1.0


def test_worker_is_free_again_after_ctrl_c(lab: LabRunner) -> None:
    # One worker thread: the second client is served only once the first one's stream
    # has released it. A 30 s step: a server that sleeps it out keeps the worker 30 s.
    server = lab.start_server("server", "--workers", "1")
    first = lab.start("client", "--target", target(server), "--step", "30")
    server.wait_for(r"Request: from=6, step=30$")
    first.interrupt()
    assert first.wait(timeout=5) == 0, first.describe()
    server.wait_for(cancel_line(6, "30"), timeout=2)
    second = lab.run("client", "--target", target(server), "--from", "100", "--step", "0.05",
                     "--count", "2", timeout=8)
    assert second.returncode == 0, second.output
    assert counts(second.stderr) == [101, 102]


def test_killed_client_is_noticed_and_its_worker_freed(lab: LabRunner) -> None:
    # A client that cannot say goodbye (killed, or its machine unplugged from the
    # network... here: SIGKILL): the server learns it from the closed connection.
    server = lab.start_server("server", "--workers", "1")
    first = lab.start("client", "--target", target(server), "--step", "30")
    server.wait_for(r"Request: from=6, step=30$")
    mark = len(server.lines)
    killed = time.monotonic()
    first.signal(signal.SIGKILL)
    assert seconds_until(server, cancel_line(6, "30"), killed, mark) < 1.0
    second = lab.run("client", "--target", target(server), "--step", "0.05", "--count", "1",
                     timeout=8)
    assert second.returncode == 0, second.output


# --- bad requests and failures --------------------------------------------------------

# The client checks nothing itself: it shows the server's answer (every bad value is
# tried straight against the server below).
@pytest.mark.parametrize(("args", "words"), [
    (("--step", "0"), ("step", "0")),
    (("--from", str(INT64_MAX)), ("from", str(INT64_MAX))),
])
def test_client_reports_a_bad_request_in_one_line(lab: LabRunner, shared_server, args,
                                                  words) -> None:
    result = lab.run("client", "--target", target(shared_server), *args)
    assert result.returncode == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Count failed: INVALID_ARGUMENT: "), lines[0]
    assert all(word in lines[0] for word in words), lines[0]


@pytest.mark.parametrize(("from_val", "step_sec", "words"), [
    (6, 0.0, "more than 0"),
    (6, -2.0, "more than 0"),
    (6, float("nan"), "finite"),
    (6, float("inf"), "finite"),
    (6, float("-inf"), "finite"),
    (6, 1e-9, "between"),  # a flood rather than a counter
    (6, 1e300, "between"),  # more than threading can wait for
    (INT64_MAX, 1.0, "overflow"),
])
def test_server_rejects_bad_requests(stubs, shared_server, from_val, step_sec, words) -> None:
    mark = len(shared_server.lines)
    with pytest.raises(grpc.RpcError) as caught:
        call_count(stubs, shared_server, from_val, step_sec, limit=1)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in caught.value.details()
    logged = [line for _, line in shared_server.lines[mark:]]
    assert not any("Request:" in line for line in logged), logged  # rejected before counting
    assert "Traceback" not in shared_server.stderr


def test_server_keeps_serving_after_bad_requests(lab: LabRunner, stubs) -> None:
    server = lab.start_server("server", "--workers", "1")
    for step in (0.0, float("nan"), 1e300):
        with pytest.raises(grpc.RpcError):
            call_count(stubs, server, 6, step, limit=1)
    assert call_count(stubs, server, 6, 0.01, limit=3) == [7, 8, 9]


def test_count_stops_at_the_largest_int64(stubs, shared_server) -> None:
    # No count may overflow: the stream ends with OUT_OF_RANGE after INT64_MAX.
    assert (call_count(stubs, shared_server, INT64_MAX - 2, 0.01, limit=2)
            == [INT64_MAX - 1, INT64_MAX])
    with pytest.raises(grpc.RpcError) as caught:
        call_count(stubs, shared_server, INT64_MAX - 2, 0.01, limit=10)
    assert caught.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert str(INT64_MAX) in caught.value.details()
    assert "Traceback" not in shared_server.stderr


def test_client_rejects_a_start_that_is_no_int64(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--from", str(2**63))
    assert result.returncode == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and str(2**63) in lines[0], result.stderr


def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "1")
    assert_says_no_server(result, f"localhost:{free_port}", "python server.py")


# --- the server as a process ----------------------------------------------------------

def test_server_stops_within_2_s_with_a_stream_open(lab: LabRunner, server) -> None:
    # (SIGTERM takes the same path: hello_world's tests check both signals.)
    client = lab.start("client", "--target", target(server), "--step", "30")
    server.wait_for(r"Request: from=6, step=30$")
    server.interrupt()
    assert server.wait(timeout=2 + 1) == 0, server.describe()  # 2 s, plus 1 s of slack
    assert "Server stopped" in server.stderr
    assert "Traceback" not in server.stderr
    # The client learns that its stream ended: one line, exit 1, no traceback.
    assert client.wait(timeout=5) == 1, client.describe()
    lines = client.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Count failed: "), client.stderr


def test_server_reports_a_busy_port_clearly(lab: LabRunner, server) -> None:
    second = lab.start("server", "--port", str(server.port))
    assert_refuses_busy_port(second, server.port)


def test_reflection_and_health(shared_server) -> None:
    with grpc.insecure_channel(target(shared_server)) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
        assert "counter.Counter" in services
    assert_health_serving(target(shared_server), "counter.Counter")


# --- local_procedure.py ---------------------------------------------------------------

def test_local_procedure_counts_n_steps(lab: LabRunner) -> None:
    result = lab.run("local", "--step", "0.05", "--count", "3")
    assert result.returncode == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "INFO:root:Request: from=6, step=0.05"
    assert counts("\n".join(lines[1:-1])) == [7, 8, 9]
    assert lines[-1] == "INFO:root:Process finished for request: from=6, step=0.05"


def test_local_procedure_ctrl_c_mid_count(lab: LabRunner) -> None:
    local = lab.start("local", "--from", "10", "--step", "0.1")
    local.wait_for(r"count=12$", timeout=5)
    local.interrupt()
    assert local.wait(timeout=5) == 0, local.describe()
    lines = local.stderr.splitlines()
    assert "Traceback" not in local.stderr
    assert lines[0] == "INFO:root:Request: from=10, step=0.1"
    assert lines[-2:] == ["INFO:root:Process cancelled by user (Ctrl+C).",
                          "INFO:root:Process cancelled for request: from=10, step=0.1"]
    values = counts("\n".join(lines[1:-2]))
    assert values[:2] == [11, 12] and values == list(range(11, 11 + len(values)))


def test_local_procedure_ctrl_c_with_the_slides_defaults(lab: LabRunner) -> None:
    # from=6, step=2: Ctrl+C during the first 2 s sleep stops it at once.
    local = lab.start("local")
    local.wait_for(r"^INFO:root:Request: from=6, step=2$")
    pressed = time.monotonic()
    local.interrupt()
    assert local.wait(timeout=5) == 0, local.describe()
    assert time.monotonic() - pressed < 1.5
    assert local.stderr.splitlines() == [
        "INFO:root:Request: from=6, step=2",
        "INFO:root:Process cancelled by user (Ctrl+C).",
        "INFO:root:Process cancelled for request: from=6, step=2",
    ]
