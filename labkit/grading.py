"""Grading: each lab's rubric, scored from the lab tests, for a student and for Gradescope.

    pytest --lab-root=DIR --grade                    # each lab's rubric: earned, missed, why
    pytest --lab-root=DIR --grade-json results.json  # Gradescope's results.json as well
    python -m labkit grade SUBMISSIONS --csv class.csv [-j 2]   # a whole class

The rubric of every lab lives in the index (labkit/labs.py): named items with points, each
earned when all the tests it names pass. A lab test no item names is a 0-point check (it
checks what the kit gives: a server that starts and stops, a client without a server);
reports show it as such.

Trust: the grading process imports nothing of the submission. Its tests, labkit and stubs
are the kit's own (labkit.protocol builds messages from the kit's protos); lab programs run
as processes in the sandbox (labkit/sandbox.py), which also kills whatever they leave
behind before any result is written. `labkit grade` runs the kit's own test files with the
kit's own configuration against each submission.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labkit.labs import LABS, REPO_ROOT, Item, Lab, get_lab
from labkit.plugin import lab_roots

GRADE_TIMEOUT = 30.0  # seconds per test while grading (pyproject's 60 s is for development)
STUDENT_TIMEOUT = 900.0  # seconds for one student's whole run in `labkit grade`
TESTS_DIR = REPO_ROOT / "tests"
HIDDEN_DIR = "hidden"  # tests/hidden/: tests the starter copy does not ship


def fmt(points: float) -> str:
    return f"{points:g}"


# --- which test belongs to which lab and item --------------------------------------------


def lab_of_module(path: Path, tests_dir: Path = TESTS_DIR) -> Lab | None:
    """The lab whose index entry lists this test module (a path under tests/)."""
    try:
        rel = path.resolve().relative_to(tests_dir.resolve()).as_posix()
    except ValueError:
        return None
    for lab in LABS:
        if rel in lab.tests:
            return lab
    return None


def item_matches(item: Item, function: str) -> bool:
    return any(fnmatch.fnmatchcase(function, pattern) for pattern in item.tests)


def items_of(lab: Lab, function: str) -> list[Item]:
    return [item for item in lab.rubric if item_matches(item, function)]


def lab_test_files(labs: list[Lab], kit: Path = REPO_ROOT, hidden: bool = True) -> list[Path]:
    """The test modules of these labs in a kit (hidden ones too, unless told otherwise)."""
    files = []
    for lab in labs:
        for rel in lab.tests:
            if hidden or not rel.startswith(HIDDEN_DIR + "/"):
                path = kit / "tests" / rel
                if path.is_file():
                    files.append(path)
    return files


# --- results of one run --------------------------------------------------------------------


@dataclass
class TestResult:
    nodeid: str
    lab: str
    function: str  # without parameters
    outcome: str = "not run"  # passed, failed, skipped, not run
    text: str = ""  # what went wrong (labkit.feedback), or the skip reason
    duration: float = 0.0


@dataclass
class ItemResult:
    lab: str
    item: Item
    tests: list[TestResult]

    @property
    def earned(self) -> bool:
        return bool(self.tests) and all(t.outcome == "passed" for t in self.tests)

    @property
    def score(self) -> float:
        return self.item.points if self.earned else 0

    def why(self) -> str:
        """Why the item was missed, in a few lines: the first failing test's message and,
        when a lab program crashed, where in the student's code."""
        if not self.tests:
            return "Its tests did not run (not selected, or their module could not be loaded)."
        for test in self.tests:
            if test.outcome == "passed":
                continue
            if test.outcome == "skipped":
                return f"Skipped: {test.text} (a skipped test earns no points)."
            if test.outcome == "not run":
                return "Not run: the grading run stopped before this test."
            return summary(test.text)
        return ""

    def output(self) -> str:
        """Everything about the item for results.json: each test and what went wrong."""
        lines = [self.item.about]
        for test in self.tests:
            lines.append(f"\n[{test.outcome}] {test.function}"
                         + (f" ({test.nodeid.rpartition('[')[2].rstrip(']')})"
                            if "[" in test.nodeid else ""))
            if test.outcome != "passed" and test.text:
                lines.append(test.text)
        return "\n".join(lines)


