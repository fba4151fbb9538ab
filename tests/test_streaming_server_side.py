"""streaming_server_side, black box: the story server and client as real processes.

The server's slow steps (--delay, --pace) are set to 0 or made long on purpose, so
that every test takes a second or two. Raw gRPC calls (no stubs: several labs have an
`assistant.proto`, and their stubs cannot share one process) check what the client
receives message by message and with which status code.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from labkit.labs import get_lab
from labkit.procs import LabProcess, LabRunner, target
from labkit.testing import assert_health_serving, assert_refuses_busy_port, assert_says_no_server

LAB = "streaming_server_side"

GREETING = "Hi {} from {}! Here's your story:\n\n"
ENDING = "\nThat's it! Hope you like the story~\n\n"
FAST = ("--delay", "0", "--pace", "0")
CLIENT_LOG = [
    "INFO:root:Requesting with user_name=Peter S, institution=SUSTech",
    "INFO:root:Stream cancelled by server. Exiting gracefully.",
    "INFO:root:Finished requesting.",
]
# Every kind of character: 1-byte ASCII, 2-byte é/ë/Ł, 3-byte CJK, 4-byte emoji, so that
# any chunk size cuts some of them in two.
MULTIBYTE = ("Zoë 李明 says: « bien-aimée » — 山高水长! 佐藤はるか 🍋✉️ Łucja Wiśniewska, 김민준.\n"
             * 40)


@pytest.fixture(scope="module")
def fast_runner(lab_root: Path) -> Iterator[LabRunner]:
    """A runner shared by the tests that can all use one fast server."""
    runner = LabRunner(get_lab(LAB), lab_root)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="module")
def fast_server(fast_runner: LabRunner) -> LabProcess:
    """The lab's server with its own story, no delay, no pacing, and a single worker:
    a test that leaves the worker busy makes the next ones fail."""
    return fast_runner.start_server("server", *FAST, "--workers", "1")


@pytest.fixture
def story(lab: LabRunner) -> bytes:
    return (lab.folder / "story.txt").read_bytes()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- raw gRPC, to see exactly what goes over the wire -----------------------------------

def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_request(user_name: str, institution: str) -> bytes:
    """TellStoryRequest{user_name=1, institution=2} in the protobuf wire format."""
    out = b""
    for field, value in ((1, user_name), (2, institution)):
        data = value.encode("utf-8")
        out += varint(field << 3 | 2) + varint(len(data)) + data
    return out


def decode_response(message: bytes) -> bytes:
    """text_chunk (field 1, bytes) of a TellStoryResponse."""
    if not message:
        return b""
    assert message[0] == 0x0A, message[:10]
    length, shift, pos = 0, 0, 1
    while True:
        byte = message[pos]
        length |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            break
    assert len(message) == pos + length, "one field only"
    return message[pos:]


def raw_tell_story(server: LabProcess, user_name: str = "Ada",
                   institution: str = "Lovelace Institute") -> tuple[list[bytes], grpc.StatusCode, str]:
    """Every text_chunk received, the status code the stream ended with, its details."""
    with grpc.insecure_channel(target(server), options=[("grpc.enable_http_proxy", 0)]) as channel:
        call = channel.unary_stream("/AssistantService/TellStory")  # bytes in, bytes out
        stream = call(encode_request(user_name, institution), timeout=20)
        chunks = []
        try:
            for message in stream:
                chunks.append(decode_response(message))
        except grpc.RpcError as error:
            return chunks, error.code(), error.details() or ""
    return chunks, grpc.StatusCode.OK, ""


# --- the slides' run ---------------------------------------------------------------------

def test_client_prints_what_the_slides_show(lab: LabRunner, fast_server: LabProcess,
                                           story: bytes) -> None:
    start = len(fast_server.lines)
    result = lab.run("client", "--target", target(fast_server))
    assert result.returncode == 0, result.output
    expected = GREETING.format("Peter S", "SUSTech") + story.decode("utf-8") + ENDING
    assert result.stdout == expected
    assert result.stderr.splitlines() == CLIENT_LOG
    fast_server.wait_for(r"Finishes streaming", start=start)
    log = [line for _, line in fast_server.lines[start:]]
    assert log[0] == "INFO:root:Received story-telling request from Peter S, SUSTech."
    assert log[1] == "INFO:root:Start streaming story.txt"
    peek = story[:10].decode("utf-8")
    assert log[2] == f"INFO:root:Read 1024 bytes: {peek} ..."
    reads = [line for line in log if line.startswith("INFO:root:Read ")]
    assert len(reads) == -(-len(story) // 1024)  # one line per chunk, the last one shorter
    assert "INFO:root:[EOF]" in log
    assert log[-1] == "INFO:root:Finishes streaming story.txt for Peter S from SUSTech."
    assert log.index("INFO:root:[EOF]") < len(log) - 1


def test_the_story_served_is_the_kits_own_text(lab: LabRunner, fast_server: LabProcess,
                                               story: bytes) -> None:
    assert len(story) >= 100 * 1024
    text = story.decode("utf-8")  # valid UTF-8 all through
    assert sum(1 for ch in text if ord(ch) > 127) > 500
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text), "some CJK"
    assert any(ord(ch) > 0xFFFF for ch in text), "an emoji or two (4-byte characters)"
    assert "Alice" not in text and "Lewis Carroll" not in text
    chunks, _, _ = raw_tell_story(fast_server)
    assert b"".join(chunks[1:-1]) == story  # and it is what the server tells


def test_greeting_story_and_ending_are_separate_messages(fast_server: LabProcess,
                                                         story: bytes) -> None:
    chunks, code, _ = raw_tell_story(fast_server, "Zoë", "Vallée-des-Échos")
    assert code == grpc.StatusCode.CANCELLED  # the slides' ending: the server cancels
    assert chunks[0].decode("utf-8") == GREETING.format("Zoë", "Vallée-des-Échos")
    assert chunks[-1].decode("utf-8") == ENDING
    assert b"".join(chunks[1:-1]) == story
    assert all(len(chunk) == 1024 for chunk in chunks[1:-2])


# --- --output and the printed text, whatever the chunk size ------------------------------

@pytest.mark.parametrize("case", ["size 1", "size 7", "size 1024", "chunk larger than file",
                                  "empty file"])
def test_output_is_byte_identical_to_the_file_served(lab: LabRunner, tmp_path: Path,
                                                     story: bytes, case: str) -> None:
    if case == "size 1":  # 1 byte per message: a small file keeps the test fast
        data, size = MULTIBYTE.encode("utf-8")[:700], 1
    elif case == "size 7":
        data, size = MULTIBYTE.encode("utf-8") * 3, 7
    elif case == "size 1024":
        data, size = story, 1024
    elif case == "chunk larger than file":
        data, size = story, len(story) + 4096
    else:
        data, size = b"", 1024
    served = write(tmp_path, "served.txt", data)
    server = lab.start_server("server", *FAST, "--story", str(served), "--chunk-size", str(size))
    output = tmp_path / "received.txt"
    result = lab.run("client", "--target", target(server), "--output", str(output))
    assert result.returncode == 0, result.output
    assert output.read_bytes() == data
    greeting = GREETING.format("Peter S", "SUSTech")
    assert result.stdout == greeting + data.decode("utf-8", errors="replace") + ENDING
    assert result.stderr.splitlines() == CLIENT_LOG


def test_multibyte_characters_are_never_broken(lab: LabRunner, tmp_path: Path) -> None:
    # 7 bytes per chunk cuts é, 李 and 🍋 in two again and again.
    data = MULTIBYTE.encode("utf-8")
    served = write(tmp_path, "multibyte.txt", data)
    server = lab.start_server("server", *FAST, "--story", str(served), "--chunk-size", "7")
    result = lab.run("client", "--target", target(server))
    assert result.returncode == 0, result.output
    assert "\ufffd" not in result.stdout
    assert result.stdout == GREETING.format("Peter S", "SUSTech") + MULTIBYTE + ENDING
    # The server's peek at chunks that cut a character shows the stray bytes, no error.
    server.wait_for(r"\[EOF\]")
    first = data[:7].decode("utf-8", errors="backslashreplace")  # "Zoë \xe6\x9d"
    assert f"INFO:root:Read 7 bytes: {first} ..." in server.stderr
    second = data[7:14].decode("utf-8", errors="backslashreplace")  # "\x8e明 sa"
    assert f"INFO:root:Read 7 bytes: {second} ..." in server.stderr
    assert "Traceback" not in server.stderr


def test_a_file_that_is_not_utf8_is_still_sent_byte_for_byte(lab: LabRunner,
                                                             tmp_path: Path) -> None:
    data = bytes(range(256)) * 8
    served = write(tmp_path, "binary.bin", data)
    server = lab.start_server("server", *FAST, "--story", str(served), "--chunk-size", "100")
    output = tmp_path / "received.bin"
    result = lab.run("client", "--target", target(server), "--output", str(output))
    assert result.returncode == 0, result.output
    assert output.read_bytes() == data
    assert "Traceback" not in result.stderr + server.stderr


# --- how the stream ends -----------------------------------------------------------------

def test_finish_ok_ends_with_status_ok(lab: LabRunner, tmp_path: Path) -> None:
    served = write(tmp_path, "short.txt", "Une histoire très courte. 完.\n".encode("utf-8"))
    server = lab.start_server("server", *FAST, "--story", str(served), "--finish", "ok")
    chunks, code, _ = raw_tell_story(server)
    assert code == grpc.StatusCode.OK
    assert b"".join(chunks[1:-1]) == served.read_bytes()
    result = lab.run("client", "--target", target(server))
    assert result.returncode == 0, result.output
    assert result.stderr.splitlines() == [
        CLIENT_LOG[0], "INFO:root:Stream finished by server with status OK.", CLIENT_LOG[2]]
    assert result.stdout.endswith("完.\n" + ENDING)


def test_delay_and_pace_are_honoured(lab: LabRunner, tmp_path: Path) -> None:
    served = write(tmp_path, "five.txt", b"a" * 50)  # 5 chunks of 10 bytes
    server = lab.start_server("server", "--delay", "0.6", "--pace", "0.15", "--chunk-size", "10",
                              "--story", str(served))
    started = time.monotonic()
    chunks, code, _ = raw_tell_story(server)
    took = time.monotonic() - started
    assert code == grpc.StatusCode.CANCELLED and len(chunks) == 7
    assert took >= 0.6 + 4 * 0.15, took  # the delay, then a pause between chunks


# --- a client that goes away -------------------------------------------------------------

def start_and_wait_for_story(lab: LabRunner, server: LabProcess, name: str,
                             expect: str) -> LabProcess:
    client = lab.start("client", "--target", target(server), "--user-name", name)
    client.wait_for(expect, timeout=10, stream="stdout")
    return client


def assert_second_client_served_at_once(lab: LabRunner, server: LabProcess,
                                        expect: str) -> None:
    """With 1 worker, a second client is only served if the first one's worker is free."""
    started = time.monotonic()
    second = start_and_wait_for_story(lab, server, "Second", expect)
    assert time.monotonic() - started < 5, "the second client waited for a worker"
    server.wait_for(r"Received story-telling request from Second, SUSTech\.")
    second.stop()


