"""Every Python server of the kit stops on SIGINT and SIGTERM (in turn) within 2 s, with
exit code 0, `Server stopped` in its log and no traceback, in every state: with calls of
every kind open, after malformed messages on streams, with workers blocked (also workers,
or the event loop itself, held by a time.sleep that nothing wakes: only the stop's deadline
in serving.py ends the program), and while the program is still starting. Each case runs
20 times, 10 servers at a time.

The helpers and the table of servers are test_serving.py's.
"""

from __future__ import annotations

import math
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from test_serving import (  # the module-scoped `runners` fixture too
    SERVERS,
    TAKEN_IN,
    OpenCalls,
    call_raw,
    copy_of_lab,
    good_and_bad,
    runners,
    start_servers,
    wait_for_lines,
)

from labkit.labs import get_lab
from labkit.procs import READY_RE, LabProcess, LabRunner, target
from labkit.protocol import lab_proto
from labkit.testing import StandIn

__all__ = ["runners"]  # a fixture, used by name

# Ten servers stop at the same moment on a 2-core machine: the measured times get SLACK on
# top of the design's 2 s.

RUNS = 20
AT_ONCE = 10
SLACK = 1.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ExitTimes:
    """When each of `servers` exits (time.monotonic()), seen by a thread each."""

    def __init__(self, servers: list[LabProcess]) -> None:
        self.times = [math.inf] * len(servers)
        self.threads = [threading.Thread(target=self.watch, args=(i, s), daemon=True)
                        for i, s in enumerate(servers)]
        for thread in self.threads:
            thread.start()

    def watch(self, index: int, server: LabProcess) -> None:
        server.popen.wait(timeout=30)
        self.times[index] = time.monotonic()

    def join(self) -> list[float]:
        for thread in self.threads:
            thread.join(30)
        return self.times


STOPPED = "INFO:root:Server stopped"  # the last line of a Python server


def check_stopped(servers: list[LabProcess], signalled: list[float], exits: ExitTimes,
                  last_line: str | None = STOPPED) -> None:
    """Each server exited with 0 within 2 s (+ SLACK) of its signal, without a traceback,
    `last_line` last in its log (None: the program may end before logging is set up)."""
    exits = exits.join()
    took = [ended - sent for sent, ended in zip(signalled, exits, strict=True)]
    print(f"stopped in {min(took):.2f} to {max(took):.2f} s:",
          " ".join(f"{seconds:.2f}" for seconds in took))  # shown with pytest -s
    for server, sent, ended in zip(servers, signalled, exits, strict=True):
        server.wait(timeout=5)  # and its output read to the end
        assert server.popen.returncode == 0, server.describe()
        assert ended - sent < 2 + SLACK, f"{ended - sent:.2f} s\n{server.describe()}"
        assert "Traceback" not in server.stderr, server.describe()
        if last_line:
            assert server.stderr.splitlines()[-1] == last_line, server.describe()


def stop_together(servers: list[LabProcess], last_line: str = STOPPED) -> None:
    """Signal every server at the same moment (SIGINT and SIGTERM in turn); check each."""
    exits = ExitTimes(servers)  # watching before the signals: every exit is seen at once
    sent = time.monotonic()
    for index, server in enumerate(servers):
        server.signal(SIGNALS[index % 2])
    check_stopped(servers, [sent] * len(servers), exits, last_line)


def in_batches(runs: int = RUNS, at_once: int = AT_ONCE) -> Iterator[range]:
    for first in range(0, runs, at_once):
        yield range(first, min(first + at_once, runs))


def batches_of_servers(runners) -> Iterator[tuple[list[str], list[LabProcess]]]:
    """RUNS servers in batches of AT_ONCE, every kind in turn: (their names, the servers)."""
    names = list(SERVERS)
    for batch in in_batches():
        picked = [names[run % len(names)] for run in batch]
        yield picked, start_servers(runners, picked)


