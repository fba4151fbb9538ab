"""Every Python server of the kit, black box: what the shared serving module
(labkit/lab_modules/serving.py, copied into each lab by `labkit gen`) promises holds in
each of them.

- bytes that are not a message, on any RPC (the lesson's, health, reflection), get
  INVALID_ARGUMENT with a message and no traceback, and the server keeps serving; a
  stream with such a message anywhere fails as a whole;
- --port takes 0..65535 only, and a busy port gets the kit's one line, nothing more;
- past --max-calls, the next call gets RESOURCE_EXHAUSTED saying the server is full,
  while health checks are answered (also by multiplexing, whose small pool is busy);
- a TODO (NotImplementedError) answers UNIMPLEMENTED with one log line; any other
  exception answers UNKNOWN, its traceback in the log.

Stopping in every state is tested in test_serving_stop.py, the command lines with
hypothesis in test_serving_cli.py, the C++ hash server in test_serving_cpp.py.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from labkit.labs import get_lab
from labkit.procs import LabProcess, LabRunner, target
from labkit.protocol import lab_proto
from labkit.sandbox import Sandbox
from labkit.starter import find_regions

BAD = b"\xff\xff\xff"  # a varint that never ends: no message of any type
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]
REFLECTION = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]
LIST_SERVICES = reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()

# Every Python server: (lab, process, extra arguments, the lab's service in its proto).
SERVERS = {
    "hello": ("hello_world", "server", (), "Greeter"),
    "cross": ("cross_language", "server", (), "AssistantService"),
    "story": ("streaming_server_side", "server", ("--delay", "30"), "AssistantService"),
    "counter": ("remote_counter", "server", (), "Counter"),
    "game": ("streaming_bidi", "server", ("--secret", "50"), "AssistantService"),
    "chill": ("multiplexing", "server", ("--chill-a", "30", "--chill-b", "30"),
              "AssistantService"),
    "hash": ("file_hash_service", "hash-server", (), "HashService"),
    "files": ("file_hash_service", "file-service", ("--hash-target", "localhost:9"),
              "FileService"),
}


def start_servers(runners: dict[str, LabRunner], names: list[str],
                  *more_args: str) -> list[LabProcess]:
    """The named servers, all started at once, then each waited for."""
    started = []
    for name in names:
        lab, process, args, _service = SERVERS[name]
        started.append(runners[lab].start(process, "--port", "0", *args, *more_args))
    for server in started:
        server.wait_ready()
    return started


@pytest.fixture(scope="module")
def runners(lab_root: Path, sandbox: Sandbox) -> Iterator[dict[str, LabRunner]]:
    """A runner per lab; what they started is stopped at the end of the module."""
    labs = {lab for lab, *_ in SERVERS.values()}
    made = {lab: LabRunner(get_lab(lab), lab_root, sandbox=sandbox) for lab in labs}
    try:
        yield made
    finally:
        for runner in made.values():
            runner.close()


@pytest.fixture(scope="module")
def servers(runners: dict[str, LabRunner]) -> dict[str, LabProcess]:
    return dict(zip(SERVERS, start_servers(runners, list(SERVERS)), strict=True))


def call_raw(channel: grpc.Channel, path: str, streaming_in: bool, streaming_out: bool,
             messages: list[bytes]) -> list[bytes]:
    """Call `path` with these request bytes (one, or a stream); the response bytes."""
    kind = f"{'stream' if streaming_in else 'unary'}_{'stream' if streaming_out else 'unary'}"
    call = getattr(channel, kind)(path)  # no serializers: bytes in, bytes out
    request = iter(messages) if streaming_in else messages[0]
    replies = call(request, timeout=10)
    return list(replies) if streaming_out else [replies]


def rpcs_of(name: str) -> list[tuple[str, bool, bool]]:
    """(path, request streaming, response streaming) of every RPC the server serves."""
    lab, _process, _args, service = SERVERS[name]
    services = [lab_proto(lab).service(service), HEALTH, REFLECTION]
    return [(f"/{s.full_name}/{m.name}", m.client_streaming, m.server_streaming)
            for s in services for m in s.methods]


def health_status(address: str, timeout: float = 5) -> int:
    with grpc.insecure_channel(address) as channel:
        request = health_pb2.HealthCheckRequest(service="")
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=timeout).status


# --- bytes that are not a message ----------------------------------------------------------

@pytest.mark.parametrize("name", SERVERS)
def test_malformed_bytes_get_invalid_argument_on_every_rpc(servers, name: str) -> None:
    server = servers[name]
    mark = len(server.lines)
    with grpc.insecure_channel(target(server)) as channel:
        for path, streaming_in, streaming_out in rpcs_of(name):
            with pytest.raises(grpc.RpcError) as caught:
                call_raw(channel, path, streaming_in, streaming_out, [BAD])
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, path
            assert "do not decode" in caught.value.details(), (path, caught.value.details())
    assert health_status(target(server)) == health_pb2.HealthCheckResponse.SERVING
    log = "".join(line for _, line in server.lines[mark:])
    assert "Traceback" not in log and "Exception" not in log, server.describe()


def good_and_bad(name: str) -> tuple[str, list[bytes]]:
    """A request stream of the server's own: good messages around a malformed one."""
    if name == "hash":
        chunk = lab_proto("file_hash_service").message("Chunk")
        return "/filehash.HashService/ShaStream", [chunk(data=b"a").SerializeToString(), BAD,
                                                   chunk(data=b"b").SerializeToString()]
    if name == "game":
        guess = lab_proto("streaming_bidi").message("GuessIntRequest")
        return "/AssistantService/GuessInt", [guess(guess=10).SerializeToString(), BAD]
    return f"/{REFLECTION.full_name}/ServerReflectionInfo", [LIST_SERVICES, BAD, LIST_SERVICES]


