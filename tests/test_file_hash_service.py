"""file_hash_service, black box: client -> file service -> hash service, as processes.

Every test that involves a hash server runs against both: the Python one
(hash_service.py) and the C++ one (hash_service.cpp, built once per session with CMake
into a temporary folder; skipped with a one-line reason where CMake, a C++ compiler or
the gRPC C++ libraries are missing, and failing instead under LABKIT_REQUIRE_ALL=1).

The file service runs with a tiny --chunk-size in most tests, so that files of one
chunk, a chunk plus or minus one byte, and several chunks stay a few KB; one test hashes
a large file with the default chunk size.

Deadlines, cancellation and hops going away mid-call are tested with a stand-in hash
service in the test process that takes the first chunk and then holds the call: the test
decides when the call ends, and sees what reaches the hash service (the deadline, the
cancellation). No timing guesswork.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pty
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from labkit.builds import BuildError, cmake_build
from labkit.labs import Process
from labkit.procs import LabProcess, LabRunner, target
from labkit.testing import (
    assert_health_serving, assert_refuses_busy_port, assert_says_no_server, require,
    require_commands,
)

LAB = "file_hash_service"

NL = b"\n"
CHUNK = 1024  # --chunk-size of the file service in most tests
HASH_SERVICE = "filehash.HashService"
FILE_SERVICE = "filehash.FileService"
BUILD_TIMEOUT = 600  # seconds: CMake and a C++ build on a busy 2-core machine
APT_PACKAGES = "cmake g++ pkg-config libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev " \
               "protobuf-compiler libssl-dev"

# A test that builds the C++ server may wait for that build (once per session).
cpp_build = pytest.mark.timeout(BUILD_TIMEOUT + 60)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the two hash servers -----------------------------------------------------------------

@pytest.fixture(scope="session")
def cpp_hash_server(lab_root: Path, sandbox) -> Path:
    """The C++ hash server, built once per session from the lab's CMakeLists.txt."""
    why = "the C++ hash server (file_hash_service)"
    require_commands("cmake", "pkg-config", why=why)
    require(any(shutil.which(cxx) for cxx in ("c++", "g++", "clang++")),
            f"{why} needs a C++ compiler (c++, g++ or clang++) on PATH")
    have_libs = subprocess.run(["pkg-config", "--exists", "grpc++", "protobuf", "openssl"],
                               capture_output=True).returncode == 0
    require(have_libs, f"{why} needs gRPC C++, protobuf and OpenSSL development files "
                       f"(Debian/Ubuntu: apt install {APT_PACKAGES})")
    try:
        return cmake_build(sandbox, lab_root / LAB, "hash_service", "hash-service-build")
    except BuildError as error:  # the toolchain is there: a failed build is a failure
        pytest.fail(str(error), pytrace=False)


def start_hash_server(lab: LabRunner, kind: str, request: pytest.FixtureRequest,
                      *args: str) -> LabProcess:
    """A hash server of the given kind, ready; `--port 0` unless args name a port."""
    port_args = () if "--port" in args else ("--port", "0")
    if kind == "cpp":
        binary = request.getfixturevalue("cpp_hash_server")
        server = lab.start(Process("hash-server-cpp", (str(binary),), server=True),
                           *port_args, *args)
    else:
        server = lab.start("hash-server", *port_args, *args)
    server.wait_ready()
    return server


HASH_SERVERS = [pytest.param("python", id="py"),
                pytest.param("cpp", id="cpp", marks=cpp_build)]


# For what only the client does (--verify, the progress line), one hash server is enough.
python_hash_server_only = pytest.mark.parametrize("hash_kind", ["python"], ids=["py"])


@pytest.fixture(params=HASH_SERVERS)
def hash_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def hash_server(lab: LabRunner, hash_kind: str, request: pytest.FixtureRequest) -> LabProcess:
    return start_hash_server(lab, hash_kind, request)


# --- files and the file service -----------------------------------------------------------

