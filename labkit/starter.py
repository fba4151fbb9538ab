"""`python -m labkit starter DEST [--lab NAME ...]`: the copy of the kit that students start from.

The reference code marks what students must write with solution regions:

    def SayHello(self, request, context):
        # BEGIN SOLUTION Build a HelloReply whose message greets request.name.
        ...
        # END SOLUTION

(`//` instead of `#` in Go and C++), both marker lines at the same indentation, enclosing
whole statements inside one function body. The starter copy replaces every region with a
TODO comment holding the prompt and one statement that fails clearly:

- Python, in a servicer method (a method with a `context` parameter, in a class deriving
  from a generated `*Servicer`): `context.abort(grpc.StatusCode.UNIMPLEMENTED, "TODO: ...")`,
  so that the server starts and serves, and a client sees UNIMPLEMENTED;
- Python, anywhere else: `raise NotImplementedError("TODO: <prompt>")`: the lab's shared
  modules turn it into one line, never a traceback (a server answers UNIMPLEMENTED with it,
  a client or script prints it and exits 1);
- Go: `panic("TODO: <prompt>")`;
- C++, in a method that takes a `ServerContext`: `return ::grpc::Status(UNIMPLEMENTED, ...)`;
  elsewhere: `throw std::logic_error("TODO: ...")`.

Only the code of the lab folders is rewritten (generated stubs never), and the kit's
README.md becomes one written for students (labkit/student_readme.md, with a table of the
copy's labs); everything else (protos, stubs, the labs' READMEs, labkit, the lab tests) is
copied byte for byte. The copy is marked as a student's with labkit/STUDENT_COPY: there,
`labkit gen` takes each lab's own proto for the truth (see labkit/gen.py). Not copied: .git,
caches, build folders, whatever the kit's .gitignore ignores, .ci, and the tests of
labkit itself (they test the reference, not a lab). Every rewritten Python file must still
parse; unbalanced or misplaced markers stop the copy with the file and line.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from labkit import gen
from labkit.labs import LABS, REPO_ROOT, Lab, Process

MARKER_RE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<comment>#|//)[ \t]*(?P<kind>BEGIN|END)[ \t]+SOLUTION\b[ \t]*"
    r"(?P<prompt>.*?)[ \t]*$"
)
# Any line that mentions a marker: caught when it is not a well-formed marker line.
LOOSE_MARKER_RE = re.compile(r"(#|//)\s*(BEGIN|END)[ _]SOLUTION", re.IGNORECASE)

COMMENT_OF = {".py": "#", ".go": "//", ".cc": "//", ".cpp": "//", ".cxx": "//",
              ".h": "//", ".hh": "//", ".hpp": "//"}
GENERATED = ("*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py", "*.pb.go", "*.pb.cc", "*.pb.h")
# Never copied, wherever they are (on top of the kit's .gitignore).
SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", "build",
             ".venv", "venv", ".idea", ".vscode", ".ci"}
SKIP_DIR_PATTERNS = ("cmake-build-*",)
SKIP_FILES = ("*.pyc", "*.pyo", ".DS_Store")

DEFAULT_PROMPT = "write this part"


class StarterError(Exception):
    """A solution region that cannot be turned into starter code (file and line named)."""


@dataclass(frozen=True)
class Region:
    path: str  # as given, for messages
    begin: int  # 0-based index of the BEGIN line
    end: int  # 0-based index of the END line
    indent: str
    prompt: str


@dataclass
class Report:
    """What a starter copy did: regions replaced per lab, files written."""

    dest: Path
    labs: list[Lab]
    regions: dict[str, list[Region]] = field(default_factory=dict)  # lab name -> regions
    warnings: list[str] = field(default_factory=list)

    def count(self, lab: str | None = None) -> int:
        if lab is not None:
            return len(self.regions.get(lab, []))
        return sum(len(regions) for regions in self.regions.values())


# --- finding regions --------------------------------------------------------------------


def find_regions(text: str, path: str, comment: str | None = None) -> list[Region]:
    """The solution regions of a file, checked: balanced, not nested, same indentation,
    the file's comment style."""
    regions: list[Region] = []
    open_at: re.Match[str] | None = None
    open_line = -1
    text_lines = text.splitlines()
    for number, line in enumerate(text_lines):
        match = MARKER_RE.match(line)
        if match is None:
            if LOOSE_MARKER_RE.search(line) and line.lstrip().startswith(("#", "//")):
                raise StarterError(f"{path}:{number + 1}: malformed solution marker "
                                   f"{line.strip()!r} (write '# BEGIN SOLUTION <prompt>' or "
                                   "'# END SOLUTION')")
            continue
        if comment is not None and match["comment"] != comment:
            raise StarterError(f"{path}:{number + 1}: this file's comments start with {comment!r}:"
                               f" {line.strip()!r}")
        if match["kind"] == "BEGIN":
            if open_at is not None:
                raise StarterError(f"{path}:{number + 1}: BEGIN SOLUTION inside the region opened "
                                   f"on line {open_line + 1} (regions cannot nest)")
            open_at, open_line = match, number
            continue
        if open_at is None:
            raise StarterError(f"{path}:{number + 1}: END SOLUTION without a BEGIN SOLUTION")
        if match["indent"] != open_at["indent"]:
            raise StarterError(f"{path}:{number + 1}: END SOLUTION is not indented as the "
                               f"BEGIN SOLUTION of line {open_line + 1}")
        width = len(open_at["indent"].expandtabs())
        for inside in range(open_line + 1, number):
            body = text_lines[inside]
            if body.strip() and len(body.expandtabs()) - len(body.expandtabs().lstrip()) < width:
                raise StarterError(f"{path}:{inside + 1}: a line of the region opened on line "
                                   f"{open_line + 1} is indented less than the markers")
        regions.append(Region(path, open_line, number, open_at["indent"],
                              open_at["prompt"].strip()))
        open_at = None
    if open_at is not None:
        raise StarterError(f"{path}:{open_line + 1}: BEGIN SOLUTION without an END SOLUTION")
    return regions


