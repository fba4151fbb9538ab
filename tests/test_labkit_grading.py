"""Grading: rubric items from the index, the grade report, Gradescope's results.json, one
CSV for a class; and trust: a submission never grades itself, and nothing it starts
outlives the grading.

The runs here grade hello_world (its tests take seconds): the reference earns 10 of 10,
the untouched starter 0.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit import grading
from labkit.grading import ItemResult, LabResult, gradescope, summary, text_report
from labkit.labs import REPO_ROOT, Item, get_lab
from labkit.sandbox import Sandbox
from labkit.starter import make_starter

HELLO = get_lab("hello_world")
HELLO_POINTS = HELLO.points


def copy_lab(dest: Path, lab: str = "hello_world") -> Path:
    shutil.copytree(REPO_ROOT / lab, dest / lab,
                    ignore=shutil.ignore_patterns("__pycache__", "build"))
    return dest


# --- scoring, in process -----------------------------------------------------------------------

def result(function: str, outcome: str, text: str = "") -> grading.TestResult:
    return grading.TestResult(f"tests/test_hello_world.py::{function}", "hello_world", function,
                      outcome, text)


def test_an_item_is_earned_only_when_all_its_tests_pass() -> None:
    item = Item("client", 4, ("test_a", "test_b*"), "the client")
    assert ItemResult("hello_world", item, [result("test_a", "passed"),
                                            result("test_b1", "passed")]).score == 4
    for other in ("failed", "skipped", "not run"):
        missed = ItemResult("hello_world", item, [result("test_a", "passed"),
                                                  result("test_b1", other, "why")])
        assert missed.score == 0 and not missed.earned
    assert ItemResult("hello_world", item, []).score == 0  # its tests never ran


def test_why_names_the_students_file_and_line() -> None:
    text = ("The client should print 'Client received: x'; it printed ''.\n"
            "--- client (python client.py; exit code 1) printed this traceback:\n"
            "  Traceback (most recent call last):\n"
            '    File "/usr/lib/python3/grpc/_channel.py", line 10, in call\n'
            '    File "hello_world/client.py", line 27, in say_hello\n'
            "      return response.mesage\n"
            "  AttributeError: mesage\n")
    assert summary(text).splitlines() == [
        "The client should print 'Client received: x'; it printed ''.",
        'File "hello_world/client.py", line 27, in say_hello',
        "AttributeError: mesage"]


def test_report_and_gradescope_json_follow_the_rubric() -> None:
    tests = [result("test_server_greets_by_name", "passed"),
             result("test_client_prints_the_servers_reply", "failed",
                    "The client should call SayHello once; the test's server received no call."),
             result("test_client_sets_a_deadline", "passed"),
             result("test_client_gives_up_on_a_silent_server", "passed"),
             result("test_slides_run", "passed"),
             result("test_health_answers_serving", "failed", "health said NOT_SERVING")]
    [lab] = grading.lab_results(tests)
    assert (lab.score, lab.possible) == (HELLO_POINTS - 4, HELLO_POINTS)
    report = "\n".join(text_report([lab]))
    assert f"hello_world: {HELLO_POINTS - 4:g} of {HELLO_POINTS:g} points" in report
    assert "  missed   4  client:" in report
    assert "The client should call SayHello once" in report
    assert "0-point checks (not graded; what the kit gives): 0 of 1 passed" in report
    assert "failed: test_health_answers_serving: health said NOT_SERVING" in report

    data = gradescope([lab], 12.3, ["a note"])
    assert data["score"] == HELLO_POINTS - 4 and data["execution_time"] == 12
    # Gradescope renders these as written: a markdown table, plain-text test outputs.
    assert data["output_format"] == "md" and data["test_output_format"] == "text"
    assert "| hello_world |" in data["output"] and "- a note" in data["output"]
    by_item = {t["extra_data"]["item"]: t for t in data["tests"]}
    assert by_item["client"]["score"] == 0 and by_item["client"]["max_score"] == 4
    assert by_item["client"]["status"] == "failed"
    assert "received no call" in by_item["client"]["output"]
    assert by_item["servicer"]["score"] == 4
    zero = [t for t in data["tests"] if t["max_score"] == 0]
    assert [t["name"] for t in zero] == [
        "hello_world: [0 points, not graded] test_health_answers_serving"]
    for test in data["tests"]:
        assert test["visibility"] in ("visible", "after_published")
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
    assert sum(t["score"] for t in data["tests"]) == data["score"]


def test_hidden_items_are_shown_once_published() -> None:
    hidden = Item("secret", 2, ("test_hidden_*",), "a hidden check", hidden=True)
    lab = LabResult(dataclasses.replace(HELLO, rubric=(hidden,)),
                    [result("test_hidden_x", "passed")])
    [test] = gradescope([lab], 1, [])["tests"]
    assert test["visibility"] == "after_published" and test["score"] == 2


# --- grading runs ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def class_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three students: a reference copy, an untouched starter one folder down (as
    unzipped), one without client.py."""
    root = tmp_path_factory.mktemp("class")
    copy_lab(root / "ada")
    make_starter(root / "bob" / "grpc-lab-kit-main", [HELLO])
    copy_lab(root / "cy")
    (root / "cy" / "hello_world" / "client.py").unlink()
    (root / ".DS_Store").write_text("")  # not a student
    return root


