"""`python -m labkit demo [LAB ...]`: run labs live, for a class on a projector.

Each lab's demo steps come from the index: its servers start (on free ports, so a server
left running elsewhere never gets in the way), then its clients run one after another,
scripted where the lab needs input; every line is shown as it comes, prefixed with the
process that printed it. When the lab is done its servers get Ctrl+C, as in a terminal.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import socket
import sys
import threading
from pathlib import Path

from labkit.labs import REPO_ROOT, DemoStep, Lab, Process
from labkit.procs import LabProcess, LabRunner, ProcessError, python_command

COLOURS = ("36", "33", "35", "32", "34", "31")  # cyan, yellow, magenta, green, blue, red
CLIENT_TIMEOUT = 180.0  # seconds: the slowest lab at the slides' pace takes ~15 s


class Printer:
    """Prints lines of several processes, one whole line at a time, with a prefix."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour
        self.lock = threading.Lock()
        self.colours: dict[str, str] = {}

    def prefix(self, name: str) -> str:
        if not self.colour:
            return f"[{name}]"
        code = self.colours.setdefault(name, COLOURS[len(self.colours) % len(COLOURS)])
        return f"\033[{code}m[{name}]\033[0m"

    def line(self, name: str, text: str) -> None:
        self.say(f"{self.prefix(name)} {text}")

    def say(self, text: str) -> None:
        with self.lock:
            try:
                print(text, flush=True)
            except BrokenPipeError:
                # Output piped into `head`, say: keep running the demo (so that its
                # processes are still stopped cleanly), just stop printing.
                sys.stdout = open(os.devnull, "w")

    def on_line(self, process: LabProcess, stream: str, text: str) -> None:
        self.line(process.name, text)


def use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def program_present(proc: Process, lab_dir: Path) -> bool:
    """Is the program of a process there (a built binary, a toolchain on PATH)?"""
    program = proc.command[0]
    if program == "python":
        return True
    return (lab_dir / proc.cwd / program).is_file() or shutil.which(program) is not None


def choose_process(lab: Lab, step: DemoStep, lab_dir: Path) -> Process:
    proc = lab.process(step.process)
    if step.fallback and not program_present(proc, lab_dir):
        return lab.process(step.fallback)
    return proc


def fill_in(args: tuple[str, ...], targets: dict[str, str]) -> list[str]:
    """Replace `{NAME}` by the `host:port` of the started server NAME."""
    return [targets.get(arg[1:-1], arg) if arg.startswith("{") else arg for arg in args]


def with_fast_args(args: tuple[str, ...], fast_args: tuple[str, ...]) -> tuple[str, ...]:
    """The step's arguments with `--fast`'s (flag and value pairs): a flag given in both
    takes the fast value (`--pause 0.5` and `--pause 0` make `--pause 0`, not both)."""
    merged = list(args)
    for flag, value in zip(fast_args[::2], fast_args[1::2], strict=True):
        if flag in merged[:-1]:
            merged[merged.index(flag) + 1] = value
        else:
            merged += [flag, value]
    return tuple(merged)


def one_stream(proc: Process) -> Process:
    """The process run through `sh` with its stderr sent into its stdout: one pipe keeps
    the lines in the order the program wrote them, as a terminal shows them. (With two
    pipes, read apart, an error logged after a prompt could be shown before it.)"""
    command = ("sh", "-c", 'exec "$@" 2>&1', "sh", *python_command(proc.command))
    return dataclasses.replace(proc, command=command)


# `python -m labkit wire`, the proxy that prints every frame (see DemoStep.wire).
WIRE = Process("wire", ("python", "-m", "labkit", "wire"), server=True)


def through_wire(runner: LabRunner, proc: Process, args: list[str],
                 printer: Printer) -> list[str]:
    """Start the wire proxy in front of the server that the client's arguments name;
    return the arguments that point the client at the proxy instead."""
    at = args.index(proc.target_flag) + 1
    wire_args = ["--to", args[at], "--port", "0"]
    printer.say(f"$ {shlex.join([*WIRE.command, *wire_args])}")
    # It runs in the lab folder, as every process of the demo: labkit is found through
    # PYTHONPATH. The runner stops it with the lab's servers, and it prints its summary.
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    wire = runner.start(one_stream(WIRE), *wire_args, env={"PYTHONPATH": path})
    wire.wait_ready()
    return [*args[:at], f"localhost:{wire.port}", *args[at + 1:]]


