"""Grading: a pytest plugin (`--grade`, `--grade-json FILE`) and `python -m labkit grade`.

    pytest --lab-root DIR --grade                     # table of points, lab by lab
    pytest --lab-root DIR --grade-json results.json   # Gradescope's results.json as well
    python -m labkit grade SUBMISSIONS --csv class.csv  # every student folder, one CSV

Grading runs the same black-box lab tests as development, against the labs under
`--lab-root` (a student's copy). A lab test is one in a module that names its lab with
`LAB = "<folder>"`; tests of labkit itself are left out of a graded run.

Points live in ONE place: the table below, keyed by test names, because the tests are
written by many hands and the points are the instructor's call. A table lets an instructor
see and change the whole marking scheme at once without touching test code; a marker would
scatter it over every test module. A test not listed is worth DEFAULT_POINTS; a parametrized
test earns its points once per case. NOT_COVERED lists the tests that pass on the starter
copy by design (they check what the starter keeps: a server that starts, stops on Ctrl+C,
answers health and reflection, refuses a busy port; a client without a server): they run
and show in every report but are worth 0 points, so that the untouched starter scores 0
and every point rewards the student's own code. `python -m labkit check` proves it: the
reference earns every point, the starter none.

A crash, a hang or a missing file costs the test it happens in: each test gets a deadline
(`--grade-timeout`, pytest-timeout), a lab's processes are stopped when its test ends, and
`labkit grade` gives each student's whole run a deadline too.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labkit.labs import LABS, REPO_ROOT, Lab

# --- the marking scheme ----------------------------------------------------------------------

DEFAULT_POINTS = 1

# "test_module::test_function" or "test_function" (in any lab's module); fnmatch wildcards
# allowed; the first entry that matches wins. Parameters (`[...]`) are not part of the name.
POINTS: dict[str, float] = {
    "test_hello_world::test_default_greeting": 2,
}

# Tests that pass on the starter copy by design (see the docstring): worth 0 points.
# Keep this list short: any other test that passes on the starter cannot fail.
NOT_COVERED: tuple[str, ...] = (
    # A client checks that its server is there before any call.
    "test_*without_*_says_how_to_start_it",
    # A server starts, stops on a signal with nothing in flight, refuses a busy port,
    # answers health checks and reflection.
    "test_server_stops_gracefully_on_signal",
    "test_*reports_a_busy_port_clearly",
    "test_*health*",
    "test_*reflection*",
    # Command lines are checked before any call.
    "test_*command_line*",
    "test_*refuses_bad_arguments",
    # remote_counter: the local procedure is given (the starting point of the refactoring),
    # and so is the client's check of --from.
    "test_remote_counter::test_local_procedure_*",
    "test_remote_counter::test_client_rejects_a_start_that_is_no_int64",
    # protobuf_exploration: the encodings table, the benchmark, the CLI's input handling
    # and the JSON comparison are given; students write the decoding.
    "test_protobuf_exploration_tools::*",
    # multiplexing: the timeline chart and the predictor's argument checks are given;
    # students write fifo_schedule's loop.
    "test_multiplexing_timeline::test_timeline_*",
    "test_multiplexing_timeline::test_fifo_schedule_refuses_nonsense",
)

GRADE_TIMEOUT = 30.0  # seconds per test while grading (pyproject's 60 s is for development)
STUDENT_TIMEOUT = 900.0  # seconds for one student's whole run in `labkit grade`
OUTPUT_LIMIT = 4000  # characters of failure text per test in results.json


def _matches(pattern: str, module: str, function: str) -> bool:
    if "::" in pattern:
        return fnmatch.fnmatchcase(f"{module}::{function}", pattern)
    return fnmatch.fnmatchcase(function, pattern)


def not_covered(module: str, function: str) -> bool:
    """Whether a test passes on the starter by design (listed in NOT_COVERED)."""
    return any(_matches(pattern, module, function) for pattern in NOT_COVERED)


def points_for(module: str, function: str) -> float:
    """The points of a test: `module` is the test module's name (test_hello_world),
    `function` the test function's name without parameters."""
    if not_covered(module, function):
        return 0
    for pattern, points in POINTS.items():
        if _matches(pattern, module, function):
            return points
    return DEFAULT_POINTS


def unused_entries(tests: list[tuple[str, str]]) -> list[str]:
    """Entries of POINTS and NOT_COVERED that match none of these (module, function) tests:
    typos, or tests renamed since."""
    return [pattern for pattern in [*POINTS, *NOT_COVERED]
            if not any(_matches(pattern, m, f) for m, f in tests)]


