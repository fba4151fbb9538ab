"""What every client and script of the labs does the same way, written once.

`python -m labkit gen` copies this file into each lab that lists it in labkit/labs.py: edit
labkit/lab_modules/calling.py, never a lab's copy. The lesson is in the programs; this is
plumbing, so that each of them keeps the same promises:

- A flag is checked where it enters (`ArgumentParser` and the types `seconds`,
  `whole_number`, `text`): a value that makes no sense gets one line that names the flag
  and what it takes, exit 2.
- Input is bounded and never blocks Ctrl+C: `read_line` (stdin), `open_regular_file` (no
  FIFO, no device), `sleep`.
- No server: `wait_for_server` says in one line where it looked and how to start the
  server (exit 2). A failed call: `call_failed`, one line with the status code and the
  details (exit 1). Proxy variables are ignored (`CHANNEL_OPTIONS`).
- `run_main(main)` ends the program as the kit's design says, whatever happens: Ctrl+C
  (exit 0; pressed again, the program leaves at once), a TODO not written yet (one line
  naming it, exit 1), output that cannot be written, such as a full disk (one line, exit 1).

Import this module first, before grpc: from then on Ctrl+C ends the program quietly, even
while the rest is still loading (importing grpc takes half a second).
"""

from __future__ import annotations

import os
import signal
import sys


def _leave_quietly(signum: int, frame: object) -> None:
    os._exit(0)  # nothing was started, nothing was printed yet


def _program_is_in_this_folder() -> bool:
    """True when the program being run is one of this folder's (`python client.py`); not
    when another program (a test, say) imports one of its files to use a function."""
    program = getattr(sys.modules["__main__"], "__file__", None)
    here = os.path.dirname(os.path.realpath(__file__))
    return program is not None and os.path.dirname(os.path.realpath(program)) == here


# First of all, before anything slow is imported: Ctrl+C before run_main() has started
# (while grpc loads, say) ends the program at once, without a KeyboardInterrupt traceback.
if _program_is_in_this_folder():
    signal.signal(signal.SIGINT, _leave_quietly)

import argparse  # noqa: E402 (after the lines above, on purpose)
import errno  # noqa: E402
import logging  # noqa: E402
import select  # noqa: E402
import stat  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import TYPE_CHECKING, BinaryIO, NoReturn  # noqa: E402

if TYPE_CHECKING:  # for the type hints only: grpc is imported where it is used
    import grpc

# These labs talk to servers on your own machine or classroom network: a proxy set in the
# environment (http_proxy, ...) would only get in the way.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]
MAX_SECONDS = 24 * 60 * 60  # a day: no wait of the labs needs more; longer is a typo
# Waiting less than this for a server cannot work, even on this machine: "Cannot reach the
# server" would be wrong while it is up.
MIN_TIMEOUT = 0.1
SHOWN_CHARACTERS = 40  # of a bad value quoted in an error message
# Seconds of one wait of the main thread. Python runs a Ctrl+C handler in the main thread
# only: when the signal reached another thread (gRPC has several), a long wait would keep
# it waiting until the wait ends. gRPC's own blocking calls wait 0.1 s at a time too.
WAIT_SLICE = 0.1


# --- ending a program -----------------------------------------------------------------------

def leave_now(code: int) -> NoReturn:
    """End the process at once, with what it printed so far."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, RuntimeError):  # full, closed, or busy being written
            pass
    os._exit(code)


class _CtrlC:
    """Ctrl+C while main() runs: the first press raises KeyboardInterrupt wherever the
    program is, as Python always does, and the labs' code handles it as the slides show
    (cancel the call, log it). A second press means "leave now", even if tidying up after
    the first one is stuck."""

    pressed = False

    @classmethod
    def handle(cls, signum: int, frame: object) -> None:
        if cls.pressed:
            leave_now(0)
        cls.pressed = True
        raise KeyboardInterrupt


def todo_line(todo: NotImplementedError) -> str:
    """One line for code not written yet: what to write, and where."""
    prompt = " ".join(str(todo).split()) or "not written yet"  # on one line
    if not prompt.startswith("TODO"):
        prompt = f"TODO: {prompt}"
    where = traceback.extract_tb(todo.__traceback__)[-1]
    return f"{prompt} ({os.path.basename(where.filename)}, line {where.lineno}, in {where.name})"


def say(line: str) -> None:
    """One line on stderr, where the programs say what went wrong."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:  # stderr is full too: the exit code still says it
        pass


