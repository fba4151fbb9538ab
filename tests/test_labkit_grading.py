"""Grading: points per lab, Gradescope's results.json, one CSV for a class; a crash, hang
or missing file costs only its own test."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import grading
from labkit.grading import NOT_COVERED, POINTS, points_for, unused_entries
from labkit.labs import REPO_ROOT, get_lab
from labkit.starter import make_starter

# Two hello_world tests keep these runs short: 2 + 1 points on the reference.
SELECT = "default_greeting or non_ascii"
FULL = {"test_default_greeting": 2, "test_name_with_non_ascii_text": 1}

# A client that hangs (ignoring its own --timeout) when asked to greet "Zoë 李".
HANG = '''
def say_hello(stub, name, timeout):
    if name == "Zoë 李":
        import threading
        threading.Event().wait()  # forever
'''


def test_points_come_from_the_one_table() -> None:
    assert points_for("test_hello_world", "test_default_greeting") == 2
    assert points_for("test_hello_world", "test_name_with_non_ascii_text") == \
        grading.DEFAULT_POINTS
    # Tests of what the starter keeps are worth nothing, in every lab:
    for module in ("test_hello_world", "test_streaming_bidi"):
        assert points_for(module, "test_server_stops_gracefully_on_signal") == 0
        assert points_for(module, "test_client_without_server_says_how_to_start_it") == 0
    assert points_for("test_remote_counter", "test_reflection_and_health") == 0


def test_unused_table_entries_are_named() -> None:
    tests = [("test_hello_world", "test_default_greeting")]
    unused = unused_entries(tests)
    assert "test_hello_world::test_default_greeting" not in unused
    assert set(unused) == (set(POINTS) | set(NOT_COVERED)) - {
        "test_hello_world::test_default_greeting"}


def copy_lab(dest: Path, lab: str = "hello_world") -> Path:
    shutil.copytree(REPO_ROOT / lab, dest / lab,
                    ignore=shutil.ignore_patterns("__pycache__", "build"))
    return dest


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four students: a reference copy, an untouched starter, one without client.py, one
    whose client hangs on one test. The starter sits one folder down, as unzipped."""
    root = tmp_path_factory.mktemp("class")
    copy_lab(root / "ada")
    make_starter(root / "bob" / "grpc-lab-kit-main", [get_lab("hello_world")])
    copy_lab(root / "cy")
    (root / "cy" / "hello_world" / "client.py").unlink()
    copy_lab(root / "dee")
    client = root / "dee" / "hello_world" / "client.py"
    text = client.read_text(encoding="utf-8")
    client.write_text(text.replace(
        "def say_hello(stub: GreeterStub, name: str, timeout: float) -> str:\n",
        HANG.lstrip("\n")), encoding="utf-8")
    assert "threading.Event().wait()" in client.read_text(encoding="utf-8")
    (root / ".DS_Store").write_text("")  # not a student
    return root


def test_pytest_grade_prints_a_table_and_writes_gradescope_json(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_hello_world.py", "tests/test_procs.py",
         f"--lab-root={REPO_ROOT}", "--grade", "--grade-json", str(out), "-k",
         f"{SELECT} or without_server or ready_line_gives_the_port", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout[done.stdout.index(f"grade of {REPO_ROOT}"):]
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[1:]
            if line and line[0].isalpha()}
    # Tests passed, points: the 0-point test of a client without a server is listed too;
    # the test of labkit itself (test_procs) is not graded: left out.
    assert rows["hello_world"] == ["3/3", "3/3"]
    assert rows["total"] == ["3/3"]
    assert "1 deselected" in done.stdout or "deselected" in done.stdout

    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["score"] == 3
    assert isinstance(results["execution_time"], int)
    points = {**FULL, "test_client_without_server_says_how_to_start_it": 0}
    assert {t["name"] for t in results["tests"]} == {f"hello_world: {n}" for n in points}
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output"}
        assert test["status"] == "passed"
        assert test["score"] == test["max_score"] == points[test["name"].split(": ")[1]]
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")


def test_grade_writes_one_csv_row_per_student(class_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "class.csv"
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "labkit", "grade", str(class_dir), "--csv", str(out),
         "--lab", "hello_world", "-k", SELECT, "--test-timeout", "4", "--results",
         str(results)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out, newline="", encoding="utf-8") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert list(rows) == ["ada", "bob", "cy", "dee"]
    assert list(rows["ada"]) == ["student", "hello_world", "total", "notes"]
    assert (rows["ada"]["hello_world"], rows["ada"]["total"]) == ("3", "3")  # reference
    assert (rows["bob"]["hello_world"], rows["bob"]["total"]) == ("0", "0")  # starter
    assert "labs found in grpc-lab-kit-main/" in rows["bob"]["notes"]
    assert rows["cy"]["total"] == "0"  # client.py missing: every client test fails
    # The hang costs only its own test (1 point); the other tests of dee earn theirs.
    assert rows["dee"]["total"] == "2"
    dee = json.loads((results / "dee.json").read_text(encoding="utf-8"))
    hung = [t for t in dee["tests"] if "non_ascii" in t["name"]]
    assert [t["status"] for t in hung] == ["failed"]
    assert "Timeout" in hung[0]["output"]
    assert "Points possible: hello_world 3; total 3" in done.stdout


def test_whole_run_deadline_stops_a_student_and_their_processes(class_dir: Path) -> None:
    run = grading.run_lab_tests(class_dir / "dee", [get_lab("hello_world")], test_timeout=60,
                                run_timeout=4, select="non_ascii")
    assert run.returncode is None
    assert any("whole-run deadline (4 s)" in note for note in run.notes)
    assert run.results is not None  # written as it went: the test is listed, at 0
    [test] = run.results["tests"]
    assert test["score"] == 0 and test["max_score"] == 1 and test["status"] == "failed"
    assert run.duration < 4 + 15
    assert run.tag and grading._leftover_pids(run.tag) == []  # nothing of the run is left
