"""`labkit gen` and the Go stubs of cross_language: generated with the pinned
protoc-gen-go and protoc-gen-go-grpc, found also outside PATH, checked by `--check` (for
what they describe: see labkit/stubs.py and tests/test_labkit_gen.py).

Skipped with a one-line reason where the plugins are not installed; CI installs them
(and LABKIT_REQUIRE_ALL=1 turns the skip into a failure). These are tests of labkit, not
of a student's lab: no `LAB = ...` here, so grading and starter copies leave them out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import gen
from labkit.labs import REPO_ROOT, get_lab
from labkit.testing import require, require_commands

LAB_NAME = "cross_language"
GO_STUBS = ("client/pb/assistant.pb.go", "client/pb/assistant_grpc.pb.go")


@pytest.fixture(scope="module")
def plugins() -> dict[str, Path]:
    found = gen.find_go_plugins()
    require(found is not None, "the Go stubs' check needs protoc-gen-go and protoc-gen-go-grpc "
            "(" + "; ".join(gen.GO_PLUGIN_INSTALL.values()) + ")")
    assert found is not None
    return found


def run_gen(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labkit", "gen", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def test_the_go_stubs_are_checked_in() -> None:
    for stub in GO_STUBS:
        assert (REPO_ROOT / LAB_NAME / stub).is_file(), stub


def test_installed_plugins_are_the_pinned_versions(plugins: dict[str, Path]) -> None:
    # Otherwise --check calls the stubs stale: their header names the plugins' versions.
    assert gen.go_version_notes(plugins) == []
    header = (REPO_ROOT / LAB_NAME / GO_STUBS[0]).read_text()
    assert f"protoc-gen-go {gen.GO_PLUGIN_VERSIONS['protoc-gen-go']}\n" in header


def test_check_compares_the_go_stubs(plugins: dict[str, Path]) -> None:
    done = run_gen("--check", LAB_NAME)
    assert "not installed" not in done.stdout, done.stdout
    assert not [line for line in done.stdout.splitlines()
                if line.startswith(f"stale: {LAB_NAME}/")], done.stdout + done.stderr


def test_check_names_an_edited_go_stub(tmp_path: Path) -> None:
    lab = get_lab(LAB_NAME)
    shutil.copytree(REPO_ROOT / LAB_NAME, tmp_path / LAB_NAME)
    proto = REPO_ROOT / "protos" / LAB_NAME / lab.proto
    assert gen.stub_findings(lab, tmp_path, proto) == []
    stub = tmp_path / LAB_NAME / GO_STUBS[1]
    stub.write_text(stub.read_text().replace('MethodName: "GreetWithInfo"',
                                             'MethodName: "GreetWithInfos"'))
    (tmp_path / LAB_NAME / GO_STUBS[0]).unlink()
    stale = gen.stub_findings(lab, tmp_path, proto)
    assert [item.path for item in stale] == [f"{LAB_NAME}/{s}" for s in GO_STUBS]
    assert all(item.go for item in stale)


def test_gen_finds_the_plugins_in_go_install_folder(plugins: dict[str, Path],
                                                    tmp_path: Path) -> None:
    """Where `go install` put them but PATH does not say so (a student who skipped the
    slides' `export PATH=...`): gen looks in $(go env GOPATH)/bin."""
    require_commands("go", why="finding the plugins through `go env GOPATH`")
    gopath_bin = tmp_path / "gopath" / "bin"
    gopath_bin.mkdir(parents=True)
    for name, path in plugins.items():
        (gopath_bin / name).symlink_to(path)
    folders = {str(Path(sys.executable).parent), str(Path(shutil.which("go")).parent),
               "/usr/bin", "/bin"}
    assert not any(shutil.which(name, path=os.pathsep.join(folders)) for name in plugins), \
        "the plugins are in a system folder: this test cannot hide them from PATH"
    env = {**os.environ, "PATH": os.pathsep.join(sorted(folders)),
           "GOPATH": str(tmp_path / "gopath"), "GOBIN": ""}
    # What `gen` (which generates the Go stubs with them) finds, with that environment:
    done = subprocess.run([sys.executable, "-c", "from labkit import gen; "
                           "print(*gen.find_go_plugins().values(), sep='\\n')"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert done.stdout.splitlines() == [str(gopath_bin / name) for name in plugins], \
        done.stdout + done.stderr


def test_a_plugin_of_another_version_gets_a_note(tmp_path: Path) -> None:
    fake = tmp_path / "protoc-gen-go"
    fake.write_text("#!/bin/sh\necho protoc-gen-go v0.0.1\n")
    fake.chmod(0o755)
    notes = gen.go_version_notes({"protoc-gen-go": fake})
    assert len(notes) == 1
    assert "v0.0.1" in notes[0] and gen.GO_PLUGIN_INSTALL["protoc-gen-go"] in notes[0]