def _stop_writing_stdout() -> None:
    """After stdout failed, what is still buffered goes nowhere: Python would otherwise
    try again at exit and print a second error."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run_main(main: Callable[[], int]) -> NoReturn:
    """Run the program's main(), then exit with the exit code it returns, or with the
    kit's for what it did not handle: Ctrl+C 0, a TODO 1, output that cannot be written 1.
    Other exceptions keep their traceback: it shows the file and line at fault. (The
    program closes what it opened: its `with` blocks end before main() returns.)"""
    signal.signal(signal.SIGINT, _CtrlC.handle)
    try:
        code = main()
        sys.stdout.flush()  # a full disk shows here when stdout is a file
    except KeyboardInterrupt:
        logging.info("Cancelled by user (Ctrl+C).")
        code = 0
    except NotImplementedError as todo:
        say(todo_line(todo))
        code = 1
    except OSError as error:
        # Output that cannot be written: a full disk (/dev/full), a closed pipe (| head).
        # (A file opened by name has its name in the error.)
        what = error.filename if error.filename is not None else "Cannot write the output"
        say(f"{what}: {error.strerror or error}")
        _stop_writing_stdout()
        code = 1
    # The work is done: leave now, without Python's tidying up at exit. gRPC's threads
    # still run then, and can print an error of their own as it takes their modules
    # away; and Ctrl+C pressed during it would end the program as "killed" (exit -2).
    leave_now(code)


# --- flags ------------------------------------------------------------------------------------

class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line told in one line, exit code 2 (as the
    servers tell theirs): the flag, what it takes and what it got. --help lists them all."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def one_line(text: str) -> str:
    """Text as a message quotes it: as it is when it prints on one line, else in Python's
    quotes and escapes ("a\\nb" for a line break)."""
    return text if text.isprintable() else repr(text)


def shown(text: str) -> str:
    """A value as an error message about it quotes it: on one line, not too long."""
    if len(text) > SHOWN_CHARACTERS:
        text = text[:SHOWN_CHARACTERS] + "…"
    return one_line(text) if text and text.strip() == text else repr(text)


def seconds(least: float, most: float = MAX_SECONDS) -> Callable[[str], float]:
    """An argparse type: a number of seconds from `least` to `most`. Never inf or nan: no
    wait can be that long (and time.sleep() fails on it)."""
    takes = f"must be a number of seconds from {least:g} to {most:g}"

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{takes}, got {shown(text)}") from None
        if not least <= value <= most:  # (nan is never in range)
            raise argparse.ArgumentTypeError(f"{takes}, got {shown(text)}")
        return value

    return check


def whole_number(least: int, most: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from `least` to `most` (no limit above when None)."""
    takes = f"must be {least} or more" if most is None else f"must be {least} to {most}"

    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # also a number of more than 4300 digits
            raise argparse.ArgumentTypeError(f"{takes}, got {shown(text)}") from None
        if value < least or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"{takes}, got {shown(text)}")
        return value

    return check


def text(value: str) -> str:
    """An argparse type: text that a protobuf string can carry, that is UTF-8.

    Python reads command-line bytes that are not UTF-8 into stand-in characters
    (surrogates) that protobuf, gRPC and print() would refuse later, with a traceback."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(
            f"must be UTF-8 text, got the bytes {os.fsencode(value)!r}") from None
    return value


# --- waiting and reading -------------------------------------------------------------------

def sleep(seconds: float) -> None:
    """time.sleep(), in short sleeps (see WAIT_SLICE)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, WAIT_SLICE))


def read_line(most: int) -> str | None:
    """The next line typed on stdin (without its line break), None at the end of input.

    Unlike input(), it reads `most` + 1 characters at most, so that a caller can tell a
    line that is too long without reading all of it (`< /dev/zero` is one endless line);
    bytes that are not UTF-8 read as "\ufffd"; and it waits for input in short waits
    (see WAIT_SLICE). It reads stdin byte by byte: a typed line is short."""
    if sys.stdin is None:  # the program was started with its input closed
        return None
    stdin = 0  # (the file descriptor: sys.stdin's buffer is not used, so nothing is left in it)
    line = b""
    while not line.endswith(b"\n") and len(line) <= most:
        while not select.select([stdin], [], [], WAIT_SLICE)[0]:
            pass  # nothing typed yet
        byte = os.read(stdin, 1)
        if not byte:  # the end of input (Ctrl+D)
            if not line:
                return None
            break
        line += byte
    return line.decode("utf-8", errors="replace").removesuffix("\n")


# --- files ----------------------------------------------------------------------------------

def open_regular_file(path: str) -> BinaryIO:
    """Open a file to read it, refusing anything that is not a regular file: a FIFO or a
    device could block the program or never end (/dev/zero). Opening does not block
    (O_NONBLOCK), and the file opened is the one judged (fstat), whatever the path
    pointed to a moment earlier. Raises OSError, with the path as its filename."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# --- the server -------------------------------------------------------------------------------

def add_server_flags(parser: argparse.ArgumentParser, default_target: str,
                     timeout_help: str = "seconds to wait for the server",
                     target_aliases: tuple[str, ...] = ()) -> None:
    """--target HOST:PORT (also under `target_aliases`) and --timeout SECONDS."""
    parser.add_argument("--target", *target_aliases, type=text, default=default_target,
                        help=f"the server's address, HOST:PORT (default: {default_target})")
    parser.add_argument("--timeout", type=seconds(MIN_TIMEOUT), default=5.0,
                        help=f"{timeout_help} (default: 5)")


def wait_for_server(channel: grpc.Channel, target: str, timeout: float, start: str,
                    what: str = "the server") -> bool:
    """True once the channel is connected; False, with one line on stderr naming the target
    and how to start the server (`start`: "python server.py"), if it cannot be reached
    within `timeout` seconds."""
    import grpc  # here, not at the top: importing this module must be quick (see above)

    ready = grpc.channel_ready_future(channel)
    deadline = time.monotonic() + timeout
    while True:
        try:
            ready.result(timeout=max(0.0, min(WAIT_SLICE, deadline - time.monotonic())))
            return True
        except grpc.FutureTimeoutError:
            if time.monotonic() >= deadline:
                ready.cancel()
                say(f"Cannot reach {what} at {target} (waited {timeout:g} s). "
                    f"Start it first: {start}")
                return False


def status_text(error: grpc.RpcError) -> str:
    """A failed call's status code and details, on one line: "NOT_FOUND: no such file"."""
    details = " ".join((error.details() or "").split())  # whatever the server sent
    return f"{error.code().name}: {details}"


def call_failed(method: str, error: grpc.RpcError) -> int:
    """Say in one line that a call failed, with its status code and details; return the
    exit code for it, 1."""
    say(f"{method} failed: {status_text(error)}")
    return 1
