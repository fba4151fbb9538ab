"""labkit wire: the HTTP/2 proxy that prints every frame, between the labs' real clients
and servers. The command itself runs as a process (`python -m labkit wire`); the tests
of every lab's calls use the same proxy in-process (`labkit.wire.Proxy`), which saves a
process start each; the printer's reassembly is also tested on frames made up here."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from labkit.labs import REPO_ROOT, get_lab
from labkit.procs import LabProcess, LabRunner, Result, target
from labkit.protocol import lab_proto
from labkit.wire import INDENT, Frame, Printer, Proxy

WIRE = ("python", "-m", "labkit", "wire")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?")
DECIMAL = re.compile(r"\d+\.\d+")
TIMELINE_AXIS = re.compile(r"^ +0s .*$", re.MULTILINE)
TIMELINE_BAR = re.compile(r"\|[ #-]+\|")


# --- helpers -----------------------------------------------------------------------------

@pytest.fixture
def start_wire() -> Iterator[Callable[..., LabProcess]]:
    """Start `python -m labkit wire --to TARGET --port 0 ARGS...` and wait until ready."""
    started: list[LabProcess] = []

    def start(to: str, *args: str) -> LabProcess:
        wire = LabProcess([*WIRE, "--to", to, "--port", "0", *args], cwd=REPO_ROOT, name="wire")
        started.append(wire)
        wire.wait_ready()
        return wire

    yield start
    for wire in started:
        wire.stop()


@pytest.fixture
def proxy_to() -> Iterator[Callable[..., tuple[str, io.StringIO, Proxy]]]:
    """An in-process proxy to a target: (its address, what it prints, the proxy). Read
    what it printed after `proxy.stop()`, which prints the rest and the summary."""
    proxies: list[Proxy] = []

    def start(to: str, **options) -> tuple[str, io.StringIO, Proxy]:
        out = io.StringIO()
        proxy = Proxy(to=to, out=out, **options)
        proxies.append(proxy)
        return f"localhost:{proxy.start()}", out, proxy

    yield start
    for proxy in proxies:
        proxy.stop()


def runner(lab_root: Path, name: str) -> LabRunner:
    return LabRunner(get_lab(name), lab_root)


def masked(text: str) -> str:
    """Output with what differs from run to run masked: clock times, durations, and the
    multiplexing client's timeline (its scale and bars follow the measured times)."""
    text = TIMELINE_BAR.sub("|<bar>|", TIMELINE_AXIS.sub("<axis>", text))
    return DECIMAL.sub("<n>", TIMESTAMP.sub("<time>", text))


def assert_same_run(direct: Result, proxied: Result) -> None:
    assert proxied.returncode == direct.returncode, proxied.output
    assert masked(proxied.stdout) == masked(direct.stdout)
    assert masked(proxied.stderr) == masked(direct.stderr)


