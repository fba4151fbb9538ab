"""remote_counter's programs that students run but do not write: the local procedure
(local_procedure.py, the slides' starting point) and the client's own check of --from.

Not graded (labkit/labs.py does not list this module among the lab's tests): nothing here
is the student's code. The lab's graded tests are in test_remote_counter.py.
"""

from __future__ import annotations

import re
import time

from labkit.procs import LabRunner

LAB = "remote_counter"

# `INFO:root:2024-10-22 03:13:33.013209: count=7`, as the slides show.
COUNT_LINE = re.compile(
    r"^INFO:root:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{6})?: count=(-?\d+)$")


def counts(lines: list[str]) -> list[int]:
    values = []
    for line in lines:
        match = COUNT_LINE.match(line)
        assert match, f"not a count line as the slides show: {line!r}"
        values.append(int(match.group(1)))
    return values


def test_local_procedure_counts_n_steps(lab: LabRunner) -> None:
    result = lab.run("local", "--step", "0.05", "--count", "3")
    assert result.returncode == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "INFO:root:Request: from=6, step=0.05", lines
    assert counts(lines[1:-1]) == [7, 8, 9]
    assert lines[-1] == "INFO:root:Process finished for request: from=6, step=0.05", lines


def test_local_procedure_ctrl_c(lab: LabRunner) -> None:
    # Both at once: Ctrl+C mid-count, and Ctrl+C during the first 2 s step of the slides'
    # defaults (from=6, step=2), which must stop it at once.
    counting = lab.start("local", "--from", "10", "--step", "0.1")
    waiting = lab.start("local")
    counting.wait_for(r"count=12$", timeout=10)
    counting.interrupt()
    waiting.wait_for(r"^INFO:root:Request: from=6, step=2$")
    pressed = time.monotonic()
    waiting.interrupt()
    assert waiting.wait(timeout=5) == 0, waiting.describe()
    assert time.monotonic() - pressed < 2, "Ctrl+C should stop the 2 s sleep at once"
    assert waiting.stderr.splitlines() == [
        "INFO:root:Request: from=6, step=2",
        "INFO:root:Process cancelled by user (Ctrl+C).",
        "INFO:root:Process cancelled for request: from=6, step=2",
    ], waiting.stderr
    assert counting.wait(timeout=5) == 0, counting.describe()
    lines = counting.stderr.splitlines()
    assert "Traceback" not in counting.stderr
    assert lines[0] == "INFO:root:Request: from=10, step=0.1", lines
    assert lines[-2:] == ["INFO:root:Process cancelled by user (Ctrl+C).",
                          "INFO:root:Process cancelled for request: from=10, step=0.1"], lines
    values = counts(lines[1:-2])
    assert values[:2] == [11, 12] and values == list(range(11, 11 + len(values))), values


def test_client_rejects_a_start_that_is_no_int64(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--from", str(2**63))
    assert result.returncode in (1, 2), result.output  # 2: as argparse, for a bad flag
    lines = result.stderr.splitlines()
    assert lines and str(2**63) in lines[-1] and "Traceback" not in result.stderr, result.stderr
