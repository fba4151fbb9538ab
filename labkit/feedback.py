"""What a failing lab test tells a student: what was expected, what was seen, and what the
lab's programs printed.

The text has two parts, the same in pytest's output, in the `--grade` report and in
Gradescope's results.json:

1. One or two sentences from the test: its assertion message (tests write them to say
   what was expected and what was seen, in the slides' words), or the first lines of
   pytest's own explanation where a test has none.
2. For each lab process of the test, the last lines it printed, and the last traceback
   in full (cut to a readable size), with paths shown relative to the lab root, so that
   the student sees their own file and line: `hello_world/server.py, line 27`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from labkit.procs import LabProcess, ProcessError

TAIL_LINES = 8  # last lines shown of each process
TRACEBACK_LINES = 24  # at most this much of a traceback
TEXT_LIMIT = 3500  # characters of the whole text
MESSAGE_LINES = 6  # lines of the test's own message

# Lines a person does not need: protobuf's version warnings, gRPC's fork notes.
RESULT = "labkit-result-"  # the answer line of labkit.testing.run_in_lab's child
NOISE = re.compile(r"UserWarning: Protobuf gencode version|warnings\.warn\(|"
                   r"Other threads are currently calling into gRPC")


@dataclass
class Watch:
    """A process seen by one test: from which of its lines on it belongs to the test."""

    process: LabProcess
    first_line: int


def watch(processes: Iterable[LabProcess]) -> list[Watch]:
    """Mark where every running process stands, at the start of a test."""
    return [Watch(p, len(p.lines)) for p in processes]


def message_of(error: BaseException | None, fallback: str) -> str:
    """The test's own words for a failure: an assertion's message, a ProcessError's first
    line, else the first lines of pytest's explanation (`fallback`)."""
    if isinstance(error, ProcessError):
        return str(error).splitlines()[0]
    text = str(error) if error is not None else ""
    if type(error).__name__ == "Failed":  # pytest.fail("..."): the test's own words
        return _first_lines(text, MESSAGE_LINES)
    if isinstance(error, AssertionError) and text:
        # pytest appends its own explanation ("assert ...") after the test's message.
        own = re.split(r"\n(?:assert |where |\+ |- )", text, maxsplit=1)[0]
        return _first_lines(own or text, MESSAGE_LINES)
    if error is not None and text:
        return _first_lines(f"{type(error).__name__}: {text}", MESSAGE_LINES)
    return _first_lines(fallback, MESSAGE_LINES)


def _first_lines(text: str, count: int) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    more = " ..." if len(lines) > count else ""
    return "\n".join(lines[:count]) + more


def relative_paths(text: str, roots: Iterable[Path]) -> str:
    """Paths under a lab root shown from the lab root on (the student's own view)."""
    for root in sorted({str(r).rstrip("/") for r in roots}, key=len, reverse=True):
        text = text.replace(root + "/", "")
    return text


def last_traceback(lines: list[str]) -> tuple[int, list[str]]:
    """The last Python traceback (or Go panic) among the lines: (index of the line after
    it, its lines cut in the middle if long); (-1, []) when there is none."""
    starts = [i for i, line in enumerate(lines)
              if line.startswith(("Traceback (most recent call last)", "panic: "))]
    if not starts:
        return -1, []
    block = lines[starts[-1]:]
    if block[0].startswith("Traceback"):
        # A Python traceback ends with the first line that is not indented: the exception.
        for i, line in enumerate(block[1:], 1):
            if line and not line[0].isspace():
                block = block[:i + 1]
                break
    after = starts[-1] + len(block)
    if len(block) > TRACEBACK_LINES:
        block = [*block[:4], f"  ... ({len(block) - TRACEBACK_LINES + 1} lines cut) ...",
                 *block[-(TRACEBACK_LINES - 5):]]
    return after, block


def process_report(seen: Watch, roots: Iterable[Path]) -> str:
    """What one process printed during the test: its traceback if it has one, and its
    last lines."""
    process = seen.process
    with process._changed:
        lines = [line for _stream, line in process.lines[seen.first_line:]]
    lines = [line for line in lines if not NOISE.search(line) and not line.startswith(RESULT)]
    state = "still running" if process.alive else f"exit code {process.popen.returncode}"
    # A child that runs a student's function (labkit.testing.run_in_lab) gets its script
    # with -c: show it as such, not its source.
    command = " ".join(Path(arg).name if i == 0 else "<the test's script>" if "\n" in arg
                       else arg for i, arg in enumerate(process.argv) if arg != "-u")
    head = f"--- {process.name} ({command}; {state})"
    if not lines:
        return f"{head}: printed nothing"
    after, traceback = last_traceback(lines)
    if traceback:
        body = [*traceback, *lines[after:][-TAIL_LINES:]]
        head += " printed this traceback" + (", then:" if after < len(lines) else ":")
    else:
        body = lines[-TAIL_LINES:]
        head += f", last {len(body)} of {len(lines)} lines:" if len(lines) > len(body) else ":"
    return relative_paths("\n".join([head, *("  " + line for line in body)]), roots)


def says_something(seen: Watch) -> bool:
    """Whether a process's lines during the test are worth showing: not when it is still
    running and printed nothing but its ready line (a server the test did not trouble)."""
    with seen.process._changed:
        lines = [line for _stream, line in seen.process.lines[seen.first_line:]]
    lines = [line for line in lines if not NOISE.search(line)]
    if not seen.process.alive:
        return True
    return any("Server started on port" not in line for line in lines)


def failure_text(message: str, watched: list[Watch], roots: Iterable[Path]) -> str:
    """The whole text of one failure: the test's message, then each process's lines."""
    roots = list(roots)
    parts = [relative_paths(message, roots)]
    for seen in watched:
        if says_something(seen):
            parts.append(process_report(seen, roots))
    text = "\n".join(parts)
    if len(text) > TEXT_LIMIT:
        text = text[:TEXT_LIMIT - 40].rstrip() + "\n... (cut: the full output is in pytest's log)"
    return text