@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The folder the file service serves; `tmp_path/outside.txt` lies outside it."""
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


def start_file_service(lab: LabRunner, root: Path, hash_target: str,
                       *args: str) -> LabProcess:
    return lab.start_server("file-service", "--root", str(root), "--hash-target", hash_target,
                            *args)


@pytest.fixture
def file_service(lab: LabRunner, root: Path, hash_server: LabProcess) -> LabProcess:
    return start_file_service(lab, root, target(hash_server), "--chunk-size", str(CHUNK))


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def pattern(size: int) -> bytes:
    """`size` bytes that differ from chunk to chunk (so a lost or repeated chunk shows)."""
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


# --- stubs, for calls the lab's own programs do not make ---------------------------------

@pytest.fixture(scope="session")
def stubs(lab_root: Path) -> tuple[ModuleType, ModuleType]:
    """The lab's hash_pb2 and hash_pb2_grpc (from the copy under test)."""
    sys.path.insert(0, str(lab_root / LAB))
    try:
        return importlib.import_module("hash_pb2"), importlib.import_module("hash_pb2_grpc")
    finally:
        sys.path.remove(str(lab_root / LAB))


# === digests: both hash servers agree with hashlib ========================================

SIZES = {
    "empty": 0,
    "one-byte": 1,
    "chunk-minus-one": CHUNK - 1,
    "one-chunk": CHUNK,
    "chunk-plus-one": CHUNK + 1,
    "multi-chunk": 5 * CHUNK + 17,
}


def test_digests_equal_hashlib_at_chunk_boundaries(lab: LabRunner, root: Path,
                                                   file_service: LabProcess) -> None:
    contents = {f"{name}.bin": pattern(size) for name, size in SIZES.items()}
    for name, data in contents.items():
        write(root / name, data)
    result = lab.run("client", "--target", target(file_service), *contents)
    assert result.returncode == 0, result.output
    assert result.stderr == ""  # no progress line when stderr is not a terminal
    expected = "".join(f"{sha256(data)}  {name}\n" for name, data in contents.items())
    assert result.stdout == expected


def test_large_file_with_the_default_chunk_size(lab: LabRunner, root: Path,
                                                hash_server: LabProcess) -> None:
    data = os.urandom(1024 * 1024) * 24 + b"tail"  # 24 MiB and a bit: many default chunks
    write(root / "sub" / "large.bin", data)
    service = start_file_service(lab, root, target(hash_server))  # its own chunk size
    result = lab.run("client", "--target", target(service), "sub/large.bin", timeout=60)
    assert result.returncode == 0, result.output
    assert result.stdout == f"{sha256(data)}  sub/large.bin\n"


@python_hash_server_only
def test_verify_says_the_digests_agree(lab: LabRunner, root: Path,
                                       file_service: LabProcess) -> None:
    data = pattern(3 * CHUNK)
    path = write(root / "same.bin", data)
    # An absolute path inside the root: the file service accepts it, and the client
    # finds the same file here.
    result = lab.run("client", "--target", target(file_service), "--verify", str(path))
    assert result.returncode == 0, result.output
    assert result.stdout.splitlines() == [f"{sha256(data)}  {path}",
                                          f"{path}: OK, the local SHA-256 agrees"]


@python_hash_server_only
def test_verify_reports_a_mismatch(lab: LabRunner, root: Path, tmp_path: Path,
                                   file_service: LabProcess) -> None:
    write(root / "data.txt", b"what the file service sees\n")
    here = tmp_path / "client-side"
    local = write(here / "data.txt", b"what the client sees\n")
    # The client runs in another folder, where data.txt has other content.
    client = Process("client", ("python", str(lab.folder / "client.py")), cwd=str(here))
    write(root / "only-there.txt", b"no copy on the client's side\n")
    running = lab.start(client, "--target", target(file_service), "--verify", "data.txt",
                        "only-there.txt")
    running.close_stdin()
    result = running.result(timeout=20)
    assert result.returncode == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{sha256(b'what the file service sees' + NL)}  data.txt"
    assert lines[1].startswith("data.txt: MISMATCH")
    assert sha256(local.read_bytes()) in lines[1]
    assert lines[2].endswith("  only-there.txt")
    assert lines[3].startswith("only-there.txt: cannot verify here")


def test_sha_unary_equals_hashlib(hash_server: LabProcess, stubs) -> None:
    hash_pb2, hash_pb2_grpc = stubs
    with grpc.insecure_channel(target(hash_server)) as channel:
        stub = hash_pb2_grpc.HashServiceStub(channel)
        for data in (b"", b"a", b"abc", pattern(100_000), os.urandom(3 * 1024 * 1024)):
            reply = stub.Sha(hash_pb2.ShaRequest(data=data), timeout=10)
            assert (reply.hex_digest, reply.size) == (sha256(data), len(data))


