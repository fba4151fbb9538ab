"""multiplexing, black box: the real server and client as processes, sleeps scaled down.

What the lab claims, proven: calls of one client share one connection (one peer address
in the server's log), calls run at once up to the server's worker count and the rest
queue first come first served (totals and the client's timeline), and the client's FIFO
prediction matches what was measured.
"""

from __future__ import annotations

import re
import signal
import time

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from labkit.procs import LabProcess, LabRunner, Result, target
from labkit.testing import assert_refuses_busy_port, assert_says_no_server

LAB = "multiplexing"

# The slides' 5 s and 3 s, scaled down: still 2*B > A, as in the slides' 6 s case.
A, B = 1.0, 0.6
# Timing tolerance, as a ratio of measured to expected total. Sleeping can only make a
# call last longer (0.98: rounding of the printed times); what it adds on top is start-up
# work (threads, the first calls on a connection), which grows with the machine's load.
# Measured on a 2-core VM at load average 8 to 9 (other suites running): the worst ratio
# seen was 1.32, most were under 1.03. Which case ran is decided by which calls waited in
# the server's queue (the server measures that), not by the total alone.
LOW, HIGH = 0.98, 1.4
QUEUED = B / 2  # a call that waited longer than this waited for a worker, not for the CPU

TOTAL_RE = re.compile(r"Total execution time = (\d+\.\d\d) seconds\.")
PREDICTION_RE = re.compile(
    r"FIFO prediction with (\d+) workers = (\d+\.\d\d) seconds, measured = (\d+\.\d\d) seconds\.")
ROW_RE = re.compile(r"^(Chill[AB] \d+) +\|([ #-]+)\| (.*)$", re.MULTILINE)
WAITED_RE = re.compile(r"waited (\d+\.\d\d) s")
START_RE = re.compile(r": (Chill[AB] \d+) start \(peer (\S+)\)$")


def start_server(lab: LabRunner, workers: int = 3, chill_a: float = A,
                 chill_b: float = B) -> LabProcess:
    return lab.start_server("server", "--chill-a", str(chill_a), "--chill-b", str(chill_b),
                            "--workers", str(workers))


def client_args(server: LabProcess, a: int, b: int, workers: int = 3) -> tuple[str, ...]:
    return ("--target", target(server), "-a", str(a), "-b", str(b), "--workers", str(workers))


def total_of(result: Result) -> float:
    match = TOTAL_RE.search(result.stderr)
    assert match, f"no 'Total execution time' line:\n{result.output}"
    return float(match.group(1))


def waits(result: Result) -> dict[str, float]:
    """From the client's timeline: how long each call waited for a worker (0: it did not)."""
    rows = ROW_RE.findall(result.stdout)
    assert rows, f"no timeline rows:\n{result.output}"
    found = {}
    for label, bar, note in rows:
        assert len(bar) >= 40, f"the chart is too narrow to read: {bar!r}"
        waited = WAITED_RE.search(note)
        found[label] = float(waited.group(1)) if waited else 0.0
    return found


def queued(result: Result) -> list[str]:
    """The calls that waited for a worker, according to the client's timeline."""
    return [label for label, waited in waits(result).items() if waited > QUEUED]


def prediction(result: Result, workers: int) -> float:
    match = PREDICTION_RE.search(result.stdout)
    assert match, f"no FIFO prediction line:\n{result.output}"
    assert int(match.group(1)) == workers
    assert float(match.group(3)) == total_of(result)
    return float(match.group(2))


def assert_about(measured: float, expected: float, what: str) -> None:
    assert LOW * expected <= measured <= HIGH * expected, (
        f"{what}: measured {measured:.2f} s, expected about {expected:.2f} s")


def check_run(lab: LabRunner, server: LabProcess, a: int, b: int, workers: int,
              expected: float) -> Result:
    """Run the client; check its total against `expected` and against its own prediction."""
    result = lab.run("client", *client_args(server, a, b, workers))
    assert result.returncode == 0, result.output
    what = f"-a {a} -b {b} on {workers} workers"
    total = total_of(result)
    assert_about(total, expected, what)
    assert prediction(result, workers) == pytest.approx(expected, abs=0.05), result.stdout
    assert_about(total, prediction(result, workers), f"{what}, against the FIFO prediction")
    assert list(waits(result)) == [f"ChillA {i}" for i in range(a)] + [
        f"ChillB {i}" for i in range(b)]  # one row per call, in the order of sending
    return result


# --- the slides' cases and the FIFO prediction -------------------------------------

