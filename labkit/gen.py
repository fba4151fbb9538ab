"""`python -m labkit gen [--check] [LAB ...]`: keep every lab's proto copy and stubs in step
with the canonical protos in `protos/`.

For each lab, the canonical `protos/<lab>/<file>.proto` is copied into the lab folder (and
each shared module the index lists, from `labkit/lab_modules/`, into its folder), and
protoc (the one bundled with grpcio-tools, run exactly as the slides run it, from the lab
folder with `-I.`) writes the Python stubs into each of the lab's stub folders, and the Go
stubs when the lab has Go code and protoc-gen-go and protoc-gen-go-grpc are installed (on
PATH, or in `go install`'s folder, `$(go env GOPATH)/bin`, when that is not on PATH).
`--check` generates into a scratch folder and compares: it changes nothing, names every
stale file and exits 1 if there is one. The Go stubs record the plugins' versions in their
header, so they are only reproducible with the pinned versions of GO_PLUGIN_VERSIONS.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from labkit.labs import LAB_MODULES_DIR, LABS, REPO_ROOT, Lab

GO_PLUGINS = ("protoc-gen-go", "protoc-gen-go-grpc")
# The versions the checked-in Go stubs were generated with (their header names them), and
# how to install exactly those: cross_language/README.md and .ci/run use the same lines.
GO_PLUGIN_VERSIONS = {"protoc-gen-go": "v1.36.12", "protoc-gen-go-grpc": "1.6.2"}
GO_PLUGIN_INSTALL = {
    "protoc-gen-go": "go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12",
    "protoc-gen-go-grpc": "go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2",
}


class GenError(RuntimeError):
    pass


def go_bin_dirs() -> list[Path]:
    """Where `go install` puts programs: $GOBIN if set, else $(go env GOPATH)/bin."""
    go = shutil.which("go")
    if go is None:
        return []
    done = subprocess.run([go, "env", "GOBIN", "GOPATH"], capture_output=True, text=True)
    if done.returncode != 0:
        return []
    gobin, _, gopath = done.stdout.partition("\n")
    dirs = [Path(gobin.strip())] if gobin.strip() else []
    # GOPATH may list several folders, like PATH.
    dirs += [Path(p) / "bin" for p in gopath.strip().split(os.pathsep) if p]
    return dirs


def find_go_plugins() -> dict[str, Path] | None:
    """The Go plugins' paths (PATH first, then go install's folder); None if one is missing."""
    found: dict[str, Path] = {}
    bin_dirs: list[Path] | None = None
    for plugin in GO_PLUGINS:
        on_path = shutil.which(plugin)
        if on_path:
            found[plugin] = Path(on_path)
            continue
        if bin_dirs is None:
            bin_dirs = go_bin_dirs()
        candidates = [d / plugin for d in bin_dirs if os.access(d / plugin, os.X_OK)]
        if not candidates:
            return None
        found[plugin] = candidates[0]
    return found


def plugin_version(path: Path) -> str:
    """What `protoc-gen-go --version` says, e.g. "v1.36.12" ("1.6.2" for -grpc)."""
    try:
        done = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip().rsplit(" ", 1)[-1] or "unknown"


def go_version_notes(plugins: dict[str, Path]) -> list[str]:
    """One note per plugin whose version differs from the pinned one."""
    notes = []
    for plugin, path in plugins.items():
        version = plugin_version(path)
        if version != GO_PLUGIN_VERSIONS[plugin]:
            notes.append(f"note: {path} is {plugin} {version}, the Go stubs are made with "
                         f"{GO_PLUGIN_VERSIONS[plugin]} (their header records it): "
                         f"{GO_PLUGIN_INSTALL[plugin]}")
    return notes


def protoc(args: list[str], cwd: Path) -> None:
    """Run grpcio-tools' protoc (it adds the include path of the well-known types)."""
    done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", *args], cwd=cwd,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise GenError(f"protoc {' '.join(args)} (in {cwd}) failed:\n{done.stderr.strip()}")


def python_args(lab: Lab, out: str) -> list[str]:
    args = ["-I.", f"--python_out={out}", f"--pyi_out={out}"]
    if lab.grpc_stubs:
        args.append(f"--grpc_python_out={out}")
    return [*args, lab.proto]


def go_args(lab: Lab, plugins: dict[str, Path]) -> list[str]:
    # go_package in the proto says where under go_out the files land (./pb). --plugin
    # names each plugin's path, so that protoc finds them also when they are not on PATH.
    where = [f"--plugin={plugin}={path}" for plugin, path in plugins.items()]
    return ["-I.", *where, f"--go_out={lab.go_out}", f"--go-grpc_out={lab.go_out}",
            lab.proto]


