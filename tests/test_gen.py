"""`labkit gen`: the checked-in proto copies and stubs match the canonical protos."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.labs import LABS, REPO_ROOT


def run_gen(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labkit", "gen", *args], cwd=root,
                          capture_output=True, text=True, timeout=120)


def test_check_passes_on_this_repository() -> None:
    done = run_gen(REPO_ROOT, "--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_names_an_edited_proto_copy_and_gen_repairs_it(tmp_path: Path) -> None:
    root = tmp_path / "kit"
    shutil.copytree(REPO_ROOT, root, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "build", ".pytest_cache"))
    lab = LABS[0]
    copy = root / lab.name / lab.proto
    copy.write_text(copy.read_text() + "\n// edited by hand\n")
    stub = root / lab.name / lab.proto.replace(".proto", "_pb2.py")
    stub.write_text(stub.read_text() + "\n# edited by hand\n")

    done = run_gen(root, "--check")
    assert done.returncode == 1
    assert f"stale: {lab.name}/{lab.proto}" in done.stdout
    assert f"stale: {lab.name}/{stub.name}" in done.stdout

    assert run_gen(root).returncode == 0
    assert run_gen(root, "--check").returncode == 0
    assert "edited by hand" not in copy.read_text()


def test_check_catches_an_edited_canonical_proto(tmp_path: Path) -> None:
    root = tmp_path / "kit"
    shutil.copytree(REPO_ROOT, root, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "build", ".pytest_cache"))
    canonical = root / "protos" / LABS[0].name / LABS[0].proto
    canonical.write_text(canonical.read_text().replace("string name = 1;",
                                                       "string name = 1;\n  int32 age = 2;"))
    done = run_gen(root, "--check")
    assert done.returncode == 1
    assert f"stale: {LABS[0].name}/{LABS[0].proto}" in done.stdout


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_stubs_import_without_warnings(lab) -> None:
    for out in lab.python_out:
        folder = REPO_ROOT / lab.name / out
        modules = sorted(p.stem for p in folder.glob("*_pb2*.py"))
        assert modules, f"no stubs in {folder}"
        done = subprocess.run([sys.executable, "-W", "error", "-c",
                               "; ".join(f"import {m}" for m in modules)],
                              cwd=folder, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr
