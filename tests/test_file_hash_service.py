"""file_hash_service, black box: each program of the chain graded on its own, against
programs of the test's own, then the whole chain as the README runs it.

- The student's FILE SERVICE runs in front of a stand-in hash service of the test's own,
  which records every chunk it receives and answers a digest of its own making (not
  SHA-256): a file service earns its points only by opening the file beneath its --root,
  streaming every byte of it to ShaStream in chunks of --chunk-size, and passing the hash
  service's reply on, size included. A byte from outside the root must never reach it.
- The student's HASH SERVERS (Python, and C++ built with CMake through labkit.builds) are
  called through the test's own client: Sha and ShaStream must hash and count every byte.
- The student's CLIENT runs against a stand-in file service that answers made-up digests
  and records the paths and deadlines it is asked with.
- The chain: client -> file service -> each hash server, with --verify, as the README runs
  it.

The C++ server is built once per session (skipped with a one-line reason where CMake, a
C++ compiler or the gRPC C++ libraries are missing; a failure under LABKIT_REQUIRE_ALL=1).
What the kit gives (the client's progress line and --verify, a hash service going away,
the command lines, the benchmark) is checked in test_file_hash_service_kit.py, and the
servers' plumbing in test_serving*.py: not graded.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from labkit.builds import BuildError, cmake_build
from labkit.labs import Process
from labkit.procs import LabProcess, LabRunner, Result, target
from labkit.protocol import lab_proto
from labkit.testing import (
    NO_DEADLINE,
    StandIn,
    assert_health_serving,
    assert_says_no_server,
    require,
    require_commands,
    token,
)
from tests.output_support import first_difference, said

LAB = "file_hash_service"
PROTO = lab_proto(LAB)
Chunk = PROTO.message("Chunk")
ShaRequest = PROTO.message("ShaRequest")
ShaReply = PROTO.message("ShaReply")
HashFileRequest = PROTO.message("HashFileRequest")
HashFileReply = PROTO.message("HashFileReply")
HASH_SERVICE = "filehash.HashService"
FILE_SERVICE = "filehash.FileService"

MiB = 1024 * 1024
CHUNK = MiB  # the file service's --chunk-size (its default)
SECRET = b"SECRET: a file outside the file service's root\n"  # every file outside the root
HOLD = b"HOLD THIS CALL\n"  # a file starting so: the stand-in hash service holds its call
AT_ONCE = 5.0  # seconds for what happens at once, on a busy machine
BUILD_TIMEOUT = 600  # seconds: CMake and a C++ build on a busy 2-core machine
APT_PACKAGES = "cmake g++ pkg-config libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev " \
               "protobuf-compiler libssl-dev"

# A test that builds the C++ server may wait for that build (once per session).
cpp_build = pytest.mark.timeout(BUILD_TIMEOUT + 60)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def some_bytes(size: int, seed: int) -> bytes:
    """`size` bytes that differ from chunk to chunk, so that a lost, repeated or swapped
    chunk changes the digest."""
    return random.Random(seed).randbytes(size)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def count(number: int, what: str) -> str:
    return f"{number} {what}{'' if number == 1 else 's'}"


def sizes(pieces: list[bytes]) -> str:
    """A stream of chunks, in words: "3 chunks of 1, 70000, 5 bytes"."""
    if not pieces:
        return "no chunk at all"
    shown = ", ".join(str(len(p)) for p in pieces[:5]) + (", ..." if len(pieces) > 5 else "")
    return f"{count(len(pieces), 'chunk')} of {shown} bytes"


# --- the C++ hash server ------------------------------------------------------------------

# The builds of this session, by what they were built from: copies of the lab whose C++
# sources are the same (the reference and its Python mutants, in `labkit check`) share one.
_BUILT: dict[str, Path] = {}
NOT_READ_BY_CMAKE = (".py", ".pyi", ".pyc", ".md")


def cpp_sources(folder: Path) -> str:
    """A digest of everything the C++ build of the lab folder may read: every file but the
    Python and Markdown ones (links as where they point, never followed)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] == "build" or "__pycache__" in rel.parts:
            continue
        if path.is_symlink():
            content = b"link:" + os.readlink(path).encode()
        elif path.is_file() and path.suffix not in NOT_READ_BY_CMAKE:
            content = path.read_bytes()
        else:
            continue
        digest.update(f"{rel}\0{len(content)}\0".encode() + content)
    return digest.hexdigest()


