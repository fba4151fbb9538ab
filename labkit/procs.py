"""Run lab programs as real processes: the harness under the tests and the demo runner.

A `LabProcess` starts one program, reads its stdout and stderr line by line on two
threads, and lets the caller wait for a line (the ready line, say) under a deadline:
nobody sleeps for readiness. It can feed stdin, send a signal, and stop the program
for sure. A `LabRunner` starts the processes of one lab from the index and stops every
one of them when it is closed, also when the caller failed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.labs import Lab, Process
from labkit.sandbox import LAB_PROCESS_TAG, Sandbox

READY_RE = re.compile(r"Server started on port (\d+)")

LineHandler = Callable[["LabProcess", str, str], None]


class ProcessError(AssertionError):
    """A process did not do what was expected in time; the message holds its output."""


@dataclass(frozen=True)
class Result:
    """What a finished process left behind."""

    returncode: int
    stdout: str
    stderr: str
    duration: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def python_command(command: Sequence[str]) -> list[str]:
    """Replace a leading "python" by this interpreter, unbuffered."""
    argv = list(command)
    if argv and argv[0] == "python":
        argv[0:1] = [sys.executable, "-u"]
    return argv


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env[LAB_PROCESS_TAG] = "1"
    env.update(extra or {})
    return env


# Every LabProcess started in this process, for as long as it exists: the tests' failure
# reports show their last lines, and stray processes are told apart from these.
STARTED: weakref.WeakSet[LabProcess] = weakref.WeakSet()
# Where lab processes run when no sandbox is named: the tests' plugin sets it to the
# session's sandbox (labkit/sandbox.py), so that no test can start a lab program outside
# it by forgetting to pass one; the demo leaves it unset.
DEFAULT_SANDBOX: Sandbox | None = None


class LabProcess:
    """One running program, with its output captured line by line."""

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path | str,
        name: str = "process",
        env: dict[str, str] | None = None,
        on_line: LineHandler | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.name = name
        self.argv = python_command(argv)
        self.cwd = Path(cwd)
        self.port: int | None = None
        self._wire = None  # a labkit.wire.Proxy in front of this server (LABKIT_WIRE=1)
        self.lines: list[tuple[str, str]] = []  # (stream, line) in arrival order
        self._on_line = on_line
        self._changed = threading.Condition()
        self._started_at = time.monotonic()
        sandbox = sandbox if sandbox is not None else DEFAULT_SANDBOX
        # A session of its own, so that a signal reaches the whole program (`go run`
        # and its child, say) as Ctrl+C in a terminal reaches the foreground group.
        # In a sandbox (see labkit/sandbox.py) it runs as the unprivileged lab user.
        self.popen = subprocess.Popen(
            sandbox.command(self.argv) if sandbox else self.argv,
            cwd=self.cwd,
            env=child_env({**(sandbox.env() if sandbox else {}), **(env or {})}),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            umask=0o022,
        )
        STARTED.add(self)
        self._readers = [
            threading.Thread(target=self._read, args=("stdout", self.popen.stdout), daemon=True),
            threading.Thread(target=self._read, args=("stderr", self.popen.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    # --- output -------------------------------------------------------------------

    def _read(self, stream: str, pipe) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            with self._changed:
                self.lines.append((stream, line))
                self._changed.notify_all()
            if self._on_line is not None:
                self._on_line(self, stream, line)
        pipe.close()
        with self._changed:
            self._changed.notify_all()

    def text(self, stream: str | None = None) -> str:
        """What the process printed so far, on one stream or on both interleaved."""
        with self._changed:
            return "".join(line + "\n" for s, line in self.lines if stream in (None, s))

    @property
    def stdout(self) -> str:
        return self.text("stdout")

    @property
    def stderr(self) -> str:
        return self.text("stderr")

    def describe(self) -> str:
        """The command, its state and its output, for an error message."""
        state = "running" if self.alive else f"exited with {self.popen.returncode}"
        output = self.text() or "(no output)\n"
        return f"{self.name}: {' '.join(self.argv)} (in {self.cwd}, {state})\n{output}"

    # --- waiting ------------------------------------------------------------------

    @property
    def started_at(self) -> float:
        """When the process was started (time.monotonic())."""
        return self._started_at

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_for(
        self, pattern: str | re.Pattern[str], timeout: float = 10.0, stream: str | None = None,
        start: int = 0,
    ) -> re.Match[str]:
        """Wait for a line (from line number `start` on) that matches `pattern`."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        seen = start
        with self._changed:
            while True:
                for s, line in self.lines[seen:]:
                    match = regex.search(line)
                    if match and stream in (None, s):
                        return match
                seen = max(seen, len(self.lines))
                if not self.alive and not any(r.is_alive() for r in self._readers):
                    raise ProcessError(
                        f"{self.name} exited before printing /{regex.pattern}/\n" + self.describe()
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProcessError(
                        f"{self.name} did not print /{regex.pattern}/ within {timeout:g} s\n"
                        + self.describe()
                    )
                self._changed.wait(min(left, 0.1))

    def wait_for_count(self, pattern: str | re.Pattern[str], count: int,
                       timeout: float = 10.0, start: int = 0) -> list[re.Match[str]]:
        """Wait until `count` lines (from line number `start` on) match `pattern`."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        found: list[re.Match[str]] = []
        line = start
        while len(found) < count:
            found.append(self.wait_for(regex, max(deadline - time.monotonic(), 0.01),
                                       start=line))
            with self._changed:
                line = 1 + next(i for i in range(line, len(self.lines))
                                if regex.search(self.lines[i][1]))
        return found

    def wait_ready(self, timeout: float = 15.0) -> int:
        """Wait for the server's ready line and return the port it names."""
        match = self.wait_for(READY_RE, timeout)
        self.port = int(match.group(1))
        return self.port

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the process to exit (and its output to be read); return its exit code."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ProcessError(f"{self.name} did not exit within {timeout:g} s\n"
                               + self.describe()) from None
        for reader in self._readers:
            reader.join(timeout=2)
        return code

    def result(self, timeout: float = 10.0) -> Result:
        code = self.wait(timeout)
        return Result(code, self.stdout, self.stderr, time.monotonic() - self._started_at)

    # --- input and signals ----------------------------------------------------------

    def send(self, text: str) -> None:
        """Type text into the process's stdin."""
        assert self.popen.stdin is not None
        self.popen.stdin.write(text.encode("utf-8"))
        self.popen.stdin.flush()

    def close_stdin(self) -> None:
        """End of input, as Ctrl+D in a terminal."""
        if self.popen.stdin and not self.popen.stdin.closed:
            try:
                self.popen.stdin.close()
            except BrokenPipeError:
                pass

    def signal(self, signum: int = signal.SIGINT) -> None:
        """Send a signal to the process and its children (SIGINT is Ctrl+C)."""
        if self.alive:
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass

    def interrupt(self) -> None:
        self.signal(signal.SIGINT)

    def through_wire(self) -> int:
        """The port of a `labkit wire` proxy to this server, started on first use. It
        prints every frame it passes on into LABKIT_WIRE_LOG (appended), else nowhere:
        its decoding is exercised either way."""
        if self._wire is None:
            from labkit.wire import Proxy

            log = open(os.environ.get(WIRE + "_LOG") or os.devnull, "a", encoding="utf-8")
            self._wire = Proxy(to=f"localhost:{self.port}", host="localhost", out=log)
            self._wire.start()
        return self._wire.port

    def stop(self, timeout: float = 5.0) -> int:
        """Stop the process for sure: SIGTERM, then SIGKILL if it does not exit in time."""
        if self._wire is not None:
            self._wire.stop()
            self._wire = None
        if self.alive:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # children left behind, if any
        except (ProcessLookupError, PermissionError):
            pass
        self.close_stdin()
        code = self.popen.wait()
        for reader in self._readers:
            reader.join(timeout=2)
        return code

    def __enter__(self) -> LabProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


