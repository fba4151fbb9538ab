"""The C++ hash server (file_hash_service/hash_service.cpp) keeps the serving conventions
of the Python servers: bytes that are not a message get INVALID_ARGUMENT on every RPC, its
health checking and reflection included (its methods take raw bytes, parsed by the server
itself: gRPC C++'s own parsing answers INTERNAL, and ends a stream at a message that does
not parse as if the stream were over), a stream with a malformed message fails as a whole,
--max-calls refuses with RESOURCE_EXHAUSTED, the command line is checked in one line, and
SIGINT/SIGTERM stop it within 2 s, 20 times each (also while chunks flood in); callers that
leave mid-stream leave it hashing right.

Its health checking and reflection are the lab's own (file_hash_service/serving.cc, since
gRPC C++'s answer a malformed Watch with INTERNAL and end a reflection stream with a
malformed message as OK): here too, Watch tells the status until the server stops, and
grpcio-reflection's client finds hash.proto's services, symbols and files.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from test_file_hash_service import cpp_build, cpp_hash_server, sha256  # the session's build
from test_serving import (
    BAD,
    HEALTH,
    LIST_SERVICES,
    REFLECTION,
    call_raw,
    good_and_bad,
    health_status,
)
from test_serving_stop import RUNS, SIGNALS, ExitTimes, check_stopped, stop_together

from labkit.labs import Process, get_lab
from labkit.procs import LabProcess, LabRunner, target
from labkit.protocol import lab_proto

__all__ = ["cpp_hash_server"]  # a fixture, used by name
pytestmark = cpp_build  # the first test of a session waits for the build

CHUNK = lab_proto("file_hash_service").message("Chunk")
SHA_REQUEST = lab_proto("file_hash_service").message("ShaRequest")
SHA_REPLY = lab_proto("file_hash_service").message("ShaReply")
SHA_STREAM = "/filehash.HashService/ShaStream"


@pytest.fixture
def runner(lab_root: Path, sandbox) -> Iterator[LabRunner]:
    with LabRunner(get_lab("file_hash_service"), lab_root, sandbox=sandbox) as made:
        yield made


def start_cpp(runner: LabRunner, binary: Path, *args: str) -> LabProcess:
    """The C++ server, not waited for; `--port 0` unless args name a port."""
    port = () if any(arg.startswith("--port") for arg in args) else ("--port", "0")
    return runner.start(Process("hash-server-cpp", (str(binary),), server=True), *port, *args)


def test_malformed_bytes_get_invalid_argument_on_every_rpc(runner,
                                                        cpp_hash_server: Path) -> None:
    server = start_cpp(runner, cpp_hash_server)
    server.wait_ready()
    services = [lab_proto("file_hash_service").service("HashService"), HEALTH, REFLECTION]
    with grpc.insecure_channel(target(server)) as channel:
        for method in (method for service in services for method in service.methods):
            path = f"/{method.containing_service.full_name}/{method.name}"
            with pytest.raises(grpc.RpcError) as caught:
                call_raw(channel, path, method.client_streaming, method.server_streaming, [BAD])
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, path
            what = ("message 1 of the request stream" if method.client_streaming
                    else "the request")
            assert caught.value.details() == (f"{what} is not a {method.input_type.name} "
                                              "(its bytes do not decode)"), path
        # Still serving, and right.
        reply = channel.unary_unary("/filehash.HashService/Sha")(
            SHA_REQUEST(data=b"ab").SerializeToString(), timeout=5)
    assert b"fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603" in reply
    assert health_status(target(server)) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("name", ["hash", "reflection"], ids=["ShaStream", "reflection"])
def test_a_stream_with_a_malformed_message_fails_as_a_whole(runner, cpp_hash_server: Path,
                                                            name: str) -> None:
    # ShaStream never answers OK with the digest of the part before the bad chunk; a
    # reflection stream ends with INVALID_ARGUMENT after the answer to the good request.
    server = start_cpp(runner, cpp_hash_server)
    server.wait_ready()
    path, messages = good_and_bad(name)  # test_serving's: good messages around a bad one
    received = []
    with grpc.insecure_channel(target(server)) as channel, \
            pytest.raises(grpc.RpcError) as caught:
        if name == "hash":
            received.append(channel.stream_unary(path)(iter(messages), timeout=5))
        else:
            received.extend(channel.stream_stream(path)(iter(messages), timeout=5))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # never OK
    expected = "Chunk" if name == "hash" else "ServerReflectionRequest"
    assert caught.value.details() == (f"message 2 of the request stream is not a {expected} "
                                      "(its bytes do not decode)")
    assert len(received) == (0 if name == "hash" else 1)  # the answer to the good one


def test_health_watch_tells_the_status_until_the_server_stops(runner,
                                                             cpp_hash_server: Path) -> None:
    server = start_cpp(runner, cpp_hash_server)
    server.wait_ready()
    status = health_pb2.HealthCheckResponse
    with grpc.insecure_channel(target(server)) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        listed = health.List(health_pb2.HealthListRequest(), timeout=5).statuses
        assert {name: listed[name].status for name in listed} == {
            "": status.SERVING, "filehash.HashService": status.SERVING}
        with pytest.raises(grpc.RpcError) as caught:
            health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        watches = {name: health.Watch(health_pb2.HealthCheckRequest(service=name), timeout=10)
                   for name in ("", "filehash.HashService", "nope")}
        # Each hears the status at once, and its call goes on (also for an unknown service).
        first = {name: next(watch).status for name, watch in watches.items()}
        assert first == {"": status.SERVING, "filehash.HashService": status.SERVING,
                         "nope": status.SERVICE_UNKNOWN}
        assert all(watch.running() for watch in watches.values())
        server.signal(signal.SIGTERM)
        for name, watch in watches.items():
            then = []
            with pytest.raises(grpc.RpcError) as caught:
                then.extend(reply.status for reply in watch)
            assert then == ([] if name == "nope" else [status.NOT_SERVING]), name
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, name
            assert caught.value.details() == "the server is stopping"
    assert server.wait(timeout=2 + 1) == 0, server.describe()
    assert server.stderr.splitlines()[-1] == "Server stopped"


def test_reflection_finds_hash_proto(runner, cpp_hash_server: Path) -> None:
    # As grpcurl and labkit wire use it: services, symbols, files; the file as the kit's.
    server = start_cpp(runner, cpp_hash_server)
    server.wait_ready()
    with grpc.insecure_channel(target(server)) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert database.get_services() == ["filehash.HashService", "grpc.health.v1.Health",
                                           "grpc.reflection.v1alpha.ServerReflection"]
        pool = DescriptorPool(database)
        sha_stream = pool.FindMethodByName("filehash.HashService.ShaStream")
        assert (sha_stream.input_type.name, sha_stream.output_type.name) == ("Chunk", "ShaReply")
        assert sha_stream.client_streaming and not sha_stream.server_streaming
        assert pool.FindFileContainingSymbol("filehash.ShaRequest").name == "hash.proto"
        health = pool.FindServiceByName("grpc.health.v1.Health")
        assert [method.name for method in health.methods] == ["Check", "List", "Watch"]
        with pytest.raises(KeyError):
            pool.FindFileContainingSymbol("filehash.NoSuchThing")
        served, kits = descriptor_pb2.FileDescriptorProto(), descriptor_pb2.FileDescriptorProto()
        pool.FindFileByName("hash.proto").CopyToProto(served)
        lab_proto("file_hash_service").pool.FindFileByName("hash.proto").CopyToProto(kits)
        # grpcurl asks several things on one stream (the client above opens one per
        # request): each request gets its answer, and the server lives on.
        asked = [reflection_pb2.ServerReflectionRequest(**fields).SerializeToString()
                 for fields in ({"list_services": ""},
                                {"file_containing_symbol": "filehash.HashService"},
                                {"file_by_filename": "grpc/health/v1/health.proto"})]
        replies = channel.stream_stream(f"/{REFLECTION.full_name}/ServerReflectionInfo")(
            iter(asked), timeout=5)
        answers = [reflection_pb2.ServerReflectionResponse.FromString(reply).WhichOneof(
            "message_response") for reply in replies]
    assert served == kits
    assert answers == ["list_services_response", "file_descriptor_response",
                       "file_descriptor_response"]
    assert health_status(target(server)) == health_pb2.HealthCheckResponse.SERVING


class HeldStreams:
    """Calls held open until close(): ShaStream calls that send one chunk, and (with
    open_health_and_reflection) a health Watch and a reflection stream, each answered once."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.release = threading.Event()
        self.calls: list[grpc.Future] = []

    def requests(self, first: bytes) -> Iterator[bytes]:
        yield first
        self.release.wait(30)

    def open(self) -> grpc.Future:
        self.calls.append(self.channel.stream_unary(SHA_STREAM).future(
            self.requests(CHUNK(data=b"x").SerializeToString()), timeout=30))
        return self.calls[-1]

    def open_health_and_reflection(self) -> None:
        watch = self.channel.unary_stream("/grpc.health.v1.Health/Watch")(
            health_pb2.HealthCheckRequest().SerializeToString(), timeout=30)
        reflection = self.channel.stream_stream(f"/{REFLECTION.full_name}/ServerReflectionInfo")(
            self.requests(LIST_SERVICES), timeout=30)
        for call in (watch, reflection):
            self.calls.append(call)
            next(call)  # its first answer: the call is open on the server

    def close(self) -> None:
        self.release.set()
        for call in self.calls:
            call.cancel()
        self.channel.close()


