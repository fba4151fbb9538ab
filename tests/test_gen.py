"""`labkit gen` in the kit: the labs' proto copies and stubs match the canonical protos, and
gen never throws away an edit made in a lab folder without saying where it kept it.
(Student copies: tests/test_labkit_gen.py.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.labs import LABS, REPO_ROOT

IGNORE = shutil.ignore_patterns("__pycache__", "build", ".pytest_cache")


def run_gen(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labkit", "gen", *args], cwd=root,
                          capture_output=True, text=True, timeout=120)


def kit_copy(tmp_path: Path, *labs: str) -> Path:
    """A copy of the kit holding only these labs' folders (gen handles the labs present)."""
    root = tmp_path / "kit"
    for folder in ("labkit", "protos", *labs):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=IGNORE)
    shutil.copy(REPO_ROOT / "README.md", root / "README.md")
    return root


def slides_protoc(lab_dir: Path, proto: str) -> None:
    """The slides' command, run in the lab folder."""
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I./", "--python_out=.",
                    "--pyi_out=.", "--grpc_python_out=.", proto], cwd=lab_dir, check=True,
                   timeout=60)


def test_check_passes_on_this_repository() -> None:
    done = run_gen(REPO_ROOT, "--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_edit_in_a_lab_folder_is_named_and_kept_aside_by_gen(tmp_path: Path) -> None:
    root = kit_copy(tmp_path, "hello_world")
    copy = root / "hello_world" / "hello.proto"
    edited = copy.read_text().replace("string name = 1;", "string name = 1;\n  int32 age = 2;")
    copy.write_text(edited)
    slides_protoc(root / "hello_world", "hello.proto")

    done = run_gen(root, "--check")
    assert done.returncode == 1
    assert "stale: hello_world/hello.proto (differs from protos/hello_world/hello.proto)" \
        in done.stdout
    # The stubs describe the edited copy, not the canonical proto: named, with the reason.
    assert ("stale: hello_world/hello_pb2.py (does not match hello.proto: message HelloRequest "
            "differs)") in done.stdout
    assert "hello_pb2_grpc.py" not in done.stdout  # its calls did not change

    done = run_gen(root)
    assert done.returncode == 0, done.stderr
    saved = root / ".labkit-gen" / "replaced" / "hello_world" / "hello.proto"
    assert ("replaced hello_world/hello.proto: it differed from protos/hello_world/hello.proto. "
            "The replaced version is saved as .labkit-gen/replaced/hello_world/hello.proto; to "
            "keep its changes, make them in protos/hello_world/hello.proto") in done.stdout
    assert saved.read_text() == edited
    assert copy.read_bytes() == (root / "protos" / "hello_world" / "hello.proto").read_bytes()
    assert run_gen(root, "--check").returncode == 0


def test_check_catches_an_edited_canonical_proto(tmp_path: Path) -> None:
    root = kit_copy(tmp_path, "hello_world")
    assert run_gen(root).returncode == 0  # gen remembers what it wrote
    canonical = root / "protos" / "hello_world" / "hello.proto"
    canonical.write_text(canonical.read_text().replace("string name = 1;",
                                                       "string name = 1;\n  int32 age = 2;"))
    done = run_gen(root, "--check")
    assert done.returncode == 1
    assert "stale: hello_world/hello.proto" in done.stdout
    assert "stale: hello_world/hello_pb2.py (does not match hello.proto" in done.stdout
    assert "stale: hello_world/hello_pb2.pyi (does not match hello.proto" in done.stdout
    # gen brings the copy in step without a word of "replaced": the copy was still what gen
    # had written, so it held no edit of its own.
    done = run_gen(root)
    assert done.returncode == 0 and "replaced" not in done.stdout, done.stdout
    assert "generated: hello_world (stubs from protos/hello_world/hello.proto)" in done.stdout
    assert run_gen(root, "--check").returncode == 0


def test_a_comment_in_the_proto_changes_no_stub(tmp_path: Path) -> None:
    # Comments are in no stub: only the proto copy is behind.
    root = kit_copy(tmp_path, "hello_world")
    canonical = root / "protos" / "hello_world" / "hello.proto"
    canonical.write_text(canonical.read_text() + "\n// A comment of the instructor's.\n")
    done = run_gen(root, "--check")
    stale = [line for line in done.stdout.splitlines()
             if line.startswith("stale: hello_world/hello")]  # the proto and its stubs
    assert stale == ["stale: hello_world/hello.proto (differs from "
                     "protos/hello_world/hello.proto)"], done.stdout


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