def summary(text: str, lines: int = 3) -> str:
    """The first line of a failure text, and where a traceback in it points into the
    student's code (a relative path: labkit.feedback shows lab files that way), with the
    exception raised there; what the first line already says is not said again."""
    all_lines = text.strip().splitlines()
    head = all_lines[0] if all_lines else "failed"
    where = [line.strip() for line in all_lines
             if re.match(r'\s*File "(?!/)[^"]+", line \d+', line)]
    crash = []
    if where and where[-1] not in head:
        exception = next((line.strip() for line in reversed(all_lines)
                          if re.match(r"\s*\w+(Error|Exception|Interrupt|Exit)\b", line)), "")
        crash = [where[-1], *([exception] if exception and exception not in head else [])]
    return "\n".join([head, *crash][:lines])


@dataclass
class LabResult:
    lab: Lab
    tests: list[TestResult]

    def items(self) -> list[ItemResult]:
        return [ItemResult(self.lab.name, item,
                           [t for t in self.tests if item_matches(item, t.function)])
                for item in self.lab.rubric]

    def checks(self) -> list[TestResult]:
        """The 0-point tests: named by no item."""
        return [t for t in self.tests if not items_of(self.lab, t.function)]

    @property
    def score(self) -> float:
        return sum(i.score for i in self.items())

    @property
    def possible(self) -> float:
        return self.lab.points


def lab_results(tests: list[TestResult]) -> list[LabResult]:
    order = [lab.name for lab in LABS]
    names = sorted({t.lab for t in tests}, key=order.index)
    return [LabResult(get_lab(name), [t for t in tests if t.lab == name]) for name in names]


# --- reports --------------------------------------------------------------------------------


def text_report(results: list[LabResult], detail: bool = True) -> list[str]:
    """The grade report a student reads in a terminal."""
    lines = []
    for lab in results:
        lines.append(f"{lab.lab.name}: {fmt(lab.score)} of {fmt(lab.possible)} points")
        for item in lab.items():
            mark = "earned" if item.earned else "missed"
            hidden = " (hidden test)" if item.item.hidden else ""
            lines.append(f"  {mark} {fmt(item.item.points):>3}  {item.item.name}: "
                         f"{item.item.about}{hidden}")
            if not item.earned and detail:
                # One line each, so that even an untouched starter's report stays short:
                # the full text of every failure is in pytest's output and results.json.
                lines.append("             " + " | ".join(item.why().splitlines()))
        checks = lab.checks()
        if checks:
            failed = [t for t in checks if t.outcome != "passed"]
            lines.append(f"  0-point checks (not graded; what the kit gives): "
                         f"{len(checks) - len(failed)} of {len(checks)} passed"
                         + "".join(f"\n             failed: {t.function}: "
                                   f"{summary(t.text, 1)}" for t in failed))
    total = sum(r.score for r in results)
    possible = sum(r.possible for r in results)
    lines.append(f"total: {fmt(total)} of {fmt(possible)} points")
    return lines


def markdown_table(results: list[LabResult]) -> str:
    rows = ["| Lab | Points | Items earned |", "| --- | ---: | ---: |"]
    for lab in results:
        items = lab.items()
        rows.append(f"| {lab.lab.name} | {fmt(lab.score)} / {fmt(lab.possible)} | "
                    f"{sum(i.earned for i in items)} of {len(items)} |")
    total = sum(r.score for r in results)
    rows.append(f"| **total** | **{fmt(total)} / {fmt(sum(r.possible for r in results))}** | |")
    return "\n".join(rows)


def gradescope(results: list[LabResult], duration: float, notes: list[str]) -> dict:
    """Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/
    specs/): one test per rubric item, plus each 0-point check marked as such."""
    tests = []
    for lab in results:
        for item in lab.items():
            tests.append({
                "name": f"{lab.lab.name}: {item.item.name} - {item.item.about}",
                "score": item.score,
                "max_score": item.item.points,
                "status": "passed" if item.earned else "failed",
                "output": item.output() if not item.earned else item.item.about,
                "visibility": "after_published" if item.item.hidden else "visible",
                "tags": [lab.lab.name] + (["central"] if item.item.central else []),
                "extra_data": {"lab": lab.lab.name, "item": item.item.name,
                               "tests": {t.nodeid: t.outcome for t in item.tests}},
            })
        for check in lab.checks():
            tests.append({
                "name": f"{lab.lab.name}: [0 points, not graded] {check.function}",
                "score": 0, "max_score": 0,
                "status": "passed" if check.outcome == "passed" else "failed",
                "output": check.text or "passed",
                "visibility": "visible",
                "tags": [lab.lab.name, "0 points"],
                "extra_data": {"lab": lab.lab.name, "item": None,
                               "tests": {check.nodeid: check.outcome}},
            })
    output = markdown_table(results)
    if notes:
        output += "\n\n" + "\n".join(f"- {note}" for note in notes)
    return {
        "score": sum(r.score for r in results),
        "execution_time": round(duration),
        "output": output,
        "output_format": "md",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"labs": {r.lab.name: {"score": r.score, "possible": r.possible}
                                for r in results}},
    }


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(scratch, path)  # never a half-written file