def test_sha_stream_counts_every_byte(hash_server: LabProcess, stubs) -> None:
    hash_pb2, hash_pb2_grpc = stubs
    pieces = [b"", b"x", pattern(70_000), b"", pattern(5)]  # empty chunks are fine too
    with grpc.insecure_channel(target(hash_server)) as channel:
        stub = hash_pb2_grpc.HashServiceStub(channel)
        reply = stub.ShaStream(iter(hash_pb2.Chunk(data=p) for p in pieces), timeout=10)
    whole = b"".join(pieces)
    assert (reply.hex_digest, reply.size) == (sha256(whole), len(whole))


# === refused paths (point 4) ==============================================================

def test_refused_paths_get_the_right_status(lab: LabRunner, root: Path, tmp_path: Path,
                                            file_service: LabProcess) -> None:
    outside = write(tmp_path / "outside.txt", b"secret\n")
    (tmp_path / "outside-dir").mkdir()
    write(tmp_path / "outside-dir" / "secret.txt", b"secret\n")
    (root / "sub").mkdir()
    (root / "leak.txt").symlink_to(outside)
    (root / "leak-dir").symlink_to(tmp_path / "outside-dir")
    write(root / "ok.txt", b"fine\n")
    (root / "alias.txt").symlink_to(root / "ok.txt")  # a symlink that stays inside: fine
    os.mkfifo(root / "pipe")  # reading it would block forever
    refused = {
        "../outside.txt": "PERMISSION_DENIED",
        "sub/../../outside.txt": "PERMISSION_DENIED",
        "../no-such-file.txt": "PERMISSION_DENIED",  # outside: not even NOT_FOUND
        str(outside): "PERMISSION_DENIED",
        "/etc/hostname": "PERMISSION_DENIED",
        "leak.txt": "PERMISSION_DENIED",
        "leak-dir/secret.txt": "PERMISSION_DENIED",
        "no-such-file.txt": "NOT_FOUND",
        "sub/nothing.bin": "NOT_FOUND",
        "sub": "INVALID_ARGUMENT",
        ".": "INVALID_ARGUMENT",
        "pipe": "INVALID_ARGUMENT",
        "": "INVALID_ARGUMENT",
    }
    result = lab.run("client", "--target", target(file_service), *refused, "ok.txt",
                     "alias.txt", "sub/../ok.txt")
    assert result.returncode == 1, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == len(refused), result.stderr
    for line, (path, code) in zip(errors, refused.items(), strict=True):
        assert line.startswith(f"HashFile failed for {path}: {code}: "), line
        assert "Traceback" not in line
    assert sha256(b"secret" + NL) not in result.output  # no digest of a file outside
    # The service kept serving: the good paths after the bad ones were hashed.
    assert result.stdout == "".join(f"{sha256(b'fine' + NL)}  {p}\n"
                                    for p in ("ok.txt", "alias.txt", "sub/../ok.txt"))
    assert file_service.alive


def test_hash_service_down_gives_unavailable_naming_it(
        lab: LabRunner, root: Path, hash_kind: str, hash_server: LabProcess,
        file_service: LabProcess, request: pytest.FixtureRequest, stubs) -> None:
    write(root / "a.txt", b"a\n")
    port = hash_server.port
    hash_server.signal(signal.SIGKILL)
    hash_server.wait()
    result = lab.run("client", "--target", target(file_service), "a.txt")
    assert result.returncode == 1, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("HashFile failed for a.txt: UNAVAILABLE: ")
    assert "hash service" in result.stderr and f"localhost:{port}" in result.stderr
    # Back on the same port, the hash service is used again (no restart of the file
    # service): within gRPC's reconnect backoff, which the file service keeps short.
    start_hash_server(lab, hash_kind, request, "--port", str(port))
    hash_pb2, hash_pb2_grpc = stubs
    deadline = time.monotonic() + 10
    with grpc.insecure_channel(target(file_service)) as channel:
        stub = hash_pb2_grpc.FileServiceStub(channel)
        while True:
            try:
                reply = stub.HashFile(hash_pb2.HashFileRequest(path="a.txt"), timeout=5)
                break
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                assert time.monotonic() < deadline, "the file service never reconnected"
                threading.Event().wait(0.2)  # a retry loop under a deadline, not a sync
    assert reply.hex_digest == sha256(b"a\n")


def test_client_without_file_service_says_how_to_start_it(lab: LabRunner,
                                                           free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "1", "x")
    assert_says_no_server(result, f"localhost:{free_port}", "python file_service.py")


