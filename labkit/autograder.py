"""`python -m labkit autograder DEST.zip [--lab LAB ...]`: a Gradescope autograder.

Gradescope runs every submission in a container of its own, built once from the zip
(https://gradescope-autograders.readthedocs.io/en/latest/specs/):

- `setup.sh` (at the zip's root) installs, at image build time, what the graded labs need
  on Gradescope's Ubuntu base image: the pinned Python packages in a virtual environment,
  a Go toolchain recent enough for grpc-go (with the kit's own Go client built once, so
  that a student's build is quick), and gRPC C++ with CMake for the C++ hash server.
- `run_autograder` grades /autograder/submission (a whole kit, only lab folders, or either
  one folder deeper) into /autograder/results/results.json, with the protections of
  grading: only the submission's lab folders are used (never its pyproject.toml,
  conftest.py, labkit/ or tests/), lab processes run as an unprivileged user that can read
  neither the kit nor its hidden tests, and every process a submission starts is killed
  before the results are written.

The zip holds the kit itself (labkit, the lab tests with the hidden ones, the protos, the
chosen labs' reference folders), so it is for instructors' eyes only.

`python -m labkit.autograder run` is what run_autograder calls. AUTOGRADER_ROOT (default
/autograder) lets a test lay the tree out in a scratch folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
import tempfile
import zipfile
from pathlib import Path

from labkit import grading
from labkit.labs import LABS, REPO_ROOT, Lab, get_lab

# Folders of the kit the autograder needs besides the graded labs' own folders.
KIT_PARTS = ("labkit", "protos", "tests", "requirements.txt", "pyproject.toml")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "build", "mutants",
                              ".labkit-gen")
GO_DOWNLOAD = "https://go.dev/dl/go{version}.linux-amd64.tar.gz"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
cd /autograder/source
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq --no-install-recommends {apt_packages}

# The kit's pinned Python packages, in a virtual environment every user may run.
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
{go_setup}
# Only root may read the kit (its hidden tests, its reference code); lab processes run
# as another user.
chmod -R go-rwx /autograder/source
chmod 755 /autograder /autograder/venv
"""

GO_SETUP = """
# Go {version} (grpc-go needs a recent toolchain; Ubuntu's golang is too old), and the
# kit's own Go client built once: its modules and build cache make students' builds fast.
curl -fsSL {url} | tar -C /usr/local -xz
ln -sf /usr/local/go/bin/go /usr/local/bin/go
/autograder/venv/bin/python -c "from labkit.builds import warm_go_cache; warm_go_cache()"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission; the grade goes to results/results.json.
root="${{AUTOGRADER_ROOT:-/autograder}}"
python="${{LABKIT_AUTOGRADER_PYTHON:-$root/venv/bin/python}}"
cd "$root/source"
exec "$python" -m labkit.autograder run --root "$root" {lab_args}
"""


def apt_packages(labs: list[Lab]) -> str:
    packages = ["python3", "python3-venv", "python3-pip", "ca-certificates", "curl"]
    if any(lab.name == "file_hash_service" for lab in labs):
        packages += ["cmake", "g++", "make", "pkg-config", "libgrpc++-dev", "libprotobuf-dev",
                     "protobuf-compiler", "protobuf-compiler-grpc", "libssl-dev"]
    return " ".join(packages)