# --- the pytest side: collecting outcomes -------------------------------------------------------


class Grader:
    """Collects the outcome of every lab test (registered by --grade; see labkit.plugin)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.json_path = config.getoption("--grade-json")
        self.timeout = config.getoption("--grade-timeout") or GRADE_TIMEOUT
        self.tests: dict[str, TestResult] = {}
        self.roots: dict[str, str] = {}  # nodeid -> lab root it ran against
        self.notes: list[str] = []
        self.started = time.monotonic()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items: list[pytest.Item]) -> None:
        keep, drop = [], []
        first_root = str(lab_roots(config)[0])
        for item in items:
            lab = lab_of_module(Path(str(item.path)), Path(str(config.rootpath)) / "tests")
            params = getattr(getattr(item, "callspec", None), "params", {})
            root = str(params.get("lab_root", first_root))
            function = getattr(item, "originalname", None) or item.name
            # Several copies at once (labkit check): the 0-point checks, which test what
            # the kit gives, run against the first copy (the reference) only.
            if lab is None or (root != first_root and not items_of(lab, function)):
                drop.append(item)
                continue
            keep.append(item)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(self.timeout))
            self.tests[item.nodeid] = TestResult(item.nodeid, lab.name, function)
            self.roots[item.nodeid] = root
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.notes.append(f"could not load {report.nodeid}: "
                              f"{report.longreprtext.strip().splitlines()[-1]}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from labkit.plugin import FEEDBACK_SECTION

        result = self.tests.get(report.nodeid)
        if result is None:
            return
        result.duration += report.duration
        if report.skipped and not hasattr(report, "wasxfail"):
            result.outcome = "skipped"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(
                report.longrepr)
            result.text = reason.removeprefix("Skipped: ")
        elif report.failed:
            result.outcome = "failed"
            text = dict(report.sections).get(FEEDBACK_SECTION) or \
                report.longreprtext.strip()[-1500:]
            if report.when == "teardown":
                text = "The test passed, then failed while cleaning up: " + text
            result.text = (result.text + "\n" if result.text else "") + text
        elif report.when == "call" and report.passed and result.outcome == "not run":
            result.outcome = "passed"

    def results_by_root(self) -> dict[str, list[LabResult]]:
        roots: dict[str, list[TestResult]] = {}
        for nodeid, test in self.tests.items():
            roots.setdefault(self.roots.get(nodeid, ""), []).append(test)
        return {root: lab_results(tests) for root, tests in roots.items()}

    def data(self) -> dict:
        duration = time.monotonic() - self.started
        by_root = self.results_by_root()
        if len(by_root) <= 1:
            return gradescope(next(iter(by_root.values()), []), duration, self.notes)
        return {"roots": {root: gradescope(results, duration, self.notes)
                          for root, results in by_root.items()}}

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        if self.json_path:  # progress, for a run stopped at its deadline (see run_lab_tests)
            write_json(Path(self.json_path + ".partial"), self.data())

    def pytest_sessionfinish(self, session) -> None:
        # labkit.plugin's sessionfinish (tryfirst) has killed every lab process by now.
        if self.json_path:
            write_json(Path(self.json_path), self.data())
            Path(self.json_path + ".partial").unlink(missing_ok=True)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        for root, results in self.results_by_root().items():
            roots = self.config.getoption("--lab-root")
            title = f"grade of {root or (roots[0] if roots else REPO_ROOT)}"
            terminalreporter.write_sep("=", title)
            for line in text_report(results):
                terminalreporter.write_line(line)
        for note in self.notes:
            terminalreporter.write_line(f"note: {note}")
        if self.json_path:
            terminalreporter.write_line(f"Gradescope results: {self.json_path}")


# --- running pytest on a copy of the labs ------------------------------------------------------


@dataclass
class RunResult:
    """One graded run of the lab tests against one copy of the labs."""

    root: Path
    results: dict | None  # the results.json, or None if pytest left none
    returncode: int | None  # None: stopped at the whole-run deadline
    log: str
    duration: float
    notes: list[str] = field(default_factory=list)
    tag: str = ""  # LABKIT_GRADE_RUN in the environment of every process of the run

    def tests(self) -> list[dict]:
        return (self.results or {}).get("tests", [])

    def by_lab(self) -> dict[str, tuple[float, float]]:
        """lab -> (points earned, points possible)."""
        labs = (self.results or {}).get("extra_data", {}).get("labs", {})
        return {lab: (v["score"], v["possible"]) for lab, v in labs.items()}


def _leftover_pids(tag: str) -> list[int]:
    """Processes whose environment carries this run's tag (Linux: /proc)."""
    needle = f"LABKIT_GRADE_RUN={tag}".encode()
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return pids