def generate(lab: Lab, lab_dir: Path, with_go: dict[str, Path] | None) -> None:
    """Write the lab's proto copy and stubs under `lab_dir`."""
    source = lab.canonical_proto
    if not source.is_file():
        raise GenError(f"{lab.name}: canonical proto {source.relative_to(REPO_ROOT)} is missing")
    lab_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, lab_dir / lab.proto)
    for module, folder in lab.modules:
        (lab_dir / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(LAB_MODULES_DIR / module, lab_dir / folder / module)
    for out in lab.python_out:
        (lab_dir / out).mkdir(parents=True, exist_ok=True)
        protoc(python_args(lab, out), cwd=lab_dir)
    if with_go and lab.go_out:
        (lab_dir / lab.go_out).mkdir(parents=True, exist_ok=True)
        protoc(go_args(lab, with_go), cwd=lab_dir)


def generated_files(lab_dir: Path) -> list[Path]:
    return sorted(p.relative_to(lab_dir) for p in lab_dir.rglob("*") if p.is_file())


def stale_files(lab: Lab, root: Path, with_go: dict[str, Path] | None) -> list[str]:
    """Files of the lab under `root` that differ from a fresh generation (or are missing)."""
    with tempfile.TemporaryDirectory(prefix="labkit-gen-") as scratch:
        fresh_dir = Path(scratch) / lab.name
        generate(lab, fresh_dir, with_go)
        stale = []
        for rel in generated_files(fresh_dir):
            current = root / lab.name / rel
            if not current.is_file() or not filecmp.cmp(current, fresh_dir / rel, shallow=False):
                stale.append(f"{lab.name}/{rel}")
        return stale


README_BEGIN = "<!-- lab table: written by `python -m labkit gen` from labkit/labs.py -->"
README_END = "<!-- end of lab table -->"


def command_line(lab: Lab, name: str) -> str:
    proc = lab.process(name)
    cd = f"cd {lab.name}/{proc.cwd}".rstrip("/.")
    return f"`{cd} && {' '.join(proc.command)}`"


def readme_table(labs: tuple[Lab, ...] = LABS) -> str:
    """The README's table of labs, made from the index."""
    rows = ["| Lab | What it teaches | Run (each in its own terminal) | Port |",
            "| --- | --- | --- | --- |"]
    for lab in labs:
        run_lines = "<br>".join(command_line(lab, proc.name) for proc in lab.processes)
        rows.append(f"| [{lab.name}]({lab.name}/README.md) | {lab.title} | {run_lines} "
                    f"| {lab.port or '-'} |")
    return "\n".join(rows)


def readme_with_table(readme: str) -> str:
    start, end = readme.index(README_BEGIN), readme.index(README_END)
    return readme[: start + len(README_BEGIN)] + "\n" + readme_table() + "\n" + readme[end:]


def update_readme(root: Path, check: bool) -> bool:
    """Write (or, with check, compare) the README's lab table; True if it was up to date."""
    path = root / "README.md"
    current = path.read_text(encoding="utf-8")
    fresh = readme_with_table(current)
    if not check and fresh != current:
        path.write_text(fresh, encoding="utf-8")
    return fresh == current


def run(labs: list[Lab], check: bool, root: Path = REPO_ROOT) -> int:
    # The Go plugins (None: not installed): with them, the Go stubs are generated and,
    # with --check, compared like the Python ones.
    with_go = find_go_plugins()
    if any(lab.go_out for lab in labs):
        if not with_go:
            print("note: protoc-gen-go / protoc-gen-go-grpc not installed: Go stubs not "
                  f"{'checked' if check else 'generated'} (see cross_language/README.md)")
        else:
            for note in go_version_notes(with_go):
                print(note)
    try:
        if check:
            stale = [f for lab in labs for f in stale_files(lab, root, with_go)]
            if not update_readme(root, check=True):
                stale.append("README.md (lab table)")
            for name in stale:
                print(f"stale: {name}")
            if stale:
                print("Run `python -m labkit gen` to regenerate.", file=sys.stderr)
                return 1
            print(f"ok: {len(labs)} labs' protos and stubs are up to date")
            return 0
        for lab in labs:
            generate(lab, root / lab.name, with_go)
            print(f"generated: {lab.name}")
        update_readme(root, check=False)
        return 0
    except GenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