def watch_streams(address: str, count: int) -> list:
    """`count` health Watch streams, each open (its first answer received)."""
    channel = grpc.insecure_channel(address)
    streams = [health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(),
                                                          timeout=30) for _ in range(count)]
    for stream in streams:
        assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
    return streams


@pytest.mark.slow  # 20 servers, each stopped once: about 6 s
def test_stop_with_calls_of_every_kind_open(runners) -> None:
    for picked, servers in batches_of_servers(runners):
        held = []
        for name, server in zip(picked, servers, strict=True):
            held.append(watch_streams(target(server), 3))
            if name in TAKEN_IN:
                calls = OpenCalls(name, target(server))
                held.append(calls)
                for _ in range(4):
                    calls.open()
                wait_for_lines(server, TAKEN_IN[name], 3)
        try:
            stop_together(servers)
        finally:
            for calls in held:
                if isinstance(calls, OpenCalls):
                    calls.close()


def malformed_streams(name: str, address: str) -> None:
    """Streams with a malformed message: reflection on every server, the lesson's own
    request streams where the server has them. Each ends with INVALID_ARGUMENT."""
    streams = [good_and_bad("counter")] * 3
    if name in ("hash", "game"):
        streams.append(good_and_bad(name))
    with grpc.insecure_channel(address) as channel:
        for path, messages in streams:
            with pytest.raises(grpc.RpcError) as caught:
                call_raw(channel, path, True, name != "hash" or "ShaStream" not in path,
                         messages)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.slow  # 20 servers, each stopped once: about 5 s
def test_stop_after_malformed_stream_messages(runners) -> None:
    for picked, servers in batches_of_servers(runners):
        for name, server in zip(picked, servers, strict=True):
            malformed_streams(name, target(server))
        stop_together(servers)


class HoldingHashService:
    """The hash service of a stand-in: ShaStream takes the first chunk, then holds the
    call until it ends. A file service calling it has a worker blocked in the call."""

    def ShaStream(self, chunks, context: grpc.ServicerContext):
        next(chunks, None)
        ended = threading.Event()
        context.add_callback(ended.set)
        ended.wait(30)
        return lab_proto("file_hash_service").message("ShaReply")()


def replace_once(path: Path, old: str, new: str) -> None:
    code = path.read_text(encoding="utf-8")
    assert code.count(old) == 1, (path, old)
    path.write_text(code.replace(old, new), encoding="utf-8")


def blocking_copies(lab_root: Path, tmp_path: Path) -> Path:
    """A kit with two copies a student could write, where nothing wakes what waits:
    multiplexing resting with the slides' time.sleep (its worker threads held), and
    remote_counter counting with time.sleep in its async def (the event loop itself held).
    Only the stop's deadline can end those programs in time."""
    kit = copy_of_lab(lab_root, tmp_path, "multiplexing")
    shutil.copytree(lab_root / "remote_counter", kit / "remote_counter")
    replace_once(kit / "multiplexing" / "server.py", "    call_ended = threading.Event()\n",
                 "    time.sleep(seconds)\n    return True\n")
    replace_once(kit / "remote_counter" / "server.py", "await asyncio.sleep(request.step_sec)",
                 "time.sleep(request.step_sec)")
    replace_once(kit / "remote_counter" / "server.py", "import math\n",
                 "import math\nimport time\n")
    return kit


# The kinds of blocked servers, in turn: (lab, its copy or not, calls made, log line per call).
BLOCKED = [
    ("multiplexing", False, 5, " start (peer "),  # 3 workers resting, 2 calls in line
    ("multiplexing", True, 5, " start (peer "),  # 3 workers in time.sleep, 2 in line
    ("file_hash_service", False, 5, None),  # workers waiting for the hash service
    ("remote_counter", True, 1, "Request: from="),  # the event loop in time.sleep
]