def kill_leftovers(tag: str) -> int:
    """Kill every process left behind by a run (a lab server outliving a killed pytest)."""
    pids = [pid for pid in _leftover_pids(tag) if pid != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(pids)


def pytest_command(kit: Path, files: list[Path], roots: list[Path], out: Path,
                   test_timeout: float, select: str | None = None) -> list[str]:
    """The pytest command line that grades `roots` with the kit's own tests and config.

    `-c` names the kit's configuration and `--lab-root=DIR` is one word: pytest never
    looks for a configuration (or a conftest.py) in a submission."""
    argv = [sys.executable, "-m", "pytest", "-c", str(kit / "pyproject.toml"),
            "--rootdir", str(kit), *map(str, files),
            *(f"--lab-root={root}" for root in roots), "--grade",
            "--grade-json", str(out), "--grade-timeout", f"{test_timeout:g}",
            "-p", "no:cacheprovider", "-q", "--color=no", "--tb=no",
            "-rN",  # no short summary: the grade report says, per item missed, why
            "-o", "console_output_style=classic"]
    if select:
        argv += ["-k", select]
    return argv


def grading_env(tag: str, uid: int | None) -> dict[str, str]:
    """The grader's environment for pytest: the instructor's, minus what could point
    pytest or Python elsewhere."""
    from labkit.sandbox import ENV_UID

    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONSTARTUP")}
    env["LABKIT_GRADE_RUN"] = tag
    if uid is not None:
        env[ENV_UID] = str(uid)
    return env


def run_lab_tests(root: Path | list[Path], labs: list[Lab] | None = None, *,
                  test_timeout: float = GRADE_TIMEOUT, run_timeout: float = STUDENT_TIMEOUT,
                  select: str | None = None, json_path: Path | None = None,
                  kit: Path = REPO_ROOT, hidden: bool = True) -> RunResult:
    """Run the kit's lab tests (never the copy's own tests) against the labs under `root`
    (or several roots, each test once per root), in a pytest of its own, under a whole-run
    deadline; return its results.json."""
    from labkit.sandbox import Sandbox, UidLock

    roots = [Path(r) for r in (root if isinstance(root, list) else [root])]
    labs = list(labs) if labs else list(LABS)
    files = lab_test_files(labs, kit, hidden=hidden)
    if not files:
        return RunResult(roots[0], None, 5, "no lab tests", 0.0, ["no lab tests found"])
    # As root, the lab processes' user id is taken here, so that whatever pytest leaves
    # behind (even when it is killed at the deadline) can be found and killed.
    lock = UidLock() if os.geteuid() == 0 else None
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as scratch:
        out = Path(json_path) if json_path else Path(scratch) / "results.json"
        tag = uuid.uuid4().hex
        argv = pytest_command(kit, files, roots, out, test_timeout, select)
        notes: list[str] = []
        started = time.monotonic()
        log_path = Path(scratch) / "pytest.log"
        with open(log_path, "w+", encoding="utf-8", errors="replace") as log:
            process = subprocess.Popen(argv, cwd=kit, env=grading_env(tag, lock and lock.uid),
                                       stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            try:
                returncode: int | None = process.wait(timeout=run_timeout)
            except subprocess.TimeoutExpired:
                notes.append(f"stopped at the whole-run deadline ({run_timeout:g} s): tests "
                             "not run earn nothing")
                returncode = None
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            finally:
                killed = kill_leftovers(tag)
                if lock is not None:
                    killed += Sandbox(lock.uid).kill_user_processes()
                    lock.release()
                if killed:
                    notes.append("processes left running by the submission were killed")
            log.seek(0)
            text = log.read()
        results = None
        for candidate in (out, Path(str(out) + ".partial")):
            if candidate.is_file():
                try:
                    results = json.loads(candidate.read_text(encoding="utf-8"))
                except ValueError:
                    notes.append(f"{candidate.name} unreadable")
                    continue
                if candidate != out:
                    notes.append("the run was stopped: results of the tests run so far")
                    write_json(out, results)
                break
        if results is None:
            notes.append(f"pytest left no results (exit code {returncode}); see its output")
        return RunResult(roots[0], results, returncode, text, time.monotonic() - started,
                         notes, tag)


# --- `python -m labkit grade` -----------------------------------------------------------------


def find_lab_root(folder: Path, labs: list[Lab]) -> Path:
    """The folder of a submission that holds the lab folders: the submission itself, or the
    one folder inside it that does (an unzipped `grpc-lab-kit-main/`, say)."""
    names = {lab.name for lab in labs}

    def holds_labs(path: Path) -> bool:
        return any((path / name).is_dir() for name in names)

    if holds_labs(folder):
        return folder
    frontier = [folder]
    for _depth in range(3):
        found = []
        for parent in frontier:
            for child in sorted(parent.iterdir()):
                if child.is_dir() and not child.is_symlink() and \
                        not child.name.startswith((".", "__")):
                    found.append(child)
        for child in found:
            if holds_labs(child):
                return child
        frontier = found
    return folder


def submissions(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "__")))