class Flood:
    """ShaStream calls that send chunks as fast as the server takes them, until stopped:
    the server's queue of chunks to hash is full, and its reading paused, most of the time."""

    CHUNK_BYTES = CHUNK(data=bytes(256 * 1024)).SerializeToString()

    def __init__(self, address: str, calls: int) -> None:
        self.channel = grpc.insecure_channel(address)
        self.stop = threading.Event()
        self.sent = [threading.Semaphore(0) for _ in range(calls)]
        self.calls = [self.channel.stream_unary(SHA_STREAM).future(self.chunks(sent), timeout=30)
                      for sent in self.sent]

    def chunks(self, sent: threading.Semaphore) -> Iterator[bytes]:
        while not self.stop.is_set():
            yield self.CHUNK_BYTES
            sent.release()

    def wait_until_sent(self, chunks: int) -> None:
        """Until every call has sent `chunks` chunks: gRPC's flow control lets a sender
        get ahead of the server by a few MB only, so the server has been reading."""
        for sent in self.sent:
            for _ in range(chunks):
                assert sent.acquire(timeout=20), "the server stopped taking chunks"

    def close(self) -> None:
        self.stop.set()
        for call in self.calls:
            call.cancel()
        self.channel.close()


def test_streams_cancelled_mid_flood_leave_it_hashing_right(runner, cpp_hash_server: Path) -> None:
    # The server hashes a stream's chunks on a thread of its own, fed by a short queue:
    # callers that leave while it is full, or while a chunk is hashed, leave nothing behind.
    server = start_cpp(runner, cpp_hash_server)
    server.wait_ready()
    for chunks in (1, 5, 40):
        flood = Flood(target(server), calls=4)
        try:
            flood.wait_until_sent(chunks)
        finally:
            flood.close()
    pieces = [bytes([number]) * (64 * 1024 + number) for number in range(60)]
    with grpc.insecure_channel(target(server)) as channel:
        reply = channel.stream_unary(SHA_STREAM)(
            iter([CHUNK(data=piece).SerializeToString() for piece in pieces]), timeout=20)
    whole = b"".join(pieces)
    assert reply == SHA_REPLY(hex_digest=sha256(whole),
                              size=len(whole)).SerializeToString()
    assert health_status(target(server)) == health_pb2.HealthCheckResponse.SERVING
    stop_together([server], last_line="Server stopped")


