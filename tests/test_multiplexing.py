"""multiplexing, black box: the student's server through the test's own client, the
student's client against a stand-in server of the test's own, the student's FIFO predictor
in a child process, and server and client together as the slides run them (rests scaled
down).

Timing is read from the server's own clock and order: its log lines (timestamps, which
call started before which ended) and what it measured itself. The stand-in holds every
call until the test lets it answer, so the client must have all its calls in flight at
once; it answers with timings of its own making, which the client must show.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from labkit.procs import LabProcess, LabRunner, ProcessError, Result, target
from labkit.protocol import lab_proto
from labkit.testing import (
    StandIn,
    StudentCodeError,
    assert_health_serving,
    assert_refuses_busy_port,
    assert_says_no_server,
    run_in_lab,
    token,
)

LAB = "multiplexing"
PROTO = lab_proto(LAB)
ChatMessage = PROTO.message("ChatMessage")
SERVICE = "AssistantService"

# The slides' 5 s and 3 s, scaled down: still 2 * B > A, as in the slides' 6 s case.
A, B = 0.6, 0.4
WORKERS = 3
# What a slow machine may add to a rest (the server's own timestamps): threads that wake
# late, a busy CPU. A rest is never shorter than asked (0.9: rounding of the clock).
LATE = 1.0
LOG_RE = re.compile(r"^INFO:root:(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?): "
                    r"(Chill[AB] \d+) (start|end|cancelled after [\d.]+ seconds)"
                    r"(?: \(peer (\S+)\))?$")


# --- the server's log -------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    """One line of the server's log about a call: 'start', 'end' or 'cancelled ...'."""

    when: datetime
    call: str  # "ChillA 0"
    what: str
    peer: str | None


def events(server: LabProcess, mark: int = 0) -> list[Event]:
    found = []
    for stream, line in server.lines[mark:]:
        match = LOG_RE.match(line) if stream == "stderr" else None
        if match:
            found.append(Event(datetime.fromisoformat(match.group(1)), match.group(2),
                               match.group(3), match.group(4)))
    return found


def event(found: list[Event], call: str, what: str) -> Event | None:
    return next((e for e in found if e.call == call and e.what.startswith(what)), None)


