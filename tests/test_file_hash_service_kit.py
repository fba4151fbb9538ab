"""file_hash_service: what the kit gives around the students' code, checked as a person
sees it.

Not graded (labkit/labs.py does not list this module among the lab's tests): the client's
--verify and progress line, Ctrl+C, the file service when a hop of the chain goes away,
its command line and the benchmark are written outside the solution regions, and the
starter copy keeps them. The lab's graded tests are in test_file_hash_service.py; the
servers' plumbing (signals, busy ports, malformed bytes) is tested in test_serving*.py.

Where a call must stay in flight, the file service runs in front of the test's own hash
service (test_file_hash_service.HashServiceStandIn), which holds a stream whose file
starts with HOLD until the call ends: the test decides when it ends, and sees that it
ended. No timing guesswork.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from test_file_hash_service import (  # the graded module's stand-in and the session's build
    HOLD,
    HashFileRequest,
    HashServiceStandIn,
    Stream,
    cpp_build,
    cpp_hash_server,
    sha256,
    some_bytes,
    write,
)

from labkit.labs import Process
from labkit.procs import LabProcess, LabRunner, target
from labkit.protocol import lab_proto
from labkit.testing import StandIn, assert_health_serving

__all__ = ["cpp_hash_server"]  # a fixture, used by name

LAB = "file_hash_service"
PROTO = lab_proto(LAB)
FILE_SERVICE = "filehash.FileService"
AT_ONCE = 5.0
NL = b"\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def holding() -> Iterator[HashServiceStandIn]:
    service = HashServiceStandIn()
    with StandIn(LAB, "HashService", service) as stand_in:
        service.target = stand_in.target
        yield service
    for stream in service.streams:
        stream.ended.set()


@pytest.fixture
def held_call(lab: LabRunner, root: Path, holding: HashServiceStandIn):
    """A file service in front of the holding hash service, and a function that starts
    the client on a file whose hash call hangs there; it returns the client and the
    hash service's stream once the first chunk has arrived."""
    write(root / "big.bin", HOLD + some_bytes(8 * 1024, seed=1))
    service = lab.start_server("file-service", "--root", str(root), "--hash-target",
                               holding.target)

    def start_client(*args: str) -> tuple[LabProcess, Stream]:
        mark = len(holding.streams)
        client = lab.start("client", "--target", target(service), *args, "big.bin")
        deadline = time.monotonic() + 15
        while not (streams := holding.since(mark)) or not streams[0].chunks:
            assert client.alive and time.monotonic() < deadline, client.describe()
            with holding.changed:
                holding.changed.wait(0.05)
        return client, streams[0]

    return service, start_client


def assert_stops_cleanly(server: LabProcess) -> None:
    """Stop a server (Ctrl+C) and check that nothing went wrong in it until then."""
    server.interrupt()
    assert server.wait(timeout=3) == 0, server.describe()
    assert "Traceback" not in server.stderr and "Exception" not in server.stderr, \
        server.describe()


# --- Ctrl+C and hops going away mid-call ------------------------------------------------------

def test_client_ctrl_c_cancels_the_whole_chain(held_call) -> None:
    service, start_client = held_call
    client, stream = start_client()
    client.interrupt()
    result = client.result(timeout=5)
    assert result.returncode == 0, result.output
    assert "INFO:root:Cancelled by user (Ctrl+C)." in result.stderr
    assert "Traceback" not in result.stderr
    assert stream.ended.wait(AT_ONCE), "the file service did not cancel its hash call"
    assert_stops_cleanly(service)


def test_client_killed_cancels_the_hash_call(held_call) -> None:
    service, start_client = held_call
    client, stream = start_client()
    client.signal(signal.SIGKILL)
    assert stream.ended.wait(AT_ONCE), "the file service did not cancel its hash call"
    assert_health_serving(target(service), FILE_SERVICE)  # ... and it still answers
    assert_stops_cleanly(service)


def test_client_deadline_ends_the_whole_chain(held_call) -> None:
    service, start_client = held_call
    client, stream = start_client("--deadline", "1")
    result = client.result(timeout=10)
    assert result.returncode == 1, result.output
    assert result.stderr.startswith("HashFile failed for big.bin: DEADLINE_EXCEEDED"), \
        result.stderr
    assert "Traceback" not in result.stderr
    assert stream.ended.wait(AT_ONCE)  # the hash service's call ended with the deadline
    assert_stops_cleanly(service)


def test_file_service_killed_mid_call(held_call) -> None:
    service, start_client = held_call
    client, stream = start_client()
    service.signal(signal.SIGKILL)
    result = client.result(timeout=10)
    assert result.returncode == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("HashFile failed for big.bin: UNAVAILABLE")
    assert stream.ended.wait(AT_ONCE)  # its connection went away with it


def test_hash_service_gone_mid_call(lab: LabRunner, root: Path) -> None:
    write(root / "big.bin", HOLD + b"held\n")
    holding = HashServiceStandIn()
    with StandIn(LAB, "HashService", holding) as stand_in:
        service = lab.start_server("file-service", "--root", str(root), "--hash-target",
                                   stand_in.target)
        client = lab.start("client", "--target", target(service), "big.bin")
        deadline = time.monotonic() + 15
        while not holding.since(0):
            assert client.alive and time.monotonic() < deadline, client.describe()
            with holding.changed:
                holding.changed.wait(0.05)
    # Out of the `with`: the hash service has gone away, with the call in flight.
    for stream in holding.streams:
        stream.ended.set()
    result = client.result(timeout=10)
    assert result.returncode == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"HashFile failed for big.bin: UNAVAILABLE: the hash service at {stand_in.target}")
    assert_stops_cleanly(service)  # it kept serving, with nothing gone wrong inside