def test_past_max_calls_the_next_is_refused(runner, cpp_hash_server: Path) -> None:
    server = start_cpp(runner, cpp_hash_server, "--max-calls", "2")
    server.wait_ready()
    held = HeldStreams(target(server))
    try:
        held.open(), held.open()
        # A unary call is a call too: the third, refused at once. The client cannot see
        # when the server has taken in the held streams (it answers them only at their
        # end), so until then a unary call may still get through: we call until refused.
        with grpc.insecure_channel(target(server)) as channel:
            sha = channel.unary_unary("/filehash.HashService/Sha")
            give_up = time.monotonic() + 20
            with pytest.raises(grpc.RpcError) as caught:
                while time.monotonic() < give_up:
                    sha(b"", timeout=10)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "the server is full: it takes 2 calls at once" in caught.value.details()
        assert health_status(target(server)) == health_pb2.HealthCheckResponse.SERVING
    finally:
        held.close()


def test_command_line_mistakes_and_a_busy_port_are_one_line(runner, cpp_hash_server: Path) -> None:
    first = start_cpp(runner, cpp_hash_server)
    first.wait_ready()
    programs = {"--port": start_cpp(runner, cpp_hash_server, "--port", "70000"),
                "--max-calls": start_cpp(runner, cpp_hash_server, "--max-calls", "1e9"),
                "busy": start_cpp(runner, cpp_hash_server, "--port", str(first.port))}
    for what, program in programs.items():
        [line] = program.stderr.splitlines() if program.wait(timeout=10) else ["(exit 0)"]
        if what == "busy":
            assert program.popen.returncode == 1
            assert line == (f"Cannot listen on [::]:{first.port}. Is another server using "
                            "that port? Stop it, or start this one with --port 0 for a free "
                            "port."), program.describe()
        else:
            assert program.popen.returncode == 2
            assert f"error: argument {what}: must be a whole number from" in line