class LabRunner:
    """Starts the processes of one lab (from `lab_root`) and stops them all on close."""

    def __init__(
        self, lab: Lab, lab_root: Path, env: dict[str, str] | None = None,
        on_line: LineHandler | None = None, sandbox: Sandbox | None = None,
    ) -> None:
        self.lab = lab
        self.sandbox = sandbox if sandbox is not None else DEFAULT_SANDBOX
        # In a sandbox, the lab runs from a copy the lab user can read (labkit/sandbox.py).
        self.lab_root = self.sandbox.runnable(lab_root, lab.name) if self.sandbox else \
            Path(lab_root)
        self.env = env
        self.on_line = on_line
        self.started: list[LabProcess] = []

    @property
    def folder(self) -> Path:
        return self.lab_root / self.lab.name

    def start(self, process: str | Process, *args: str, env: dict[str, str] | None = None,
              name: str | None = None) -> LabProcess:
        """Start a process of the lab with extra arguments; do not wait for anything."""
        proc = self.lab.process(process) if isinstance(process, str) else process
        merged = {**(self.env or {}), **(env or {})}
        running = LabProcess(
            [*proc.command, *args], self.folder / proc.cwd, name=name or proc.name,
            env=merged, on_line=self.on_line, sandbox=self.sandbox,
        )
        self.started.append(running)
        return running

    def start_server(self, process: str = "server", *args: str, timeout: float = 15.0,
                     **kwargs) -> LabProcess:
        """Start a server on a free port (unless args name one) and wait until it is ready."""
        proc = self.lab.process(process)
        port_args = () if proc.port_flag in args else (proc.port_flag, "0")
        server = self.start(proc, *port_args, *args, **kwargs)
        server.wait_ready(timeout)
        return server

    def run(self, process: str, *args: str, stdin: str | None = None, timeout: float = 20.0,
            env: dict[str, str] | None = None) -> Result:
        """Run a process to its end, with optional input; fail if it outlives `timeout`."""
        running = self.start(process, *args, env=env)
        if stdin is not None:
            try:
                running.send(stdin)
            except BrokenPipeError:
                pass
        running.close_stdin()
        try:
            return running.result(timeout)
        finally:
            running.stop()

    def close(self) -> None:
        """Stop every process this runner started, the last started first."""
        for running in reversed(self.started):
            running.stop()

    def __enter__(self) -> LabRunner:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


WIRE = "LABKIT_WIRE"  # "1": every test talks to servers through `labkit wire`


def target(server: LabProcess, host: str = "localhost") -> str:
    """The `host:port` that reaches a started server. With LABKIT_WIRE=1, that of a
    `labkit wire` proxy in front of it (one per server, stopped with it): the tests then
    show that the proxy passes every call through unchanged."""
    if server.port is None:
        server.wait_ready()
    if os.environ.get(WIRE) == "1":
        return f"{host}:{server.through_wire()}"
    return f"{host}:{server.port}"
