"""`python -m labkit classroom [LAB ...]`: a whole class on one lab's server, measured.

For each lab it starts the lab's server as an instructor would, with its default flags,
then runs `--clients` students (200) at the same time, each with its own connection and
the lab's own kind of call, and a health checker beside them (in a process of its own, so
that the students' load on this process does not slow it down). One row per lab:

- wall: from the first call to the last answer; ideal: what the same load takes on a
  server that answers at once (its steps, paces and pauses only), "-" where there is none;
- lateness p50 / p99: how late each message came against its ideal time (a counter's
  count against its step, a story's chunk against delay + pace, a game's answer against
  the guess, a unary call's answer against its request);
- health p99: how long health checks took while the class was on.

Performance is shown here, never in the tests (they check behaviour). multiplexing's
sleeps are scaled down (its 3 workers are the lesson: the class queues for them, and the
ideal time is that queue's); every other server runs as `python server.py` would.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc

from labkit.labs import REPO_ROOT, get_lab
from labkit.procs import LabProcess, LabRunner, target
from labkit.protocol import lab_proto

STORY_DELAY, STORY_PACE, STORY_CHUNK = 3.0, 0.05, 1024  # the story server's defaults
COUNTER_STEP, COUNTS = 2.0, 4  # the slides' step; counts each subscriber waits for
THINK = 0.5  # seconds a human player thinks before each next guess
HELLO_CALLS = 50  # calls per hello client (and per cross_language client)
FILE_CALLS = 5  # HashFile calls per file_hash_service client
CHILL_A, CHILL_B, CHILL_WORKERS = 0.05, 0.03, 3  # multiplexing, scaled down; its workers

# Every student on a connection of its own, as from a laptop of their own.
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1), ("grpc.enable_http_proxy", 0)]


@dataclass
class Measured:
    """What one student saw: the lateness of each message, seconds."""

    lateness: list[float] = field(default_factory=list)
    ideal: float = 0.0  # the student's own ideal time


Student = Callable[[grpc.aio.Channel, int], Awaitable[Measured]]


@dataclass(frozen=True)
class Load:
    lab: str
    about: str  # the load, in a few words
    student: Student
    server_args: tuple[str, ...] = ()
    has_ideal: bool = True


# --- the students, one kind per lab -------------------------------------------------------

async def timed_calls(call, request, count: int) -> Measured:
    """`count` unary calls one after the other; each one's lateness is its round trip."""
    seen = Measured()
    for _ in range(count):
        sent = time.monotonic()
        await call(request, timeout=60)
        seen.lateness.append(time.monotonic() - sent)
    return seen


async def hello_student(channel: grpc.aio.Channel, number: int) -> Measured:
    proto = lab_proto("hello_world")
    request = proto.message("HelloRequest")(name=f"student {number}")
    return await timed_calls(proto.stub(channel, "Greeter").SayHello, request, HELLO_CALLS)


async def cross_student(channel: grpc.aio.Channel, number: int) -> Measured:
    proto = lab_proto("cross_language")
    request = proto.message("GreetRequest")(user_name=f"student {number}", institution="Class")
    greet = proto.stub(channel, "AssistantService").GreetWithInfo
    return await timed_calls(greet, request, HELLO_CALLS)


async def story_student(channel: grpc.aio.Channel, number: int) -> Measured:
    proto = lab_proto("streaming_server_side")
    request = proto.message("TellStoryRequest")(user_name=f"student {number}",
                                                institution="Class")
    chunks = math.ceil((REPO_ROOT / "streaming_server_side" / "story.txt").stat().st_size
                       / STORY_CHUNK)
    # Message 0, the greeting, at once; chunk i (1..chunks) after the delay and i - 1
    # paces; the ending note after one more pace.
    due = [0.0] + [STORY_DELAY + i * STORY_PACE for i in range(chunks + 1)]
    seen = Measured(ideal=due[-1])
    started = time.monotonic()
    call = proto.stub(channel, "AssistantService").TellStory(request, timeout=120)
    try:
        async for _response in call:
            seen.lateness.append(time.monotonic() - started - due[len(seen.lateness)])
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.CANCELLED:  # the slides' ending
            raise
    return seen