@pytest.mark.parametrize("name", ["hash", "game", "counter"],
                         ids=["ShaStream", "GuessInt", "reflection"])
def test_a_stream_with_a_malformed_message_fails_as_a_whole(servers, name: str) -> None:
    # ShaStream never answers OK with the digest of the part before the bad chunk; a game
    # or a reflection stream ends with INVALID_ARGUMENT after the answers before it.
    path, messages = good_and_bad(name)
    received = []
    with grpc.insecure_channel(target(servers[name])) as channel, \
            pytest.raises(grpc.RpcError) as caught:
        if name == "hash":
            received.append(channel.stream_unary(path)(iter(messages), timeout=10))
        else:
            received.extend(channel.stream_stream(path)(iter(messages), timeout=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "message 2 of the request stream is not a" in caught.value.details()
    assert len(received) == (0 if name == "hash" else 1)  # the answer to the good one


# --- ports ----------------------------------------------------------------------------------

def test_port_out_of_range_is_refused_in_one_line(runners) -> None:
    started = {}
    for number, (name, (lab, process, args, _)) in enumerate(SERVERS.items()):
        port = ("70000", "-1")[number % 2]
        started[name, port] = runners[lab].start(process, *args, "--port", port)
    for (name, port), program in started.items():
        assert program.wait(timeout=15) == 2, program.describe()
        [line] = program.stderr.splitlines()
        assert "argument --port: must be a whole number from 0 to 65535" in line, name
        assert f"got '{port}'" in line


def test_busy_port_is_told_in_the_kits_one_line(runners, servers) -> None:
    second = {}
    for name, (lab, process, args, _) in SERVERS.items():
        second[name] = runners[lab].start(process, *args, "--port", str(servers[name].port))
    for name, program in second.items():
        assert program.wait(timeout=15) == 1, program.describe()
        # gRPC's own line (E1202 12:00:00.000 add_port.cc:83] Failed to add port...) is
        # not there: ours only (besides the file service's INFO line about its folder).
        said = [line for line in program.stderr.splitlines() if not line.startswith("INFO:")]
        assert said == [
            f"ERROR:root:Cannot listen on [::]:{servers[name].port}. Is another server "
            "using that port? Stop it, or start this one with --port 0 for a free port."], name


# --- a full server, and health meanwhile --------------------------------------------------

class OpenCalls:
    """Calls of a server's own kind, held open until close(): a counter's stream, a story
    in its long delay, a game waiting for guesses, a chill, a stream of chunks."""

    def __init__(self, name: str, address: str) -> None:
        self.name = name
        self.channel = grpc.insecure_channel(address)
        self.release = threading.Event()  # ends the request streams we feed
        self.calls: list = []

    def requests(self, first: bytes) -> Iterator[bytes]:
        yield first
        self.release.wait(30)

    def open(self) -> grpc.Future:
        """One more call, without waiting for its answer."""
        if self.name == "counter":
            count = lab_proto("remote_counter").message("CountRequest")
            request = count(from_val=1, step_sec=30).SerializeToString()
            call = self.channel.unary_stream("/counter.Counter/Count")(request, timeout=30)
        elif self.name == "story":
            tell = lab_proto("streaming_server_side").message("TellStoryRequest")
            request = tell(user_name="Ada", institution="Lovelace").SerializeToString()
            call = self.channel.unary_stream("/AssistantService/TellStory")(request, timeout=30)
        elif self.name == "game":
            guess = lab_proto("streaming_bidi").message("GuessIntRequest")
            call = self.channel.stream_stream("/AssistantService/GuessInt")(
                self.requests(guess(guess=1).SerializeToString()), timeout=30)
        elif self.name == "chill":
            chat = lab_proto("multiplexing").message("ChatMessage")
            call = self.channel.unary_unary("/AssistantService/ChillA").future(
                chat(id=len(self.calls)).SerializeToString(), timeout=30)
        else:
            chunk = lab_proto("file_hash_service").message("Chunk")
            call = self.channel.stream_unary("/filehash.HashService/ShaStream").future(
                self.requests(chunk(data=b"x").SerializeToString()), timeout=30)
        self.calls.append(call)
        return call

    def close(self) -> None:
        self.release.set()
        for call in self.calls:
            call.cancel()
        self.channel.close()


# What a server logs when it has taken in one more call of OpenCalls (if it logs one).
TAKEN_IN = {"counter": "Request: from=1", "story": "Received story-telling request",
            "game": "Received number guessing request.", "chill": " start (peer "}


def wait_for_lines(server: LabProcess, text: str, count: int, timeout: float = 10) -> None:
    """Until `count` lines of the server's log hold `text`."""
    deadline = time.monotonic() + timeout
    while True:
        seen = len(server.lines)
        if sum(text in line for _, line in server.lines[:seen]) >= count:
            return
        server.wait_for(re.escape(text), timeout=max(0.0, deadline - time.monotonic()),
                        start=seen)


def first_to_end(calls: list) -> grpc.Future:
    """The one call of `calls` that ended (they are all still open but one)."""
    ended = threading.Event()
    for call in calls:
        call.add_done_callback(lambda _call: ended.set())
    assert ended.wait(10), "no call was refused"
    [done] = [call for call in calls if call.done()]
    return done


@pytest.mark.parametrize("name", ["counter", "story", "game", "chill", "hash"])
def test_past_max_calls_the_next_is_refused_and_health_still_answers(runners, name: str) -> None:
    # multiplexing: 3 workers, 2 calls waiting in line for one of them, the 6th refused.
    limit, extra = (5, ("--workers", "3")) if name == "chill" else (3, ())
    [server] = start_servers(runners, [name], "--max-calls", str(limit), *extra)
    calls = OpenCalls(name, target(server))
    try:
        opened = []
        for _ in range(limit):
            opened.append(calls.open())
            if name in TAKEN_IN and name != "chill":
                wait_for_lines(server, TAKEN_IN[name], len(opened))
        if name == "chill":
            wait_for_lines(server, TAKEN_IN[name], 3)  # every worker busy for 30 s
        # Health checks are answered meanwhile, at once, whatever the calls do.
        assert health_status(target(server), timeout=5) == health_pb2.HealthCheckResponse.SERVING
        opened.append(calls.open())
        refused = first_to_end(opened)
        if name in ("counter", "story", "game"):  # we saw the others taken in first
            assert refused is opened[-1]
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
        assert f"the server is full: it takes {limit} calls at once" in refused.details()
        assert health_status(target(server), timeout=5) == health_pb2.HealthCheckResponse.SERVING
    finally:
        calls.close()
        server.stop()
    assert "Traceback" not in server.stderr


# --- a TODO, and a bug ----------------------------------------------------------------------

def copy_of_lab(lab_root: Path, tmp_path: Path, lab: str) -> Path:
    """A copy of the lab folder, as a student's would be: the kit's folder that holds it."""
    shutil.copytree(lab_root / lab, tmp_path / "kit" / lab)
    return tmp_path / "kit"


def test_a_todo_answers_unimplemented_and_logs_one_line(tmp_path: Path, lab_root: Path,
                                                        sandbox) -> None:
    # judge(), a function the servicer calls, still is the starter's TODO.
    kit = copy_of_lab(lab_root, tmp_path, "streaming_bidi")
    server_py = kit / "streaming_bidi" / "server.py"
    lines = server_py.read_text(encoding="utf-8").splitlines(keepends=True)
    judge_starts = next(n for n, line in enumerate(lines) if line.startswith("def judge("))
    judge = next(region for region in find_regions("".join(lines), "server.py")
                 if region.begin > judge_starts)
    todo = f"{judge.indent}raise NotImplementedError({judge.prompt!r})\n"
    lines[judge.begin:judge.end + 1] = [todo]
    server_py.write_text("".join(lines), encoding="utf-8")
    guess = lab_proto("streaming_bidi").message("GuessIntRequest")
    with LabRunner(get_lab("streaming_bidi"), kit, sandbox=sandbox) as copy:
        server = copy.start_server("server", "--secret", "50")
        with grpc.insecure_channel(target(server)) as channel:
            game = channel.stream_stream("/AssistantService/GuessInt")
            with pytest.raises(grpc.RpcError) as caught:
                list(game(iter([guess(guess=10).SerializeToString()]), timeout=10))
        server.wait_for("Guessing service finished.")
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert caught.value.details() == judge.prompt
    said = [line for line in server.stderr.splitlines() if not line.startswith("INFO:")]
    assert said == [f"ERROR:root:/AssistantService/GuessInt: UNIMPLEMENTED: {judge.prompt}"]


def test_a_bug_answers_unknown_and_logs_its_traceback(tmp_path: Path, lab_root: Path,
                                                      sandbox) -> None:
    # A student's copy whose SayHello divides by zero.
    kit = copy_of_lab(lab_root, tmp_path, "hello_world")
    server_py = kit / "hello_world" / "server.py"
    code = server_py.read_text(encoding="utf-8")
    buggy = code.replace("response = HelloReply()", "response = HelloReply(message=str(1 / 0))")
    assert buggy != code
    server_py.write_text(buggy, encoding="utf-8")
    hello = lab_proto("hello_world").message("HelloRequest")
    with LabRunner(get_lab("hello_world"), kit, sandbox=sandbox) as copy:
        server = copy.start_server()
        with grpc.insecure_channel(target(server)) as channel:
            say_hello = channel.unary_unary("/helloworld.Greeter/SayHello")
            with pytest.raises(grpc.RpcError) as caught:
                say_hello(hello(name="Ada").SerializeToString(), timeout=10)
            # Still serving.
            assert health_status(target(server)) == health_pb2.HealthCheckResponse.SERVING
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert caught.value.details() == "the server failed: ZeroDivisionError: division by zero"
    assert "ERROR:root:/helloworld.Greeter/SayHello failed" in server.stderr
    assert 'server.py", line' in server.stderr and "ZeroDivisionError" in server.stderr
