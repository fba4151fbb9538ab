"""Issue 14, the programs that are no clients: protobuf_exploration's scripts,
remote_counter's local procedure and the file-hash benchmark's command line.

Property tests draw flag values of every kind and stdin bytes; decode.py's reads are
bounded (a FIFO, /dev/zero, more than 1 MiB) and so is what it prints, however deeply the
bytes nest; Ctrl+C while it waits for stdin ends it cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from inputs_support import (
    PROPERTY,
    assert_kept_its_promises,
    command_lines,
    imported,
    quick,
    run,
    runners,
    values,
    with_import_times,
    with_stdout_to,
)

from labkit.labs import Process, get_lab
from labkit.procs import LabRunner
from labkit.starter import replace_regions

pytestmark = pytest.mark.slow  # ~0.2-0.4 s per run of a script, some 80 runs in all

FILE_BENCHMARK = Process("benchmark", ("python", "benchmark.py"))  # not in the lab index
MAX_INPUT = 1 << 20  # what decode.py reads at most


@pytest.fixture(scope="module")
def labs(lab_root: Path):
    yield from runners(lab_root, ["protobuf_exploration", "remote_counter",
                                  "file_hash_service"])


def hex_words() -> st.SearchStrategy[list[str]]:
    return st.lists(st.one_of(values(), st.binary(max_size=8).map(lambda b: b.hex(" "))),
                    max_size=4)


def choice(*choices: str) -> st.SearchStrategy[str]:
    """A flag that takes one of `choices`: often one of them, so that a run goes on past
    it to the other flags' values."""
    return st.one_of(st.sampled_from(choices), values())


SCRIPTS = {  # id: (lab, process, flags, switches, positional, first arguments)
    "x_main_reduced": ("protobuf_exploration", "main", {
        "--message": choice("greet", "mult"), "--part": choice("all", "serialize", "json"),
        "--user-name": values(), "--institution": values(), "--xin": values(),
        "--yin": values()}, (), None, ()),
    "decode": ("protobuf_exploration", "decode", {"--message": choice("greet", "mult")},
               ("--all",), hex_words(), ()),
    "encodings_table": ("protobuf_exploration", "encodings", {"--favourite": values()},
                        ("--favourite",), None, ()),
    "benchmark": ("protobuf_exploration", "benchmark", {
        "--number": values().filter(quick(100)), "--repeat": values().filter(quick(3))}, (),
        None, ("--number", "50", "--repeat", "1")),
    # Counts end by themselves (--count) and quickly (--step) unless told otherwise.
    "local_procedure": ("remote_counter", "local", {
        "--from": values(), "--step": values().filter(quick(0.01)),
        "--count": values().filter(quick(3))}, (), None, ("--count", "2", "--step", "0.001")),
    # A valid command line would write a file and start servers: the last flag is always
    # one that makes no sense, so that each value drawn is checked and nothing runs.
    "file_benchmark": ("file_hash_service", FILE_BENCHMARK, {
        "--size": values(), "--runs": values(), "--chunk-size": values(),
        "--cpp-server": values()}, (), st.just(["--runs=0"]), ()),
}


@pytest.mark.parametrize("script", list(SCRIPTS))
@PROPERTY
@given(data=st.data())
def test_any_command_line_and_input(labs, script: str, data: st.DataObject) -> None:
    lab, process, flags, switches, positional, first = SCRIPTS[script]
    args = data.draw(command_lines(flags, switches, positional))
    if script == "file_benchmark":  # "--runs=0" is no positional argument: no "--" before it
        args = [arg for arg in args if arg != "--"]
    stdin = data.draw(st.binary(max_size=200)) if script == "decode" else b""
    result = run(labs[lab], process, *first, *args, stdin=stdin)
    assert_kept_its_promises(result)
    if script == "file_benchmark":
        assert result.returncode == 2, result.output


def test_text_that_is_not_utf8_gets_one_line(labs) -> None:
    result = run(labs["protobuf_exploration"], "main", "--user-name", os.fsdecode(b"Zo\xeb"))
    assert result.returncode == 2, result.output
    assert result.stderr.splitlines()[-1].endswith(
        "argument --user-name: must be UTF-8 text, got the bytes b'Zo\\xeb'"), result.stderr


# --- decode.py: bounded reads -------------------------------------------------------------

def decode(labs, *args: str, stdin: bytes = b""):
    return run(labs["protobuf_exploration"], "decode", *args, stdin=stdin)