async def counter_student(channel: grpc.aio.Channel, number: int) -> Measured:
    proto = lab_proto("remote_counter")
    request = proto.message("CountRequest")(from_val=number, step_sec=COUNTER_STEP)
    seen = Measured(ideal=COUNTS * COUNTER_STEP)
    started = time.monotonic()
    call = proto.stub(channel, "Counter").Count(request, timeout=120)
    async for response in call:
        step = response.count - number  # count k is due k steps after the start
        seen.lateness.append(time.monotonic() - started - step * COUNTER_STEP)
        if step == COUNTS:
            call.cancel()  # Ctrl+C, as a student ends it
            break
    return seen


async def game_student(channel: grpc.aio.Channel, number: int) -> Measured:
    proto = lab_proto("streaming_bidi")
    guess_int = proto.message("GuessIntRequest")
    # A person: starts within the first THINK seconds and thinks THINK s, give or take
    # 40 %, before each next guess (people do not press Enter in the same millisecond).
    person = random.Random(number)
    seen = Measured(ideal=person.uniform(0, THINK))
    await asyncio.sleep(seen.ideal)
    call = proto.stub(channel, "AssistantService").GuessInt(timeout=120)
    low, high = 1, 100
    while True:
        guess = (low + high) // 2
        sent = time.monotonic()
        await call.write(guess_int(guess=guess))
        answer = await call.read()
        seen.lateness.append(time.monotonic() - sent)
        if answer.symbol == "=":
            break
        low, high = (guess + 1, high) if answer.symbol == "<" else (low, guess - 1)
        think = person.uniform(0.6 * THINK, 1.4 * THINK)
        await asyncio.sleep(think)
        seen.ideal += think
    await call.done_writing()
    return seen


async def chill_student(channel: grpc.aio.Channel, number: int) -> Measured:
    proto = lab_proto("multiplexing")
    stub = proto.stub(channel, "AssistantService")
    request = proto.message("ChatMessage")(id=number, message="Time to chill.")
    await asyncio.gather(stub.ChillA(request, timeout=600), stub.ChillB(request, timeout=600))
    return Measured()


async def files_student(channel: grpc.aio.Channel, number: int) -> Measured:
    proto = lab_proto("file_hash_service")
    request = proto.message("HashFileRequest")(path="hash.proto")
    return await timed_calls(proto.stub(channel, "FileService").HashFile, request, FILE_CALLS)


LOADS = {
    "hello_world": Load("hello_world", f"{HELLO_CALLS} SayHello calls each", hello_student,
                        has_ideal=False),
    "cross_language": Load("cross_language", f"{HELLO_CALLS} GreetWithInfo calls each",
                           cross_student, has_ideal=False),
    "streaming_server_side": Load("streaming_server_side", "the whole story each",
                                  story_student),
    "remote_counter": Load("remote_counter", f"{COUNTS} counts, step {COUNTER_STEP:g} s",
                           counter_student),
    "streaming_bidi": Load("streaming_bidi", f"a game, about {THINK:g} s to think per guess",
                           game_student),
    "multiplexing": Load("multiplexing",
                         f"ChillA + ChillB each ({CHILL_A:g}/{CHILL_B:g} s, 3 workers)",
                         chill_student, ("--chill-a", str(CHILL_A), "--chill-b", str(CHILL_B))),
    "file_hash_service": Load("file_hash_service", f"{FILE_CALLS} HashFile calls each "
                              "(Python hash server)", files_student, has_ideal=False),
}


# --- one lab ----------------------------------------------------------------------------

@dataclass
class Row:
    lab: str
    about: str
    clients: int
    wall: float
    ideal: float | None
    lateness: list[float]
    health: list[float]


def start_servers(runner: LabRunner, load: Load) -> LabProcess:
    """The lab's server(s), ready; the one the students call."""
    if load.lab == "file_hash_service":
        hashing = runner.start_server("hash-server")
        return runner.start_server("file-service", "--hash-target", target(hashing))
    return runner.start_server("server", *load.server_args)


