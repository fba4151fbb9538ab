"""streaming_server_side, black box: the student's story server through the test's own
client, the student's client against a stand-in server of the test's own, and both
together as the slides run them.

- The server is started with story files of the test's own (text whose characters any
  chunk size cuts in two, a binary file, an empty file) and checked message by message:
  the greeting, the file's bytes in chunks, the ending note, and the status.
- "The stream stops when the client goes": servers with a single worker (--workers 1) and
  60 s waits. The test's client leaves; a second client must then be served at once,
  which only happens once the first story has let its worker go.
- The client is run against a stand-in that tells a story of its own (made-up words, in
  chunks of 1 to 13 bytes), so that a client earns its points only by calling TellStory
  and printing what it was sent.

Kit conventions (no server, health, busy port) are 0-point checks; the command line's
checks of bad flags are in test_streaming_server_side_cli.py (not graded: none of it is the
student's code).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from labkit.labs import get_lab
from labkit.procs import LabProcess, LabRunner, ProcessError, target
from labkit.protocol import lab_proto
from labkit.sandbox import Sandbox
from labkit.testing import (
    OpenStream,
    StandIn,
    assert_health_serving,
    assert_refuses_busy_port,
    assert_says_no_server,
    expect_line,
    finished,
    token,
)

LAB = "streaming_server_side"
PROTO = lab_proto(LAB)
TellStoryRequest = PROTO.message("TellStoryRequest")
TellStoryResponse = PROTO.message("TellStoryResponse")
NO_PROXY = [("grpc.enable_http_proxy", 0)]

# The slides' words.
GREETING = "Hi {} from {}! Here's your story:\n\n"
ENDING = "\nThat's it! Hope you like the story~\n\n"
CLIENT_LOG = [
    "INFO:root:Requesting with user_name=Peter S, institution=SUSTech",
    "INFO:root:Stream cancelled by server. Exiting gracefully.",
    "INFO:root:Finished requesting.",
]
USER_CANCELLED = ["INFO:root:Stream cancelled by user (Ctrl+C).",
                  "INFO:root:Finished requesting."]
FAST = ("--delay", "0", "--pace", "0")
DELAY, PACE = "0.2", "0.01"  # seconds: the paced server's (binary file) waits
# Waits that a server must never sit out once its client is gone; and how long "at once"
# may take on a busy machine (a server that sleeps out a wait is 60 s late).
LONG = "60"
AT_ONCE = 5.0
# 1-byte ASCII, 2-byte é/ë/Ł, 3-byte CJK, 4-byte emoji: any chunk size cuts some in two.
MULTIBYTE = ("Zoë 李明 says: « bien-aimée » — 山高水长! 佐藤はるか 🍋✉️ Łucja Wiśniewska, 김민준.\n"
             * 40)


# --- the servers of this module ----------------------------------------------------------

@dataclass
class Served:
    """One server of the module and the story file it tells."""

    server: LabProcess
    data: bytes  # the file's bytes
    chunk_size: int
    flags: str  # how it was started, for messages

    @property
    def address(self) -> str:
        return target(self.server)


# name -> (the story's bytes, None for the lab's own story.txt; the server's flags)
CHAPTERS = ("第一章\n" + MULTIBYTE).encode("utf-8")  # 第一章: chapter one, a line of its own
SERVERS: dict[str, tuple[bytes | None, tuple[str, ...]]] = {
    "story.txt": (None, FAST),
    "multibyte text": (MULTIBYTE.encode("utf-8"), (*FAST, "--chunk-size", "7")),
    # Not UTF-8 at all; ends with status OK; paced, so that the waits can be seen.
    "binary file": (bytes(range(256)) * 8,
                    ("--delay", DELAY, "--pace", PACE, "--chunk-size", "100", "--finish", "ok")),
    "empty file": (b"", FAST),
    # One worker and long waits: only a server that notices a client leave serves the next.
    "waiting 60 s after the greeting": (CHAPTERS, ("--delay", LONG, "--pace", "0",
                                                   "--workers", "1")),
    "waiting 60 s between chunks": (CHAPTERS, ("--delay", "0", "--pace", LONG,
                                               "--workers", "1", "--chunk-size", "16")),
}


@pytest.fixture(scope="module")
def served(lab_root: Path, sandbox: Sandbox,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    """Every server of the module, started at once (they share the machine's two cores
    better than one after the other) and stopped when the module is done."""
    folder = sandbox.share(tmp_path_factory.mktemp("stories"))
    with LabRunner(get_lab(LAB), lab_root, sandbox=sandbox) as runner:
        started = {}
        for number, (name, (data, flags)) in enumerate(SERVERS.items()):
            story: tuple[str, ...] = ()  # the lab's own story.txt
            if data is None:
                data = (runner.folder / "story.txt").read_bytes()
            else:
                path = folder / f"story-{number}.txt"
                path.write_bytes(data)
                story = ("--story", str(path))
            size = int(flags[flags.index("--chunk-size") + 1]) if "--chunk-size" in flags \
                else 1024
            process = runner.start("server", "--port", "0", *story, *flags,
                                   name=f"server ({name})")
            started[name] = Served(process, data, size,
                                   " ".join(("python server.py", *flags)) + f" (story: {name})")
        for one in started.values():
            one.server.wait_ready()
        yield started


# --- the test's own client ---------------------------------------------------------------

@dataclass
class Told:
    """One whole TellStory call: the messages, when each arrived, and how it ended."""

    messages: list[bytes]
    arrived: list[float]  # time.monotonic() of each message
    code: grpc.StatusCode
    details: str
    started: float  # time.monotonic() just before the call was made

    @property
    def story(self) -> bytes:
        """What came between the greeting and the ending note."""
        return b"".join(self.messages[1:-1])

    def ended(self) -> str:
        return f"{self.code.name}" + (f" ({self.details})" if self.details else "")


def tell(address: str, user: str = "Ada", institution: str = "Lovelace Institute",
         timeout: float = 20) -> Told:
    with grpc.insecure_channel(address, options=NO_PROXY) as channel:
        stub = PROTO.stub(channel, "AssistantService")
        messages: list[bytes] = []
        arrived: list[float] = []
        started = time.monotonic()
        call = stub.TellStory(TellStoryRequest(user_name=user, institution=institution),
                              timeout=timeout)
        try:
            for response in call:
                messages.append(response.text_chunk)
                arrived.append(time.monotonic())
        except grpc.RpcError as error:
            return Told(messages, arrived, error.code(), error.details() or "", started)
        return Told(messages, arrived, grpc.StatusCode.OK, "", started)


class Listener(OpenStream):
    """A TellStory call of the test's own that stays open (see labkit.testing.OpenStream)."""

    def __init__(self, address: str, user: str, institution: str = "SUSTech") -> None:
        self.user = user
        channel = grpc.insecure_channel(address, options=NO_PROXY)
        call = PROTO.stub(channel, "AssistantService").TellStory(
            TellStoryRequest(user_name=user, institution=institution), timeout=300)
        super().__init__(channel, call, keep=lambda response: response.text_chunk)

    @property
    def messages(self) -> list[bytes]:
        return self.items

    def seen(self) -> str:
        return f"{len(self.messages)} message(s), {self.state()}"