def wait_for_events(server: LabProcess, mark: int, count: int, what: str,
                    timeout: float = 10, over=lambda: False) -> list[Event]:
    """Wait until the server has logged `count` lines about calls `what` ("start", ...);
    fail at once when `over()` says that no such line can come any more (the call ended)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = len(server.lines)
        found = events(server, mark)
        if sum(e.what.startswith(what) for e in found) >= count:
            return found
        if over() or not server.alive or time.monotonic() > deadline:
            raise AssertionError(
                f"The server should log {count} '{what}' lines (e.g. '<time>: ChillA 0 "
                f"{what}'); it logged {[f'{e.call} {e.what}' for e in found]}.")
        try:  # a line more, or a tenth of a second (time to look at over() again)
            server.wait_for(LOG_RE, timeout=0.1, start=seen)
        except ProcessError:
            pass


def rest_of(found: list[Event], call: str) -> float:
    start, end = event(found, call, "start"), event(found, call, "end")
    assert start and end, (
        f"The server should log '<time>: {call} start (peer ...)' and '<time>: {call} end'; "
        f"it logged {[f'{e.call} {e.what}' for e in found if e.call == call] or 'neither'}.")
    return (end.when - start.when).total_seconds()


# --- the student's server, through the test's own client --------------------------------------

@pytest.fixture(scope="module")
def server(runner: LabRunner) -> LabProcess:
    """The slides' server, rests scaled down, shared by the tests that do not stop it (each
    reads the log from its own mark on, and waits for its calls to end)."""
    return runner.start_server("server", "--chill-a", str(A), "--chill-b", str(B),
                               "--workers", str(WORKERS))


def chill(channel: grpc.Channel, name: str, call_id: int, message: str = "") -> grpc.Future:
    stub = PROTO.stub(channel, SERVICE)
    return getattr(stub, name).future(ChatMessage(id=call_id, message=message), timeout=15)


def reply_of(future: grpc.Future, name: str, call_id: int):
    try:
        return future.result()
    except grpc.RpcError as error:
        raise AssertionError(f"{name}(id={call_id}) should rest, then answer; the call ended "
                             f"with {error.code().name}: {error.details()}") from None


def test_server_echoes_each_call_after_its_rest(server: LabProcess) -> None:
    mark = len(server.lines)
    words = {"ChillA": f"chill {token()}", "ChillB": f"relax {token()}"}
    with grpc.insecure_channel(target(server)) as channel:
        calls = {"ChillA": chill(channel, "ChillA", 7, words["ChillA"]),
                 "ChillB": chill(channel, "ChillB", 8, words["ChillB"])}
        replies = {name: reply_of(call, name, 7 if name == "ChillA" else 8)
                   for name, call in calls.items()}
    for name, call_id in (("ChillA", 7), ("ChillB", 8)):
        reply = replies[name]
        assert (reply.id, reply.message) == (call_id, words[name]), (
            f"{name} should answer with the request's id and message ({call_id}, "
            f"{words[name]!r}); it answered ({reply.id}, {reply.message!r}).")
    found = wait_for_events(server, mark, 2, "end")
    for name, call, seconds in (("ChillA", "ChillA 7", A), ("ChillB", "ChillB 8", B)):
        rested = rest_of(found, call)
        assert 0.9 * seconds <= rested <= seconds + LATE, (
            f"{name} should rest --chill-{name[-1].lower()} seconds ({seconds:g} s here) "
            f"between its 'start' and 'end' lines; the server's log shows {rested:.2f} s.")
    peers = {e.peer for e in found if e.what == "start"}
    assert len(peers) == 1 and re.fullmatch(r"ipv[46]:.+:\d+", next(iter(peers)) or ""), (
        "Each 'start' line should name the call's peer, '(peer ipv6:[::1]:PORT)', the same "
        f"for two calls over one channel; the server logged {sorted(map(str, peers))}.")


def test_server_refuses_a_bad_request_at_once(server: LabProcess) -> None:
    mark = len(server.lines)
    with grpc.insecure_channel(target(server)) as channel:
        for name, call_id, message, why in (
                ("ChillA", -1, "", "a negative id"),
                ("ChillB", 3, "x" * 1001, "a message of 1001 characters")):
            try:
                chill(channel, name, call_id, message).result()
                code, details = grpc.StatusCode.OK, ""
            except grpc.RpcError as error:
                code, details = error.code(), error.details()
            assert code == grpc.StatusCode.INVALID_ARGUMENT, (
                f"{name} with {why} should end at once with INVALID_ARGUMENT and a message "
                f"(check_request); it ended with {code.name} {details!r}.")
    started = [e.call for e in events(server, mark) if e.what == "start"]
    assert not started, f"A bad request should never rest; the server started {started}."


def test_server_runs_calls_at_once_up_to_its_workers_then_queues_them(
        server: LabProcess) -> None:
    # The slides' -a 2 -b 2 on 3 workers: three calls rest at once; the fourth waits in
    # the pool's queue until the first call ends, then takes that worker.
    mark = len(server.lines)
    with grpc.insecure_channel(target(server)) as channel:
        plan = [("ChillA", 0), ("ChillA", 1), ("ChillB", 0), ("ChillB", 1)]
        futures = [chill(channel, name, call_id) for name, call_id in plan]
        for (name, call_id), future in zip(plan, futures, strict=True):
            reply_of(future, name, call_id)
    found = wait_for_events(server, mark, 4, "end")
    order = [f"{e.call} {e.what}" for e in found]
    first_end = next(i for i, e in enumerate(found) if e.what == "end")
    assert first_end == WORKERS, (
        f"With {WORKERS} workers, {WORKERS} of the 4 calls sent at once over one channel "
        f"should rest at the same time (3 'start' lines before the first 'end'); the "
        f"server's log reads {order}.")
    last_start = max(i for i, e in enumerate(found) if e.what == "start")
    assert last_start > first_end, (
        f"With {WORKERS} workers the 4th call should wait in the pool's queue until a call "
        f"ends; the server's log reads {order}.")


def test_cancelled_call_frees_its_worker_at_once(runner: LabRunner) -> None:
    # One worker, a ChillA of 5 s: cancelled, it must give its worker to the next call at
    # once, not rest out its 5 s (a plain time.sleep would).
    server = runner.start_server("server", "--chill-a", "5", "--chill-b", "0.1",
                                 "--workers", "1")
    try:
        with grpc.insecure_channel(target(server)) as channel:
            long = chill(channel, "ChillA", 0)
            wait_for_events(server, 0, 1, "start", over=long.done)
            long.cancel()
            reply_of(chill(channel, "ChillB", 1), "ChillB", 1)
        found = events(server)
    finally:
        server.stop()
    cancelled = event(found, "ChillA 0", "cancelled after")
    assert cancelled, (
        "A call the client cancels should log '<time>: ChillA 0 cancelled after N.NN "
        f"seconds'; the server logged {[f'{e.call} {e.what}' for e in found]}.")
    start_a, start_b = event(found, "ChillA 0", "start"), event(found, "ChillB 1", "start")
    freed = (start_b.when - start_a.when).total_seconds() if start_a and start_b else None
    assert freed is not None and freed < 2.5 and not event(found, "ChillA 0", "end"), (
        "Once ChillA 0 (5 s) is cancelled, its worker should be free at once for ChillB 1 "
        "(the only worker); "
        + (f"ChillB 1 started {freed:.2f} s after ChillA 0." if freed is not None else
           f"the server logged {[f'{e.call} {e.what}' for e in found]}."))


# --- the student's client, against the stand-in ------------------------------------------------

@dataclass
class Held:
    """One call the stand-in received and holds."""

    name: str
    request: object
    peer: str
    release: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False

    @property
    def label(self) -> str:
        return f"{self.name} {self.request.id}"


class Chiller:
    """The stand-in's ChillA and ChillB: every call is held until the test releases it,
    then answered with timings of the stand-in's own making in the trailing metadata
    (arrival order, seconds queued, seconds run), which the client's timeline shows."""

    def __init__(self) -> None:
        self.held: list[Held] = []
        self.changed = threading.Condition()
        self.timings: dict[str, tuple[int, float, float]] = {}  # label -> made-up timings

    def _chill(self, name: str, request, context: grpc.ServicerContext):
        call = Held(name, request, context.peer())
        context.add_callback(call.release.set)  # a cancelled call is let go at once
        with self.changed:
            self.held.append(call)
            self.changed.notify_all()
        call.release.wait(30)
        if not context.is_active():
            call.cancelled = True
            with self.changed:
                self.changed.notify_all()
            return ChatMessage()
        arrival, queued, ran = self.timings.get(call.label, (0, 0.0, 0.0))
        context.set_trailing_metadata([("arrival", str(arrival)),
                                       ("queued-seconds", f"{queued:.3f}"),
                                       ("ran-seconds", f"{ran:.3f}")])
        return ChatMessage(id=request.id, message=request.message)

    def ChillA(self, request, context):
        return self._chill("ChillA", request, context)

    def ChillB(self, request, context):
        return self._chill("ChillB", request, context)

    def wait_for(self, condition, timeout: float, client: LabProcess | None = None) -> bool:
        """Wait until `condition()` holds; give up at `timeout`, or at once when the
        client has exited (nothing more can come)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0 or (client is not None and not client.alive):
                    return condition()
                self.changed.wait(min(left, 0.1))
            return True

    def labels(self) -> list[str]:
        return [call.label for call in self.held]


def test_client_sends_every_call_at_once_and_shows_each_reply(lab: LabRunner) -> None:
    chiller = Chiller()
    message = f"chill {token()}"
    expected = ["ChillA 0", "ChillA 1", "ChillB 0", "ChillB 1", "ChillB 2"]
    # Timings the stand-in makes up: arrival order, queued, ran (none like the reference's).
    rng = random.Random()
    for arrival, label in enumerate(expected):
        chiller.timings[label] = (arrival, rng.randint(10, 90) / 100, rng.randint(10, 90) / 100)
    with StandIn(LAB, SERVICE, chiller) as stand_in:
        client = lab.start("client", "--target", stand_in.target, "-a", "2", "-b", "3",
                           "--message", message)
        all_in = chiller.wait_for(lambda: len(chiller.held) >= len(expected), timeout=10,
                                  client=client)
        try:
            assert all_in, (
                "The client should send all 5 calls at once (-a 2 -b 3): each must be in "
                "flight while the others wait for their replies. The test's server held "
                f"the calls it got ({chiller.labels() or 'none'}) and no other came"
                + (" within 10 s." if client.alive else f" (the client exited "
                   f"{client.popen.returncode})."))
            assert sorted(chiller.labels()) == expected and all(
                call.request.message == message for call in chiller.held), (
                f"With -a 2 -b 3 --message {message!r} the client should call ChillA with ids "
                f"0, 1 and ChillB with ids 0, 1, 2, each with that message; the test's server "
                f"got {[(c.label, c.request.message) for c in chiller.held]}.")
            peers = {call.peer for call in chiller.held}
            assert len(peers) == 1, (
                "All calls should share one channel (one HTTP/2 connection); the test's "
                f"server got them over {len(peers)} connections: {sorted(peers)}.")
            # The replies, one at a time, in an order of the test's choosing: the client
            # logs each as it comes.
            for label in ("ChillB 2", "ChillA 0", "ChillB 0", "ChillA 1", "ChillB 1"):
                next(c for c in chiller.held if c.label == label).release.set()
                try:
                    client.wait_for(rf": {label} finished after \d+\.\d\d seconds$",
                                    timeout=10, stream="stderr")
                except ProcessError:
                    pytest.fail(f"When the reply to {label} comes, the client should log "
                                f"'<time>: {label} finished after N.NN seconds'; it did "
                                "not within 10 s.", pytrace=False)
            client.wait(timeout=10)
        finally:
            for call in chiller.held:
                call.release.set()
    calling = re.findall(r": Calling (Chill[AB] \d+)$", client.stderr, re.MULTILINE)
    assert sorted(calling) == expected, (
        "The client should log '<time>: Calling ChillA 0' (and so on) for each call, as the "
        f"slides show; it logged that for {calling}.")
    rows = dict(re.findall(r"^(Chill[AB] \d+) +\|[ #-]+\| (.*)$", client.stdout, re.MULTILINE))
    for label in expected:
        _arrival, queued, ran = chiller.timings[label]
        note = f"waited {queued:.2f} s, ran {ran:.2f} s"
        assert rows.get(label) == note, (
            f"The timeline row of {label} should end with '{note}', what the server said in "
            f"the reply's trailing metadata (pass the call to timing()); it is "
            f"{rows.get(label, 'missing')!r}.")


def test_client_cancels_every_call_in_flight_on_ctrl_c(lab: LabRunner) -> None:
    chiller = Chiller()
    expected = ["ChillA 0", "ChillA 1", "ChillB 0"]
    with StandIn(LAB, SERVICE, chiller) as stand_in:
        client = lab.start("client", "--target", stand_in.target, "-a", "2", "-b", "1")
        try:
            assert chiller.wait_for(lambda: len(chiller.held) >= 3, timeout=10, client=client), (
                "The client should send its 3 calls at once (-a 2 -b 1); the test's server "
                f"got {chiller.labels() or 'none'}.")
            client.interrupt()
            chiller.wait_for(lambda: all(call.cancelled for call in chiller.held), timeout=5)
            code = client.wait(timeout=5)
        finally:
            for call in chiller.held:
                call.release.set()
    cancelled = sorted(call.label for call in chiller.held if call.cancelled)
    assert cancelled == expected, (
        "Ctrl+C should cancel every call in flight; the test's server saw "
        f"{cancelled or 'none'} of {expected} cancelled.")
    # (A call sent a moment before Ctrl+C may not be in in_flight yet: it ends with the
    # channel, unlogged. So one logged cancel is enough to show that in_flight is filled.)
    logged = sorted(re.findall(r": (Chill[AB] \d+) cancelled$", client.stderr, re.MULTILINE))
    assert logged and set(logged) <= set(expected) and \
        "Cancelled by user (Ctrl+C)." in client.stderr and code == 0, (
            "After Ctrl+C the client should log '<time>: ChillA 0 cancelled' for each call "
            "in flight (they must be in in_flight), then 'Cancelled by user (Ctrl+C).', and "
            f"exit 0; it logged that for {logged or 'no call'} and exited {code}.")


# --- the student's FIFO predictor (timeline.py), in a child process ----------------------------

def fifo(durations: list[float], workers: int) -> list[tuple[float, float]]:
    """The test's own FIFO pool: each call, in order, to the worker free first."""
    free_at = [0.0] * workers
    schedule = []
    for duration in durations:
        start = min(free_at)
        free_at[free_at.index(start)] = start + duration
        schedule.append((start, start + duration))
    return schedule


