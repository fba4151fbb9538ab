"""`labkit check`: the reference earns every point, the starter copy none."""

from __future__ import annotations

import subprocess
import sys

import pytest

from labkit.check import evaluate
from labkit.labs import REPO_ROOT


def result(name: str, outcome: str, points: float = 1, lab: str = "hello_world") -> dict:
    """One test as the grading plugin writes it into results.json."""
    status = "passed" if outcome == "passed" else "failed"
    return {"name": f"{lab}: {name}", "score": points if status == "passed" else 0,
            "max_score": points, "status": status, "output": "E   assert 1 == 2\n",
            "extra_data": {"lab": lab, "nodeid": f"tests/test_{lab}.py::{name}",
                           "outcome": outcome}}


def test_holds_when_reference_passes_and_starter_fails_every_graded_test() -> None:
    reference = [result("test_a", "passed"), result("test_health", "passed", 0)]
    starter = [result("test_a", "failed"), result("test_health", "passed", 0)]
    verdict = evaluate(reference, starter, {"hello_world": 2}, ["hello_world"], False)
    assert verdict.ok, verdict.problems
    assert "reference   1/1    starter   0/1" in verdict.summary[0]


def test_names_a_test_that_passes_on_the_starter() -> None:
    reference = [result("test_a", "passed"), result("test_b", "passed", 3)]
    starter = [result("test_a", "failed"), result("test_b", "passed", 3)]
    verdict = evaluate(reference, starter, {"hello_world": 2}, ["hello_world"], False)
    assert verdict.problems == ["passes on the starter copy, so it cannot fail: "
                                "tests/test_hello_world.py::test_b (3 points)"]


def test_names_a_test_that_fails_on_the_reference_and_a_lab_without_regions() -> None:
    reference = [result("test_a", "failed")]
    starter = [result("test_a", "failed")]
    verdict = evaluate(reference, starter, {"hello_world": 0}, ["hello_world"], False)
    assert verdict.problems == [
        "hello_world: no solution regions (mark what students write with BEGIN SOLUTION / "
        "END SOLUTION)",
        "fails on the reference: tests/test_hello_world.py::test_a (failed): assert 1 == 2"]


def test_skipped_tests_are_noted_not_judged() -> None:
    reference = [result("test_go", "skipped")]
    starter = [result("test_go", "skipped")]
    verdict = evaluate(reference, starter, {"hello_world": 1}, ["hello_world"], False)
    assert verdict.ok
    assert verdict.notes == ["skipped on this machine, not checked: "
                             "tests/test_hello_world.py::test_go"]


def test_table_entries_that_match_no_test_are_problems() -> None:
    reference = [result("test_default_greeting", "passed", 2)]
    starter = [result("test_default_greeting", "failed", 2)]
    verdict = evaluate(reference, starter, {"hello_world": 2}, ["hello_world"], True)
    flagged = [p for p in verdict.problems if p.endswith("matches no lab test")]
    assert "labkit/grading.py: 'test_*health*' matches no lab test" in flagged
    assert not any("test_default_greeting" in p for p in flagged)


@pytest.mark.slow
def test_check_holds_for_hello_world() -> None:
    # One lab keeps this test short; .ci/run runs `python -m labkit check` on every lab.
    done = subprocess.run([sys.executable, "-m", "labkit", "check", "--lab", "hello_world"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: the reference earns every point and the starter copy none." in done.stdout
    assert "hello_world              regions  2   reference   5/5    starter   0/5" in done.stdout
