"""Shared fixtures: every lab test runs the lab's real processes through labkit's harness.

A test module names its lab with `LAB = "<folder>"` and takes the `lab` fixture: a
`LabRunner` over that lab under `--lab-root` (default: this repository). Whatever the
runner started is stopped when the test ends, pass or fail.

`--lab-root` and the sandbox of lab processes come from labkit/plugin.py, a plugin that
pyproject.toml loads before this file (`-p labkit.plugin`). When the tests run as root, lab
processes run as an unprivileged user from a read-only snapshot of the labs, and a test's
`tmp_path` is theirs to use.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.labs import LABS, get_lab
from labkit.plugin import lab_roots
from labkit.procs import LabRunner
from labkit.sandbox import Sandbox


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Several --lab-root: every test that uses the labs runs once per copy (labkit check
    # grades the reference, the starter and its mutants in one run).
    roots = lab_roots(metafunc.config)
    if len(roots) > 1 and "lab_root" in metafunc.fixturenames:
        metafunc.parametrize("lab_root", [str(r) for r in roots], indirect=True,
                             scope="session", ids=[r.name for r in roots])


@pytest.fixture(scope="session")
def lab_root(request: pytest.FixtureRequest, sandbox: Sandbox) -> Path:
    """The labs under test, as lab processes see them."""
    root = Path(getattr(request, "param", None) or lab_roots(request.config)[0])
    if not root.is_dir():
        pytest.exit(f"--lab-root {root} is not a folder", returncode=4)
    return sandbox.snapshot(root, [lab.name for lab in LABS])


@pytest.fixture
def lab(request: pytest.FixtureRequest, lab_root: Path, sandbox: Sandbox) -> Iterator[LabRunner]:
    """The runner of the lab named by the test module's LAB."""
    name = getattr(request.module, "LAB", None)
    assert name, f"{request.module.__name__} must say which lab it tests: LAB = '<folder>'"
    runner = LabRunner(get_lab(name), lab_root, sandbox=sandbox)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="module")
def runner(request: pytest.FixtureRequest, lab_root: Path,
           sandbox: Sandbox) -> Iterator[LabRunner]:
    """A runner of the module's lab for processes that its tests share (a server started
    once, checked by each test); they are stopped when the module's tests are done."""
    name = getattr(request.module, "LAB", None)
    assert name, f"{request.module.__name__} must say which lab it tests: LAB = '<folder>'"
    with LabRunner(get_lab(name), lab_root, sandbox=sandbox) as shared:
        yield shared


@pytest.fixture
def tmp_path(tmp_path: Path, sandbox: Sandbox) -> Path:
    """pytest's tmp_path, made usable by lab processes (they may run as another user)."""
    return sandbox.share(tmp_path)


@pytest.fixture
def free_port() -> int:
    """A port that nothing listens on (the OS just handed it out and it was let go)."""
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]