SCHEDULE = """
import timeline
result = []
for durations, workers in payload:
    try:
        result.append([list(map(list, timeline.fifo_schedule(durations, workers))), None])
    except Exception as error:
        result.append([None, f"{type(error).__name__}: {error}"])
"""


def test_fifo_schedule_gives_each_call_to_the_first_free_worker(lab: LabRunner) -> None:
    cases = [([5.0, 3.0], 3), ([5.0, 5.0, 3.0, 3.0], 3), ([5.0, 5.0, 3.0, 3.0], 4),
             ([3.0, 3.0, 5.0, 5.0], 3), ([5.0, 5.0, 3.0, 3.0], 1),
             ([5.0, 3.0, 5.0, 3.0, 5.0, 3.0], 3), ([1.0, 1.0, 2.0, 0.5], 2), ([], 3)]
    rng = random.Random(2024)
    cases += [([rng.randint(0, 40) / 4 for _ in range(rng.randint(1, 12))], rng.randint(1, 5))
              for _ in range(20)]
    try:
        answers = run_in_lab(lab, SCHEDULE, cases)
    except StudentCodeError as error:
        pytest.fail(f"fifo_schedule could not be called: {error}", pytrace=False)
    for (durations, workers), (got, error) in zip(cases, answers, strict=True):
        expected = fifo(durations, workers)
        same = error is None and len(got) == len(expected) and all(
            list(pair) == pytest.approx(want) for pair, want in zip(got, expected, strict=True))
        assert same, (
            f"fifo_schedule({durations}, {workers}) should be {expected} (each call, in "
            "order, goes to the worker that is free first); it "
            + (f"raised {error.rstrip('.')}." if error else
               f"returned {[tuple(p) for p in got]}."))