def this_machine_address() -> str:
    """An IPv4 address of this machine that others on the network may reach."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        infos = []
    for *_, sockaddr in infos:
        if not sockaddr[0].startswith("127."):
            return sockaddr[0]
    return "<this machine's address>"


def client_command(lab: Lab, proc: Process, port: int, host: str) -> str:
    """The command a student types to reach a demo server from their own machine."""
    address = this_machine_address() if host in ("0.0.0.0", "[::]", "::") else host
    clients = [p for p in lab.processes if not p.server]
    if not clients:
        return ""
    client = clients[0]
    folder = f"{lab.name}/{client.cwd}".rstrip("/.")
    command = " ".join(client.command)
    return f"cd {folder} && {command} {client.target_flag} {address}:{port}"


def run_step(runner: LabRunner, step: DemoStep, proc: Process, args: list[str],
             host: str, targets: dict[str, str]) -> str | None:
    """Run one step; None if it went as expected, else what did not. A server that does
    not start raises ProcessError: the lab's other steps need it."""
    if proc.server:
        server = runner.start(one_stream(proc), "--host", host, proc.port_flag, "0", *args)
        server.wait_ready()
        targets[step.process] = targets[proc.name] = f"localhost:{server.port}"
        return None
    client = runner.start(one_stream(proc), *args)
    if step.stdin is not None:
        try:
            client.send(step.stdin)
        except BrokenPipeError:
            pass  # it ended before reading its input (a TODO not written yet, say)
    client.close_stdin()
    missed = ""
    if step.interrupt_after:
        try:
            client.wait_for(step.interrupt_after, timeout=CLIENT_TIMEOUT)
        except ProcessError:
            missed = f" without printing {step.interrupt_after!r}"
        client.interrupt()
    code = client.wait(timeout=CLIENT_TIMEOUT)
    return f"{proc.name} exited with code {code}{missed}" if code or missed else None


def run_lab(lab: Lab, printer: Printer, fast: bool, host: str, print_client_command: bool,
            lab_root: Path) -> bool:
    printer.say(f"\n=== {lab.name}: {lab.title} ===")
    targets: dict[str, str] = {}
    ok = True
    with LabRunner(lab, lab_root, on_line=printer.on_line) as runner:
        try:
            for step in lab.demo:
                proc = choose_process(lab, step, runner.folder)
                args = fill_in(with_fast_args(step.args, step.fast_args) if fast
                               else step.args, targets)
                if step.title:
                    printer.say(f"--- {step.title}")
                if step.wire:
                    args = through_wire(runner, proc, args, printer)
                printer.say(f"$ {shlex.join([*proc.command, *args])}")
                problem = run_step(runner, step, proc, args, host, targets)
                if problem:
                    printer.say(f"!!! {problem}")
                    ok = False
                if proc.server and print_client_command:
                    port = int(targets[proc.name].rsplit(":", 1)[1])
                    command = client_command(lab, proc, port, host)
                    if command:
                        printer.say(f">>> students: {command}")
        except ProcessError as error:
            # Its first line says what happened; the process's lines were shown already.
            printer.say(f"!!! {str(error).splitlines()[0]}")
            ok = False
        finally:
            # Ctrl+C to every server, as in a terminal, so they log how they stop.
            for process in runner.started:
                process.interrupt()
            for process in runner.started:
                try:
                    process.wait(timeout=5)
                except ProcessError:
                    pass
    return ok


def run(labs: list[Lab], fast: bool = False, host: str = "localhost",
        print_client_command: bool = False, lab_root: Path = REPO_ROOT) -> int:
    printer = Printer(use_colour())
    failed = [lab.name for lab in labs
              if not run_lab(lab, printer, fast, host, print_client_command, lab_root)]
    if failed:
        printer.say(f"\nDemo done; these labs did not run cleanly: {', '.join(failed)}")
        return 1
    printer.say(f"\nDemo done: {len(labs)} lab(s) ran.")
    return 0
