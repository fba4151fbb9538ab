"""Issue 14, the Python clients: any command line and any input keep the design's promises.

Each client runs against a stand-in server of the test's own (tests/inputs_support.py),
with proxy variables that point nowhere (a client that used them would reach no server).
Property tests draw flag values of every kind (numbers finite and not, text, bytes that
are not UTF-8) and stdin bytes; example tests pin the cases the issue names: a timeout
that makes no sense, text that is not UTF-8, stdout on a full device, a TODO of the
starter copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from inputs_support import (
    PROPERTY,
    assert_kept_its_promises,
    command_lines,
    numbers,
    quick,
    raw_bytes,
    run,
    runners,
    stand_ins,
    texts,
    values,
    with_stdout_to,
)

from labkit.labs import get_lab
from labkit.procs import LabRunner
from labkit.starter import replace_regions

pytestmark = pytest.mark.slow  # ~0.4 s per run of a client, a hundred runs in all


@dataclass(frozen=True)
class Client:
    """One client: its process in the lab index, and what its command line takes."""

    process: str
    flags: dict[str, st.SearchStrategy[str]]
    switches: tuple[str, ...] = ()
    positional: st.SearchStrategy[list[str]] | None = None
    stdin: st.SearchStrategy[bytes] = field(default_factory=lambda: st.just(b""))
    file: str = "client.py"


CLIENTS = {
    "hello_world": Client("client", {"--name": values(), "--timeout": values()}),
    "cross_language": Client("client", {
        "--name": values(), "--institution": values(), "-x": numbers(), "-y": numbers(),
        "--timeout": values()}, file="hw_client.py"),
    "streaming_server_side": Client("client", {
        "--user-name": values(), "--institution": values(), "--timeout": values()}),
    "remote_counter": Client("client", {
        "--from": numbers(), "--step": numbers(), "--count": numbers(), "--timeout": values()}),
    "streaming_bidi": Client("client", {
        "--games": values().filter(quick(20)), "--pause": values().filter(quick(0.05)),
        "--timeout": values()}, switches=("--auto",), stdin=st.binary(max_size=300)),
    "multiplexing": Client("client", {
        "-a": numbers(), "-b": numbers(), "--workers": numbers(), "--message": values(),
        "--timeout": values()}),
    "file_hash_service": Client("client", {"--deadline": values(), "--timeout": values()},
                                switches=("--verify",),
                                positional=st.lists(st.one_of(texts(), raw_bytes()),
                                                    min_size=1, max_size=3)),
}


@pytest.fixture(scope="module")
def servers():
    yield from stand_ins(list(CLIENTS))


@pytest.fixture(scope="module")
def labs(lab_root: Path):
    yield from runners(lab_root, list(CLIENTS))


def run_client(labs: dict[str, LabRunner], servers, lab: str, *args: str,
               stdin: bytes = b"") -> object:
    return run(labs[lab], CLIENTS[lab].process, "--target", servers[lab].target, *args,
               stdin=stdin)


@pytest.mark.parametrize("lab", list(CLIENTS))
@PROPERTY
@given(data=st.data())
def test_any_command_line_and_input(labs, servers, lab: str, data: st.DataObject) -> None:
    client = CLIENTS[lab]
    args = data.draw(command_lines(client.flags, client.switches, client.positional))
    stdin = data.draw(client.stdin)
    result = run_client(labs, servers, lab, *args, stdin=stdin)
    assert_kept_its_promises(result)


# --- the examples ---------------------------------------------------------------------

# Once wrong in every client: a traceback (inf, 1e300), or "Cannot reach the server" while
# it was up (0, -1, nan). Two of them for each client, all of them across the clients.
BAD_TIMEOUTS = ["inf", "0", "1e300", "-1", "nan", "1e-9", "-inf"]


@pytest.mark.parametrize("lab, timeouts", [
    (lab, (BAD_TIMEOUTS[n % 7], BAD_TIMEOUTS[(n + 3) % 7])) for n, lab in enumerate(CLIENTS)])
def test_a_timeout_that_makes_no_sense_is_refused(labs, servers, lab: str,
                                                 timeouts: tuple[str, str]) -> None:
    for timeout in timeouts:
        result = run_client(labs, servers, lab, f"--timeout={timeout}", "--", "a.txt")
        assert result.returncode == 2, result.output
        last = result.stderr.splitlines()[-1]
        assert last.endswith("argument --timeout: must be a number of seconds from 0.1 to "
                             f"86400, got {timeout}"), last
        assert "Traceback" not in result.stderr and result.stdout == ""


TEXT_FLAGS = {  # a text flag of each client
    "hello_world": "--name", "cross_language": "--institution",
    "streaming_server_side": "--user-name", "remote_counter": "--target",
    "streaming_bidi": "--target", "multiplexing": "--message", "file_hash_service": "--",
}


@pytest.mark.parametrize("lab", list(CLIENTS))
def test_text_that_is_not_utf8_gets_one_line(labs, servers, lab: str) -> None:
    flag = TEXT_FLAGS[lab]
    not_utf8 = os.fsdecode(b"Zo\xeb")  # Latin-1, as an old terminal would send it
    args = [flag, not_utf8] if flag != "--" else ["--", not_utf8]
    result = run(labs[lab], CLIENTS[lab].process, *(["--target", servers[lab].target]
                                                    if flag != "--target" else []), *args)
    assert result.returncode == 2, result.output
    assert result.stderr.splitlines()[-1].endswith(
        "must be UTF-8 text, got the bytes b'Zo\\xeb'"), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("lab", [lab for lab in CLIENTS if lab != "remote_counter"])  # (it
def test_stdout_on_a_full_device_gets_one_line(labs, servers, lab: str) -> None:  # logs only)
    client = with_stdout_to(get_lab(lab).process(CLIENTS[lab].process), "/dev/full")
    args = {"streaming_bidi": ["--auto"], "file_hash_service": ["a.txt"]}.get(lab, [])
    result = run(labs[lab], client, "--target", servers[lab].target, *args)
    assert result.returncode == 1, result.output
    errors = [line for line in result.stderr.splitlines() if not line.startswith("INFO:")]
    assert errors == ["Cannot write the output: No space left on device"], result.stderr


def test_story_output_on_a_full_device_gets_one_line(labs, servers) -> None:
    result = run_client(labs, servers, "streaming_server_side", "--output", "/dev/full")
    assert result.returncode == 1, result.output
    errors = [line for line in result.stderr.splitlines() if not line.startswith("INFO:")]
    assert errors == ["Cannot write /dev/full: No space left on device"], result.stderr


def test_verify_refuses_a_fifo_and_a_device_instead_of_blocking(labs, servers,
                                                                tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = run_client(labs, servers, "file_hash_service", "--verify", str(fifo), "/dev/zero")
    assert result.returncode == 1, result.output
    assert result.stdout.splitlines() == [
        f"{hashlib.sha256(str(fifo).encode()).hexdigest()}  {fifo}",
        f"{fifo}: cannot verify here: not a regular file",
        f"{hashlib.sha256(b'/dev/zero').hexdigest()}  /dev/zero",
        "/dev/zero: cannot verify here: not a regular file"]


# --- a TODO of the starter copy -----------------------------------------------------------------

@pytest.fixture(scope="module")
def starter_root(lab_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The labs with every solution region of the clients replaced as the starter copy
    replaces them (labkit.starter)."""
    root = tmp_path_factory.mktemp("starter")
    for lab, client in CLIENTS.items():
        folder = root / lab
        shutil.copytree(lab_root / lab, folder, ignore=shutil.ignore_patterns("__pycache__"))
        path = folder / get_lab(lab).process(client.process).cwd / client.file
        text, regions = replace_regions(path.read_text(), str(path))
        assert regions, path
        path.write_text(text)
    return root


@pytest.mark.parametrize("lab", list(CLIENTS))
def test_a_todo_gets_one_line_naming_it(starter_root: Path, servers, lab: str) -> None:
    args = {"streaming_bidi": ["--auto"], "file_hash_service": ["a.txt"]}.get(lab, [])
    with LabRunner(get_lab(lab), starter_root) as runner:
        result = run(runner, CLIENTS[lab].process, "--target", servers[lab].target, *args)
    assert result.returncode == 1, result.output
    errors = [line for line in result.stderr.splitlines() if not line.startswith("INFO:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("TODO: ") and f"({CLIENTS[lab].file}, line " in errors[0], \
        errors[0]