def test_one_of_each_takes_the_longer_call(lab: LabRunner) -> None:
    server = start_server(lab, workers=3)
    result = check_run(lab, server, 1, 1, 3, expected=max(A, B))
    assert queued(result) == [], result.stdout
    # The slides' log lines: calls in order of sending, replies in order of finishing.
    lines = result.stderr.splitlines()
    calling = [line.split(": ", 1)[1] for line in lines if ": Calling " in line]
    assert calling == ["Calling ChillA 0", "Calling ChillB 0"], result.stderr
    finished = [re.search(r": (Chill[AB] \d+) finished after (\d+\.\d\d) seconds$", line)
                for line in lines]
    finished = [(m.group(1), float(m.group(2))) for m in finished if m]
    assert [label for label, _ in finished] == ["ChillB 0", "ChillA 0"], result.stderr
    assert_about(dict(finished)["ChillB 0"], B, "ChillB 0")
    assert_about(dict(finished)["ChillA 0"], A, "ChillA 0")
    # The server's side: start and end of both, as in the slides.
    for label in ("ChillA 0", "ChillB 0"):
        assert re.search(rf"^INFO:root:\d{{4}}-\d\d-\d\d [\d:.]+: {label} start ",
                         server.stderr, re.MULTILINE), server.stderr
        assert re.search(rf": {label} end$", server.stderr, re.MULTILINE), server.stderr


def test_two_of_each_on_three_workers_takes_two_chill_bs(lab: LabRunner) -> None:
    # The slides' 6 s case: three calls start at once; the last ChillB waits for the
    # first free worker (ChillB 0's, after B) and ends at 2*B, later than the ChillAs.
    server = start_server(lab, workers=3)
    result = check_run(lab, server, 2, 2, 3, expected=2 * B)
    [waiter] = queued(result)
    assert waiter.startswith("ChillB"), result.stdout
    assert_about(waits(result)[waiter], B, f"{waiter}'s wait")


def test_two_of_each_with_enough_workers_takes_the_longer_call(lab: LabRunner) -> None:
    server = start_server(lab, workers=4)
    result = check_run(lab, server, 2, 2, 4, expected=max(A, B))
    assert queued(result) == [], result.stdout


def test_three_of_each_is_predicted_in_the_servers_arrival_order(lab: LabRunner) -> None:
    # Sent at once, six calls may join the server's queue as sent (A A A B B B: all done
    # after A + B) or interleaved (A B A B A B: after 2 * A), because gRPC Python takes
    # in one new call per method at a time. The prediction follows the arrival numbers
    # that the server sends back, so it matches the total either way.
    server = start_server(lab, workers=3)
    result = lab.run("client", *client_args(server, 3, 3, 3))
    assert result.returncode == 0, result.output
    predicted = prediction(result, 3)
    assert predicted == pytest.approx(A + B, abs=0.05) or predicted == pytest.approx(
        2 * A, abs=0.05), result.stdout
    assert_about(total_of(result), predicted, "-a 3 -b 3, against the prediction")
    assert len(queued(result)) == 3, result.stdout


# --- one connection per client ----------------------------------------------------

def test_calls_of_one_client_share_one_connection(lab: LabRunner) -> None:
    # Two clients at once, 2 + 2 calls each: the server's log shows two peer addresses,
    # each with all four calls of one client.
    server = start_server(lab, workers=8, chill_a=0.3, chill_b=0.2)
    clients = [lab.start("client", *client_args(server, 2, 2, 8)) for _ in range(2)]
    for client in clients:
        assert client.wait(timeout=20) == 0, client.describe()
    calls_by_peer: dict[str, list[str]] = {}
    for line in server.stderr.splitlines():
        match = START_RE.search(line)
        if match:
            calls_by_peer.setdefault(match.group(2), []).append(match.group(1))
    assert len(calls_by_peer) == 2, server.stderr  # one connection per client process
    for peer, labels in calls_by_peer.items():
        assert re.fullmatch(r"ipv[46]:.+:\d+", peer), peer
        assert sorted(labels) == ["ChillA 0", "ChillA 1", "ChillB 0", "ChillB 1"], server.stderr


# --- Ctrl+C and signals -------------------------------------------------------------

def wait_for_count(process: LabProcess, pattern: str, count: int, timeout: float = 10.0) -> None:
    """Wait until `count` lines of the process match `pattern`."""
    deadline = time.monotonic() + timeout
    while True:
        seen = len(process.lines)
        if sum(1 for _, line in process.lines[:seen] if re.search(pattern, line)) >= count:
            return
        process.wait_for(pattern, timeout=max(0.0, deadline - time.monotonic()), start=seen)