@pytest.mark.parametrize("when", ["during the delay", "mid-story"])
@pytest.mark.parametrize("how", ["SIGKILL", "Ctrl+C"])
def test_server_stops_telling_when_the_client_goes_away(lab: LabRunner, tmp_path: Path,
                                                        when: str, how: str) -> None:
    served = write(tmp_path, "story.txt", ("第一章\n" + MULTIBYTE).encode("utf-8"))
    # Long waits: an implementation that sleeps through them would hold the only worker.
    slow = ("--delay", "30", "--pace", "0") if when == "during the delay" \
        else ("--delay", "0", "--pace", "30")
    server = lab.start_server("server", *slow, "--workers", "1", "--chunk-size", "16",
                              "--story", str(served))
    # The first chunk holds a whole line: 第一章 (chapter one) and its newline.
    expect = "Here's your story:" if when == "during the delay" else "第一章"
    first = start_and_wait_for_story(lab, server, "First", expect)
    before = len(server.lines)
    gone = time.monotonic()
    if how == "SIGKILL":
        first.signal(signal.SIGKILL)
    else:
        first.interrupt()
        result = first.result(timeout=5)
        assert result.returncode == 0, first.describe()
        assert result.stderr.splitlines()[-2:] == [
            "INFO:root:Stream cancelled by user (Ctrl+C).", "INFO:root:Finished requesting."]
        assert "Traceback" not in result.stderr
    # Within a second (plus slack for a loaded machine); sleeping through would take 30 s.
    server.wait_for(r"Stopped streaming .* for First from SUSTech .*the client went away",
                    timeout=2, start=before)
    assert time.monotonic() - gone < 2
    assert_second_client_served_at_once(lab, server, expect)
    assert "Traceback" not in server.stderr