# --- both, as the slides run them -----------------------------------------------------------------

def run_client(runner: LabRunner, *args: str) -> Result:
    try:
        return runner.run("client", *args, timeout=20)
    except ProcessError:
        raise AssertionError("The client should make its calls, print the timeline and "
                             "exit; it was still running 20 s later.") from None


def waited(result: Result) -> list[str]:
    """The calls that waited for a worker, from the client's timeline (the server's
    numbers)."""
    return re.findall(r"^(Chill[AB] \d+) +\|[ #-]+\| waited ", result.stdout, re.MULTILINE)


def prediction(result: Result) -> tuple[float, float]:
    match = re.search(r"FIFO prediction with 3 workers = (\d+\.\d\d) seconds, "
                      r"measured = (\d+\.\d\d) seconds\.", result.stdout)
    assert match, ("The client should end with 'FIFO prediction with 3 workers = N.NN "
                   f"seconds, measured = N.NN seconds.'; it printed {result.stdout[-300:]!r}.")
    return float(match.group(1)), float(match.group(2))


def test_slides_runs(runner: LabRunner, server: LabProcess) -> None:
    # -a 1 -b 1: both at once, done when the longer one is.
    mark = len(server.lines)
    one = run_client(runner, "--target", target(server), "-a", "1", "-b", "1")
    logged = [line.split(": ", 1)[1] for line in one.stderr.splitlines() if ": " in line
              and re.search(r": (Calling Chill|Chill[AB] \d finished)", line)]
    assert [re.sub(r"after \d+\.\d\d", "after N", line) for line in logged] == [
        "Calling ChillA 0", "Calling ChillB 0", "ChillB 0 finished after N seconds",
        "ChillA 0 finished after N seconds"] and one.returncode == 0, (
        "python client.py -a 1 -b 1 should log, as the slides: Calling ChillA 0, Calling "
        "ChillB 0, ChillB 0 finished after ..., ChillA 0 finished after ...; it logged "
        f"{logged} and exited {one.returncode}.")
    assert waited(one) == [] and prediction(one)[0] == pytest.approx(A, abs=0.15), (
        f"-a 1 -b 1 on 3 workers: no call waits, the prediction is about {A} s (ChillA); "
        f"the client printed:\n{one.stdout}")
    first = events(server, mark)
    # -a 2 -b 2: one call waits for the first free worker (ChillB 0's, after B).
    mark = len(server.lines)
    two = run_client(runner, "--target", target(server), "-a", "2", "-b", "2")
    assert two.returncode == 0 and len(waited(two)) == 1, (
        "-a 2 -b 2 on 3 workers: one call should wait for a free worker, as the slides' "
        f"6 s case; the client printed:\n{two.stdout}")
    [waiter] = waited(two)
    expected = B + (A if waiter.startswith("ChillA") else B)
    predicted, measured = prediction(two)
    assert predicted == pytest.approx(expected, abs=0.15) and \
        0.95 * predicted <= measured <= predicted + LATE, (
            f"-a 2 -b 2 on 3 workers, {waiter} waiting: about {expected:.2f} s predicted and "
            f"measured; the client printed predicted {predicted:.2f} s, measured "
            f"{measured:.2f} s.")
    peers = [{e.peer for e in found if e.what == "start"}
             for found in (first, events(server, mark))]
    assert len(peers[1]) == 1 and peers[0] != peers[1], (
        "The calls of one client run share one connection (one peer in the server's "
        f"'start' lines), another run has its own; the server logged {peers}.")