@pytest.fixture(scope="session")
def cpp_hash_server(lab_root: Path, sandbox) -> Path:
    """The C++ hash server, built from the lab's CMakeLists.txt (once per session for each
    set of C++ sources)."""
    why = "the C++ hash server (file_hash_service)"
    require_commands("cmake", "pkg-config", why=why)
    require(any(shutil.which(cxx) for cxx in ("c++", "g++", "clang++")),
            f"{why} needs a C++ compiler (c++, g++ or clang++) on PATH")
    have_libs = subprocess.run(["pkg-config", "--exists", "grpc++", "protobuf", "openssl"],
                               capture_output=True).returncode == 0
    require(have_libs, f"{why} needs gRPC C++, protobuf and OpenSSL development files "
                       f"(Debian/Ubuntu: apt install {APT_PACKAGES})")
    sources = cpp_sources(lab_root / LAB)
    if sources not in _BUILT:
        try:
            _BUILT[sources] = cmake_build(sandbox, lab_root / LAB, "hash_service",
                                          "hash-service-build")
        except BuildError as error:  # the toolchain is there: a failed build is a failure
            failure = str(error)
        else:
            failure = ""
        if failure:
            pytest.fail("hash_service.cpp should build with CMake (cmake -S . -B build && "
                        f"cmake --build build); it does not:\n{failure}", pytrace=False)
    return _BUILT[sources]


# --- the module's programs (conftest's module-scoped `runner` starts and stops them) -------

@pytest.fixture(scope="module")
def base(lab_root: Path, tmp_path_factory: pytest.TempPathFactory, sandbox) -> Path:
    """The module's folder (one for each copy of the labs under test): `root` (what the
    file services serve; each test writes its files into a folder of its own there) and,
    next to it, files outside the root."""
    folder = sandbox.share(tmp_path_factory.mktemp("file-hash"))
    write(folder / "root" / "README.txt", b"the root of the file services\n")
    write(folder / "outside.txt", SECRET)
    write(folder / "outside-dir" / "secret.txt", SECRET)
    # A folder whose name starts with the root's: `str(path).startswith(str(root))`
    # takes it for a part of the root.
    write(folder / "root-other" / "secret.txt", SECRET)
    return folder


@pytest.fixture(scope="module")
def python_hash_server(runner: LabRunner) -> LabProcess:
    return runner.start("hash-server", "--port", "0")  # ready on first use (target())


@pytest.fixture(scope="module")
def cpp_server(runner: LabRunner, cpp_hash_server: Path) -> LabProcess:
    return runner.start(Process("hash-server-cpp", (str(cpp_hash_server),), server=True),
                        "--port", "0")


def hash_server(kind: str, request: pytest.FixtureRequest) -> LabProcess:
    return request.getfixturevalue("cpp_server" if kind == "cpp" else "python_hash_server")


def start_file_service(runner: LabRunner, root: Path, hash_target: str) -> LabProcess:
    """A file service with the default flags (chunks of 1 MiB), ready on first use."""
    return runner.start("file-service", "--port", "0", "--root", str(root), "--hash-target",
                        hash_target)


# === the file service, in front of the test's own hash service ============================

@dataclass
class Stream:
    """One ShaStream call that the stand-in hash service received."""

    deadline: float | None  # seconds left when it arrived; None: no deadline
    chunks: list[bytes] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