def test_file_service_rejects_a_bad_command_line(lab: LabRunner, tmp_path: Path) -> None:
    for args in (["--root", str(tmp_path / "missing")], ["--chunk-size", "0"],
                 ["--chunk-size", str(8 * 1024 * 1024)]):
        result = lab.run("file-service", "--port", "0", *args)
        assert result.returncode == 2, result.output
        assert "Traceback" not in result.stderr and "error:" in result.stderr


# === deadline and cancellation through the chain (a hash service that holds the call) ====

class HoldingHashService:
    """A stand-in hash service that receives the first chunk and then holds the call
    until it ends: it records the deadline it was given and whether it was cancelled."""

    def __init__(self) -> None:
        self.first_chunk = threading.Event()
        self.ended = threading.Event()
        self.time_left: float | None = None
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.stream_unary_rpc_method_handler(self.sha_stream)  # raw bytes
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(HASH_SERVICE, {"ShaStream": handler})])
        self.port = self.server.add_insecure_port("localhost:0")
        self.server.start()

    def sha_stream(self, chunks: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        context.add_callback(self.ended.set)  # runs when the call ends, however it ends
        self.time_left = context.time_remaining()
        next(chunks, None)
        self.first_chunk.set()
        self.ended.wait(30)
        return b""

    @property
    def target(self) -> str:
        return f"localhost:{self.port}"


@pytest.fixture
def holding() -> Iterator[HoldingHashService]:
    service = HoldingHashService()
    yield service
    service.ended.set()
    service.server.stop(0)


@pytest.fixture
def held_call(lab: LabRunner, root: Path, holding: HoldingHashService):
    """A file service in front of the holding hash service, and a function that starts
    a client whose call reaches the hash service and hangs there."""
    write(root / "big.bin", pattern(8 * CHUNK))
    service = start_file_service(lab, root, holding.target, "--chunk-size", str(CHUNK))

    def start_client(*args: str) -> LabProcess:
        client = lab.start("client", "--target", target(service), *args, "big.bin")
        deadline = time.monotonic() + 15
        while not holding.first_chunk.wait(0.05):  # or the client ended: no need to wait
            assert client.alive and time.monotonic() < deadline, client.describe()
        return client

    return service, start_client


def test_deadline_is_passed_on_to_the_hash_service(held_call, holding) -> None:
    service, start_client = held_call
    client = start_client("--deadline", "1")
    # (the two processes' clocks may differ by a few milliseconds)
    assert holding.time_left is not None and 0.3 < holding.time_left <= 1.1
    result = client.result(timeout=10)
    assert result.returncode == 1, result.output
    assert "DEADLINE_EXCEEDED" in result.stderr and "Traceback" not in result.stderr
    assert holding.ended.wait(5)  # the hash service's call ended with the deadline
    assert_stops_cleanly(service)


def test_no_deadline_means_none_downstream(lab: LabRunner, held_call, holding, stubs) -> None:
    service, _ = held_call
    hash_pb2, hash_pb2_grpc = stubs
    with grpc.insecure_channel(target(service)) as channel:
        call = hash_pb2_grpc.FileServiceStub(channel).HashFile.future(
            hash_pb2.HashFileRequest(path="big.bin"))  # no timeout at all
        assert holding.first_chunk.wait(15)
        assert holding.time_left is not None and holding.time_left > 3600
        call.cancel()
    assert holding.ended.wait(5)
    assert_stops_cleanly(service)


def test_client_ctrl_c_cancels_the_hash_call(held_call, holding) -> None:
    service, start_client = held_call
    client = start_client()
    client.interrupt()
    result = client.result(timeout=5)
    assert result.returncode == 0, result.output
    assert "Cancelled by user (Ctrl+C)." in result.stderr
    assert "Traceback" not in result.stderr
    assert holding.ended.wait(5), "the file service did not cancel its hash call"
    assert_stops_cleanly(service)


def assert_stops_cleanly(server: LabProcess) -> None:
    """Stop a server (Ctrl+C) and check that nothing went wrong in it until then."""
    server.interrupt()
    assert server.wait(timeout=3) == 0, server.describe()
    assert "Traceback" not in server.stderr and "Exception" not in server.stderr, \
        server.describe()


def test_client_killed_cancels_the_hash_call(lab: LabRunner, held_call, holding,
                                             stubs) -> None:
    service, start_client = held_call
    client = start_client()
    client.signal(signal.SIGKILL)
    assert holding.ended.wait(5), "the file service did not cancel its hash call"
    # ... and the file service still answers.
    assert_health_serving(target(service), FILE_SERVICE)
    assert_stops_cleanly(service)


def test_file_service_killed_mid_call(held_call, holding) -> None:
    service, start_client = held_call
    client = start_client()
    service.signal(signal.SIGKILL)
    result = client.result(timeout=10)
    assert result.returncode == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("HashFile failed for big.bin: UNAVAILABLE")
    assert holding.ended.wait(5)  # its connection went away with it


def test_hash_service_gone_mid_call(held_call, holding) -> None:
    service, start_client = held_call
    client = start_client()
    holding.server.stop(0)  # the hash service goes away with the call in flight
    result = client.result(timeout=10)
    assert result.returncode == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"HashFile failed for big.bin: UNAVAILABLE: the hash service at {holding.target}")
    assert_stops_cleanly(service)  # it kept serving, with nothing gone wrong inside


