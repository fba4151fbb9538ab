"""Shared fixtures: every lab test runs the lab's real processes through labkit's harness.

A test module names its lab with `LAB = "<folder>"` and takes the `lab` fixture: a
`LabRunner` over that lab under `--lab-root` (default: this repository). Whatever the
runner started is stopped when the test ends, pass or fail.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.labs import get_lab
from labkit.procs import LabRunner

# --lab-root (and --grade, --grade-json) are defined in labkit/grading.py, a plugin that
# pyproject.toml loads before this file (`-p labkit.grading`).


@pytest.fixture(scope="session")
def lab_root(request: pytest.FixtureRequest) -> Path:
    root = Path(request.config.getoption("--lab-root")).resolve()
    if not root.is_dir():
        pytest.exit(f"--lab-root {root} is not a folder", returncode=4)
    return root


@pytest.fixture
def lab(request: pytest.FixtureRequest, lab_root: Path) -> Iterator[LabRunner]:
    """The runner of the lab named by the test module's LAB."""
    name = getattr(request.module, "LAB", None)
    assert name, f"{request.module.__name__} must say which lab it tests: LAB = '<folder>'"
    runner = LabRunner(get_lab(name), lab_root)
    try:
        yield runner
    finally:
        runner.close()



@pytest.fixture
def free_port() -> int:
    """A port that nothing listens on (the OS just handed it out and it was let go)."""
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]