class HashServiceStandIn:
    """The test's own hash service. ShaStream records every chunk, then answers a digest
    of its own making (SHA-256 of a secret word and the bytes: never what the file service
    could compute itself) and the true size. A stream whose first chunk starts with HOLD
    is held until its call ends (its caller cancels it, or its deadline passes)."""

    def __init__(self) -> None:
        self.word = token().encode()
        self.target = ""  # host:port, once it serves
        self.streams: list[Stream] = []
        self.changed = threading.Condition()

    def digest_of(self, data: bytes) -> str:
        return sha256(self.word + data)

    def ShaStream(self, chunks, context: grpc.ServicerContext):
        left = context.time_remaining()
        stream = Stream(left if left is not None and left < NO_DEADLINE else None)
        context.add_callback(stream.ended.set)  # runs when the call ends, however it ends
        with self.changed:
            self.streams.append(stream)
            self.changed.notify_all()
        try:
            for chunk in chunks:
                with self.changed:
                    stream.chunks.append(chunk.data)
                    self.changed.notify_all()
                if stream.chunks[0].startswith(HOLD):
                    stream.ended.wait(60)
                    return ShaReply()
        except grpc.RpcError:  # the call ended while we read it
            return ShaReply()
        data = stream.data
        return ShaReply(hex_digest=self.digest_of(data), size=len(data))

    def since(self, mark: int) -> list[Stream]:
        with self.changed:
            return self.streams[mark:]

    def wait_for_chunk(self, mark: int, call: grpc.Future) -> Stream | None:
        """The first stream from number `mark` on, once it got a chunk; None if the call
        `call` ended first (or nothing came within 15 s)."""
        deadline = time.monotonic() + 15
        with self.changed:
            while time.monotonic() < deadline:
                if len(self.streams) > mark and self.streams[mark].chunks:
                    return self.streams[mark]
                if call.done():
                    return None
                self.changed.wait(0.05)
        return None


@pytest.fixture(scope="module")
def hashing(lab_root: Path) -> Iterator[HashServiceStandIn]:
    """The stand-in hash service (one for each copy of the labs under test)."""
    service = HashServiceStandIn()
    with StandIn(LAB, "HashService", service) as stand_in:
        service.target = stand_in.target
        yield service
    for stream in service.streams:  # (the stop ended them; in case it did not)
        stream.ended.set()


@pytest.fixture(scope="module")
def file_service(runner: LabRunner, base: Path, hashing: HashServiceStandIn) -> LabProcess:
    return start_file_service(runner, base / "root", hashing.target)


@dataclass
class Answer:
    """What HashFile answered: its reply, or its status code and details."""

    code: grpc.StatusCode
    details: str = ""
    reply: object = None

    def said(self) -> str:
        if self.reply is None:  # (the test's sentence ends with its own full stop)
            return f"{self.code.name}: {self.details.rstrip('.')}"
        return (f"OK (path {self.reply.path!r}, size {self.reply.size}, digest "
                f"{self.reply.hex_digest[:16] or '(empty)'}...)")


def hash_file(channel: grpc.Channel, path: str, timeout: float | None = 10) -> Answer:
    """HashFile(path) through the test's own client."""
    try:
        reply = PROTO.stub(channel, "FileService").HashFile(HashFileRequest(path=path),
                                                            timeout=timeout)
    except grpc.RpcError as error:
        return Answer(error.code(), error.details() or "")
    return Answer(grpc.StatusCode.OK, reply=reply)


# --- the file service stays inside its root (central) --------------------------------------