Stories = Callable[[str], tuple[Served, Told]]


@pytest.fixture(scope="module")
def stories(served: dict[str, Served]) -> Stories:
    """One TellStory call (user Zoë, from Vallée-des-Échos) per server, made when a test
    first asks for it: the tests that check different things of the same story share it."""
    told: dict[str, Told] = {}

    def story(name: str) -> tuple[Served, Told]:
        if name not in told:
            told[name] = tell(served[name].address, "Zoë", "Vallée-des-Échos")
        return served[name], told[name]

    return story


def first_difference(got: Sequence, expected: Sequence) -> int:
    """The index of the first item that differs (bytes, characters or lines)."""
    return next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                min(len(got), len(expected)))


def difference(got: str | bytes, expected: str | bytes, unit: str) -> str:
    """Where `got` first differs from `expected`, with a few units of each around it."""
    at = first_difference(got, expected)
    return (f"from {unit} {at} on ({len(got)} {unit}s in all, {len(expected)} expected): "
            f"{got[max(0, at - 12):at + 12]!r} where {expected[max(0, at - 12):at + 12]!r} "
            "was expected")


def told_ok(told: Told, where: str) -> None:
    """The call ended as a story ends (CANCELLED as the slides, or OK), with messages."""
    assert told.code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.OK) and told.messages, (
        f"TellStory on {where} should stream a greeting, the story and an ending note; "
        f"the call ended with {told.ended()} after {len(told.messages)} message(s).")


