"""The demo runner and the doctor, run as an instructor runs them."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import demo, doctor
from labkit.labs import LABS, REPO_ROOT, Process, get_lab
from labkit.procs import LabProcess
from labkit.starter import make_starter


def labkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labkit", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_demo_hello_world_interleaves_prefixed_output() -> None:
    done = labkit("demo", "hello_world")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("[server] INFO:root:Server started on port ") for line in lines)
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
                 "grpc c++", "proxy", "port 50051", "port 50052", "port 8082"):
        assert any(line[5:].startswith(name) for line in out.splitlines()), (name, out)
    port_line = next(line for line in out.splitlines() if "port 50051" in line)
    assert port_line.startswith("FAIL") and "in use" in port_line
    assert "--port 0" in out  # the one-line fix
    assert "http_proxy set" in out
    assert done.returncode == 1


def test_demo_keeps_a_programs_lines_in_order_and_merges_fast_flags() -> None:
    done = labkit("demo", "streaming_bidi", "--fast")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    # The client prompts on stdout and logs the error on stderr: shown as a terminal would.
    prompt = lines.index("[client] Guess: xx")
    assert lines[prompt + 1] == "[client] ERROR:root:Invalid input xx. Please enter a valid number."
    # --fast's --pause 0 replaces the step's --pause 0.5 instead of following it.
    auto = next(line for line in lines if "--auto" in line)
    assert auto.endswith("--auto --pause 0"), auto


def test_one_stream_keeps_stdout_and_stderr_lines_in_the_order_written(tmp_path: Path) -> None:
    script = ("import sys\n"
              "for n in range(200):\n"
              "    print(f'out {n}', flush=True)\n"
              "    print(f'err {n}', file=sys.stderr, flush=True)\n")
    proc = demo.one_stream(Process("p", ("python", "-c", script)))
    with LabProcess(proc.command, tmp_path, name="p") as running:
        assert running.wait(timeout=30) == 0
        text = running.text()
    expected = "".join(f"out {n}\nerr {n}\n" for n in range(200))
    assert text == expected


def test_fast_flags_replace_the_steps_own() -> None:
    assert demo.with_fast_args(("--target", "{server}", "--pause", "0.5"), ("--pause", "0")) \
        == ("--target", "{server}", "--pause", "0")
    assert demo.with_fast_args(("-a", "1"), ("--step", "0.3")) == ("-a", "1", "--step", "0.3")


def test_no_demo_title_announces_a_duration() -> None:
    # `--fast` scales the slow steps down: a title saying "(~5 s)" would be wrong there.
    for lab in LABS:
        for step in lab.demo:
            assert not re.search(r"\d\s*s\b", step.title), (lab.name, step.title)


# --- the doctor's judgement of versions --------------------------------------------------------


def test_doctor_accepts_a_compatible_patch_release_of_grpcio() -> None:
    needs = {"hello_world/hello_pb2_grpc.py": "1.85.1"}
    newer = doctor.check_grpcio("1.85.3", "1.85.1", needs)
    assert newer.ok and newer.detail == ("1.85.3 (requirements.txt pins 1.85.1: a compatible "
                                         "release)")
    older = doctor.check_grpcio("1.85.0", "1.85.1", needs)
    assert not older.ok and older.required
    assert "the stubs need grpcio >= 1.85.1 (e.g. hello_world/hello_pb2_grpc.py)" in older.detail
    assert doctor.check_grpcio(None, "1.85.1", needs).fix == doctor.PIP_FIX


def test_doctor_fails_grpc_packages_newer_than_grpcio() -> None:
    # Their stubs (and those grpcio-tools makes) need a grpcio at least as new as they are.
    assert doctor.check_companion("grpcio-tools", "1.85.1", "1.85.1", "1.85.3").ok
    tools = doctor.check_companion("grpcio-tools", "1.86.0", "1.85.1", "1.85.3")
    assert not tools.ok and "the stubs it makes would need grpcio >= 1.86.0" in tools.detail
    health = doctor.check_companion("grpcio-health-checking", "1.86.0", None, "1.85.3")
    assert not health.ok and "its own stubs" in health.detail


def test_doctor_asks_the_protobuf_runtime_about_the_stubs() -> None:
    _grpc, gencodes = doctor.stub_versions([get_lab("hello_world")], REPO_ROOT)
    assert doctor.check_protobuf("7.36.2", gencodes).ok
    future = {"x_pb2.py": ("PUBLIC", 99, 0, 0, "")}  # made by a protobuf not out yet
    judged = doctor.check_protobuf("7.36.2", future)
    assert not judged.ok and judged.required and "x_pb2.py" in judged.detail


def test_doctor_packages_all_ok_with_patch_releases(monkeypatch: pytest.MonkeyPatch) -> None:
    real = doctor.installed
    patched = {"grpcio": "1.85.3", "grpcio-tools": "1.85.3", "grpcio-reflection": "1.85.3",
               "grpcio-health-checking": "1.85.2", "pytest": "9.2.1"}
    monkeypatch.setattr(doctor, "installed", lambda package: patched.get(package) or real(package))
    checks = doctor.check_packages([get_lab("hello_world")], REPO_ROOT)
    assert all(check.ok for check in checks), [(c.name, c.detail) for c in checks]
    assert "pytest 9.2.1, pinned 9.2.0" in checks[-1].detail


def test_go_stubs_out_of_step_without_go_only_warn(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "copy"
    make_starter(root, [get_lab("cross_language")])
    (root / "cross_language" / "client" / "pb" / "assistant.pb.go").unlink()
    labs = [get_lab("cross_language")]
    with_go = doctor.check_stubs(labs, root)
    assert not with_go.ok and "cross_language/client/pb/assistant.pb.go (missing)" in with_go.detail
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    without_go = doctor.check_stubs(labs, root)
    assert not without_go.ok and not without_go.required  # a warning: no Go, no Go client