@pytest.mark.parametrize("case", ["streams open", "chunks flooding in",
                                  "after malformed chunks", "starting"])
def test_stops_within_2_s(runner, cpp_hash_server: Path, case: str) -> None:
    # RUNS servers at once; each stopped by SIGINT or SIGTERM (in turn).
    servers = [start_cpp(runner, cpp_hash_server) for _ in range(RUNS)]
    if case == "starting":  # as soon as it catches the signals: main() has begun
        exits = ExitTimes(servers)
        signalled = []
        for index, server in enumerate(servers):
            while server.alive and not catches_sigint(server):
                time.sleep(0.0005)  # polling a state, not waiting out a delay
            server.signal(SIGNALS[index % 2])
            signalled.append(time.monotonic())
        check_stopped(servers, signalled, exits, last_line=None)
        return
    held = []
    for server in servers:
        server.wait_ready()
        if case == "streams open":
            held.append(HeldStreams(target(server)))
            for _ in range(3):
                held[-1].open()
            held[-1].open_health_and_reflection()
        elif case == "chunks flooding in":  # its hashing threads busy, reading paused
            held.append(Flood(target(server), calls=2))
            held[-1].wait_until_sent(8)
        else:
            with grpc.insecure_channel(target(server)) as channel, pytest.raises(grpc.RpcError):
                channel.stream_unary(SHA_STREAM)(iter([CHUNK(data=b"a").SerializeToString(),
                                                       BAD]), timeout=5)
    try:
        stop_together(servers, last_line="Server stopped")
    finally:
        for streams in held:
            streams.close()


def catches_sigint(server: LabProcess) -> bool:
    """Whether the process has a handler for SIGINT (Linux: /proc/PID/status, SigCgt)."""
    try:
        status = Path(f"/proc/{server.popen.pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (2 - 1)))