# --- what replaces a region ---------------------------------------------------------------


def quoted(text: str) -> str:
    """A double-quoted string literal, valid in Python, Go and C++ (one line of text)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _servicer_classes(tree: ast.Module) -> set[str]:
    """Names of the module's classes that derive (maybe through each other) from a
    generated `*Servicer` class."""
    classes = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, node in classes.items():
            if name in found:
                continue
            for base in node.bases:
                base_name = (base.attr if isinstance(base, ast.Attribute)
                             else getattr(base, "id", ""))
                if base_name.endswith("Servicer") or base_name in found:
                    found.add(name)
                    changed = True
                    break
    return found


def _functions_with_class(tree: ast.Module):
    """(function node, class node or None) for every function, the class being the one
    whose body holds the function directly (a method)."""
    def visit(node: ast.AST, cls: ast.ClassDef | None):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield child, cls
                yield from visit(child, None)
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, child)
            else:
                yield from visit(child, cls if isinstance(node, ast.ClassDef) else None)
    yield from visit(tree, None)


def _imports_grpc(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.Import) and any(a.name == "grpc" and a.asname is None
                                                    for a in node.names)
               for node in tree.body)


def python_replacements(text: str, path: str, regions: list[Region]) -> list[list[str]]:
    """The lines that replace each region of a Python file."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as error:
        raise StarterError(f"{path}:{error.lineno}: the reference code does not parse: "
                           f"{error.msg}") from None
    lines = text.splitlines()
    servicers = _servicer_classes(tree)
    functions = list(_functions_with_class(tree))
    grpc_imported = _imports_grpc(tree)
    out = []
    for region in regions:
        code_lines = [n + 1 for n in range(region.begin + 1, region.end)
                      if lines[n].strip() and not lines[n].strip().startswith("#")]
        first = code_lines[0] if code_lines else region.begin + 1
        last = code_lines[-1] if code_lines else region.begin + 1
        enclosing = [(fn, cls) for fn, cls in functions
                     if fn.body[0].lineno <= first and last <= (fn.end_lineno or 0)
                     and fn.lineno < region.begin + 1]
        if not enclosing:
            raise StarterError(f"{path}:{region.begin + 1}: solution region outside a function "
                               "body (regions must enclose statements inside one function)")
        fn, cls = max(enclosing, key=lambda pair: pair[0].lineno)  # the innermost
        prompt = region.prompt or f"{DEFAULT_PROMPT} ({fn.name})"
        arg_names = {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]}
        indent = region.indent
        replacement = [f"{indent}# TODO: {prompt}"]
        if cls is not None and cls.name in servicers and "context" in arg_names:
            if not grpc_imported:
                replacement.append(f"{indent}import grpc")
            wait = "await " if isinstance(fn, ast.AsyncFunctionDef) else ""
            replacement.append(f"{indent}{wait}context.abort(grpc.StatusCode.UNIMPLEMENTED, "
                               f"{quoted('TODO: ' + prompt)})")
        else:
            replacement.append(f"{indent}raise NotImplementedError({quoted('TODO: ' + prompt)})")
        out.append(replacement)
    return out