# --- the server: the file, byte for byte -------------------------------------------------

@pytest.mark.parametrize("name", ["story.txt", "multibyte text", "binary file", "empty file"])
def test_server_sends_the_file_byte_exact(stories: Stories, name: str) -> None:
    one, told = stories(name)
    told_ok(told, one.flags)
    data, size = one.data, one.chunk_size
    assert told.story == data, (
        f"Between the greeting and the ending note, {one.flags} should send the file's "
        f"{len(data)} bytes, exactly as read; in {len(told.messages) - 2} message(s) it "
        f"sent other bytes, {difference(told.story, data, 'byte')}.")
    sizes = [len(chunk) for chunk in told.messages[1:-1]]
    expected = [size] * (len(data) // size) + ([len(data) % size] if len(data) % size else [])
    assert sizes == expected, (
        f"{one.flags} should send the file in chunks of {size} bytes (the last one "
        f"shorter), one chunk per message: {len(expected)} message(s) between the greeting "
        f"and the ending note; their sizes were {sizes[:12]}"
        f"{' ...' if len(sizes) > 12 else ''} ({len(sizes)} messages).")


# --- the server: greeting, ending note, status, the waits ----------------------------------

@pytest.mark.parametrize("name, status", [("story.txt", "CANCELLED"), ("binary file", "OK")])
def test_server_greets_first_and_ends_with_the_note(stories: Stories, name: str,
                                                   status: str) -> None:
    one, told = stories(name)
    told_ok(told, one.flags)
    greeting = GREETING.format("Zoë", "Vallée-des-Échos")
    assert told.messages[0] == greeting.encode("utf-8"), (
        f"The first message should be the greeting {greeting!r} (the slides' words, with "
        f"the request's user_name and institution); it was {told.messages[0][:80]!r}.")
    assert len(told.messages) >= 2 and told.messages[-1] == ENDING.encode("utf-8"), (
        f"The last message should be the ending note {ENDING!r} (the slides' words); it "
        f"was {told.messages[-1][:80]!r}.")
    assert told.code.name == status, (
        f"{one.flags} should end the call with the status {status}"
        + (" (the slides end the story by cancelling the call)" if status == "CANCELLED"
           else " (--finish ok: the handler returns)")
        + f"; it ended with {told.ended()}.")


def test_server_waits_the_delay_then_paces_the_chunks(stories: Stories) -> None:
    # Lower bounds from the moment of the call: no machine is ever too fast for them.
    delay, pace = float(DELAY), float(PACE)
    one, told = stories("binary file")
    told_ok(told, one.flags)
    assert len(told.messages) == 2 + 21, (
        f"{one.flags} should send the 2048 bytes in 21 chunks; it sent "
        f"{len(told.messages) - 2}.")
    first, last = told.arrived[1] - told.started, told.arrived[-2] - told.started
    assert first >= delay, (
        f"With --delay {DELAY} the story should start {DELAY} s after the greeting (the "
        f"slides' 'story generation' time); its first chunk came {first:.2f} s after the call.")
    assert last >= delay + 20 * pace, (
        f"With --pace {PACE} the 21 chunks should come {PACE} s apart: the last one at least "
        f"{delay + 20 * pace:.2f} s after the call; it came after {last:.2f} s.")


# --- the server's log --------------------------------------------------------------------

def server_log(server: LabProcess, start: int) -> list[str]:
    return [line for _, line in server.lines[start:]]


def stopped_line(user: str, institution: str) -> str:
    """The server's line for a client that left mid-story, as a pattern."""
    return (rf"^INFO:root:Stopped streaming \S+ for {re.escape(user)} from "
            rf"{re.escape(institution)} after \d+ bytes: the client went away\.$")


def test_server_logs_the_slides_lines(served: dict[str, Served]) -> None:
    one = served["story.txt"]
    user, institution = "Grace", "Log Institute"  # names no other test of this server uses
    mark = len(one.server.lines)
    told = tell(one.address, user, institution)
    told_ok(told, one.flags)
    finishes = f"INFO:root:Finishes streaming story.txt for {user} from {institution}."
    try:
        one.server.wait_for(f"^{re.escape(finishes)}$", timeout=3, start=mark)
    except ProcessError:
        pass  # the comparison below says what is missing
    chunks = [one.data[i:i + 1024] for i in range(0, len(one.data), 1024)]
    received = f"INFO:root:Received story-telling request from {user}, {institution}."
    expected = [
        received,
        "INFO:root:Start streaming story.txt",
        *(f"INFO:root:Read {len(c)} bytes: {c[:10].decode('utf-8', 'backslashreplace')} ..."
          for c in chunks),
        "INFO:root:[EOF]",
        finishes,
    ]
    log = server_log(one.server, mark)
    # From this story's first line on (the end of the story before may come after `mark`).
    log = log[log.index(received):] if received in log else log
    # A peek that holds a line break prints it, as in the slides: compare line by line.
    want, got = "\n".join(expected).splitlines(), log
    number = first_difference(want, got)
    assert want == got, (
        f"For one story the server should log the slides' lines (Received..., Start "
        f"streaming..., one 'Read N bytes: <first 10 bytes> ...' per chunk, [EOF], Finishes "
        f"streaming...); line {number + 1} of its log for the story should be "
        f"{want[number] if number < len(want) else 'no line'!r}; it was "
        f"{got[number] if number < len(got) else 'no line'!r}.")

    # A chunk that cuts a character in two: its first bytes shown as \x.. escapes.
    multibyte = served["multibyte text"]
    mark = len(multibyte.server.lines)
    told_ok(tell(multibyte.address), multibyte.flags)
    peeks = [multibyte.data[i:i + 7][:10].decode("utf-8", "backslashreplace") for i in (0, 7)]
    for peek in peeks:
        line = f"INFO:root:Read 7 bytes: {peek} ..."
        expect_line(multibyte.server, f"^{re.escape(line)}$",
               f"With --chunk-size 7 the server should log {line!r} (a character cut in two "
               "shows as \\x.. escapes, not as an error)", start=mark)

    # A client that leaves: the line the README shows.
    waiting = served["waiting 60 s between chunks"]
    mark = len(waiting.server.lines)
    with Listener(waiting.address, "Logan", "Log Institute") as listener:
        assert listener.wait_for(2, AT_ONCE), (
            f"{waiting.flags} should send the greeting and a first chunk at once; the test's "
            f"client got {listener.seen()}.")
        listener.leave("cancels")
        expect_line(waiting.server, stopped_line("Logan", "Log Institute"),
               "When the client cancels mid-story the server should log 'Stopped streaming "
               "<story> for Logan from Log Institute after N bytes: the client went away.'",
               start=mark)


# --- the server: the stream stops when the client goes ------------------------------------

@pytest.mark.parametrize("name, how", [
    ("waiting 60 s after the greeting", "cancels"),
    ("waiting 60 s between chunks", "cancels"),
    ("waiting 60 s between chunks", "closes its channel"),
])
def test_server_stops_when_the_client_goes(served: dict[str, Served], name: str,
                                           how: str) -> None:
    one = served[name]  # a single worker
    mid_story = "between chunks" in name
    first_messages = 2 if mid_story else 1  # the greeting (and the first chunk)
    with Listener(one.address, "First") as first:
        assert first.wait_for(first_messages, AT_ONCE), (
            f"{one.flags} should send the greeting at once"
            + (" and the first chunk with it" if mid_story else "")
            + f"; the test's client got {first.seen()} within 5 s.")
        first.leave(how)
        left = time.monotonic()
        with Listener(one.address, "Second") as second:
            served_at_once = second.wait_for(1, AT_ONCE)
            waited = time.monotonic() - left
            assert served_at_once, (
                f"When a client {how.replace('its', 'their')} "
                f"{'mid-story' if mid_story else 'during the delay'}, the server should stop "
                f"its story at once and free its only worker (--workers 1); a second client "
                f"got {second.seen()} in {waited:.1f} s (a server that sleeps out the "
                f"{LONG} s wait holds the worker until then).")
            second.leave("cancels")


# --- the server: bad requests ------------------------------------------------------------

@pytest.mark.parametrize("user, institution, complaint", [
    ("", "SUSTech", "user_name is empty"),
    ("   ", "SUSTech", "user_name is empty"),
    ("Ada", "", "institution is empty"),
    ("x" * 101, "SUSTech", "user_name is too long (101 characters, at most 100)"),
    ("Ada", "SUSTech\nINFO:root:Finishes streaming", "institution contains control"),
], ids=["empty name", "blank name", "empty institution", "long name", "newline"])
def test_server_refuses_bad_requests(served: dict[str, Served], user: str, institution: str,
                                     complaint: str) -> None:
    one = served["story.txt"]
    mark = len(one.server.lines)
    told = tell(one.address, user, institution)
    assert told.code == grpc.StatusCode.INVALID_ARGUMENT and complaint in told.details, (
        f"TellStory(user_name={user!r}, institution={institution!r}) should be refused with "
        f"INVALID_ARGUMENT: {complaint}... (check_request's reason); it ended with "
        f"{told.ended()} after {len(told.messages)} message(s).")
    log = "\n".join(server_log(one.server, mark))
    assert f"Received story-telling request from {user}, {institution}." not in log and \
            not told.messages, (
        "A bad request should be refused before anything else: no greeting, no log line; "
        f"the server sent {len(told.messages)} message(s) and logged {log[-200:]!r}.")
    again = tell(one.address)
    assert len(again.messages) > 2 and again.code in (grpc.StatusCode.CANCELLED,
                                                      grpc.StatusCode.OK), (
        f"After a bad request the server should go on telling stories; the next call ended "
        f"with {again.ended()} after {len(again.messages)} message(s).")


# --- the client, against the stand-in ------------------------------------------------------

class StoryTeller:
    """The stand-in's TellStory: a greeting, a story and an ending note of its own, the
    story in chunks of 1 to 13 bytes (so that they cut characters in two), then the end
    as `ending` says: "cancel" (as the slides' server), "ok", or an error status."""

    def __init__(self, ending: str = "cancel", pace: float = 0.0) -> None:
        self.word = token()
        self.ending_as = ending
        self.pace = pace  # seconds between chunks
        self.story = (f"Il était une fois {self.word}. Zoë, 李明 et 🍋 lisent « la lettre ».\n"
                      * 30).encode("utf-8")
        sizes = itertools.cycle((1, 2, 3, 5, 7, 11, 13))
        self.chunks = []
        at = 0
        while at < len(self.story):
            size = next(sizes)
            self.chunks.append(self.story[at:at + size])
            at += size
        self.ending = f"\nFin de l'histoire ({self.word}).\n".encode()
        self.ended = threading.Event()
        self.ended_at: float | None = None

    def greeting(self, user: str, institution: str) -> str:
        return f"Bonjour {user} de {institution} ! Voici l'histoire {self.word} :\n\n"

    def error(self) -> str:
        return f"the story file {self.word}.txt cannot be read"

    def _end(self) -> None:
        self.ended_at = time.monotonic()
        self.ended.set()

    def TellStory(self, request, context):
        context.add_callback(self._end)
        yield TellStoryResponse(text_chunk=self.greeting(request.user_name,
                                                         request.institution).encode("utf-8"))
        for number, chunk in enumerate(self.chunks):
            if self.ending_as == "error" and number == 3:
                context.abort(grpc.StatusCode.NOT_FOUND, self.error())
            if self.pace and self.ended.wait(self.pace):
                return
            yield TellStoryResponse(text_chunk=chunk)
        yield TellStoryResponse(text_chunk=self.ending)
        if self.ending_as == "cancel":
            context.abort(grpc.StatusCode.CANCELLED, "the story is over")


def test_client_prints_the_story_it_is_sent(lab: LabRunner, tmp_path: Path) -> None:
    teller = StoryTeller()
    output = tmp_path / "got.txt"
    with StandIn(LAB, "AssistantService", teller) as stand_in:
        result = lab.run("client", "--target", stand_in.target, "--user-name", "Zoë Lefèvre",
                         "--institution", "Vallée-des-Échos", "--output", str(output),
                         timeout=15)
    calls = [(call.method, call.request.user_name, call.request.institution)
             for call in stand_in.calls]
    assert calls == [("TellStory", "Zoë Lefèvre", "Vallée-des-Échos")], (
        "python client.py --user-name 'Zoë Lefèvre' --institution Vallée-des-Échos should "
        "call TellStory once with that user_name and institution; the test's server "
        f"received {calls or 'no call'}.")
    expected = (teller.greeting("Zoë Lefèvre", "Vallée-des-Échos")
                + teller.story.decode("utf-8") + teller.ending.decode("utf-8"))
    assert result.stdout == expected, (
        "The client should print every chunk of the stream as it comes, the greeting, the "
        "story and the ending note, with no character broken where a chunk cuts it (the "
        f"test's server sent {len(teller.chunks) + 2} chunks of 1 to 13 bytes); what it "
        f"printed differs {difference(result.stdout, expected, 'character')}.")
    saved = output.read_bytes() if output.exists() else b""
    assert saved == teller.story, (
        "With --output FILE the client should save the story (every message between the "
        f"greeting and the ending note) byte for byte; the file differs "
        f"{difference(saved, teller.story, 'byte')}.")
    log = ["INFO:root:Requesting with user_name=Zoë Lefèvre, institution=Vallée-des-Échos",
           *CLIENT_LOG[1:]]
    assert result.stderr.splitlines() == log and result.returncode == 0, (
        f"When the server ends the story by cancelling the call (as the slides), the client "
        f"should log {log} and exit 0; it logged {result.stderr.splitlines()} and exited "
        f"{result.returncode}.")


def test_client_ends_as_the_stream_ends(lab: LabRunner) -> None:
    tellers = {"ok": StoryTeller("ok"), "error": StoryTeller("error"),
               "ctrl-c": StoryTeller("cancel", pace=0.2)}
    with StandIn(LAB, "AssistantService", tellers["ok"]) as ok, \
            StandIn(LAB, "AssistantService", tellers["error"]) as error, \
            StandIn(LAB, "AssistantService", tellers["ctrl-c"]) as slow:
        # All three at once: they take as long as the slowest.
        clients = {name: lab.start("client", "--target", stand_in.target, name=f"client ({name})")
                   for name, stand_in in (("ok", ok), ("error", error), ("ctrl-c", slow))}
        for client in clients.values():
            client.close_stdin()
        greeting = tellers["ctrl-c"].greeting("Peter S", "SUSTech").splitlines()[0]
        expect_line(clients["ctrl-c"], f"^{re.escape(greeting)}$",
               f"The client should print the greeting {greeting!r} as soon as it arrives",
               stream="stdout", timeout=10)
        pressed = time.monotonic()
        clients["ctrl-c"].interrupt()
        results = {name: finished(client, 15, f"The client ({name}) should exit once the "
                                                "stream ends")
                   for name, client in clients.items()}
        # While the stand-in still runs (stopping it ends every call).
        cancelled = tellers["ctrl-c"].ended.wait(AT_ONCE)

    got = results["ok"]
    expected = [CLIENT_LOG[0], "INFO:root:Stream finished by server with status OK.",
                CLIENT_LOG[2]]
    assert got.stderr.splitlines() == expected and got.returncode == 0, (
        f"When the stream ends with the status OK, the client should log {expected} and exit "
        f"0; it logged {got.stderr.splitlines()} and exited {got.returncode}.")
    teller = tellers["ok"]
    assert got.stdout.endswith(teller.story.decode() + teller.ending.decode()), (
        "When the stream ends with OK, the client should have printed the whole story and "
        f"the ending note; it printed {got.stdout[-80:]!r} last.")

    got = results["error"]
    failed = f"TellStory failed: NOT_FOUND: {tellers['error'].error()}"
    lines = got.stderr.splitlines()
    assert got.returncode == 1 and failed in lines and "Traceback" not in got.stderr, (
        f"When the stream ends with an error, the client should print one line {failed!r} and "
        f"exit 1; it exited {got.returncode} and logged {lines[-4:]}.")
    assert lines[0] == CLIENT_LOG[0] and lines[-1] == CLIENT_LOG[2], (
        f"The client should log {CLIENT_LOG[0]!r} first and {CLIENT_LOG[2]!r} last, whatever "
        f"the end; it logged {lines}.")

    got = results["ctrl-c"]
    lines = got.stderr.splitlines()
    assert got.returncode == 0 and lines[-2:] == USER_CANCELLED, (
        f"Ctrl+C mid-story should cancel the call, log {USER_CANCELLED} and exit 0; the "
        f"client exited {got.returncode} and logged {lines[-3:]}.")
    teller = tellers["ctrl-c"]
    assert cancelled and teller.ended_at - pressed < AT_ONCE, (
        "Ctrl+C should end the call at once (the server must learn that its client is "
        "gone); the test's server still had the call open 5 s later.")


# --- both, as the slides run them -----------------------------------------------------------

def test_slides_run(lab: LabRunner, served: dict[str, Served]) -> None:
    one = served["story.txt"]
    result = lab.run("client", "--target", one.address)
    expected = GREETING.format("Peter S", "SUSTech") + one.data.decode("utf-8") + ENDING
    assert result.stdout == expected, (
        "python client.py against python server.py should print the slides' greeting 'Hi "
        "Peter S from SUSTech! Here's your story:', the whole story.txt and the ending note; "
        f"what it printed differs {difference(result.stdout, expected, 'character')}.")
    assert result.stderr.splitlines() == CLIENT_LOG and result.returncode == 0, (
        f"The client should log the slides' lines {CLIENT_LOG} and exit 0; it logged "
        f"{result.stderr.splitlines()[-5:]} and exited {result.returncode}.")


def test_slides_ctrl_c_mid_story(lab: LabRunner, served: dict[str, Served]) -> None:
    one = served["waiting 60 s between chunks"]
    mark = len(one.server.lines)
    client = lab.start("client", "--target", one.address)
    client.close_stdin()
    expect_line(client, "^第一章$", "python client.py should print the story's first line, 第一章, "
           "as soon as its chunk arrives", stream="stdout", timeout=10)
    client.interrupt()
    result = finished(client, 10, "Ctrl+C in the client mid-story should cancel the call "
                                  "and end the client")
    assert result.returncode == 0 and result.stderr.splitlines()[-2:] == USER_CANCELLED, (
        f"Ctrl+C in the client mid-story should log {USER_CANCELLED} and exit 0; it exited "
        f"{result.returncode} and logged {result.stderr.splitlines()[-3:]}.")
    expect_line(one.server, stopped_line("Peter S", "SUSTech"),
           "After Ctrl+C in the client the server should log at once 'Stopped streaming "
           "<story> for Peter S from SUSTech after N bytes: the client went away.'", start=mark)


# --- what the kit gives: 0-point checks -------------------------------------------------------

def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "0.5")
    assert_says_no_server(result, f"localhost:{free_port}", "python server.py", timeout=0.5)


def test_health_answers_serving(served: dict[str, Served]) -> None:
    assert_health_serving(served["story.txt"].address, "AssistantService")


def test_server_reports_a_busy_port_clearly(lab: LabRunner, served: dict[str, Served]) -> None:
    port = served["story.txt"].server.port
    second = lab.start("server", "--port", str(port))
    assert_refuses_busy_port(second, port)
