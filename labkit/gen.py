"""`python -m labkit gen [--check] [LAB ...]`: keep every lab's stubs in step with its proto.

Which proto is the truth depends on the copy gen runs in:

- In the kit (this repository), the canonical `protos/<lab>/<file>.proto` is the one truth
  for instructors: gen copies it into the lab folder, then makes the stubs from the copy.
- In a student's copy, the lab folder belongs to the student: the proto in the lab folder
  is the truth, and gen never changes it (it only puts the original back where the lab's
  proto is missing). `python -m labkit starter` marks a student's copy with the file
  STUDENT_MARKER (labkit/STUDENT_COPY); gen looks for it.

Either way, gen copies each shared module that the index lists (from `labkit/lab_modules/`)
into its lab folder (in a student's copy only where it is missing: the lab's copy is the
student's), and protoc (the one bundled with grpcio-tools, run as the slides run it, from
the lab folder with `-I.`) writes the Python stubs into each of the lab's stub folders, and
the Go stubs when the lab has Go code and protoc-gen-go and protoc-gen-go-grpc are installed
(on PATH, or in `go install`'s folder, `$(go env GOPATH)/bin`, when that is not on PATH).
gen never throws an edit away unsaid: it remembers what it wrote into each lab (in
`.labkit-gen/`), and a copy that is no longer what it wrote (a proto or module edited in a
lab folder of the kit) is saved under `.labkit-gen/replaced/` before it is replaced, and gen
says so and how to keep the change.

`--check` changes nothing, names every stale file and exits 1 if there is one. It compares
what the stubs describe (labkit/stubs.py: the descriptor embedded in `*_pb2.py` and
`*.pb.go`, the RPCs of `*_pb2_grpc.py` and `*_grpc.pb.go`, the classes of `*_pb2.pyi`) with
the proto compiled now, not their bytes: stubs made by any compatible protoc or plugin
version pass, and the Go stubs are checked also where the Go plugins are not installed. In
the kit it also checks that each lab's proto and module copies are byte-identical to their
sources, and the README's lab table.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labkit import stubs
from labkit.labs import LAB_MODULES_DIR, LABS, REPO_ROOT, Lab

# Written by `python -m labkit starter` into the copy it makes: "this is a student's copy".
STUDENT_MARKER = Path("labkit") / "STUDENT_COPY"
# gen's own records, in the copy it works on (git ignores the folder): what it wrote into
# each lab (a hash per file), and the files it replaced that held edits of their own.
GEN_DIR = ".labkit-gen"
WRITTEN = f"{GEN_DIR}/written.json"
REPLACED_DIR = f"{GEN_DIR}/replaced"

GO_PLUGINS = ("protoc-gen-go", "protoc-gen-go-grpc")
# The versions the kit's checked-in Go stubs were generated with (their header names them),
# and how to install exactly those: cross_language/README.md and .ci/run use the same lines.
# Other versions make stubs that pass `--check` just as well; in the kit they would only
# change the stubs' headers.
GO_PLUGIN_VERSIONS = {"protoc-gen-go": "v1.36.12", "protoc-gen-go-grpc": "1.6.2"}
GO_PLUGIN_INSTALL = {
    "protoc-gen-go": "go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12",
    "protoc-gen-go-grpc": "go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2",
}


class GenError(RuntimeError):
    pass


@dataclass(frozen=True)
class Stale:
    """A file that does not match its source, and why."""

    path: str  # relative to the copy's root: "hello_world/hello_pb2.py"
    why: str
    go: bool = False  # a Go stub: regenerating it needs the Go plugins

    def __str__(self) -> str:
        return f"{self.path} ({self.why})"


def is_student_copy(root: Path = REPO_ROOT) -> bool:
    return (root / STUDENT_MARKER).is_file()


# --- the Go plugins -------------------------------------------------------------------------


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
    """One note per plugin whose version differs from the one of the kit's Go stubs."""
    notes = []
    for plugin, path in plugins.items():
        version = plugin_version(path)
        if version != GO_PLUGIN_VERSIONS[plugin]:
            notes.append(f"note: {path} is {plugin} {version}, the kit's Go stubs are made "
                         f"with {GO_PLUGIN_VERSIONS[plugin]} (regenerating changes their "
                         f"header): {GO_PLUGIN_INSTALL[plugin]}")
    return notes


# --- generating -----------------------------------------------------------------------------


def protoc(args: list[str], cwd: Path) -> None:
    """Run grpcio-tools' protoc (it adds the include path of the well-known types)."""
    done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", *args], cwd=cwd,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise GenError(f"protoc failed in {cwd}: {done.stderr.strip()}")