# --- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("flag, value, complaint", [
    ("--user-name", "", "user_name is empty"),
    ("--user-name", "   ", "user_name is empty"),
    ("--institution", "", "institution is empty"),
    ("--user-name", "x" * 101, "user_name is too long (101 characters, at most 100)"),
    ("--institution", "SUSTech\nINFO:root:Finishes streaming", "institution contains control"),
])
def test_bad_requests_are_refused_and_the_server_keeps_serving(
        lab: LabRunner, fast_server: LabProcess, story: bytes, flag: str, value: str,
        complaint: str) -> None:
    server = fast_server  # one worker
    before = len(server.lines)
    result = lab.run("client", "--target", target(server), flag, value)
    assert result.returncode == 1, result.output
    errors = [line for line in result.stderr.splitlines() if "TellStory failed" in line]
    assert len(errors) == 1 and errors[0].startswith("TellStory failed: INVALID_ARGUMENT: ")
    assert complaint in errors[0]
    assert "Traceback" not in result.stderr + server.stderr
    log = "".join(line for _, line in server.lines[before:])
    assert "Received story-telling request" not in log  # refused before anything else
    chunks, code, _ = raw_tell_story(server)  # the only worker is free again
    assert code == grpc.StatusCode.CANCELLED and b"".join(chunks[1:-1]) == story


