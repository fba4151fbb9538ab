"""Issue 14, the Go client of cross_language: any command line keeps the design's promises
(an exit code it gives, one line for a mistake, no panic), stdout on a full device, and
Ctrl+C pressed twice. The client is built once, with `go build`, as the lab tests build it.

(`go run hw_client.go` itself exits with 1 after Ctrl+C, whatever the client returns: the
go command sets that status when it is interrupted; see cross_language/README.md.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from inputs_support import (
    DEAD_PROXY,
    PROPERTY,
    command_lines,
    numbers,
    run,
    start_stand_in,
    values,
    with_stdout_to,
)

from labkit.builds import BuildError, go_build
from labkit.labs import Process, get_lab
from labkit.procs import LabRunner
from labkit.starter import replace_regions
from labkit.testing import require_commands

LAB = "cross_language"
GO_BUILD_TIMEOUT = 600  # seconds: a cold build of grpc-go on 2 cores (labkit/builds.py)
FLAGS = {"-name": values(), "-institution": values(), "-x": numbers(), "-y": numbers(),
         "-timeout": values()}

pytestmark = pytest.mark.timeout(GO_BUILD_TIMEOUT + 60)  # the first test may build


@pytest.fixture(scope="module")
def go_client(lab_root: Path, sandbox) -> Process:
    """The Go client, built as a lab process (labkit/builds.py) where lab processes can
    run it."""
    require_commands("go", why="the cross_language Go client")
    try:
        binary = go_build(sandbox, lab_root / LAB / "client", "hw_client")
    except BuildError as error:
        pytest.fail(f"The Go client does not build:\n{error}", pytrace=False)
    return Process("go-client", (str(binary),), cwd="client", target_flag="-addr")


@pytest.fixture(scope="module")
def runner(lab_root: Path):
    with LabRunner(get_lab(LAB), lab_root) as made:
        yield made


@pytest.fixture(scope="module")
def server():
    stand_in = start_stand_in(LAB)
    yield stand_in
    stand_in.server.stop(0).wait(5)


def assert_kept_its_promises(result) -> None:
    assert result.returncode in (0, 1, 2), result.output
    assert "panic" not in result.stderr and "goroutine" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) <= 1, result.stderr  # one line: a mistake, no server, a failed call


@settings(PROPERTY, max_examples=25)  # a run of the built client takes ~10 ms
@given(args=command_lines(FLAGS))
@example(args=["-timeout=NaN"])
@example(args=["-timeout=+Inf"])
@example(args=["-name=" + os.fsdecode(b"Zo\xeb")])
def test_any_command_line(runner: LabRunner, go_client: Process, server,
                          args: list[str]) -> None:
    result = run(runner, go_client, "-addr", server.target, *args)
    assert_kept_its_promises(result)


@pytest.mark.parametrize("timeout", ["NaN", "+Inf", "1e300", "0", "-1", "0.01"])
def test_a_timeout_that_makes_no_sense_is_refused(runner: LabRunner, go_client: Process,
                                                 server, timeout: str) -> None:
    # NaN and +Inf once said "Cannot reach the server" while it was up.
    result = run(runner, go_client, "-addr", server.target, "-timeout", timeout)
    assert result.returncode == 2, result.output
    assert result.stderr.startswith(
        "-timeout must be a number of seconds from 0.1 to 86400, got "), result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""


def test_a_mistake_gets_one_line_and_help_lists_the_flags(runner: LabRunner,
                                                          go_client: Process) -> None:
    result = run(runner, go_client, "-timeout", "soon")
    assert result.returncode == 2, result.output
    assert result.stderr == 'invalid value "soon" for flag -timeout: parse error\n'
    result = run(runner, go_client, "-h")
    assert result.returncode == 0, result.output
    assert all(f"  {flag} " in result.stderr for flag in ("-addr", "-timeout", "-x"))


def test_stdout_on_a_full_device_gets_one_line(runner: LabRunner, go_client: Process,
                                               server) -> None:
    result = run(runner, with_stdout_to(go_client, "/dev/full"), "-addr", server.target)
    assert result.returncode == 1, result.output
    assert result.stderr == "Cannot write the output: no space left on device\n"


def test_ctrl_c_twice_during_a_call(runner: LabRunner, go_client: Process) -> None:
    hanging = start_stand_in(LAB, hanging=True)
    try:
        client = runner.start(go_client, "-addr", f"localhost:{hanging.port}", env=DEAD_PROXY)
        assert hanging.servicer.arrived.wait(15), client.describe()
        client.interrupt()
        client.interrupt()
        assert client.wait(timeout=10) == 0, client.describe()
        assert "Cancelled by user (Ctrl+C)." in client.stderr, client.describe()
    finally:
        hanging.server.stop(0).wait(5)


def test_a_todo_gets_one_line_naming_it(runner: LabRunner, go_client: Process, server,
                                        lab_root: Path, sandbox, tmp_path: Path) -> None:
    """The starter copy's panic("TODO: ...") prints one line, not a panic's trace."""
    package = tmp_path / "client"
    shutil.copytree(lab_root / LAB / "client", package)
    source = package / "hw_client.go"
    source.write_text(replace_regions(source.read_text(), str(source))[0])
    binary = go_build(sandbox, package, "hw_client_todo")
    result = run(runner, Process("go-client", (str(binary),), cwd="client"),
                 "-addr", server.target)
    assert result.returncode == 1, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("TODO: ") and "(hw_client.go, line " in line, line
    assert line.endswith(", in greet)"), line  # greet: the first TODO the client reaches