@pytest.mark.slow  # 20 servers, each stopped once: about 6 s
def test_stop_with_workers_blocked(runners, tmp_path: Path, lab_root: Path, sandbox) -> None:
    kit = blocking_copies(lab_root, tmp_path)
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "a.txt").write_bytes(b"x" * 10_000)
    proto_of = {lab: lab_proto(lab) for lab in ("multiplexing", "file_hash_service",
                                                "remote_counter")}
    calls_of = {
        "multiplexing": ("/AssistantService/ChillA", proto_of["multiplexing"].message(
            "ChatMessage")(id=1)),
        "file_hash_service": ("/filehash.FileService/HashFile", proto_of[
            "file_hash_service"].message("HashFileRequest")(path="a.txt")),
        "remote_counter": ("/counter.Counter/Count", proto_of["remote_counter"].message(
            "CountRequest")(from_val=1, step_sec=30)),
    }
    with StandIn("file_hash_service", "HashService", HoldingHashService()) as holding, \
            LabRunner(get_lab("multiplexing"), kit, sandbox=sandbox) as sleepy, \
            LabRunner(get_lab("remote_counter"), kit, sandbox=sandbox) as stuck:
        copies = {"multiplexing": sleepy, "remote_counter": stuck}
        for batch in in_batches():
            kinds = [BLOCKED[run % len(BLOCKED)] for run in batch]
            servers = []
            for lab, copy, _calls, _logged in kinds:
                runner = copies[lab] if copy else runners[lab]
                if lab == "file_hash_service":
                    servers.append(runner.start(
                        "file-service", "--port", "0", "--root", str(tmp_path / "root"),
                        "--hash-target", holding.target, "--chunk-size", "1024"))
                else:
                    rest = ("--chill-a", "30") if lab == "multiplexing" else ()
                    servers.append(runner.start("server", "--port", "0", *rest))
            channels, calls = [], []
            for (lab, _copy, count, _logged), server in zip(kinds, servers, strict=True):
                server.wait_ready()
                path, request = calls_of[lab]
                channels.append(grpc.insecure_channel(target(server)))
                call = (channels[-1].unary_stream(path) if lab == "remote_counter"
                        else channels[-1].unary_unary(path).future)
                calls += [call(request.SerializeToString(), timeout=30) for _ in range(count)]
            for (_lab, _copy, count, logged), server in zip(kinds, servers, strict=True):
                if logged:
                    wait_for_lines(server, logged, min(count, 3))  # every worker busy
            held = 5 * sum(lab == "file_hash_service" for lab, *_ in kinds)
            while len(holding.calls) < held:  # every file service's workers wait on it
                time.sleep(0.001)  # polling a state, not waiting out a delay
            try:
                stop_together(servers)
            finally:
                for call in calls:
                    call.cancel()
                for channel in channels:
                    channel.close()
            holding.calls.clear()


def grpc_loading(process: LabProcess) -> bool:
    """Whether gRPC's C extension is in the process's memory: Python is importing grpc,
    or is past it (Linux: /proc/PID/maps)."""
    try:
        return "cygrpc" in Path(f"/proc/{process.popen.pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.slow  # 20 servers, each stopped once while it starts: about 4 s
def test_stop_while_starting(runners) -> None:
    # Each gets its signal as soon as gRPC's C extension is loaded: while Python imports
    # grpc, or soon after, before the ready line. No KeyboardInterrupt traceback, exit 0.
    names = list(SERVERS)
    before_ready = 0
    for batch in in_batches():
        servers = []
        for run in batch:
            lab, process, args, _ = SERVERS[names[run % len(names)]]
            servers.append(runners[lab].start(process, "--port", "0", *args))
        signalled = [math.inf] * len(servers)
        exits = ExitTimes(servers)
        deadline = time.monotonic() + 20
        while math.inf in signalled and time.monotonic() < deadline:
            for index, server in enumerate(servers):
                if signalled[index] == math.inf and (grpc_loading(server) or not server.alive):
                    before_ready += not READY_RE.search(server.text())
                    server.signal(SIGNALS[index % 2])
                    signalled[index] = time.monotonic()
            time.sleep(0.001)  # polling a state, not waiting out a delay
        check_stopped(servers, signalled, exits, last_line=None)
    assert before_ready >= RUNS // 2, f"only {before_ready} of {RUNS} stopped before ready"