def block(output: str, title: str) -> list[str]:
    """The detail lines of the first frame whose title line contains `title`."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if title in line)
    details = []
    for line in lines[start + 1:]:
        if not line.startswith(INDENT):
            break
        details.append(line[len(INDENT):])
    return details


# --- the command, as a person runs it -------------------------------------------------------

def test_hello_call_shows_the_slides_frames(lab_root, start_wire) -> None:
    with runner(lab_root, "hello_world") as hello:
        server = hello.start_server()
        wire = start_wire(target(server))
        result = hello.run("client", "--target", target(wire), "--name", "Ada")
        assert result.stdout == "Client received: Hello, Ada!\n", result.output
        wire.wait_for(r"conn 1  closed: 1 stream on this one connection \(id 1\)")
        wire.interrupt()
        assert wire.wait(timeout=2 + 1) == 0, wire.describe()
    out = wire.stdout
    request = block(out, "client -> server  stream 1  HEADERS (flags = END_HEADERS)  request")
    assert ":method: POST" in request and ":scheme: http" in request
    assert ":path: /helloworld.Greeter/SayHello" in request
    assert "content-type: application/grpc" in request and "te: trailers" in request
    assert any(re.fullmatch(r"grpc-timeout: \d+[HMSmun]  \(about [45]\.\d\d s\)", line)
               for line in request), "\n".join(request)
    # Field 1 (name), length-delimited (0a), 3 bytes: "Ada".
    assert block(out, "client -> server  stream 1  DATA (flags = END_STREAM)  10 bytes") == [
        "gRPC prefix: 00 00 00 00 05  (compressed: 0, length: 5)",
        "message: 0a 03 41 64 61",
        "as helloworld.HelloRequest:",
        '  name: "Ada"',
    ]
    reply = block(out, "server -> client  stream 1  DATA  18 bytes")
    assert reply[0] == "gRPC prefix: 00 00 00 00 0d  (compressed: 0, length: 13)"
    assert reply[1] == "message: 0a 0b 48 65 6c 6c 6f 2c 20 41 64 61 21"
    assert reply[2:] == ["as helloworld.HelloReply:", '  message: "Hello, Ada!"']
    assert ":status: 200" in block(out, "server -> client  stream 1  HEADERS (flags = "
                                        "END_HEADERS)  response")
    trailers = block(out, "stream 1  HEADERS (flags = END_STREAM, END_HEADERS)  trailers")
    assert "grpc-status: 0  (OK)" in trailers
    for connection_frame in ("client -> server  stream 0  SETTINGS",
                             "server -> client  stream 0  SETTINGS",
                             "stream 0  SETTINGS (flags = ACK)",
                             "stream 0  WINDOW_UPDATE"):
        assert connection_frame in out
    assert "INITIAL_WINDOW_SIZE = " in out and "increment = " in out
    assert out.splitlines()[-1] == "Summary: 1 connection, 1 stream (conn 1: id 1)"
    assert "Server stopped" in wire.stderr and "Traceback" not in wire.stderr


def test_four_calls_are_four_streams_on_one_connection(lab_root, start_wire) -> None:
    with runner(lab_root, "multiplexing") as mux:
        server = mux.start_server("server", "--chill-a", "0.4", "--chill-b", "0.25")
        wire = start_wire(target(server), "--hide-connection")
        result = mux.run("client", "--target", target(wire), "-a", "2", "-b", "2")
        assert result.returncode == 0, result.output
        closed = wire.wait_for(r"conn 1  closed: .*").group(0)
        assert re.fullmatch(r"conn 1  closed: 4 streams on this one connection \(ids 1, 3, 5, "
                            r"7\), up to 4 open at once; \d+ frames", closed), closed
        wire.interrupt()
        assert wire.wait(timeout=3) == 0, wire.describe()
    titles = [line for line in wire.stdout.splitlines() if " -> " in line]  # of frames
    assert all(line.startswith("conn 1  ") for line in titles)  # one connection
    assert not any("  stream 0  " in line for line in titles)  # --hide-connection
    requests = [int(re.search(r"stream (\d+)", line).group(1))
                for line in titles if line.endswith("  request")]
    assert requests == [1, 3, 5, 7]
    # All four calls are in flight before the first one ends: their frames interleave.
    first_end = next(i for i, line in enumerate(titles) if line.endswith("  trailers"))
    last_request = max(i for i, line in enumerate(titles) if line.endswith("  request"))
    assert last_request < first_end
    assert {line.split("  stream ")[1].split()[0] for line in titles[last_request:]} == \
        {"1", "3", "5", "7"}
    assert wire.stdout.splitlines()[-1] == \
        "Summary: 1 connection, 4 streams (conn 1: ids 1, 3, 5, 7)"


def test_an_error_shows_its_status_and_message_in_the_trailers(lab_root, start_wire) -> None:
    with runner(lab_root, "multiplexing") as mux:
        server = mux.start_server()
        wire = start_wire(target(server))
        result = mux.run("client", "--target", target(wire), "-a", "1", "-b", "0",
                         "--message", "x" * 1001)
        assert result.returncode == 1, result.output
        assert "ChillA 0 failed: INVALID_ARGUMENT: message is 1001 characters long" in result.stderr
        wire.wait_for("conn 1  closed")
    ending = block(wire.stdout, "server -> client  stream 1  HEADERS (flags = END_STREAM, "
                                "END_HEADERS)")
    assert "grpc-status: 3  (INVALID_ARGUMENT)" in ending
    assert "grpc-message: message is 1001 characters long, at most 1000 are allowed" in ending


def test_ctrl_c_in_the_counter_client_is_a_rst_stream(lab_root, start_wire) -> None:
    with runner(lab_root, "remote_counter") as counter:
        server = counter.start_server()
        wire = start_wire(target(server), "--stream", "1")
        client = counter.start("client", "--target", target(wire), "--step", "0.05")
        client.wait_for("count=8")
        client.interrupt()
        assert client.wait() == 0, client.describe()
        wire.wait_for(r"^    error code = CANCEL \(8\)$")
        # The reset reached the server: it stopped counting at once.
        server.wait_for("Response stream cancelled for request: from=6, step=0.05")
    out = wire.stdout
    assert block(out, "conn 1  client -> server  stream 1  RST_STREAM") == [
        "error code = CANCEL (8)"]
    assert "as counter.CountResponse:" in out and "  count: 8" in out


def test_sigterm_stops_the_proxy_with_a_call_in_flight(lab_root, start_wire) -> None:
    with runner(lab_root, "remote_counter") as counter:
        server = counter.start_server()
        wire = start_wire(target(server))
        client = counter.start("client", "--target", target(wire), "--step", "0.05")
        client.wait_for("count=8")
        wire.signal(signal.SIGTERM)
        assert wire.wait(timeout=2 + 1) == 0, wire.describe()
        assert wire.stderr.splitlines()[-2:] == [
            "INFO:root:Received SIGTERM, stopping the server...", "INFO:root:Server stopped"]
        assert wire.stdout.splitlines()[-1] == "Summary: 1 connection, 1 stream (conn 1: id 1)"
        # The client lost its connection, as when a server goes away.
        assert client.wait(timeout=10) == 1, client.describe()
        assert "Count failed: UNAVAILABLE" in client.stderr


def test_busy_port_is_refused_clearly(lab_root, start_wire) -> None:
    first = start_wire("localhost:50051")
    second = LabProcess([*WIRE, "--to", "localhost:50051", "--port", str(first.port)],
                        cwd=REPO_ROOT, name="wire-2")
    try:
        assert second.wait(timeout=10) == 1, second.describe()
    finally:
        second.stop()
    assert f"Cannot listen on [::]:{first.port}" in second.stderr
    assert "--port 0" in second.stderr and "Traceback" not in second.stderr


# --- every lab's calls, through the proxy in-process ------------------------------------------

# lab: (server args, client args, client input): every kind of call of every lab.
CALLS = {
    "hello_world": ((), ("--name", "Zoë 李"), None),  # unary
    "cross_language": ((), (), None),  # unary, two methods
    # server streaming, which the server ends by cancelling (as on the slides)
    "streaming_server_side": (("--delay", "0", "--pace", "0"), (), None),
    "remote_counter": ((), ("--step", "0.01", "--count", "5"), None),  # server streaming
    # bidirectional, the slides' typed game (an invalid guess too)
    "streaming_bidi": (("--secret", "79"), (), "50\n75\n81\nxx\n80\n77\n78\n79\n"),
    # unary, two calls at once
    "multiplexing": (("--chill-a", "0.3", "--chill-b", "0.2"), ("-a", "1", "-b", "1"), None),
}


@pytest.mark.parametrize("lab_name", CALLS)
def test_every_lab_gets_through_the_proxy_what_it_gets_directly(lab_root, proxy_to,
                                                                lab_name: str) -> None:
    server_args, client_args, stdin = CALLS[lab_name]
    with runner(lab_root, lab_name) as lab:
        server = lab.start_server("server", *server_args)
        address, out, proxy = proxy_to(target(server))
        direct = lab.run("client", "--target", target(server), *client_args, stdin=stdin)
        proxied = lab.run("client", "--target", address, *client_args, stdin=stdin)
        proxy.stop()
    assert direct.returncode == 0, direct.output
    assert_same_run(direct, proxied)
    printed = out.getvalue()
    assert printed.splitlines()[-1].startswith("Summary: 1 connection, ")
    assert "  request" in printed and "\n    :path: /" in printed
    assert "    as " in printed and "not decoded" not in printed  # through reflection


def test_file_service_streams_megabytes_to_the_hash_service(lab_root, proxy_to,
                                                            tmp_path: Path) -> None:
    # Client streaming (file service -> hash service, 1 MiB chunks) and unary (client ->
    # file service), each through a proxy: several MB pass the proxy's flow control.
    data = bytes(range(256)) * (5 * 4096) + b"tail"  # 5 MiB and 4 bytes: 6 chunks
    (tmp_path / "big.bin").write_bytes(data)
    with runner(lab_root, "file_hash_service") as chain:
        hash_server = chain.start_server("hash-server")
        to_hash, hash_out, hash_proxy = proxy_to(target(hash_server))
        files = chain.start_server("file-service", "--hash-target", to_hash,
                                   "--root", str(tmp_path))
        to_files, files_out, files_proxy = proxy_to(target(files))
        result = chain.run("client", "--target", to_files, "big.bin", timeout=60)
        hash_proxy.stop()
        files_proxy.stop()
    assert result.returncode == 0, result.output
    assert result.stdout == f"{hashlib.sha256(data).hexdigest()}  big.bin\n"
    printed = hash_out.getvalue()
    assert ":path: /filehash.HashService/ShaStream" in printed
    assert printed.count("as filehash.Chunk:") == 6
    assert "message continues in the next DATA frame" in printed  # a chunk spans frames
    assert f'  hex_digest: "{hashlib.sha256(data).hexdigest()}"' in printed
    assert ":path: /filehash.FileService/HashFile" in files_out.getvalue()


def test_a_server_stopping_ends_the_call_as_it_does_directly(lab_root, proxy_to) -> None:
    # The server sends GOAWAY, lets the calls run on for its grace second, then ends them
    # with a status: a client through the proxy hears the same as one without it.
    with runner(lab_root, "remote_counter") as counter:
        server = counter.start_server()
        address, out, proxy = proxy_to(target(server))
        clients = [counter.start("client", "--target", to, "--step", "0.05", name=name)
                   for name, to in (("direct", target(server)), ("proxied", address))]
        for client in clients:
            client.wait_for("count=8")
        server.interrupt()
        for client in clients:
            assert client.wait(timeout=10) == 1, client.describe()
        proxy.stop()
    direct, proxied = (client.stderr.splitlines()[-1] for client in clients)
    assert proxied == direct and "UNAVAILABLE" in direct
    printed = out.getvalue()
    assert "server -> client  stream 0  GOAWAY" in printed
    assert "grpc-status: 14  (UNAVAILABLE)" in printed


def test_a_server_without_reflection_shows_hex_only(proxy_to) -> None:
    hello = lab_proto("hello_world")

    class Greeter:
        def SayHello(self, request, context):
            return hello.message("HelloReply")(message=f"Hi {request.name}")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers([hello.handler("Greeter", Greeter())])
    port = server.add_insecure_port("localhost:0")
    server.start()
    try:
        address, out, proxy = proxy_to(f"localhost:{port}")
        with grpc.insecure_channel(address) as channel:
            reply = hello.stub(channel, "Greeter").SayHello(
                hello.message("HelloRequest")(name="Ada"), timeout=5)
        proxy.stop()
    finally:
        server.stop(None)
    assert reply.message == "Hi Ada"
    printed = out.getvalue()
    assert "message: 0a 03 41 64 61" in printed
    assert f"not decoded: no reflection service at localhost:{port} (UNIMPLEMENTED): " \
           "hex only" in printed
    assert "    as " not in printed


def test_a_server_that_is_not_there_is_said_so(lab_root, proxy_to, free_port: int) -> None:
    address, out, proxy = proxy_to(f"localhost:{free_port}")
    with runner(lab_root, "hello_world") as hello:
        result = hello.run("client", "--target", address, "--timeout", "1")
    proxy.stop()
    assert result.returncode == 2, result.output  # as without the proxy: no server
    assert f"cannot reach the server at localhost:{free_port}" in out.getvalue()


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_cancelled_uploads_do_not_stall_the_connection(proxy_to) -> None:
    # A call cancelled while its data waits in the proxy (its server reads nothing) hands
    # that data's flow-control window back all the same: the connection's window is
    # shared by all its calls; lost, it would run out and the next call wait for ever.
    hashing = lab_proto("file_hash_service")

    class NotReading:
        def ShaStream(self, requests, context):
            ended = threading.Event()
            context.add_callback(ended.set)
            ended.wait(10)
            return hashing.message("ShaReply")()

        def Sha(self, request, context):
            return hashing.message("ShaReply")(size=len(request.data))

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers([hashing.handler("HashService", NotReading())])
    port = server.add_insecure_port("localhost:0")
    server.start()
    try:
        address, out, proxy = proxy_to(f"localhost:{port}")
        chunk = hashing.message("Chunk")(data=b"x" * 2**20)
        with grpc.insecure_channel(address) as channel:
            stub = hashing.stub(channel, "HashService")
            for calls in range(1, 4):
                upload = stub.ShaStream.future(iter([chunk] * 6), timeout=30)
                # 3 MiB of this call reached the proxy: more than the server takes.
                wait_until(lambda: out.getvalue().count("gRPC prefix") >= 4 * calls)  # noqa: B023
                upload.cancel()
            reply = stub.Sha(hashing.message("ShaRequest")(data=b"y" * 100_000), timeout=5)
        assert reply.size == 100_000
    finally:
        server.stop(None)


# --- the printer, on frames made up here ------------------------------------------------------

class FakeReflection:
    """The hello_world messages, without a server to ask."""

    def message_class(self, path: str, sender: str) -> tuple[type | None, str]:
        name = "HelloRequest" if sender == "client" else "HelloReply"
        return lab_proto("hello_world").message(name), f"helloworld.{name}"


def printed(*frames: Frame, **options) -> list[str]:
    out = io.StringIO()
    printer = Printer(out, FakeReflection(), **options)
    for frame in frames:
        printer.write(printer.lines(frame))
    return out.getvalue().splitlines()


def request_headers(stream_id: int = 1, *more: tuple[str, str]) -> Frame:
    return Frame(1, "client", "HEADERS", stream_id, ("END_HEADERS",), role="request",
                 headers=[(":path", "/helloworld.Greeter/SayHello"), *more])


def grpc_message(payload: bytes, compressed: int = 0) -> bytes:
    return bytes([compressed]) + len(payload).to_bytes(4, "big") + payload


def test_a_message_split_over_three_frames_is_decoded_once_whole() -> None:
    name = "x" * 40
    wire = grpc_message(b"\x0a\x28" + name.encode())  # 5 + 42 bytes
    lines = printed(request_headers(),
                    Frame(1, "client", "DATA", 1, data=wire[:3]),
                    Frame(1, "client", "DATA", 1, data=wire[3:20]),
                    Frame(1, "client", "DATA", 1, ("END_STREAM",), data=wire[20:]))
    frames = "\n".join(lines).split("conn 1  client -> server  stream 1  DATA")
    assert len(frames) == 4
    assert "gRPC prefix" not in frames[1] and "as helloworld" not in frames[1]
    assert "gRPC prefix: 00 00 00 00 2a  (compressed: 0, length: 42)" in frames[2]
    assert "message continues in the next DATA frame: 15 of 42 bytes so far" in frames[2]
    assert "message, 42 bytes:" in frames[3] and "as helloworld.HelloRequest:" in frames[3]
    assert f'      name: "{name}"' in frames[3]


def test_two_messages_in_one_frame_are_decoded_one_by_one() -> None:
    both = grpc_message(b"\x0a\x03Ada") + grpc_message(b"\x0a\x03Bob")
    lines = printed(request_headers(), Frame(1, "client", "DATA", 1, data=both))
    assert lines[-9:] == [
        "conn 1  client -> server  stream 1  DATA  20 bytes",
        "    gRPC prefix: 00 00 00 00 05  (compressed: 0, length: 5)",
        "    message: 0a 03 41 64 61",
        "    as helloworld.HelloRequest:",
        '      name: "Ada"',
        "    gRPC prefix: 00 00 00 00 05  (compressed: 0, length: 5)",
        "    message: 0a 03 42 6f 62",
        "    as helloworld.HelloRequest:",
        '      name: "Bob"',
    ]


def test_a_gzip_message_is_decompressed_then_decoded() -> None:
    payload = b"\x0a\x03Ada"
    lines = printed(request_headers(1, ("grpc-encoding", "gzip")),
                    Frame(1, "client", "DATA", 1, data=grpc_message(gzip.compress(payload), 1)))
    assert any(line.startswith("    gRPC prefix: 01 ") for line in lines)
    assert "    decompressed (gzip): 5 bytes" in lines and '      name: "Ada"' in lines


def test_bytes_that_are_not_the_message_say_so() -> None:
    not_hello = grpc_message(b"\xff\xff")
    lines = printed(request_headers(), Frame(1, "client", "DATA", 1, data=not_hello))
    assert any(line.startswith("    not a valid helloworld.HelloRequest: ") for line in lines)


def test_filters_hide_connection_frames_or_all_but_one_stream() -> None:
    frames = [Frame(1, "client", "SETTINGS", 0, details=["ENABLE_PUSH = 0"]),
              request_headers(1), request_headers(3),
              Frame(1, "server", "PING", 0, details=["data = 00"])]
    titles = [line for line in printed(*frames, hide_connection=True) if line.startswith("conn")]
    assert [t.split("  stream ")[1][0] for t in titles] == ["1", "3"]
    only_3 = printed(*frames, stream=3)
    assert [line for line in only_3 if line.startswith("conn")] == [
        "conn 1  client -> server  stream 3  HEADERS (flags = END_HEADERS)  request"]
    assert printed(*frames)[0] == "conn 1  client -> server  stream 0  SETTINGS"


def test_demo_shows_one_call_through_the_wire() -> None:
    done = subprocess.run([sys.executable, "-m", "labkit", "demo", "hello_world", "--fast"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(re.fullmatch(r"\$ python -m labkit wire --to localhost:\d+ --port 0", line)
               for line in lines), done.stdout
    assert "[wire] conn 1  client -> server  stream 1  HEADERS (flags = END_HEADERS)  request" \
        in lines
    assert '[wire]       name: "Ada"' in lines and '[wire]       message: "Hello, Ada!"' in lines
    assert "[client] Client received: Hello, Ada!" in lines
    assert "[wire] Summary: 1 connection, 1 stream (conn 1: id 1)" in lines


# --- the labs' own tests, through the proxy --------------------------------------------------

# One lab per kind of call: unary, server streaming (two), bidi, unary calls multiplexed.
THROUGH_WIRE = {"test_hello_world.py": "/helloworld.Greeter/SayHello",
                "test_remote_counter.py": "/counter.Counter/Count",
                "test_streaming_server_side.py": "/AssistantService/TellStory",
                "test_streaming_bidi.py": "/AssistantService/GuessInt",
                "test_multiplexing.py": "/AssistantService/ChillA"}


@pytest.mark.slow  # five labs' test files, each call through a proxy that prints it
@pytest.mark.timeout(900)
def test_the_labs_tests_pass_through_the_proxy(tmp_path: Path) -> None:
    log = tmp_path / "wire.log"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *(f"tests/{name}" for name in THROUGH_WIRE), "-q",
         "-p", "no:cacheprovider"], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=850,
        env={**os.environ, "LABKIT_WIRE": "1", "LABKIT_WIRE_LOG": str(log)})
    assert done.returncode == 0, done.stdout[-4000:]
    frames = log.read_text(encoding="utf-8")
    for path in THROUGH_WIRE.values():  # the calls did go through the proxies
        assert f":path: {path}" in frames, path