# --- what the kit gives: 0-point checks ----------------------------------------------------------
# (Stopping with calls in flight, malformed bytes, limits: tests/test_serving.py, for
# every server.)

TIMELINE = """
import timeline
C = timeline.CallTiming
slides = [C("ChillA 0", 0.0, 5.0, 0, 0.0, 5.0), C("ChillA 1", 0.0, 5.0, 1, 0.0, 5.0),
          C("ChillB 0", 0.0, 3.0, 2, 0.0, 3.0), C("ChillB 1", 0.0, 6.0, 3, 3.0, 3.0)]
late = C("ChillB 9", 0.0, 4.0, 0, 1.0, 2.0)
unknown = [C("ChillA 0", 0.0, 5.0)]
result = {
    "slides": timeline.render_timeline(slides, width=60),
    "late": [list(late.phases()), timeline.bar(late, 4.0, width=8)],
    "empty": timeline.render_timeline([]),
    "unknown": [timeline.prediction_line(unknown, 3, 5.0), timeline.render_timeline(unknown)],
}
"""


def test_timeline_chart(lab: LabRunner) -> None:
    shown = run_in_lab(lab, TIMELINE)
    rows = {line.split("|")[0].strip(): line for line in shown["slides"] if "|" in line}
    bars = {label: row.split("|")[1] for label, row in rows.items()}
    assert list(rows) == ["ChillA 0", "ChillA 1", "ChillB 0", "ChillB 1"]
    assert bars["ChillA 0"] == "#" * 50 + " " * 10  # 6 s over 60 columns: 0.1 s a column
    assert bars["ChillB 1"] == "-" * 30 + "#" * 30
    assert "waited 3.00 s, ran 3.00 s" in rows["ChillB 1"] and "waited" not in rows["ChillA 0"]
    axis = shown["slides"][1]
    assert axis.split() == ["0s", "1s", "2s", "3s", "4s", "5s", "6s"]
    assert axis.index("3s") == rows["ChillB 1"].index("|") + 1 + 30
    assert shown["late"] == [[1.0, 2.0], "  --####"]  # the request's trip left blank
    assert shown["empty"] == []
    assert "not possible" in shown["unknown"][0] and "#" * 60 in shown["unknown"][1][-1]


def test_client_reports_a_rejected_call_in_one_line(runner: LabRunner, server) -> None:
    result = runner.run("client", "--target", target(server), "-a", "1", "-b", "0",
                        "--message", "x" * 1001)
    assert result.returncode == 1 and result.stdout == "", result.output
    [line] = [line for line in result.stderr.splitlines() if not line.startswith("INFO:")]
    assert line == ("ChillA 0 failed: INVALID_ARGUMENT: message is 1001 characters long, "
                    "at most 1000 are allowed"), line


def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "0.2")
    assert_says_no_server(result, f"localhost:{free_port}", "python server.py", timeout=0.2)


def test_health_and_reflection_name_the_service(server: LabProcess) -> None:
    assert_health_serving(target(server), SERVICE)
    with grpc.insecure_channel(target(server)) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert SERVICE in services and "grpc.health.v1.Health" in services, services


def test_server_reports_a_busy_port_clearly(runner: LabRunner, server: LabProcess) -> None:
    second = runner.start("server", "--port", str(server.port))
    assert_refuses_busy_port(second, server.port)