def read_csv(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


@pytest.mark.timeout(400)  # a class of three, graded
def test_grade_writes_one_csv_row_per_student(class_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "class.csv"
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "labkit", "grade", str(class_dir), "--csv", str(out),
         "--lab", "hello_world", "--results", str(results), "-j", "2"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = read_csv(out)
    assert list(rows) == ["ada", "bob", "cy"]
    assert list(rows["ada"]) == ["student", "hello_world", "total", "notes"]
    assert rows["ada"]["total"] == f"{HELLO_POINTS:g}"  # the reference
    assert rows["bob"]["total"] == "0"  # the untouched starter
    assert "labs found in grpc-lab-kit-main/" in rows["bob"]["notes"]
    # No client.py: the client's items are lost, the server's still earned.
    assert 0 < float(rows["cy"]["total"]) < HELLO_POINTS
    cy = json.loads((results / "cy.json").read_text(encoding="utf-8"))
    client = next(t for t in cy["tests"] if t["extra_data"]["item"] == "client")
    assert client["score"] == 0 and "client.py" in client["output"]
    assert f"Points possible: hello_world {HELLO_POINTS:g}" in done.stdout


# --- a submission never grades itself ---------------------------------------------------------

EVIL_PLUGIN = """
import os, pathlib
pathlib.Path(os.environ.get("LABKIT_EVIL_MARK", "/tmp/labkit-evil-mark")).write_text("ran")
print("EVIL PLUGIN RAN")
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The untouched starter (0 points), plus everything a student could add to grade
    themselves: a pytest configuration loading a plugin of theirs, conftest.py files, a
    labkit/ and tests/ of their own that forge full marks, and a lab module that tries to
    write the grader's files when it is imported."""
    root = tmp_path_factory.mktemp("hostile") / "kit"
    make_starter(root, [HELLO])
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "-p evil_plugin"\npythonpath = ["."]\n')
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p evil_plugin\npythonpath = .\n")
    (root / "evil_plugin.py").write_text(EVIL_PLUGIN)
    (root / "conftest.py").write_text(EVIL_PLUGIN)
    (root / "tests" / "conftest.py").write_text(EVIL_PLUGIN)
    (root / "hello_world" / "conftest.py").write_text(EVIL_PLUGIN)
    forge = ("\n\n# forged: every item earned\nItemResult.earned = property(lambda self: True)\n"
             + EVIL_PLUGIN)
    with open(root / "labkit" / "grading.py", "a", encoding="utf-8") as grading_py:
        grading_py.write(forge)
    with open(root / "labkit" / "plugin.py", "a", encoding="utf-8") as plugin_py:
        plugin_py.write(EVIL_PLUGIN)
    # A lab module with side effects at import: it runs in a lab process (sandboxed).
    client = root / "hello_world" / "client.py"
    client.write_text("import pathlib\nfor target in %r:\n    try:\n"
                      "        pathlib.Path(target).write_text('forged')\n"
                      "    except OSError:\n        pass\n" % [
                          str(REPO_ROOT / "tests" / "labkit-forged.txt"),
                          str(REPO_ROOT / "labkit" / "labkit-forged.txt")]
                      + client.read_text(encoding="utf-8"), encoding="utf-8")
    return root


def assert_not_fooled(score: float, output: str, mark: Path) -> None:
    assert score == 0, f"the untouched starter, with forgeries, got {score}:\n{output[-3000:]}"
    assert not mark.exists(), "a file of the submission ran in the grading process"
    assert "EVIL PLUGIN RAN" not in output
    if os.geteuid() == 0:  # the lab processes could not write the kit
        assert not (REPO_ROOT / "tests" / "labkit-forged.txt").exists()
        assert not (REPO_ROOT / "labkit" / "labkit-forged.txt").exists()


def pytest_grade(args: list[str], out: Path, mark: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--grade", "--grade-json", str(out),
         "-p", "no:cacheprovider", "-q"], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=300, env={**os.environ, "LABKIT_EVIL_MARK": str(mark)})


@pytest.mark.timeout(300)
@pytest.mark.parametrize("spelling", ["space", "equals"])
def test_pytest_lab_root_ignores_the_submissions_files(hostile: Path, tmp_path: Path,
                                                       spelling: str) -> None:
    # `pytest --lab-root DIR` (with a space) relies on the kit's pytest guard, installed by
    # requirements.txt (labkit/pytest_guard): pytest would otherwise read DIR's config.
    mark, out = tmp_path / "mark", tmp_path / "results.json"
    args = (["--lab-root", str(hostile)] if spelling == "space"
            else [f"--lab-root={hostile}"])
    done = pytest_grade([*args, "tests/test_hello_world.py"], out, mark)
    output = done.stdout + done.stderr
    assert out.is_file(), output[-3000:]
    assert f"rootdir: {REPO_ROOT}" in output or "configfile: pyproject.toml" in output or \
        "grade of" in output
    assert_not_fooled(json.loads(out.read_text())["score"], output, mark)


@pytest.mark.timeout(300)
def test_labkit_grade_ignores_the_submissions_files(hostile: Path, tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    students = tmp_path / "class"
    students.mkdir()
    shutil.copytree(hostile, students / "eve", symlinks=True)
    done = subprocess.run(
        [sys.executable, "-m", "labkit", "grade", str(students), "--csv",
         str(tmp_path / "class.csv"), "--lab", "hello_world"], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "LABKIT_EVIL_MARK": str(mark)})
    assert done.returncode == 0, done.stdout + done.stderr
    row = read_csv(tmp_path / "class.csv")["eve"]
    assert_not_fooled(float(row["total"]), done.stdout + done.stderr, mark)


# --- nothing a submission starts outlives the grading -----------------------------------------

# Put at the top of a server.py: a daemon (setsid, forked twice) that outlives its parent,
# writing the time into a file every 20 ms, and what it could not do.
DAEMON = '''
import os as _os, sys as _sys, time as _time
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _log = {log!r}
        _tries = []
        for _target in {forbidden!r}:
            try:
                open(_target, "w").write("forged")
                _tries.append("wrote " + _target)
            except OSError:
                _tries.append("refused " + _target)
        open(_log + ".uid", "w").write(str(_os.getuid()) + "\\n" + "\\n".join(_tries))
        while True:
            with open(_log, "w") as _f:
                _f.write(repr(_time.time()))
            _time.sleep(0.02)
    _os._exit(0)
'''


@pytest.mark.timeout(300)
def test_processes_a_submission_leaves_are_gone_before_results(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    spy = tmp_path_factory.mktemp("spy")  # the daemon writes here, whoever it runs as
    os.chmod(spy, 0o777)
    Sandbox.allow_through(spy)
    log = spy / "alive"
    results = tmp_path_factory.mktemp("results") / "results.json"  # the grader's alone
    forbidden = [str(results), str(REPO_ROOT / "tests" / "forged.txt")]
    copy = copy_lab(tmp_path / "kit")
    server = copy / "hello_world" / "server.py"
    server.write_text(DAEMON.format(log=str(log), forbidden=forbidden)
                      + server.read_text(encoding="utf-8"), encoding="utf-8")
    run = grading.run_lab_tests(copy, [HELLO], json_path=results, select="slides_run")
    assert run.results is not None, run.log[-3000:]
    assert log.exists(), "the daemon never ran: the test proves nothing"
    last_beat = float(log.read_text() or 0)
    written = results.stat().st_mtime
    assert last_beat < written, "a process of the submission was alive after the results"
    time.sleep(0.2)  # the daemon, if it lived, would write again within 20 ms
    assert float(log.read_text() or 0) == last_beat, "the daemon outlived the grading"
    uid, *tries = (spy / "alive.uid").read_text().splitlines()
    if os.geteuid() == 0:
        assert uid != "0", "as root, lab processes must run as an unprivileged user"
        assert tries == [f"refused {target}" for target in forbidden], tries
    assert not (REPO_ROOT / "tests" / "forged.txt").exists()