def test_hash_service_down_gives_unavailable_naming_it(lab: LabRunner, root: Path) -> None:
    write(root / "a.txt", b"a\n")
    hash_server = lab.start_server("hash-server")
    port = hash_server.port
    service = lab.start_server("file-service", "--root", str(root), "--hash-target",
                               f"localhost:{port}")
    hash_server.signal(signal.SIGKILL)
    hash_server.wait()
    result = lab.run("client", "--target", target(service), "a.txt")
    assert result.returncode == 1, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("HashFile failed for a.txt: UNAVAILABLE: ")
    assert "hash service" in result.stderr and f"localhost:{port}" in result.stderr
    # Back on the same port, the hash service is used again (no restart of the file
    # service): within gRPC's reconnect backoff, which the file service keeps short.
    lab.start_server("hash-server", "--port", str(port))
    deadline = time.monotonic() + 10
    with grpc.insecure_channel(target(service)) as channel:
        stub = PROTO.stub(channel, "FileService")
        while True:
            try:
                reply = stub.HashFile(HashFileRequest(path="a.txt"), timeout=5)
                break
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                assert time.monotonic() < deadline, "the file service never reconnected"
                threading.Event().wait(0.2)  # a retry loop under a deadline, not a sync
    assert reply.hex_digest == sha256(b"a\n")


# --- the client's --verify and progress line -------------------------------------------------

def test_verify_reports_a_mismatch(lab: LabRunner, root: Path, tmp_path: Path) -> None:
    hash_server = lab.start_server("hash-server")
    service = lab.start_server("file-service", "--root", str(root), "--hash-target",
                               target(hash_server))
    write(root / "data.txt", b"what the file service sees\n")
    here = tmp_path / "client-side"
    local = write(here / "data.txt", b"what the client sees\n")
    write(root / "only-there.txt", b"no copy on the client's side\n")
    # The client runs in another folder, where data.txt has other content.
    client = lab.start(Process("client", ("python", str(lab.folder / "client.py")),
                               cwd=str(here)),
                       "--target", target(service), "--verify", "data.txt", "only-there.txt")
    client.close_stdin()
    result = client.result(timeout=20)
    assert result.returncode == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{sha256(b'what the file service sees' + NL)}  data.txt"
    assert lines[1].startswith("data.txt: MISMATCH")
    assert sha256(local.read_bytes()) in lines[1]
    assert lines[2].endswith("  only-there.txt")
    assert lines[3].startswith("only-there.txt: cannot verify here")


def test_progress_line_only_on_a_terminal(lab: LabRunner, root: Path) -> None:
    hash_server = lab.start_server("hash-server")
    service = lab.start_server("file-service", "--root", str(root), "--hash-target",
                               target(hash_server))
    data = some_bytes(10 * 1024 * 1024, seed=2)  # over the client's threshold of 8 MB
    path = write(root / "big.bin", data)
    piped = lab.run("client", "--target", target(service), str(path))
    assert piped.stderr == "" and piped.stdout == f"{sha256(data)}  {path}\n", piped.output
    controller, terminal = pty.openpty()  # stderr is a terminal, stdout a pipe
    try:
        done = subprocess.run(
            [sys.executable, "client.py", "--target", target(service), "--verify",
             str(path)], cwd=lab.folder, stdout=subprocess.PIPE, stderr=terminal,
            stdin=subprocess.DEVNULL, timeout=30, env={**os.environ, "NO_COLOR": "1"})
        os.close(terminal)
        terminal = -1
        seen = b""
        while True:
            try:
                data_read = os.read(controller, 65536)
            except OSError:  # the terminal closed: everything was read
                break
            if not data_read:
                break
            seen += data_read
    finally:
        if terminal != -1:
            os.close(terminal)
        os.close(controller)
    assert done.returncode == 0, seen
    assert done.stdout.decode().splitlines()[0] == f"{sha256(data)}  {path}"
    text = seen.decode(errors="replace")
    assert "\r" in text and "verifying" in text and "#" in text, text


# --- command lines and the benchmark ---------------------------------------------------------

def test_file_service_rejects_a_bad_command_line(lab: LabRunner, tmp_path: Path) -> None:
    for args in (["--root", str(tmp_path / "missing")], ["--chunk-size", "0"],
                 ["--chunk-size", str(8 * 1024 * 1024)]):
        result = lab.run("file-service", "--port", "0", *args)
        assert result.returncode == 2, result.output
        assert "Traceback" not in result.stderr and "error:" in result.stderr


@pytest.mark.slow  # it hashes 8 MB four ways, two of them through servers it starts
@cpp_build
def test_benchmark_prints_its_table(lab: LabRunner, request: pytest.FixtureRequest) -> None:
    args = ["--size", "8M", "--runs", "1"]
    expected = ["file service + Python hash server", "local hashlib", "local sha256sum"]
    try:
        binary = request.getfixturevalue("cpp_hash_server")
        args += ["--cpp-server", str(binary)]
        expected.insert(0, "file service + C++ hash server")
    except pytest.skip.Exception:  # no C++ toolchain here: the Python rows still count
        pass
    benchmark = lab.start(Process("benchmark", ("python", "benchmark.py")), *args)
    benchmark.close_stdin()
    result = benchmark.result(timeout=100)
    assert result.returncode == 0, result.output
    rows = {line.split("  ")[0].strip(): line for line in result.stdout.splitlines()}
    for label in expected:
        assert label in rows, result.stdout
        assert rows[label].rstrip().endswith("x"), rows[label]
    assert rows["local hashlib"].rstrip().endswith(" 1.00x")
    assert "chunk" in result.stdout  # it says which chunk size it measured