def test_file_service_stays_inside_its_root(file_service: LabProcess, base: Path,
                                            hashing: HashServiceStandIn) -> None:
    root = base / "root"
    ok = write(root / "confined" / "ok.txt", b"inside the root\n")
    write(root / "confined" / "sub" / "deeper.txt", b"deeper inside\n")
    links = root / "confined" / "links"
    links.mkdir()
    (links / "alias.txt").symlink_to("../ok.txt")  # a link that stays inside: followed
    (links / "out.txt").symlink_to("../../../outside.txt")  # links pointing out
    (links / "out-absolute.txt").symlink_to(base / "outside.txt")
    (links / "out-dir").symlink_to(base / "outside-dir")
    (links / "out-sibling").symlink_to("../../../root-other")
    outside = {
        "../outside.txt": "`..` above the root",
        "confined/../../outside.txt": "`..` above the root, after a folder",
        "../no-such-file.txt": "`..` above the root (whether it exists or not)",
        "../root-other/secret.txt": "a folder next to the root whose name starts with "
                                    "the root's",
        str(base / "outside.txt"): "an absolute path outside the root",
        str(base / "root-other" / "secret.txt"): "an absolute path that starts with the "
                                                 "root's path but is not beneath it",
        "/etc/hostname": "an absolute path outside the root",
        "confined/links/out.txt": "a symlink pointing out of the root",
        "confined/links/out-absolute.txt": "an absolute symlink pointing out of the root",
        "confined/links/out-dir/secret.txt": "a symlink to a folder outside the root",
        "confined/links/out-sibling/secret.txt": "a symlink to the folder next to the root",
    }
    inside = {"confined/ok.txt": ok, "confined/sub/../ok.txt": ok,
              "confined/links/alias.txt": ok, str(ok): ok,
              "./confined/sub/deeper.txt": root / "confined" / "sub" / "deeper.txt"}
    mark = len(hashing.streams)
    with grpc.insecure_channel(target(file_service)) as channel:
        for path, what in outside.items():
            answer = hash_file(channel, path)
            assert answer.code == grpc.StatusCode.PERMISSION_DENIED, (
                f"HashFile({path!r}), {what}, should be refused with PERMISSION_DENIED: the "
                f"file service hashes only files beneath its --root. It answered "
                f"{answer.said()}.")
            leaked = [s for s in hashing.since(mark) if SECRET in s.data]
            assert not leaked, (
                f"HashFile({path!r}), {what}, sent the content of a file outside the root "
                "to the hash service: open the path with open_beneath, never with "
                "open(root / path).")
        for path, file in inside.items():
            answer = hash_file(channel, path)
            expected = hashing.digest_of(file.read_bytes())
            assert answer.reply is not None and answer.reply.hex_digest == expected, (
                f"HashFile({path!r}) names a file beneath the root: it should be hashed "
                f"(the test's hash service answers {expected[:16]}...); the file service "
                f"answered {answer.said()}.")


def test_file_service_refuses_what_it_cannot_hash(file_service: LabProcess,
                                                  base: Path) -> None:
    root = base / "root"
    write(root / "refused" / "a.txt", b"a\n")
    os.mkfifo(root / "refused" / "pipe")  # opening it to read would wait for a writer
    refused = {
        "refused/no-such-file.txt": ("NOT_FOUND", "no such file"),
        "refused/no-folder/a.txt": ("NOT_FOUND", "no such file"),
        "refused": ("INVALID_ARGUMENT", "is a directory, not a file"),
        ".": ("INVALID_ARGUMENT", "is a directory, not a file"),
        "refused/pipe": ("INVALID_ARGUMENT", "not a regular file"),
        "refused/a.txt/": ("INVALID_ARGUMENT", "a file in it is used as a directory"),
        "": ("INVALID_ARGUMENT", "the path is empty"),
    }
    with grpc.insecure_channel(target(file_service)) as channel:
        for path, (code, reason) in refused.items():
            answer = hash_file(channel, path, timeout=AT_ONCE)
            message = f"{path}: {reason}" if path else reason
            assert (answer.code.name, answer.details) == (code, message), (
                f"HashFile({path!r}) should be refused at once with {code}: {message!r} "
                f"(README, 'Paths and the root'); the file service answered "
                f"{answer.said()}.")
        answer = hash_file(channel, "refused/a.txt")
        assert answer.reply is not None, (
            "After refusing bad paths the file service should go on serving; "
            f"HashFile('refused/a.txt') then answered {answer.said()}.")


# --- the file service streams every byte (central) ----------------------------------------

BYTE_CASES = {
    "empty.bin": 0,
    "one-byte.bin": 1,
    "chunk-minus-one.bin": CHUNK - 1,
    "one-chunk.bin": CHUNK,
    "chunk-plus-one.bin": CHUNK + 1,
    "over-4-MB.bin": 5 * CHUNK + 17,  # more than gRPC's 4 MB limit for one message
}


@dataclass
class Hashed:
    """One file hashed by the file service: its bytes, the answer, the hash calls."""

    path: str
    data: bytes
    answer: Answer
    streams: list[Stream]