async def run_class(address: str, load: Load, clients: int) -> tuple[float, list[Measured]]:
    channels = [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
                for _ in range(clients)]
    try:
        # Connected first: the measure is of the server, not of the connections' set-up.
        await asyncio.gather(*(channel.channel_ready() for channel in channels))
        started = time.monotonic()
        seen = await asyncio.gather(*(load.student(channel, number)
                                      for number, channel in enumerate(channels)))
        return time.monotonic() - started, list(seen)
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))


def fifo_total(durations: list[float], workers: int) -> float:
    """How long `durations`, queued in this order, take on `workers` workers."""
    free = [0.0] * workers
    for duration in durations:
        first = free.index(min(free))
        free[first] += duration
    return max(free)


def measure(lab: str, clients: int) -> Row:
    load = LOADS[lab]
    with LabRunner(get_lab(lab), REPO_ROOT) as runner:
        server = start_servers(runner, load)
        with HealthProbe(target(server)) as probe:
            wall, seen = asyncio.run(run_class(target(server), load, clients))
        if "Traceback" in server.stderr:
            raise RuntimeError(f"the {lab} server failed:\n{server.describe()}")
    if lab == "multiplexing":
        ideal = fifo_total([CHILL_A, CHILL_B] * clients, CHILL_WORKERS)
    else:
        ideal = max(student.ideal for student in seen) if load.has_ideal else None
    lateness = [late for student in seen for late in student.lateness]
    return Row(lab, load.about, clients, wall, ideal, lateness, probe.latencies)


# --- health checks, from a process of their own -----------------------------------------

PROBE_EVERY = 0.02  # seconds between two health checks


class HealthProbe:
    """Health checks of `address`, every PROBE_EVERY s, from a child process, until exit."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.latencies: list[float] = []

    def __enter__(self) -> HealthProbe:
        self.child = subprocess.Popen([sys.executable, "-m", "labkit.classroom", "--probe",
                                       self.address], cwd=REPO_ROOT, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc_info) -> None:
        out, _ = self.child.communicate("", timeout=30)  # end of input: it stops, reports
        self.latencies = json.loads(out or "[]")


def probe(address: str) -> None:
    """The child's side: health checks until its input ends; then the latencies, as JSON."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    latencies: list[float] = []
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    with grpc.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        request = health_pb2.HealthCheckRequest(service="")
        check(request, timeout=10)  # connected before the class starts
        while not done.wait(PROBE_EVERY):
            sent = time.monotonic()
            try:
                check(request, timeout=10)
            except grpc.RpcError:
                latencies.append(math.inf)
                continue
            latencies.append(time.monotonic() - sent)
    print(json.dumps(latencies))


# --- the table ------------------------------------------------------------------------------

def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


HEADER = ("lab", "load", "clients", "wall", "ideal", "late p50", "late p99", "health p99")


def row_cells(row: Row) -> tuple[str, ...]:
    return (row.lab, row.about, str(row.clients), f"{row.wall:.2f} s",
            "-" if row.ideal is None else f"{row.ideal:.2f} s",
            ms(percentile(row.lateness, 0.5)), ms(percentile(row.lateness, 0.99)),
            ms(percentile(row.health, 0.99)))


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(cells[i]) for cells in rows) for i in range(len(HEADER))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
             for cells in rows)
    return "\n".join(line.rstrip() for line in lines)


def run(labs: list[str], clients: int) -> int:
    """The `classroom` command: the table, after one line per lab as it is measured."""
    wanted = [lab for lab in labs if lab in LOADS]
    print(f"{clients} students at once on each lab's server (default flags); health "
          f"checked every {PROBE_EVERY * 1000:.0f} ms meanwhile.", flush=True)
    rows = []
    for lab in wanted:
        print(f"{lab}: {LOADS[lab].about}...", flush=True)
        rows.append(row_cells(measure(lab, clients)))
    print()
    print(table([HEADER, *rows]))
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--probe"]:
    probe(sys.argv[2])