def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "1")
    assert_says_no_server(result, f"localhost:{free_port}", "python server.py")


# Mistakes on the command line: code outside the solution regions (the starter keeps it),
# so these pass on the starter copy too (listed in labkit/grading.py NOT_COVERED).
@pytest.mark.parametrize("process, args, code, complaint", [
    ("client", ("--output", "{tmp}/no-such-folder/out.txt"), 1, "Cannot write"),
    ("server", ("--story", "no-such-story.txt"), 1, "no-such-story.txt"),
    ("server", ("--story", "{tmp}"), 1, "--story PATH"),  # a folder, not a file
    ("server", ("--chunk-size", "0"), 2, "--chunk-size"),
    ("server", ("--delay", "-1"), 2, "--delay"),
    ("server", ("--pace", "nan"), 2, "--pace"),
    ("server", ("--workers", "0"), 2, "--workers"),
    ("server", ("--finish", "maybe"), 2, "--finish"),
], ids=["unwritable --output", "missing --story", "--story a folder", "chunk size 0",
        "negative delay", "pace nan", "no workers", "finish maybe"])
def test_command_line_mistakes_get_one_clear_line(lab: LabRunner, tmp_path: Path,
                                                  free_port: int, process: str,
                                                  args: tuple[str, ...], code: int,
                                                  complaint: str) -> None:
    args = tuple(arg.replace("{tmp}", str(tmp_path)) for arg in args)
    where = ("--target", f"localhost:{free_port}") if process == "client" else ("--port", "0")
    result = lab.run(process, *where, *args, timeout=10)
    assert result.returncode == code, result.output  # 2: argparse's usage error
    assert complaint in result.stderr.splitlines()[-1], result.stderr
    assert "Traceback" not in result.stderr
    if code == 1:
        assert len(result.stderr.splitlines()) == 1, result.stderr


# --- the server's conventions ------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_server_stops_gracefully_mid_story(lab: LabRunner, signum: int) -> None:
    server = lab.start_server("server", "--delay", "0", "--pace", "30")
    client = start_and_wait_for_story(lab, server, "Peter S", "Letter That Came in Pieces")
    stopped_at = time.monotonic()
    server.signal(signum)
    assert server.wait(timeout=2 + 1) == 0, server.describe()
    assert time.monotonic() - stopped_at < 2 + 0.5
    assert "Server stopped" in server.stderr
    assert "the server is stopping" in server.stderr
    assert "Traceback" not in server.stderr
    # Not the slides' CANCELLED: the client tells a broken stream from a finished one.
    result = client.result(timeout=5)
    assert result.returncode == 1, client.describe()
    assert "TellStory failed: UNAVAILABLE" in result.stderr


def test_health_answers_serving(fast_server: LabProcess) -> None:
    assert_health_serving(target(fast_server), "AssistantService")


def test_server_reports_a_busy_port_clearly(lab: LabRunner, fast_server: LabProcess) -> None:
    second = lab.start("server", "--port", str(fast_server.port))
    assert_refuses_busy_port(second, fast_server.port)