@pytest.fixture(scope="module")
def hashed(file_service: LabProcess, base: Path,
           hashing: HashServiceStandIn) -> list[Hashed]:
    """Every file of BYTE_CASES hashed once by the file service, one after the other."""
    done = []
    with grpc.insecure_channel(target(file_service)) as channel:
        for number, (name, size) in enumerate(BYTE_CASES.items()):
            path = f"every-byte/{name}"
            data = some_bytes(size, seed=number)
            write(base / "root" / path, data)
            mark = len(hashing.streams)
            answer = hash_file(channel, path, timeout=20)
            done.append(Hashed(path, data, answer, hashing.since(mark)))
    return done


def first_difference_of(expected: bytes, seen: bytes) -> str:
    pairs = zip(expected, seen, strict=False)
    at = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(expected), len(seen)))
    return f"the first difference is at byte {at}"


def test_file_service_streams_every_byte_to_the_hash_service(hashed: list[Hashed]) -> None:
    for case in hashed:
        what = f"HashFile({case.path!r}), a file of {count(len(case.data), 'byte')},"
        assert len(case.streams) == 1, (
            f"{what} should make one ShaStream call to the hash service; the test's hash "
            f"service received {count(len(case.streams), 'call') if case.streams else 'none'}, "
            "and the file service "
            f"answered {case.answer.said()}.")
        stream = case.streams[0]
        received = stream.data
        assert received == case.data, (
            f"{what} should send every byte of the file, in order, to ShaStream; the hash "
            f"service received {count(len(received), 'byte')} in {sizes(stream.chunks)}, "
            f"and {first_difference_of(case.data, received)}.")
        assert max(map(len, stream.chunks), default=0) <= CHUNK, (
            f"{what} should be sent in chunks of at most --chunk-size (1 MiB, {CHUNK} bytes, "
            "by default), so that no message exceeds gRPC's limit of 4 MB; the file service "
            f"sent {sizes(stream.chunks)}.")


def test_file_service_replies_with_the_path_size_and_digest(
        hashed: list[Hashed], hashing: HashServiceStandIn) -> None:
    for case in hashed:
        what = f"HashFile({case.path!r}), a file of {count(len(case.data), 'byte')},"
        reply = case.answer.reply
        assert reply is not None, (
            f"{what} should answer a HashFileReply; the file service answered "
            f"{case.answer.said()}.")
        assert reply.path == case.path, (
            f"{what} should answer with the path as asked; the reply's path is "
            f"{reply.path!r}.")
        assert reply.size == len(case.data), (
            f"{what} should answer the file's size, {len(case.data)}, in HashFileReply.size "
            f"(the hash service's ShaReply.size); the reply's size is {reply.size}.")
        expected = hashing.digest_of(case.data)
        local = " (the SHA-256 computed by the file service itself: pass on the hash " \
                "service's answer)" if reply.hex_digest == sha256(case.data) else ""
        assert reply.hex_digest == expected, (
            f"{what} should answer the digest that the hash service computed (the test's "
            f"hash service answers {expected[:16]}...); the reply's digest is "
            f"{reply.hex_digest[:16] or '(empty)'}...{local}.")


# --- deadlines and cancellation travel down the chain ---------------------------------------

def test_file_service_passes_its_callers_deadline_on(
        file_service: LabProcess, base: Path, hashing: HashServiceStandIn) -> None:
    write(base / "root" / "deadline" / "a.bin", b"a deadline\n")
    write(base / "root" / "deadline" / "held.bin", HOLD + b"until the deadline\n")
    with grpc.insecure_channel(target(file_service)) as channel:
        for timeout in (8.0, None):
            mark = len(hashing.streams)
            answer = hash_file(channel, "deadline/a.bin", timeout=timeout)
            streams = hashing.since(mark)
            assert streams, (
                "HashFile should call ShaStream on the hash service; it received no call "
                f"(the file service answered {answer.said()}).")
            left = streams[0].deadline
            if timeout is None:
                assert left is None, (
                    "A HashFile call without a deadline should call ShaStream without one "
                    f"(timeout=time_left(context) gives None); the hash service's call had "
                    f"{left:.1f} s.")
            else:
                assert left is not None and 2 < left <= timeout + 0.5, (
                    f"HashFile with a deadline of {timeout:g} s should give ShaStream the "
                    "time left (timeout=time_left(context)); the hash service's call had "
                    + ("no deadline." if left is None else f"{left:.1f} s."))
        # The deadline ends the hash call too, when it passes.
        mark = len(hashing.streams)
        answer = hash_file(channel, "deadline/held.bin", timeout=1.5)
        assert answer.code == grpc.StatusCode.DEADLINE_EXCEEDED, (
            "HashFile of a file whose hash call never answers should end with "
            f"DEADLINE_EXCEEDED once its 1.5 s pass; it answered {answer.said()}.")
    streams = hashing.since(mark)
    assert streams and streams[0].ended.wait(AT_ONCE), (
        "When HashFile's deadline passes, the hash service's call should end with it (it "
        f"has the same deadline); it was still open {AT_ONCE:g} s later.")