def python_args(lab: Lab, out: str | Path) -> list[str]:
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


def proto_source(lab: Lab, root: Path, student: bool) -> Path:
    """The proto that the lab's stubs are made from: the lab's own in a student's copy,
    the canonical one in the kit."""
    return root / lab.name / lab.proto if student else root / "protos" / lab.name / lab.proto


def rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def same_bytes(a: Path, b: Path) -> bool:
    return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def written(root: Path) -> dict[str, str]:
    """What gen last wrote into the labs: {path: sha256}."""
    try:
        return json.loads((root / WRITTEN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def remember_written(root: Path, targets: list[Path]) -> None:
    record = written(root)
    record.update({rel(target, root): digest(target) for target in targets})
    (root / GEN_DIR).mkdir(exist_ok=True)
    (root / WRITTEN).write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")


def save_replaced(target: Path, root: Path) -> Path:
    """Keep a copy of a file about to be replaced under .labkit-gen/replaced/ (a new name
    if an older save with other content is there already)."""
    saved = root / REPLACED_DIR / rel(target, root)
    number = 0
    while saved.exists() and saved.read_bytes() != target.read_bytes():
        number += 1
        saved = saved.with_name(f"{target.name}.{number}")
    saved.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target, saved)
    return saved


def copy_in(source: Path, target: Path, root: Path, lab: Lab) -> list[str]:
    """Copy source to target, and remember what was written. A target that differs and is
    not what gen last wrote there holds an edit: it is saved first, and said so. The
    messages to print."""
    if not source.is_file():
        raise GenError(f"{lab.name}: {rel(source, root)} is missing")
    if same_bytes(source, target):
        remember_written(root, [target])
        return []
    messages = []
    if target.is_file() and written(root).get(rel(target, root)) != digest(target):
        saved = save_replaced(target, root)
        messages = [f"replaced {rel(target, root)}: it differed from {rel(source, root)}. The "
                    f"replaced version is saved as {rel(saved, root)}; to keep its changes, "
                    f"make them in {rel(source, root)} and run `python -m labkit gen "
                    f"{lab.name}` again."]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    remember_written(root, [target])
    return messages


def generate(lab: Lab, root: Path, student: bool, with_go: dict[str, Path] | None) -> list[str]:
    """Bring the lab's proto copy, module copies and stubs under `root` up to date; the
    messages to print."""
    lab_dir = root / lab.name
    canonical = root / "protos" / lab.name / lab.proto
    messages: list[str] = []
    if not student:
        messages += copy_in(canonical, lab_dir / lab.proto, root, lab)
    elif not (lab_dir / lab.proto).is_file():
        messages += copy_in(canonical, lab_dir / lab.proto, root, lab)
        messages.append(f"{lab.name}/{lab.proto} was missing: the original is back")
    for module, folder in lab.modules:
        target = lab_dir / folder / module
        if not student or not target.is_file():
            messages += copy_in(LAB_MODULES_DIR / module, target, root, lab)
        elif not same_bytes(LAB_MODULES_DIR / module, target):
            messages.append(f"note: {rel(target, root)} differs from labkit/lab_modules/"
                            f"{module}: kept yours (to take the kit's, delete it and run gen "
                            "again)")
    for out in lab.python_out:
        (lab_dir / out).mkdir(parents=True, exist_ok=True)
        protoc(python_args(lab, out), cwd=lab_dir)
    if with_go and lab.go_out:
        (lab_dir / lab.go_out).mkdir(parents=True, exist_ok=True)
        protoc(go_args(lab, with_go), cwd=lab_dir)
    return messages


# --- checking -------------------------------------------------------------------------------


def compare(lab: Lab, path: Path, root: Path, expected: stubs.Description,
            describe: Callable[[str, str], stubs.Description], go: bool = False) -> list[Stale]:
    """A stub against the description of the proto: [] when they agree."""
    name = rel(path, root)
    if not path.is_file():
        return [Stale(name, "missing", go)]
    try:
        actual = describe(path.read_text(encoding="utf-8"), name)
    except (stubs.StubError, UnicodeDecodeError) as error:
        return [Stale(name, str(error).removeprefix(f"{name}: "), go)]
    differ = stubs.differences(expected, actual)
    if not differ:
        return []
    shown = ", ".join(differ[:3]) + (", ..." if len(differ) > 3 else "")
    verb = "differs" if len(differ) == 1 else "differ"
    return [Stale(name, f"does not match {lab.proto}: {shown} {verb}", go)]


def stub_findings(lab: Lab, root: Path, source: Path) -> list[Stale]:
    """The lab's Python and Go stubs that do not describe `source`, the proto they must
    match: each is compared with the Python stubs generated from it now."""
    stem = lab.proto.removesuffix(".proto")
    with tempfile.TemporaryDirectory(prefix="labkit-gen-") as scratch:
        protoc(python_args(lab, scratch), cwd=source.parent)
        fresh = {p.name: p.read_text(encoding="utf-8") for p in Path(scratch).iterdir()}
    describers = {"_pb2.py": stubs.describe_pb2, "_pb2.pyi": stubs.describe_pyi}
    if lab.grpc_stubs:
        describers["_pb2_grpc.py"] = stubs.describe_python_grpc
    stale: list[Stale] = []
    for suffix, describe in describers.items():
        expected = describe(fresh[stem + suffix], f"{stem}{suffix} (fresh)")
        for out in lab.python_out:
            stale += compare(lab, root / lab.name / out / f"{stem}{suffix}", root, expected,
                             describe)
    if lab.go_out:
        # No Go plugin needed: the Go stubs embed the same descriptor.
        file = stubs.python_descriptor(fresh[f"{stem}_pb2.py"])
        pb_go, *grpc_go = (root / lab.name / lab.go_out / p for p in stubs.go_stub_paths(file))
        stale += compare(lab, pb_go, root, stubs.describe_file(file), stubs.describe_pb_go,
                         go=True)
        for path in grpc_go:
            stale += compare(lab, path, root, stubs.expected_go_grpc(file),
                             stubs.describe_go_grpc, go=True)
    return stale


def check_lab(lab: Lab, root: Path, student: bool) -> tuple[list[Stale], list[Stale]]:
    """What is stale in one lab under `root`, and notes: in a student's copy, the files
    that differ from their originals on purpose (nothing to fix)."""
    lab_dir = root / lab.name
    canonical = root / "protos" / lab.name / lab.proto
    stale: list[Stale] = []
    notes: list[Stale] = []
    source = proto_source(lab, root, student)
    if student and not source.is_file():
        # gen puts the original back; the stubs must match that one then.
        stale.append(Stale(f"{lab.name}/{lab.proto}", "missing"))
        source = canonical
    if not source.is_file():
        raise GenError(f"{lab.name}: {rel(source, root)} is missing")
    copy = lab_dir / lab.proto
    if not student and not same_bytes(source, copy):
        why = f"differs from {rel(source, root)}" if copy.is_file() else "missing"
        stale.append(Stale(rel(copy, root), why))
    elif student and canonical.is_file() and not same_bytes(source, canonical):
        notes.append(Stale(rel(source, root), f"differs from the original "
                           f"{rel(canonical, root)}: the stubs follow yours"))
    for module, folder in lab.modules:
        target = lab_dir / folder / module
        if not target.is_file():
            stale.append(Stale(rel(target, root), "missing"))
        elif not same_bytes(LAB_MODULES_DIR / module, target):
            why = f"differs from labkit/lab_modules/{module}"
            if student:
                notes.append(Stale(rel(target, root), f"{why}: the lab uses yours"))
            else:
                stale.append(Stale(rel(target, root), why))
    stale += stub_findings(lab, root, source)
    return stale, notes


def check_labs(labs: list[Lab], root: Path = REPO_ROOT) -> tuple[list[Stale], list[Stale]]:
    """Every stale file of these labs (and, in the kit, of the README's table), and notes."""
    student = is_student_copy(root)
    stale: list[Stale] = []
    notes: list[Stale] = []
    for lab in labs:
        lab_stale, lab_notes = check_lab(lab, root, student)
        stale += lab_stale
        notes += lab_notes
    if not student and not update_readme(root, check=True):
        stale.append(Stale("README.md", "its lab table or rubric differs from labkit/labs.py"))
    return stale, notes


# --- the README's table of labs -------------------------------------------------------------

README_BEGIN = "<!-- lab table: written by `python -m labkit gen` from labkit/labs.py -->"
README_END = "<!-- end of lab table -->"


def command_line(lab: Lab, name: str) -> str:
    proc = lab.process(name)
    cd = f"cd {lab.name}/{proc.cwd}".rstrip("/.")
    built = "" if proc.command[0] in ("python", "go") else " (once built: see its README)"
    return f"`{cd} && {' '.join(proc.command)}`{built}"


def readme_table(labs: tuple[Lab, ...] | list[Lab] = LABS) -> str:
    """The README's table of labs, made from the index."""
    rows = ["| Lab | What it teaches | Run (each in its own terminal) | Ports |",
            "| --- | --- | --- | --- |"]
    for lab in labs:
        run_lines = "<br>".join(command_line(lab, proc.name) for proc in lab.processes)
        ports = sorted({lab.port, *(proc.port for proc in lab.processes)} - {None})
        rows.append(f"| [{lab.name}]({lab.name}/README.md) | {lab.title} | {run_lines} "
                    f"| {', '.join(map(str, ports)) or '-'} |")
    return "\n".join(rows)


RUBRIC_BEGIN = "<!-- rubric: written by `python -m labkit gen` from labkit/labs.py -->"
RUBRIC_END = "<!-- end of rubric -->"


def rubric_table(labs: tuple[Lab, ...] | list[Lab] = LABS) -> str:
    """The README's table of every lab's rubric, made from the index."""
    rows = ["| Lab | Item | Points | What it asks |", "| --- | --- | ---: | --- |"]
    for lab in labs:
        for item in lab.rubric:
            marks = [word for word, on in (("central", item.central), ("hidden", item.hidden))
                     if on]
            name = f"{item.name} ({', '.join(marks)})" if marks else item.name
            rows.append(f"| {lab.name} | {name} | {item.points:g} | {item.about} |")
        rows.append(f"| {lab.name} | **total** | **{lab.points:g}** | |")
    return "\n".join(rows)


def _replace_block(text: str, begin: str, end: str, body: str) -> str:
    start, stop = text.index(begin), text.index(end)
    return text[: start + len(begin)] + "\n" + body + "\n" + text[stop:]


def readme_with_table(readme: str, labs: tuple[Lab, ...] | list[Lab] = LABS) -> str:
    """The README with its generated tables up to date: the labs, and the rubric where the
    README has a place for it (the kit's own, for instructors)."""
    readme = _replace_block(readme, README_BEGIN, README_END, readme_table(labs))
    if RUBRIC_BEGIN in readme:
        readme = _replace_block(readme, RUBRIC_BEGIN, RUBRIC_END, rubric_table(labs))
    return readme


def update_readme(root: Path, check: bool) -> bool:
    """Write (or, with check, compare) the README's lab table; True if it was up to date."""
    path = root / "README.md"
    current = path.read_text(encoding="utf-8")
    fresh = readme_with_table(current)
    if not check and fresh != current:
        path.write_text(fresh, encoding="utf-8")
    return fresh == current


# --- the command ----------------------------------------------------------------------------


def run(labs: list[Lab], check: bool, root: Path = REPO_ROOT) -> int:
    student = is_student_copy(root)
    try:
        if check:
            return report_check(labs, root, student)
        # The Go plugins (None: not installed): with them, the Go stubs are generated too.
        with_go = find_go_plugins() if any(lab.go_out for lab in labs) else None
        if any(lab.go_out for lab in labs):
            if not with_go:
                print("note: protoc-gen-go / protoc-gen-go-grpc not installed: Go stubs not "
                      "generated (see cross_language/README.md)")
            elif not student:
                for note in go_version_notes(with_go):
                    print(note)
        for lab in labs:
            for message in generate(lab, root, student, with_go):
                print(message)
            made_from = f"{lab.name}/{lab.proto}" if student else \
                f"protos/{lab.name}/{lab.proto}"
            print(f"generated: {lab.name} (stubs from {made_from})")
        if not student:
            update_readme(root, check=False)
        return 0
    except GenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def report_check(labs: list[Lab], root: Path, student: bool) -> int:
    stale, notes = check_labs(labs, root)
    for note in notes:
        print(f"note: {note.path} {note.why}")
    for item in stale:
        print(f"stale: {item}")
    if not stale:
        what = "stubs match their protos" if student else "protos and stubs are up to date"
        print(f"ok: {len(labs)} lab(s): {what}")
        return 0
    if student:
        print("Run `python -m labkit gen` to make the stubs from your labs' protos (it does "
              "not change the protos), or the slides' protoc command in the lab folder.",
              file=sys.stderr)
    else:
        print("Run `python -m labkit gen` to regenerate.", file=sys.stderr)
    if any(item.go for item in stale) and find_go_plugins() is None:
        print("The Go stubs need protoc-gen-go and protoc-gen-go-grpc: "
              + " && ".join(GO_PLUGIN_INSTALL.values()), file=sys.stderr)
    return 1