def go_version() -> str:
    """The Go toolchain to install: this machine's, else the go line of the client's
    go.mod."""
    found = shutil.which("go")
    if found:
        import subprocess

        done = subprocess.run([found, "env", "GOVERSION"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.startswith("go"):
            return done.stdout.strip()[2:]
    for line in (REPO_ROOT / "cross_language/client/go.mod").read_text().splitlines():
        if line.startswith("go "):
            return line.split()[1]
    raise RuntimeError("cannot tell which Go version to install")


def setup_script(labs: list[Lab]) -> str:
    go_setup = ""
    if any(lab.go_out for lab in labs):
        version = go_version()
        go_setup = GO_SETUP.format(version=version, url=GO_DOWNLOAD.format(version=version))
    return SETUP_SH.format(apt_packages=apt_packages(labs), go_setup=go_setup)


def write_zip(dest: Path, labs: list[Lab]) -> list[str]:
    """Write the autograder zip; the names it holds."""
    with tempfile.TemporaryDirectory(prefix="labkit-autograder-") as scratch:
        tree = Path(scratch)
        for part in KIT_PARTS:
            source = REPO_ROOT / part
            if source.is_dir():
                shutil.copytree(source, tree / part, ignore=SKIP)
            else:
                shutil.copy2(source, tree / part)
        graded = {lab.name for lab in labs}
        # The tests of labkit itself are not needed; lab tests of labs not graded neither.
        for path in (tree / "tests").rglob("test_*.py"):
            lab = grading.lab_of_module(path, tree / "tests")
            if lab is None or lab.name not in graded:
                path.unlink()
        for lab in labs:
            shutil.copytree(REPO_ROOT / lab.name, tree / lab.name, ignore=SKIP)
        (tree / "setup.sh").write_text(setup_script(labs))
        lab_args = " ".join(f"--lab {lab.name}" for lab in labs)
        (tree / "run_autograder").write_text(RUN_AUTOGRADER.format(lab_args=lab_args))
        dest.parent.mkdir(parents=True, exist_ok=True)
        names = []
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(tree.rglob("*")):
                if path.is_file():
                    name = path.relative_to(tree).as_posix()
                    info = zipfile.ZipInfo.from_file(path, name)
                    if name in ("setup.sh", "run_autograder"):
                        info.external_attr = (0o755 | stat.S_IFREG) << 16
                    archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
                    names.append(name)
    return names


# --- run_autograder ----------------------------------------------------------------------------


def lab_folders(submission: Path, labs: list[Lab]) -> Path:
    """The folder of a submission that holds its lab folders (the submission itself, or a
    folder below it: a zip of the whole kit, of its parent folder, or of lab folders)."""
    return grading.find_lab_root(submission, labs)


def copy_labs(source: Path, dest: Path, labs: list[Lab]) -> list[str]:
    """Copy only the submission's lab folders; the labs it lacks."""
    missing = []
    for lab in labs:
        folder = source / lab.name
        if folder.is_dir() and not folder.is_symlink():
            shutil.copytree(folder, dest / lab.name, symlinks=True, ignore=SKIP)
        else:
            missing.append(lab.name)
    return missing


def failed_results(reason: str) -> dict:
    return {"score": 0, "output": reason, "output_format": "text", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": []}


def grade_submission(root: Path, labs: list[Lab]) -> int:
    """Grade <root>/submission into <root>/results/results.json."""
    results = root / "results" / "results.json"
    submission = root / "submission"
    if not submission.is_dir():
        grading.write_json(results, failed_results("No submission folder was found."))
        return 1
    with tempfile.TemporaryDirectory(prefix="labkit-submission-") as scratch:
        labs_root = Path(scratch)
        missing = copy_labs(lab_folders(submission, labs), labs_root, labs)
        run = grading.run_lab_tests(labs_root, labs, json_path=results)
        print(run.log[-20000:])
        if run.results is None:
            grading.write_json(results, failed_results(
                "The grader could not grade this submission: " + "; ".join(run.notes)))
            return 1
        notes = [*(f"No {name}/ folder in the submission: its points are 0." for name in missing),
                 *run.notes]
        if notes:
            data = run.results
            data["output"] = data.get("output", "") + "\n\n" + "\n".join(
                f"- {note}" for note in notes)
            grading.write_json(results, data)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.autograder")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="grade the submission (run_autograder calls this)")
    run.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    run.add_argument("--lab", action="append", default=[])
    args = parser.parse_args(argv)
    labs = [get_lab(name) for name in args.lab] or list(LABS)
    return grade_submission(Path(args.root), labs)


def run(dest: str, labs: list[Lab]) -> int:
    """`python -m labkit autograder DEST.zip [--lab ...]`."""
    path = Path(dest)
    if path.suffix != ".zip":
        print(f"error: {dest} must name a .zip file")
        return 2
    names = write_zip(path, labs)
    print(f"Gradescope autograder written to {path} ({len(names)} files, labs: "
          f"{', '.join(lab.name for lab in labs)}). Upload it in the assignment's "
          "'Configure Autograder' page; its setup.sh installs what the labs need.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
