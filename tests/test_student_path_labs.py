"""Every lab of an untouched starter copy, run as its demo runs it: each program that stops
at a TODO says which in one line, and none shows a traceback. (One lab walked from the
starter to full marks: tests/test_student_path.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labkit.labs import LABS
from labkit.starter import make_starter


def steps(demo_output: str) -> list[tuple[str, list[str]]]:
    """The demo's output cut into steps, each with its lab: a step starts with its
    `$ command` line, a lab with its `=== lab: title` line."""
    cut: list[tuple[str, list[str]]] = []
    lab = ""
    for line in demo_output.splitlines():
        if line.startswith("=== "):
            lab = line[4:].split(":")[0]
        elif line.startswith("$ "):
            cut.append((lab, []))
        if cut:
            cut[-1][1].append(line)
    return cut


@pytest.mark.slow  # ~15 s: every lab's servers and clients, the Go client compiled once
def test_every_lab_of_an_untouched_starter_names_its_todos(tmp_path: Path) -> None:
    """Every lab's programs, run in the untouched copy by `python -m labkit demo --fast`
    (each server started, each client and script run as the lab's demo runs it): where a
    program stops at a TODO, it says which in one line; no program shows a traceback."""
    root = tmp_path / "copy"
    report = make_starter(root)
    prompts = {lab.name: {region.prompt for region in report.regions[lab.name]}
               for lab in report.labs}
    done = subprocess.run([sys.executable, "-m", "labkit", "demo", "--fast"], cwd=root,
                          capture_output=True, text=True, timeout=400)
    assert done.stderr == "", done.stderr
    output = done.stdout
    for bad in ("Traceback", "panic:", "goroutine ", "terminate called"):
        assert bad not in output, output
    for lab_name, step in steps(output):
        todo_lines = [line for line in step if "TODO" in line]
        for line in todo_lines:  # each names a TODO of this lab
            assert any(prompt in line for prompt in prompts[lab_name]), (line, step)
        if any(line.startswith("!!! ") for line in step):
            assert todo_lines, "\n".join(step)  # a program that stopped said why
    # Every server started (the untouched servicers serve), and stopped on Ctrl+C.
    started = output.count("Server started on port")
    assert started >= sum(1 for lab in LABS for step in lab.demo
                          if lab.process(step.process).server), output
    assert output.count("Server stopped") == started, output
