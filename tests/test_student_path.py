"""A student's path through a starter copy, walked as a student walks it: the copy's
README's commands, each lab's programs in it, then one lab's TODOs written and its tests
run as the README says. What is asserted is what the student sees: one line per TODO
that names it, never a traceback."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.labs import REPO_ROOT, get_lab
from labkit.procs import LabRunner, target
from labkit.starter import make_starter

HELLO = get_lab("hello_world")


def in_copy(root: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A command run in the copy's top folder, as its README names it."""
    return subprocess.run([sys.executable, *argv], cwd=root, capture_output=True, text=True,
                          timeout=timeout)


def readme_example(readme: str, starts: str) -> str:
    """The README's example line that starts so (indented in a code block)."""
    return next(line.strip() for line in readme.splitlines() if line.strip().startswith(starts))


def any_line_number(line: str) -> str:
    return re.sub(r"line \d+", "line N", line)


@pytest.mark.slow  # ~8 s: two servers, three client runs, then the lab's own tests in the copy
def test_hello_world_from_starter_to_full_marks(tmp_path: Path) -> None:
    root = tmp_path / "copy"
    make_starter(root, [HELLO])
    readme = (root / "README.md").read_text(encoding="utf-8")

    # The README's first commands: the copy is in order as it comes.
    checked = in_copy(root, "-m", "labkit", "gen", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    doctor = in_copy(root, "-m", "labkit", "doctor").stdout
    assert "ok   stubs " in doctor and "Traceback" not in doctor, doctor

    # (A runner per state of the folder: it may run the programs from a snapshot of it.)
    with LabRunner(HELLO, root) as lab:
        server = lab.start_server()  # python server.py: it starts with its TODO unwritten
        # python client.py: stops at its own TODO, in one line, as the README shows.
        untouched = lab.run("client", "--target", target(server))
    assert untouched.returncode == 1 and untouched.stdout == "", untouched.output
    assert untouched.stderr.count("\n") == 1, untouched.stderr
    assert any_line_number(untouched.stderr.strip()) == \
        any_line_number(readme_example(readme, "TODO: Send a HelloRequest"))

    # The client's part written: now the server's TODO shows, as the README says.
    shutil.copy(REPO_ROOT / "hello_world" / "client.py", root / "hello_world" / "client.py")
    with LabRunner(HELLO, root) as lab:
        server = lab.start_server()
        half = lab.run("client", "--target", target(server))
    assert half.returncode == 1 and half.stdout == "", half.output
    assert half.stderr.strip() == readme_example(readme, "SayHello failed: UNIMPLEMENTED")
    assert "Traceback" not in server.text()

    # The server's part written too: the lab's tests, run as the README says, all pass.
    shutil.copy(REPO_ROOT / "hello_world" / "server.py", root / "hello_world" / "server.py")
    graded = in_copy(root, "-m", "pytest", "tests/test_hello_world.py", "-q",
                     "-p", "no:cacheprovider", timeout=300)
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-2000:]
    assert " passed" in graded.stdout and "failed" not in graded.stdout