def grade_one(student: Path, labs: list[Lab], results_dir: Path | None, test_timeout: float,
              student_timeout: float, select: str | None) -> tuple[dict, RunResult]:
    """Grade one student folder: (CSV row, the run)."""
    root = find_lab_root(student, labs)
    json_path = results_dir / f"{student.name}.json" if results_dir else None
    run = run_lab_tests(root, labs, test_timeout=test_timeout, run_timeout=student_timeout,
                        select=select, json_path=json_path)
    if results_dir:
        (results_dir / f"{student.name}.log").write_text(run.log, encoding="utf-8")
    notes = list(run.notes)
    if root != student:
        notes.insert(0, f"labs found in {root.relative_to(student)}/")
    elif not any((root / lab.name).is_dir() for lab in labs):
        notes.insert(0, "no lab folder found")
    scores = run.by_lab()
    row = {"student": student.name}
    for lab in labs:
        row[lab.name] = fmt(scores.get(lab.name, (0, 0))[0])
    row["total"] = fmt(sum(earned for earned, _most in scores.values()))
    row["notes"] = "; ".join(notes)
    return row, run


def grade_class(submissions_dir: Path, csv_path: Path, labs: list[Lab] | None = None, *,
                results_dir: Path | None = None, test_timeout: float = GRADE_TIMEOUT,
                student_timeout: float = STUDENT_TIMEOUT, select: str | None = None,
                jobs: int = 1) -> int:
    """The `grade` command: one pytest per student folder (`jobs` at a time), one CSV row
    per student."""
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        print(f"error: {submissions_dir} is not a folder")
        return 2
    students = submissions(submissions_dir)
    if not students:
        print(f"error: no student folders in {submissions_dir}")
        return 2
    labs = list(labs) if labs else list(LABS)
    rows: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_one, student, labs, results_dir, test_timeout,
                               student_timeout, select): student for student in students}
        for number, future in enumerate(futures, 1):
            student = futures[future]
            row, run = future.result()
            rows[student.name] = row
            print(f"[{number}/{len(students)}] {student.name}: {row['total']} points in "
                  f"{run.duration:.0f} s" + (f" ({row['notes']})" if row["notes"] else ""),
                  flush=True)
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["student", *(lab.name for lab in labs),
                                                 "total", "notes"])
        writer.writeheader()
        writer.writerows(rows[student.name] for student in students)
    most = ", ".join(f"{lab.name} {fmt(lab.points)}" for lab in labs)
    print(f"Points possible: {most}; total {fmt(sum(lab.points for lab in labs))}")
    print(f"{len(rows)} student(s) graded: {csv_path}")
    return 0


def run(args, labs: list[Lab]) -> int:
    """`python -m labkit grade` with its parsed arguments."""
    results_dir = Path(args.results) if args.results else None
    if results_dir:
        results_dir.mkdir(parents=True, exist_ok=True)
    return grade_class(Path(args.submissions), Path(args.csv), labs, results_dir=results_dir,
                       test_timeout=args.test_timeout, student_timeout=args.student_timeout,
                       select=args.select, jobs=args.jobs)
