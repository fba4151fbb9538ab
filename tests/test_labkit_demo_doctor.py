"""The demo runner and the doctor, run as an instructor runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from labkit import demo
from labkit.labs import REPO_ROOT


def labkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labkit", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_demo_hello_world_interleaves_prefixed_output() -> None:
    done = labkit("demo", "hello_world")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(l.startswith("[server] INFO:root:Server started on port ") for l in lines)
    assert "[client] Client received: Hello, World!" in lines
    assert "[client] Client received: Hello, Zoë 李!" in lines
    # The server is stopped with Ctrl+C at the end, after the clients ran.
    assert lines.index("[server] INFO:root:Server stopped") > \
        lines.index("[client] Client received: Hello, World!")
    assert "\033[" not in done.stdout  # piped: no colour codes


def test_demo_unknown_lab_is_a_clear_error() -> None:
    done = labkit("demo", "no_such_lab")
    assert done.returncode != 0
    assert "no lab named 'no_such_lab'" in done.stderr
    assert "Traceback" not in done.stderr


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert demo.use_colour()
    assert demo.Printer(colour=True).prefix("server").startswith("\033[")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not demo.use_colour()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    monkeypatch.delenv("NO_COLOR")
    assert not demo.use_colour()
    assert demo.Printer(colour=False).prefix("server") == "[server]"


def test_doctor_reports_versions_toolchains_and_a_busy_port() -> None:
    holder = socket.socket()
    try:
        holder.bind(("", 50051))
        holder.listen()
    except OSError:
        pass  # something already listens there: the doctor must say so all the same
    try:
        done = labkit("doctor", env={"http_proxy": "http://127.0.0.1:9"})
    finally:
        holder.close()
    out = done.stdout
    for name in ("python", "grpcio", "grpcio-tools", "protobuf", "stubs", "go", "cmake",
                 "grpc c++", "proxy", "port 50051"):
        assert any(line[5:].startswith(name) for line in out.splitlines()), (name, out)
    port_line = next(line for line in out.splitlines() if "port 50051" in line)
    assert port_line.startswith("FAIL") and "in use" in port_line
    assert "--port 0" in out  # the one-line fix
    assert "http_proxy set" in out
    assert done.returncode == 1