def test_file_service_cancels_the_hash_call_when_its_caller_leaves(
        file_service: LabProcess, base: Path, hashing: HashServiceStandIn) -> None:
    write(base / "root" / "cancel" / "held.bin", HOLD + b"until the caller leaves\n")
    with grpc.insecure_channel(target(file_service)) as channel:
        mark = len(hashing.streams)
        call = PROTO.stub(channel, "FileService").HashFile.future(
            HashFileRequest(path="cancel/held.bin"))  # no deadline: only a cancel ends it
        stream = hashing.wait_for_chunk(mark, call)
        assert stream is not None, (
            "HashFile should stream the file to ShaStream; the test's hash service received "
            f"no chunk (HashFile ended with {call.code().name if call.done() else '...'}: "
            f"{call.details() if call.done() else 'still running'}).")
        call.cancel()
        assert stream.ended.wait(AT_ONCE), (
            "When HashFile's caller cancels, the file service should cancel its ShaStream "
            "call (context.add_callback(hash_call.cancel)); the hash service's call was "
            f"still open {AT_ONCE:g} s later.")


# === the hash servers, through the test's own client =========================================

SHA_INPUTS = [b"", b"a", b"abc", some_bytes(100_000, seed=10), some_bytes(3 * MiB, seed=11)]
STREAMS = [
    [],  # an empty file: no chunk at all
    [b""],
    [b"x"],
    [b"", b"x", some_bytes(70_000, seed=12), b"", some_bytes(5, seed=13)],
    [some_bytes(64 * 1024, seed=100 + i) for i in range(40)],
    [some_bytes(3 * MiB, seed=14), b"tail"],
]


def what_went_wrong(pieces: list[bytes], digest: str, size: int) -> str:
    """A guess at the mistake behind a wrong ShaStream reply, from the usual ones."""
    guesses = []
    if pieces and digest == sha256(pieces[-1]):
        guesses.append("the digest is that of the last chunk alone")
    elif pieces and digest == sha256(pieces[0]):
        guesses.append("the digest is that of the first chunk alone")
    elif len(pieces) > 1 and digest == sha256(b"".join(pieces[1:])):
        guesses.append("the digest leaves out the first chunk")
    if size == len(pieces) and size != len(b"".join(pieces)):
        guesses.append("the size counts chunks, not bytes")
    return f" ({'; '.join(guesses)})" if guesses else ""


def check_hashes_every_byte(server: LabProcess, name: str) -> None:
    with grpc.insecure_channel(target(server)) as channel:
        stub = PROTO.stub(channel, "HashService")
        for data in SHA_INPUTS:
            try:
                reply = stub.Sha(ShaRequest(data=data), timeout=20)
            except grpc.RpcError as error:
                pytest.fail(f"{name}: Sha of {len(data)} bytes should answer their SHA-256 "
                            f"and size; it answered {error.code().name}: {error.details()}",
                            pytrace=False)
            assert (reply.hex_digest, reply.size) == (sha256(data), len(data)), (
                f"{name}: Sha of {len(data)} bytes should answer their SHA-256 in 64 "
                f"lowercase hex digits, {sha256(data)[:16]}..., and size {len(data)}; it "
                f"answered {reply.hex_digest[:16] or '(empty)'}... and size {reply.size}.")
        for pieces in STREAMS:
            whole = b"".join(pieces)
            try:
                reply = stub.ShaStream(iter([Chunk(data=p) for p in pieces]), timeout=20)
            except grpc.RpcError as error:
                pytest.fail(f"{name}: ShaStream of {sizes(pieces)} should "
                            f"answer the SHA-256 and size of all their bytes; it answered "
                            f"{error.code().name}: {error.details()}", pytrace=False)
            assert (reply.hex_digest, reply.size) == (sha256(whole), len(whole)), (
                f"{name}: ShaStream of {sizes(pieces)} should answer the "
                f"SHA-256 of all their bytes in order, {sha256(whole)[:16]}..., and size "
                f"{len(whole)}; it answered {reply.hex_digest[:16] or '(empty)'}... and size "
                f"{reply.size}{what_went_wrong(pieces, reply.hex_digest, reply.size)}.")