def assert_refused(result, words: str) -> None:
    assert result.returncode == 2, result.output
    assert words in result.stderr.splitlines()[-1], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_decode_refuses_a_fifo_and_a_device_instead_of_blocking(labs, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # nobody writes to it: open() or read() would wait forever
    assert_refused(decode(labs, "--file", str(fifo)), f"cannot read {fifo}: not a regular file")
    # /dev/zero never ends: read whole, it would take all the memory there is.
    assert_refused(decode(labs, "--file", "/dev/zero"),
                   "cannot read /dev/zero: not a regular file")


def test_decode_reads_at_most_1_mib(labs, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x08\x01" * (MAX_INPUT // 2) + b"\x08")
    assert_refused(decode(labs, "--file", str(big)), f"{big} is longer than {MAX_INPUT} bytes")
    assert_refused(decode(labs, stdin=big.read_bytes()), f"more than {MAX_INPUT} bytes on stdin")
    big.write_bytes(b"\x08\x01" * (MAX_INPUT // 2))  # exactly 1 MiB: decoded, shown in part
    result = decode(labs, "--file", str(big))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2] == "… more than 2000 rows: the rest is not shown"
    assert result.stdout.splitlines()[-1] == "524288 fields at the top level."


# --- decode.py: bounded output ---------------------------------------------------------------

def varint(value: int) -> bytes:
    out = b""
    while value > 0x7F:
        out += bytes([value & 0x7F | 0x80])
        value >>= 7
    return out + bytes([value])


def field(number: int, wire_type: int, value: bytes) -> bytes:
    return varint(number << 3 | wire_type) + value


def length_delimited(number: int, payload: bytes) -> bytes:
    return field(number, 2, varint(len(payload)) + payload)


numbers_of_fields = st.integers(1, 40)
plain_fields = st.one_of(
    st.tuples(numbers_of_fields, st.integers(0, 2**64 - 1)).map(
        lambda f: field(f[0], 0, varint(f[1]))),
    st.tuples(numbers_of_fields, st.binary(min_size=8, max_size=8)).map(
        lambda f: field(f[0], 1, f[1])),
    st.tuples(numbers_of_fields, st.binary(max_size=40)).map(
        lambda f: length_delimited(*f)),
    st.tuples(numbers_of_fields, st.text(max_size=80)).map(
        lambda f: length_delimited(f[0], f[1].encode())),
)


def nested(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """A message of `children` inside a LEN field, or inside a group."""
    fields = st.lists(children, min_size=1, max_size=3).map(b"".join)
    return st.one_of(
        st.tuples(numbers_of_fields, fields).map(lambda f: length_delimited(*f)),
        st.tuples(numbers_of_fields, fields).map(
            lambda f: field(f[0], 3, f[1]) + field(f[0], 4, b"")))


def chain(inner: bytes, levels: int, text_tags: bool) -> bytes:
    """`inner` nested `levels` deep. With text_tags, each level's tag and length bytes are
    printable (tag 0x7a, lengths from 32 on), so that every level reads as text too."""
    data = inner.ljust(32, b"z") if text_tags else inner
    for _ in range(levels):
        data = (b"z" + varint(len(data)) if text_tags else b"\x0a" + varint(len(data))) + data
        if text_tags and len(data) > 126:  # the length would take two bytes, not text
            break
    return data


messages = st.one_of(
    st.lists(st.recursive(plain_fields, nested, max_leaves=12), min_size=1, max_size=4).map(
        b"".join),
    st.builds(chain, plain_fields, st.integers(1, 150), st.booleans()),
)


@PROPERTY
@given(data=messages, show_all=st.booleans())
@example(data=chain(b"\x08\x01", 100, text_tags=False), show_all=True)
@example(data=chain(b"\x08\x01", 60, text_tags=True), show_all=False)
def test_what_decode_prints_stays_a_small_multiple_of_its_input(labs, data: bytes,
                                                              show_all: bool) -> None:
    # Before the bound, 236 bytes nested 100 deep printed 264 kB (1118 times the input)
    # with --all, and text in text printed each level's text whole.
    result = decode(labs, *(["--all"] if show_all else []), stdin=data)
    assert result.returncode in (0, 1), result.output
    assert "Traceback" not in result.stderr
    assert len(result.stdout.encode()) <= 20_000 + 100 * len(data), \
        (len(data), len(result.stdout))


# --- Ctrl+C while decode.py waits for stdin, full output --------------------------------------

def reading_stdin(pid: int) -> bool:
    """Is the process blocked in read() on file descriptor 0? (/proc/PID/syscall: the
    syscall's number, read being 0 on x86-64 and 63 on arm64, then its arguments.)"""
    try:
        words = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return len(words) > 1 and words[0] in ("0", "63") and words[1] == "0x0"


def test_ctrl_c_while_decode_reads_stdin(labs) -> None:
    program = labs["protobuf_exploration"].start(with_import_times(
        get_lab("protobuf_exploration").process("decode")))
    program.wait_for(imported("calling"), timeout=15)
    deadline = time.monotonic() + 15
    while not reading_stdin(program.popen.pid):  # its stdin is open, and empty
        assert program.alive and time.monotonic() < deadline, program.describe()
        time.sleep(0.01)
    program.signal(signal.SIGINT)
    assert program.wait(timeout=10) == 0, program.describe()
    assert "Traceback" not in program.stderr and "KeyboardInterrupt" not in program.stderr
    assert program.stderr.splitlines()[-1] == "INFO:root:Cancelled by user (Ctrl+C)."


@pytest.mark.parametrize("name, args", [
    ("main", ()), ("decode", ("08", "01")), ("encodings", ()),
    ("benchmark", ("--number", "10", "--repeat", "1"))])
def test_stdout_on_a_full_device_gets_one_line(labs, name: str, args: tuple[str, ...]) -> None:
    script = with_stdout_to(get_lab("protobuf_exploration").process(name), "/dev/full")
    result = run(labs["protobuf_exploration"], script, *args)
    assert result.returncode == 1, result.output
    assert result.stderr.splitlines() == ["Cannot write the output: No space left on device"]


def test_a_todo_of_the_decoder_gets_one_line(lab_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "protobuf_exploration"
    shutil.copytree(lab_root / "protobuf_exploration", folder,
                    ignore=shutil.ignore_patterns("__pycache__"))
    decoder = folder / "wire_decoder.py"
    decoder.write_text(replace_regions(decoder.read_text(), str(decoder))[0])
    with LabRunner(get_lab("protobuf_exploration"), tmp_path) as runner:
        result = run(runner, "decode", "08", "96", "01")
    assert result.returncode == 1, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("TODO: ") and "(wire_decoder.py, line " in line, line