def test_ctrl_c_on_the_client_cancels_its_calls_and_frees_the_workers(lab: LabRunner) -> None:
    server = start_server(lab, workers=3, chill_a=5.0, chill_b=0.3)
    client = lab.start("client", "--target", target(server), "-a", "3", "-b", "1")
    wait_for_count(server, r"ChillA \d start", 3)  # every worker busy for 5 s
    client.interrupt()
    assert client.wait(timeout=3) == 0, client.describe()
    assert "Traceback" not in client.stderr
    cancelled = set(re.findall(r": (ChillA \d) cancelled$", client.stderr, re.MULTILINE))
    assert cancelled == {"ChillA 0", "ChillA 1", "ChillA 2"}, client.stderr
    assert "Cancelled by user (Ctrl+C)." in client.stderr
    assert "Total execution time" not in client.stderr
    wait_for_count(server, r"ChillA \d cancelled after", 3, timeout=2)

    # The workers are free again: three ChillB calls run at once; none waits for a
    # ChillA to end (over 4 s more, had the cancelled calls kept their workers).
    after = lab.run("client", *client_args(server, 0, 3, 3))
    assert after.returncode == 0, after.output
    assert total_of(after) < 0.3 + 1.0, after.output
    assert queued(after) == [], after.output
    assert not re.search(r"ChillA \d end", server.text()), server.describe()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_server_stops_quickly_with_calls_in_flight(lab: LabRunner, signum: int) -> None:
    server = start_server(lab, chill_a=5.0, chill_b=5.0)
    client = lab.start("client", "--target", target(server), "-a", "1", "-b", "1")
    wait_for_count(server, r"Chill[AB] 0 start", 2)
    server.signal(signum)
    assert server.wait(timeout=2 + 1) == 0, server.describe()  # 2 s, plus 1 s of slack
    assert "Server stopped" in server.stderr
    assert "Traceback" not in server.stderr
    assert re.search(r"Chill[AB] 0 cancelled after", server.stderr), server.stderr
    # The client's calls failed: one clear line, exit 1.
    assert client.wait(timeout=3) == 1, client.describe()
    assert "Traceback" not in client.stderr
    failed = [line for line in client.stderr.splitlines() if "failed" in line]
    assert len(failed) == 1, client.stderr
    assert re.match(r"Chill[AB] 0 failed: (UNAVAILABLE|CANCELLED): ", failed[0]), failed


# --- bad input ------------------------------------------------------------------------

def chat_message_bytes(call_id: int, message: str) -> bytes:
    """A ChatMessage encoded by hand (importing the lab's stubs here could clash with
    another lab's assistant.proto in the same test process)."""
    def varint(value: int) -> bytes:
        value &= (1 << 64) - 1  # a negative int32 is sent as 10 bytes
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)
    text = message.encode("utf-8")
    return b"\x08" + varint(call_id) + b"\x12" + varint(len(text)) + text


def test_server_rejects_bad_requests_and_keeps_serving(lab: LabRunner) -> None:
    server = start_server(lab, chill_a=0.2, chill_b=0.1)
    bad_requests = [
        (chat_message_bytes(-1, "hi"), "id must be 0 or more, got -1"),
        (chat_message_bytes(0, "x" * 1001),
         "message is 1001 characters long, at most 1000 are allowed"),
        (b"\xff\xff", "the request is not a ChatMessage"),
    ]
    with grpc.insecure_channel(target(server)) as channel:
        for payload, details in bad_requests:
            for method in ("/AssistantService/ChillA", "/AssistantService/ChillB"):
                with pytest.raises(grpc.RpcError) as caught:
                    channel.unary_unary(method)(payload, timeout=5)
                assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
                assert details in caught.value.details()
        # Still serving: a good request, by hand, comes back as it was sent.
        good = chat_message_bytes(7, "ok")
        assert channel.unary_unary("/AssistantService/ChillB")(good, timeout=5) == good
    started = [START_RE.search(line).group(1) for line in server.stderr.splitlines()
               if START_RE.search(line)]
    assert started == ["ChillB 7"], server.stderr  # the bad ones never rested
    assert "Traceback" not in server.stderr


def test_client_reports_a_rejected_message_in_one_line(lab: LabRunner) -> None:
    server = start_server(lab)
    result = lab.run("client", *client_args(server, 1, 1), "--message", "x" * 1001)
    assert result.returncode == 1, result.output
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if not line.startswith("INFO:")]
    assert re.fullmatch(r"Chill[AB] 0 failed: INVALID_ARGUMENT: message is 1001 characters "
                        r"long, at most 1000 are allowed", line), line
    assert result.stdout == ""


@pytest.mark.parametrize(("args", "complaint"), [
    (("-a", "-1"), "argument -a: must be 0 to 50, got -1"),
    (("--workers", "0"), "argument --workers: must be 1 or more, got 0"),
])
def test_client_refuses_bad_arguments(lab: LabRunner, free_port: int, args, complaint) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", *args)
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].endswith(complaint), result.stderr


def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "1")
    assert_says_no_server(result, f"localhost:{free_port}", "python server.py")


def test_server_reports_a_busy_port_clearly(lab: LabRunner) -> None:
    server = start_server(lab)
    second = lab.start("server", "--port", str(server.port))
    assert_refuses_busy_port(second, server.port)


def test_reflection_lists_the_assistant_service(lab: LabRunner) -> None:
    server = start_server(lab)
    with grpc.insecure_channel(target(server)) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "AssistantService" in services
    assert "grpc.health.v1.Health" in services