# === servers: signals, health, reflection, busy port ======================================

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_hash_server_stops_gracefully_with_a_call_in_flight(
        hash_server: LabProcess, stubs, signum: int) -> None:
    hash_pb2, hash_pb2_grpc = stubs
    first_sent, release = threading.Event(), threading.Event()

    def chunks() -> Iterator:
        yield hash_pb2.Chunk(data=b"first")
        first_sent.set()  # gRPC asks for the next chunk once the first one is sent
        release.wait(10)  # the stream stays open: a call in flight

    with grpc.insecure_channel(target(hash_server)) as channel:
        stub = hash_pb2_grpc.HashServiceStub(channel)
        # A server that answers ShaStream (a starter's UNIMPLEMENTED would end the call
        # at once: nothing would be in flight when the signal comes).
        reply = stub.ShaStream(iter([hash_pb2.Chunk(data=b"warm-up")]), timeout=5)
        assert reply.hex_digest == sha256(b"warm-up")
        call = stub.ShaStream.future(chunks(), timeout=20)
        try:
            assert first_sent.wait(5)
            hash_server.signal(signum)
            started = time.monotonic()
            assert hash_server.wait(timeout=2 + 1) == 0, hash_server.describe()
            assert time.monotonic() - started < 2 + 1
        finally:
            release.set()
        # The shutdown ended the call in flight.
        assert call.exception(timeout=5).code() in (grpc.StatusCode.CANCELLED,
                                                    grpc.StatusCode.UNAVAILABLE), call
    assert "Server stopped" in hash_server.stderr
    assert "Traceback" not in hash_server.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_file_service_stops_gracefully_with_a_call_in_flight(held_call, holding,
                                                             signum: int) -> None:
    service, start_client = held_call
    client = start_client()  # its call waits in the hash service
    service.signal(signum)
    assert service.wait(timeout=2 + 1) == 0, service.describe()
    assert "Server stopped" in service.stderr
    assert "Traceback" not in service.stderr and "Exception" not in service.stderr
    result = client.result(timeout=5)
    assert result.returncode == 1, result.output  # one line saying the call failed
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert holding.ended.wait(5)  # and the hash call was cancelled


def test_health_and_reflection(hash_server: LabProcess, file_service: LabProcess) -> None:
    for server, name in ((hash_server, HASH_SERVICE), (file_service, FILE_SERVICE)):
        assert_health_serving(target(server), name)
        with grpc.insecure_channel(target(server)) as channel:
            services = ProtoReflectionDescriptorDatabase(channel).get_services()
            assert name in services and "grpc.health.v1.Health" in services


def test_hash_server_reports_a_busy_port_clearly(lab: LabRunner, hash_kind: str,
                                                 hash_server: LabProcess,
                                                 request: pytest.FixtureRequest) -> None:
    if hash_kind == "cpp":
        binary = request.getfixturevalue("cpp_hash_server")
        second = lab.start(Process("hash-server-cpp", (str(binary),)), "--port",
                           str(hash_server.port))
    else:
        second = lab.start("hash-server", "--port", str(hash_server.port))
    assert_refuses_busy_port(second, hash_server.port)


# === the client on a terminal, and the benchmark ==========================================

@python_hash_server_only
def test_progress_line_only_on_a_terminal(lab: LabRunner, root: Path,
                                          file_service: LabProcess) -> None:
    data = pattern(64 * 1024) * 160  # 10 MiB: over the client's threshold
    path = write(root / "big.bin", data)
    controller, terminal = pty.openpty()  # stderr is a terminal, stdout a pipe
    try:
        done = subprocess.run(
            [sys.executable, "client.py", "--target", target(file_service), "--verify",
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