def go_replacements(text: str, path: str, regions: list[Region]) -> list[list[str]]:
    return [[f"{r.indent}// TODO: {r.prompt or DEFAULT_PROMPT}",
             f"{r.indent}panic({quoted('TODO: ' + (r.prompt or DEFAULT_PROMPT))})"]
            for r in regions]


def _cpp_signature(lines: list[str], region: Region) -> str:
    """The header of the C++ function around a region: the lines above it, back to the
    first one indented less than the region that opens a parameter list."""
    width = len(region.indent.expandtabs())
    collected: list[str] = []
    for line in reversed(lines[:region.begin]):
        collected.append(line)
        stripped = line.strip()
        if stripped and len(line) - len(line.lstrip()) < width and "(" in stripped \
                and not stripped.startswith(("if", "for", "while", "switch", "}")):
            break
    return " ".join(reversed(collected))


def cpp_replacements(text: str, path: str, regions: list[Region]) -> list[list[str]]:
    lines = text.splitlines()
    out = []
    for region in regions:
        prompt = region.prompt or DEFAULT_PROMPT
        todo = quoted("TODO: " + prompt)
        signature = _cpp_signature(lines, region)
        if "ServerContext" in signature and "Status" in signature:
            statement = (f"return ::grpc::Status(::grpc::StatusCode::UNIMPLEMENTED, {todo});")
        else:
            statement = f"throw std::logic_error({todo});"
        out.append([f"{region.indent}// TODO: {prompt}", f"{region.indent}{statement}"])
    return out


def replace_regions(text: str, path: str) -> tuple[str, list[Region]]:
    """The starter version of a source file, and its regions. Raises StarterError."""
    suffix = PurePosixPath(path).suffix
    comment = COMMENT_OF.get(suffix)
    regions = find_regions(text, path, comment)
    if not regions:
        return text, []
    if suffix == ".py":
        replacements = python_replacements(text, path, regions)
    elif suffix == ".go":
        replacements = go_replacements(text, path, regions)
    else:
        replacements = cpp_replacements(text, path, regions)
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    result: list[str] = []
    position = 0
    for region, replacement in zip(regions, replacements, strict=True):
        result.extend(lines[position:region.begin])
        result.extend(line + newline for line in replacement)
        position = region.end + 1
    result.extend(lines[position:])
    starter = "".join(result)
    if suffix == ".py":
        try:
            compile(starter, path, "exec", dont_inherit=True)
        except SyntaxError as error:
            raise StarterError(
                f"{path}:{error.lineno}: the starter version does not parse ({error.msg}): "
                "do the regions enclose whole statements of one function body?") from None
    return starter, regions


# --- what is copied -------------------------------------------------------------------------


def gitignore_patterns(root: Path) -> list[str]:
    path = root / ".gitignore"
    if not path.is_file():
        return []
    patterns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            patterns.append(line)
    return patterns


