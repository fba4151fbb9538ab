"""`python -m labkit autograder`: the Gradescope autograder zip, and its run_autograder
grading submissions laid out as Gradescope lays them out (in a scratch /autograder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from labkit.labs import REPO_ROOT, get_lab
from labkit.starter import make_starter

HELLO = get_lab("hello_world")
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("zip") / "hello.zip"
    done = subprocess.run([sys.executable, "-m", "labkit", "autograder", str(dest), "--lab",
                           "hello_world"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return dest


def test_zip_has_setup_and_run_at_its_root(autograder_zip: Path) -> None:
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        setup = archive.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert "tests/test_hello_world.py" in names and "labkit/grading.py" in names
    assert "tests/conftest.py" in names and "requirements.txt" in names
    # Only what grading the chosen labs needs: no other lab's tests, no mutants.
    assert "tests/test_streaming_bidi.py" not in names
    assert not any(name.startswith("labkit/mutants/") for name in names)
    assert "pip install" in setup and "requirements.txt" in setup
    assert "chmod -R go-rwx /autograder/source" in setup


def test_setup_installs_what_each_lab_needs(tmp_path: Path) -> None:
    dest = tmp_path / "all.zip"
    subprocess.run([sys.executable, "-m", "labkit", "autograder", str(dest)], cwd=REPO_ROOT,
                   check=True, capture_output=True, timeout=120)
    with zipfile.ZipFile(dest) as archive:
        setup = archive.read("setup.sh").decode()
    assert "libgrpc++-dev" in setup and "cmake" in setup  # the C++ hash server
    assert "go.dev/dl/go" in setup and "warm_go_cache" in setup  # grpc-go needs a recent Go


def lay_out(tmp_path: Path, autograder_zip: Path) -> Path:
    """An /autograder tree as Gradescope builds it: source/ from the zip, results/."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)
    (root / "results").mkdir(parents=True)
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path) -> dict:
    done = subprocess.run([str(root / "source" / "run_autograder")], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "AUTOGRADER_ROOT": str(root),
                               "LABKIT_AUTOGRADER_PYTHON": sys.executable})
    results = root / "results" / "results.json"
    assert results.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(results.read_text(encoding="utf-8"))


def assert_follows_the_specification(results: dict) -> None:
    """Gradescope's results.json: https://gradescope-autograders.readthedocs.io/en/latest/
    specs/ (score, tests with score/max_score/status/name/output/visibility, formats)."""
    assert isinstance(results["score"], (int, float))
    assert results["output_format"] in FORMATS and results["test_output_format"] in FORMATS
    assert results["visibility"] in VISIBILITIES
    assert results["stdout_visibility"] in VISIBILITIES
    assert results["tests"]
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float))
        assert isinstance(test["max_score"], (int, float))
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["output"], str)
        assert test["visibility"] in VISIBILITIES
    assert sum(t["score"] for t in results["tests"]) == results["score"]


@pytest.mark.timeout(600)  # three graded runs
def test_reference_starter_and_broken_copy(tmp_path: Path, autograder_zip: Path) -> None:
    # The reference, as a whole kit zipped with its top folder (one folder deeper).
    reference = lay_out(tmp_path / "reference", autograder_zip)
    shutil.copytree(REPO_ROOT / "hello_world", reference / "submission" / "kit-main" /
                    "hello_world", ignore=shutil.ignore_patterns("__pycache__"))
    results = run_autograder(reference)
    assert_follows_the_specification(results)
    assert results["score"] == HELLO.points

    # The untouched starter: 0, every item saying why.
    starter = lay_out(tmp_path / "starter", autograder_zip)
    make_starter(starter / "submission" / "kit", [HELLO])
    results = run_autograder(starter)
    assert_follows_the_specification(results)
    assert results["score"] == 0
    for test in results["tests"]:
        if test["max_score"] > 0:
            assert test["status"] == "failed" and "TODO" in test["output"], test

    # Only the lab folder, with a servicer that crashes: its traceback reaches the student.
    broken = lay_out(tmp_path / "broken", autograder_zip)
    folder = broken / "submission" / "hello_world"
    shutil.copytree(REPO_ROOT / "hello_world", folder,
                    ignore=shutil.ignore_patterns("__pycache__"))
    server = folder / "server.py"
    server.write_text(server.read_text(encoding="utf-8").replace(
        'f"Hello, {request.name}!"', 'f"Hello, {request.nam}!"'), encoding="utf-8")
    results = run_autograder(broken)
    assert_follows_the_specification(results)
    assert 0 < results["score"] < HELLO.points
    servicer = next(t for t in results["tests"] if t["extra_data"]["item"] == "servicer")
    assert servicer["score"] == 0
    assert 'hello_world/server.py", line' in servicer["output"]
    assert "AttributeError" in servicer["output"] and "nam" in servicer["output"]


def test_a_submission_without_the_lab_gets_zero_and_says_why(tmp_path: Path,
                                                           autograder_zip: Path) -> None:
    root = lay_out(tmp_path, autograder_zip)
    (root / "submission" / "notes.txt").write_text("I forgot the code")
    results = run_autograder(root)
    assert results["score"] == 0
    assert "No hello_world/ folder" in results["output"]