def test_python_hash_server_hashes_every_byte(python_hash_server: LabProcess) -> None:
    check_hashes_every_byte(python_hash_server, "hash_service.py")


@cpp_build
def test_cpp_hash_server_hashes_every_byte(cpp_server: LabProcess) -> None:
    check_hashes_every_byte(cpp_server, "hash_service.cpp")


# === the client, against the test's own file service =========================================

class FileServiceStandIn:
    """The test's own file service: HashFile answers a made-up digest for each path (never
    a file's SHA-256), NOT_FOUND for paths starting with `missing`; or, `silent`, holds
    every call until it ends."""

    def __init__(self, silent: bool = False) -> None:
        self.word = token()
        self.silent = silent

    def digest_for(self, path: str) -> str:
        return sha256(f"{self.word} {path}".encode())

    def HashFile(self, request, context: grpc.ServicerContext):
        if self.silent:
            ended = threading.Event()
            if context.add_callback(ended.set):  # False: the call has ended already
                ended.wait(30)
            return HashFileReply()
        if request.path.startswith("missing"):
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.path}: no such file")
        return HashFileReply(path=request.path, size=len(request.path),
                             hex_digest=self.digest_for(request.path))


CLIENT_PATHS = ("hash.proto", "sub/dir/data.bin", "Zoë 李.txt", "missing.txt", "last.txt")
CLIENT_DEADLINE = 7.0


@dataclass
class ClientRun:
    result: Result
    calls: list
    service: FileServiceStandIn


@pytest.fixture(scope="module")
def client_run(runner: LabRunner) -> ClientRun:
    """The client, run once against the test's own file service."""
    service = FileServiceStandIn()
    with StandIn(LAB, "FileService", service) as stand_in:
        result = runner.run("client", "--target", stand_in.target, "--deadline",
                            f"{CLIENT_DEADLINE:g}", *CLIENT_PATHS)
    return ClientRun(result, list(stand_in.calls), service)


def test_client_asks_for_each_path_and_prints_the_replies(client_run: ClientRun) -> None:
    asked = [call.request.path for call in client_run.calls]
    assert asked == list(CLIENT_PATHS), (
        f"`python client.py {' '.join(CLIENT_PATHS)}` should call HashFile once for each "
        f"path, in order; the test's file service was asked for {asked or 'nothing'}.")
    result = client_run.result
    expected = "".join(f"{client_run.service.digest_for(path)}  {path}\n"
                       for path in CLIENT_PATHS if not path.startswith("missing"))
    assert result.stdout == expected, (
        "The client should print '<hex digest>  <path>' from each HashFileReply, as "
        "sha256sum does (the test's file service answers made-up digests); "
        + first_difference(expected, result.stdout))
    failed = "HashFile failed for missing.txt: NOT_FOUND: missing.txt: no such file"
    assert result.stderr.splitlines() == [failed] and result.returncode == 1, (
        f"A file that cannot be hashed should get one line, {failed!r}, then the client "
        f"goes on and exits 1; it printed {said(result.stderr)} and exited "
        f"{result.returncode}.")


def test_client_gives_each_call_its_deadline(client_run: ClientRun) -> None:
    assert client_run.calls, (
        "The client should call HashFile; the test's file service received no call (it "
        f"printed {said(client_run.result.output)}).")
    for call in client_run.calls:
        left = call.deadline
        assert left is not None and 1 < left <= CLIENT_DEADLINE + 0.5, (
            f"Each HashFile call should have the deadline --deadline gives "
            f"({CLIENT_DEADLINE:g} s here), so that a silent file service cannot hang the "
            f"client; HashFile({call.request.path!r}) had "
            + ("none." if left is None else f"{left:.1f} s."))