def fmt(points: float) -> str:
    return f"{points:g}"


# --- the pytest plugin -------------------------------------------------------------------------


@dataclass
class GradedTest:
    nodeid: str
    lab: str
    module: str
    function: str
    name: str  # the test's name with its parameters: test_x[15]
    max_score: float
    status: str = "not run"  # passed, failed, skipped, not run
    output: str = ""
    duration: float = 0.0

    @property
    def score(self) -> float:
        return self.max_score if self.status == "passed" else 0

    def gradescope(self) -> dict:
        output = self.output
        if self.status == "skipped":
            output = f"Skipped: {output} (a skipped test earns no points)"
        elif self.status == "not run":
            output = "Not run: the grading run was stopped before this test."
        return {
            "name": f"{self.lab}: {self.name}",
            "score": self.score,
            "max_score": self.max_score,
            "status": "passed" if self.status == "passed" else "failed",
            "output": output,
            "visibility": "visible",
            "extra_data": {"lab": self.lab, "nodeid": self.nodeid, "outcome": self.status,
                           "duration": round(self.duration, 3)},
        }


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, in a plugin that pytest loads before any conftest (`-p labkit.grading` in
    # pyproject.toml), pytest knows that --lab-root takes a value: otherwise it would take
    # the DIR of `--lab-root DIR` for a test path and load DIR/tests/conftest.py, a
    # student's code.
    parser.addoption(
        "--lab-root", default=str(REPO_ROOT), metavar="DIR",
        help="run the lab tests against the labs under DIR (a student's copy); "
             "default: this repository")
    group = parser.getgroup("labkit grading")
    group.addoption("--grade", action="store_true",
                    help="grade: run only the lab tests and end with a table of points per lab")
    group.addoption("--grade-json", metavar="FILE",
                    help="also write Gradescope's results.json to FILE (implies --grade)")
    group.addoption("--grade-timeout", type=float, default=GRADE_TIMEOUT, metavar="SECONDS",
                    help=f"deadline of each test while grading (default: {GRADE_TIMEOUT:g})")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--grade") or config.getoption("--grade-json"):
        if getattr(config.option, "numprocesses", None):
            # With pytest-xdist the results stay in the workers: the table would be empty.
            raise pytest.UsageError("--grade runs the tests one at a time: leave out -n")
        # A test module that cannot even be imported costs its tests, not the whole run.
        config.option.continue_on_collection_errors = True
        config.pluginmanager.register(Grader(config), "labkit-grader")


class Grader:
    """Collects the outcome of every lab test and reports points (registered by --grade)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.json_path = config.getoption("--grade-json")
        self.timeout = config.getoption("--grade-timeout")
        self.results: dict[str, GradedTest] = {}
        self.collection_errors: list[str] = []
        self.started = time.monotonic()

    # Collection: lab tests only, each with a deadline and its points.
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items: list[pytest.Item]) -> None:
        keep, drop = [], []
        for item in items:
            lab = getattr(getattr(item, "module", None), "LAB", None)
            if not lab:
                drop.append(item)
                continue
            keep.append(item)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(self.timeout))
            module = item.module.__name__.rpartition(".")[2]
            function = getattr(item, "originalname", None) or item.name
            self.results[item.nodeid] = GradedTest(
                item.nodeid, lab, module, function, item.name, points_for(module, function))
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
        self.write_json()  # every test listed (as not run) from the start: a stopped run
        # still shows what it could have earned.

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext.strip()}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = self.results.get(report.nodeid)
        if result is None:
            return
        result.duration += report.duration
        if report.skipped and not hasattr(report, "wasxfail"):
            result.status = "skipped"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(
                report.longrepr)
            result.output = reason.removeprefix("Skipped: ")
        elif report.failed:
            result.status = "failed"
            text = report.longreprtext
            if len(text) > OUTPUT_LIMIT:
                text = "...\n" + text[-OUTPUT_LIMIT:]
            where = "" if report.when == "call" else f"(error in {report.when})\n"
            result.output = (result.output + "\n" if result.output else "") + where + text
        elif report.when == "call" and report.passed and result.status == "not run":
            result.status = "passed"
        elif report.when == "teardown" and result.status == "not run":
            result.status = "failed"  # never got to its call: an error before it
            result.output = result.output or "The test did not run to its end."

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        self.write_json()

    # Reports.
    def per_lab(self) -> dict[str, list[GradedTest]]:
        order = {lab.name: n for n, lab in enumerate(LABS)}
        labs: dict[str, list[GradedTest]] = {}
        for result in self.results.values():
            labs.setdefault(result.lab, []).append(result)
        return dict(sorted(labs.items(), key=lambda pair: (order.get(pair[0], 99), pair[0])))

    def table(self) -> list[str]:
        rows = [("lab", "tests passed", "points")]
        total = possible = 0.0
        for lab, results in self.per_lab().items():
            earned = sum(r.score for r in results)
            most = sum(r.max_score for r in results)
            passed = sum(r.status == "passed" for r in results)
            skipped = sum(r.status == "skipped" for r in results)
            note = f" ({skipped} skipped)" if skipped else ""
            rows.append((lab, f"{passed}/{len(results)}{note}", f"{fmt(earned)}/{fmt(most)}"))
            total += earned
            possible += most
        rows.append(("total", "", f"{fmt(total)}/{fmt(possible)}"))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}"
                 for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return lines

    def gradescope(self) -> dict:
        tests = [r.gradescope() for r in self.results.values()]
        output = "\n".join(self.table())
        if self.collection_errors:
            output += "\n\nTest modules that could not be loaded:\n" + "\n".join(
                self.collection_errors)
        return {
            "score": sum(t["score"] for t in tests),
            "execution_time": round(time.monotonic() - self.started),
            "output": output,
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": tests,
        }

    def write_json(self) -> None:
        if not self.json_path:
            return
        path = Path(self.json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(path.name + ".partial")
        scratch.write_text(json.dumps(self.gradescope(), indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")
        os.replace(scratch, path)  # never a half-written file, also if the run is killed

    def pytest_terminal_summary(self, terminalreporter) -> None:
        root = self.config.getoption("--lab-root", default=None)
        terminalreporter.write_sep("=", f"grade of {root}" if root else "grade")
        for line in self.table():
            terminalreporter.write_line(line)
        skipped = [r for r in self.results.values() if r.status == "skipped"]
        if skipped:
            terminalreporter.write_line(
                f"{len(skipped)} skipped test(s) earned no points (a toolchain missing on this "
                "machine?): see the skip reasons above; LABKIT_REQUIRE_ALL=1 makes them fail.")
        for error in self.collection_errors:
            terminalreporter.write_line(f"could not load {error.splitlines()[0]}")
        if self.json_path:
            terminalreporter.write_line(f"Gradescope results: {self.json_path}")
        if root and self.config.rootpath.resolve() == Path(root).resolve() != REPO_ROOT:
            # `pytest --lab-root DIR`, DIR with a pytest configuration of its own: pytest
            # chose DIR's configuration before any plugin could say that DIR is a value.
            terminalreporter.write_line(
                f"note: pytest read the configuration in {root}, so that copy's own tests "
                "and labkit ran. To grade with this kit's tests whatever the copy holds, "
                f"write --lab-root={root} (one word) or use python -m labkit grade.")

    def pytest_sessionfinish(self, session) -> None:
        self.write_json()


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
        labs: dict[str, tuple[float, float]] = {}
        for test in self.tests():
            lab = test["extra_data"]["lab"]
            earned, most = labs.get(lab, (0, 0))
            labs[lab] = (earned + test["score"], most + test["max_score"])
        return labs


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


def run_lab_tests(root: Path, labs: list[Lab] | None = None, *, test_timeout: float = GRADE_TIMEOUT,
                  run_timeout: float = STUDENT_TIMEOUT, select: str | None = None,
                  json_path: Path | None = None, kit: Path = REPO_ROOT) -> RunResult:
    """Run the kit's lab tests (never the copy's own tests) against the labs under `root`,
    in a pytest of its own, under a whole-run deadline; return its results.json."""
    from labkit.starter import lab_test_files

    labs = list(labs) if labs else list(LABS)
    files = [str(path) for path in lab_test_files(labs, kit)]
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as scratch:
        out = Path(json_path) if json_path else Path(scratch) / "results.json"
        log_path = Path(scratch) / "pytest.log"
        tag = uuid.uuid4().hex
        # `--lab-root=DIR` in one word: pytest would take a separate DIR for a test path
        # and load the copy's own tests/conftest.py (a student's code) into the grader.
        argv = [sys.executable, "-m", "pytest", *files, f"--lab-root={root}", "--grade",
                "--grade-json", str(out), "--grade-timeout", f"{test_timeout:g}",
                "-p", "no:cacheprovider", "-q", "--color=no"]
        if select:
            argv += ["-k", select]
        notes: list[str] = []
        started = time.monotonic()
        if not files:
            return RunResult(Path(root), None, 5, "no lab tests", 0.0, ["no lab tests found"])
        env = {**os.environ, "LABKIT_GRADE_RUN": tag}
        with open(log_path, "w+", encoding="utf-8", errors="replace") as log:
            process = subprocess.Popen(argv, cwd=kit, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            try:
                returncode: int | None = process.wait(timeout=run_timeout)
            except subprocess.TimeoutExpired:
                notes.append(f"stopped at the whole-run deadline ({run_timeout:g} s): tests "
                             "not run earn nothing")
                returncode = None
                # Ctrl+C first: pytest tears the fixtures down (stopping the lab's
                # processes) and writes what it has; then, for sure, SIGKILL.
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            finally:
                if kill_leftovers(tag):
                    notes.append("processes left running by the submission were killed")
            log.seek(0)
            text = log.read()
        results = None
        if out.is_file():
            try:
                results = json.loads(out.read_text(encoding="utf-8"))
            except ValueError:
                notes.append("results.json unreadable")
        if results is None:
            notes.append(f"pytest left no results (exit code {returncode}); see its output")
        return RunResult(Path(root), results, returncode, text, time.monotonic() - started, notes,
                         tag)


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
                if child.is_dir() and not child.name.startswith((".", "__")):
                    found.append(child)
        for child in found:
            if holds_labs(child):
                return child
        frontier = found
    return folder


def submissions(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "__")))


def grade_class(submissions_dir: Path, csv_path: Path, labs: list[Lab] | None = None, *,
                results_dir: Path | None = None, test_timeout: float = GRADE_TIMEOUT,
                student_timeout: float = STUDENT_TIMEOUT, select: str | None = None) -> int:
    """The `grade` command: one pytest per student folder, one CSV row per student."""
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        print(f"error: {submissions_dir} is not a folder")
        return 2
    students = submissions(submissions_dir)
    if not students:
        print(f"error: no student folders in {submissions_dir}")
        return 2
    labs = list(labs) if labs else list(LABS)
    lab_names = [lab.name for lab in labs]
    rows = []
    possible: dict[str, float] = {}
    for number, student in enumerate(students, 1):
        root = find_lab_root(student, labs)
        print(f"[{number}/{len(students)}] {student.name} ...", end=" ", flush=True)
        json_path = results_dir / f"{student.name}.json" if results_dir else None
        run = run_lab_tests(root, labs, test_timeout=test_timeout, run_timeout=student_timeout,
                            select=select, json_path=json_path)
        if results_dir:
            (results_dir / f"{student.name}.log").write_text(run.log, encoding="utf-8")
        notes = list(run.notes)
        if root != student:
            notes.insert(0, f"labs found in {root.relative_to(student)}/")
        elif not any((root / name).is_dir() for name in lab_names):
            notes.insert(0, "no lab folder found")
        scores = run.by_lab()
        for lab, (_earned, most) in scores.items():
            possible[lab] = max(possible.get(lab, 0), most)
        row = {"student": student.name}
        for lab in lab_names:
            row[lab] = fmt(scores.get(lab, (0, 0))[0])
        total = sum(earned for earned, _most in scores.values())
        row["total"] = fmt(total)
        row["notes"] = "; ".join(notes)
        rows.append(row)
        print(f"{fmt(total)} points in {run.duration:.0f} s" + (f" ({row['notes']})"
                                                              if notes else ""))
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["student", *lab_names, "total", "notes"])
        writer.writeheader()
        writer.writerows(rows)
    most = ", ".join(f"{lab} {fmt(possible.get(lab, 0))}" for lab in lab_names)
    print(f"Points possible: {most}; total {fmt(sum(possible.values()))}")
    print(f"{len(rows)} student(s) graded: {csv_path}")
    return 0


def run(args, labs: list[Lab]) -> int:
    """`python -m labkit grade` with its parsed arguments."""
    results_dir = Path(args.results) if args.results else None
    if results_dir:
        results_dir.mkdir(parents=True, exist_ok=True)
    return grade_class(Path(args.submissions), Path(args.csv), labs, results_dir=results_dir,
                       test_timeout=args.test_timeout, student_timeout=args.student_timeout,
                       select=args.select)