def ignored(rel: PurePosixPath, is_dir: bool, patterns: list[str]) -> bool:
    """Whether the kit does not ship this path (a simple reading of .gitignore)."""
    if is_dir and (rel.name in SKIP_DIRS or any(fnmatch.fnmatch(rel.name, p)
                                                for p in SKIP_DIR_PATTERNS)):
        return True
    if not is_dir and any(fnmatch.fnmatch(rel.name, p) for p in SKIP_FILES):
        return True
    for pattern in patterns:
        dir_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        if dir_only and not is_dir:
            continue
        if "/" in pattern:
            if fnmatch.fnmatch(str(rel), pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatch(rel.name, pattern):
            return True
    return False


def module_lab(path: Path) -> str | None:
    """The LAB a test module names (read without importing it), or None."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "LAB"
                                                for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    return None


def lab_test_files(labs: Iterable[Lab], root: Path = REPO_ROOT) -> list[Path]:
    """The test modules of these labs (those whose LAB names one of them)."""
    names = {lab.name for lab in labs}
    return sorted(path for path in (root / "tests").glob("test_*.py")
                  if module_lab(path) in names)


def wanted(rel: PurePosixPath, is_dir: bool, root: Path, labs: list[Lab]) -> bool:
    """Whether a path of the kit belongs in a starter copy of `labs`."""
    names = {lab.name for lab in labs}
    all_labs = {lab.name for lab in LABS}
    top = rel.parts[0]
    if top in all_labs:
        return top in names
    if top == "protos" and len(rel.parts) > 1:
        return rel.parts[1] in names or rel.parts[1] not in all_labs
    if top == "tests" and len(rel.parts) == 2 and not is_dir \
            and fnmatch.fnmatch(rel.name, "test_*.py"):
        return module_lab(root / rel) in names  # tests of labkit itself: not copied
    # Hidden tests are seen once grades are published; the mutants list the mistakes the
    # tests look for: neither goes to students.
    if rel.parts[:2] in (("tests", "hidden"), ("labkit", "mutants")):
        return False
    return True


def is_source(rel: PurePosixPath) -> bool:
    return rel.suffix in COMMENT_OF and not any(fnmatch.fnmatch(rel.name, g) for g in GENERATED)


def check_parse_go(path: Path) -> str | None:
    """gofmt's complaint about a Go file, if gofmt is here and has one."""
    gofmt = shutil.which("gofmt")
    if gofmt is None:
        return None
    done = subprocess.run([gofmt, "-e", "-l", str(path)], capture_output=True, text=True)
    return (done.stderr.strip() or "gofmt failed") if done.returncode != 0 else None


# --- what is written for students -----------------------------------------------------------

STUDENT_README = Path(__file__).with_name("student_readme.md")
STUDENT_MARKER_TEXT = """\
This folder is a student's copy of gRPC Lab Kit, written by `python -m labkit starter`.
Here each lab folder belongs to the student: `python -m labkit gen` makes a lab's stubs
from the .proto in the lab folder and never changes it (in the kit itself, protos/ is
the truth and gen copies it into the labs). Delete this file to make gen work as in the kit.
"""
ONLY_WITH_RE = re.compile(r"<!-- only with (?P<lab>\w+) -->\n(?P<body>.*?)<!-- end -->\n", re.S)


def student_readme(labs: list[Lab]) -> str:
    """The README.md of a starter copy: the template, with a table of these labs and
    without the sections of labs that are not in the copy."""
    names = {lab.name for lab in labs}
    text = STUDENT_README.read_text(encoding="utf-8")
    text = ONLY_WITH_RE.sub(lambda m: m["body"] if m["lab"] in names else "", text)
    return text.replace("<!-- the labs -->", gen.readme_table(labs))


def first_process(lab: Lab) -> Process:
    """The program a student starts first in a lab: its first one that runs as it is
    (a C++ server must be built first)."""
    runnable = [proc for proc in lab.processes if proc.command[0] in ("python", "go")]
    return (runnable or list(lab.processes))[0]


def make_starter(dest: Path, labs: list[Lab] | None = None, root: Path = REPO_ROOT) -> Report:
    """Write the starter copy of `labs` (default: all) under `dest`, which must not exist
    or be empty. Raises StarterError, leaving nothing half-written behind."""
    labs = list(labs) if labs else list(LABS)
    dest = Path(dest).resolve()
    root = Path(root).resolve()
    if dest == root or root in dest.parents:
        raise StarterError(f"{dest} is inside the kit ({root}): choose a folder outside it")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StarterError(f"{dest} exists and is not empty: choose a new folder")
    missing = [lab.name for lab in labs if not (root / lab.name).is_dir()]
    if missing:
        raise StarterError(f"no lab folder {', '.join(missing)} in {root}")
    report = Report(dest, labs, {lab.name: [] for lab in labs})
    patterns = gitignore_patterns(root)
    lab_names = {lab.name for lab in labs}
    planned: list[tuple[Path, PurePosixPath, str | None]] = []  # (source, rel, new text)

    for folder, dirnames, filenames in os.walk(root):
        here = PurePosixPath(Path(folder).relative_to(root).as_posix())
        dirnames[:] = sorted(d for d in dirnames
                             if not ignored(here / d, True, patterns)
                             and wanted(here / d, True, root, labs))
        for filename in sorted(filenames):
            rel = here / filename
            if ignored(rel, False, patterns) or not wanted(rel, False, root, labs):
                continue
            source = Path(folder) / filename
            new_text = None
            if rel.parts[0] in lab_names and is_source(rel):
                text = source.read_text(encoding="utf-8")
                new_text, regions = replace_regions(text, str(rel))
                report.regions[rel.parts[0]].extend(regions)
                if not regions:
                    new_text = None
            elif rel.parts[0] in lab_names and rel.suffix not in (".md", ".txt"):
                try:
                    text = source.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    text = ""
                if any(MARKER_RE.match(line) for line in text.splitlines()):
                    report.warnings.append(f"{rel}: solution markers in a file the starter "
                                           "does not rewrite: copied as it is")
            if rel == PurePosixPath("README.md"):
                new_text = student_readme(labs)
            planned.append((source, rel, new_text))

    # Everything checked: now write.
    dest.mkdir(parents=True, exist_ok=True)
    try:
        for source, rel, new_text in planned:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if new_text is None:
                shutil.copy2(source, target)
            else:
                with open(target, "w", encoding="utf-8", newline="") as out:
                    out.write(new_text)
                shutil.copymode(source, target)
                if rel.suffix == ".go":
                    problem = check_parse_go(target)
                    if problem:
                        raise StarterError(f"{rel}: the starter version does not parse: {problem}")
        (dest / gen.STUDENT_MARKER).write_text(STUDENT_MARKER_TEXT, encoding="utf-8")
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return report


def run(dest: str, labs: list[Lab] | None = None) -> int:
    """The `starter` command: write the copy, say what was replaced."""
    try:
        report = make_starter(Path(dest), labs)
    except StarterError as error:
        print(f"error: {error}")
        return 1
    for warning in report.warnings:
        print(f"warning: {warning}")
    for lab in report.labs:
        regions = report.regions[lab.name]
        files = sorted({r.path for r in regions})
        where = ", ".join(f"{PurePosixPath(f).relative_to(lab.name)}" for f in files) or "-"
        print(f"{lab.name}: {len(regions)} solution region(s) replaced ({where})")
        if not regions:
            print(f"warning: {lab.name} has no solution regions: its starter is the reference")
    print(f"Starter copy written to {report.dest}, with a README.md for students. Each lab "
          "runs in it as its README says, starting with:")
    width = max(len(lab.name) for lab in report.labs)
    for lab in report.labs:
        proc = first_process(lab)
        folder = (report.dest / lab.name / proc.cwd).resolve()
        print(f"  {lab.name:<{width}}  cd {folder} && {' '.join(proc.command)}")
    return 0