def test_client_gives_up_on_a_silent_file_service(runner: LabRunner) -> None:
    with StandIn(LAB, "FileService", FileServiceStandIn(silent=True)) as stand_in:
        client = runner.start("client", "--target", stand_in.target, "--deadline", "1",
                              "a.txt")
        client.close_stdin()
        try:
            code = client.wait(timeout=15)
        except AssertionError:
            client.stop()
            pytest.fail("The client should give up once --deadline (1 s here) has passed; "
                        "it was still waiting for a silent file service 15 s later.",
                        pytrace=False)
    expected = "HashFile failed for a.txt: DEADLINE_EXCEEDED"
    assert code == 1 and client.stderr.startswith(expected), (
        f"When the file service does not answer within --deadline, the client should print "
        f"one line, {expected}: ..., and exit 1; it exited {code} and printed "
        f"{said(client.stderr)}.")


# === the chain, as the README runs it ==========================================================

CHAIN_CASES = {
    "empty.bin": 0,
    "one-byte.bin": 1,
    "chunk-minus-one.bin": CHUNK - 1,
    "one-chunk.bin": CHUNK,
    "chunk-plus-one.bin": CHUNK + 1,
    "sub/over-4-MB.bin": 5 * CHUNK + 5,
}


@pytest.mark.parametrize("kind", ["py", pytest.param("cpp", marks=cpp_build)])
def test_chain_hashes_files_as_sha256sum_does(runner: LabRunner, base: Path, kind: str,
                                              request: pytest.FixtureRequest) -> None:
    server = hash_server(kind, request)
    folder = base / "root" / f"chain-{kind}"
    contents = {name: some_bytes(size, seed=200 + i)
                for i, (name, size) in enumerate(CHAIN_CASES.items())}
    for name, data in contents.items():
        write(folder / name, data)
    service = start_file_service(runner, folder, target(server))
    # The client runs in the folder the file service serves: --verify finds the same files.
    paths = [*contents, str(folder / "one-byte.bin")]
    client = runner.start(Process("client", ("python", str(runner.folder / "client.py")),
                                  cwd=str(folder)),
                          "--target", target(service), "--verify", *paths)
    client.close_stdin()
    result = client.result(timeout=30)
    data_of = {**contents, paths[-1]: contents["one-byte.bin"]}
    expected = "".join(f"{sha256(data_of[p])}  {p}\n{p}: OK, the local SHA-256 agrees\n"
                       for p in paths)
    program = "build/hash_service" if kind == "cpp" else "python hash_service.py"
    assert result.stdout == expected and result.returncode == 0, (
        f"`python client.py --verify PATH...` through the file service and {program} should "
        "print each file's SHA-256 as sha256sum does, and that the local SHA-256 agrees; it "
        f"exited {result.returncode}, and " + first_difference(expected, result.stdout))
    # What the client does not print: the size, in every reply of the chain.
    with grpc.insecure_channel(target(service)) as channel:
        for path, data in contents.items():
            answer = hash_file(channel, path, timeout=20)
            assert answer.reply is not None and \
                (answer.reply.size, answer.reply.hex_digest) == (len(data), sha256(data)), (
                    f"HashFile({path!r}) through the file service and {program} should answer "
                    f"the file's size, {len(data)}, and its SHA-256, {sha256(data)[:16]}...; "
                    f"it answered {answer.said()}.")


# === what the kit gives: 0-point checks ========================================================

def test_health_and_reflection(python_hash_server: LabProcess,
                               file_service: LabProcess) -> None:
    for server, name in ((python_hash_server, HASH_SERVICE), (file_service, FILE_SERVICE)):
        assert_health_serving(target(server), name)
        with grpc.insecure_channel(target(server)) as channel:
            services = ProtoReflectionDescriptorDatabase(channel).get_services()
        assert name in services and "grpc.health.v1.Health" in services, services


def test_client_without_file_service_says_how_to_start_it(lab: LabRunner,
                                                           free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "1", "x")
    assert_says_no_server(result, f"localhost:{free_port}", "python file_service.py")
