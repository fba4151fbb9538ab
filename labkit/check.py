"""`python -m labkit check [--lab NAME ...]`: prove that the grading bites.

Rustlings' "dev check" for this kit. It writes the starter copy into a scratch folder,
starts each starter lab's servers once (a starter whose server cannot start is no use to
a student), then runs the lab tests twice, as `labkit grade` does: against this
repository (the reference) and against the starter copy. It holds when

- every lab has solution regions (the starter copy would otherwise be the reference);
- the reference passes every lab test, so it earns every point;
- the starter earns no point: every test worth points (all but NOT_COVERED, see
  labkit/grading.py) fails on it. A test that passes on the starter cannot tell solved
  code from unsolved: fix the test (or, if it checks only what the starter keeps, list
  it in NOT_COVERED);
- every entry of POINTS and NOT_COVERED names a test that exists (when checking all labs).

Skipped tests (a toolchain missing here) are listed and not counted either way; with
LABKIT_REQUIRE_ALL=1 (as in .ci/run) they fail instead. Exit 0 when everything holds,
1 otherwise, naming each test at fault.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from labkit import demo, grading, starter
from labkit.labs import LABS, Lab
from labkit.procs import LabRunner, ProcessError


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _outcome(test: dict) -> str:
    return test.get("extra_data", {}).get("outcome", test["status"])


def first_error(output: str) -> str:
    """The line of a pytest failure that says what went wrong."""
    lines = output.strip().splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors[0] if errors else lines[-1] if lines else "")[:200]


def evaluate(reference: list[dict], starter_tests: list[dict], regions: dict[str, int],
             labs: list[str], check_table: bool = True) -> Verdict:
    """Judge two runs of the lab tests (Gradescope `tests` lists, as the grading plugin
    writes them): `regions` is the number of solution regions of each lab."""
    verdict = Verdict()
    for lab in labs:
        if not regions.get(lab):
            verdict.problems.append(f"{lab}: no solution regions (mark what students write "
                                    "with BEGIN SOLUTION / END SOLUTION)")
    ref_tests = {t["extra_data"]["nodeid"]: t for t in reference}
    start_tests = {t["extra_data"]["nodeid"]: t for t in starter_tests}
    if not ref_tests:
        verdict.problems.append("no lab test ran against the reference")

    skipped = [n for n, t in ref_tests.items() if _outcome(t) == "skipped"]
    for nodeid, test in ref_tests.items():
        if _outcome(test) not in ("passed", "skipped"):
            verdict.problems.append(f"fails on the reference: {nodeid} ({_outcome(test)}): "
                                    f"{first_error(test.get('output') or '')}")
    for nodeid in skipped:
        verdict.notes.append(f"skipped on this machine, not checked: {nodeid}")

    for nodeid, test in start_tests.items():
        outcome = _outcome(test)
        if outcome == "skipped":
            if nodeid not in skipped:
                verdict.notes.append(f"skipped on the starter, not checked: {nodeid}")
            continue
        if test["max_score"] > 0 and outcome == "passed":
            verdict.problems.append(f"passes on the starter copy, so it cannot fail: {nodeid}"
                                    f" ({grading.fmt(test['max_score'])} points)")
        elif test["max_score"] == 0 and outcome != "passed" and nodeid in ref_tests:
            verdict.notes.append(f"in NOT_COVERED but fails on the starter (it could be worth "
                                 f"points): {nodeid}")
    missing = sorted(set(ref_tests) - set(start_tests))
    for nodeid in missing:
        verdict.problems.append(f"did not run against the starter copy: {nodeid}")

    if check_table:
        names = [(t["extra_data"]["nodeid"].split("::")[0].rpartition("/")[2].removesuffix(".py"),
                  t["extra_data"]["nodeid"].split("::")[-1].split("[")[0]) for t in reference]
        for entry in grading.unused_entries(names):
            verdict.problems.append(f"labkit/grading.py: {entry!r} matches no lab test")

    def points(tests: dict[str, dict], lab: str) -> tuple[float, float]:
        mine = [t for t in tests.values() if t["extra_data"]["lab"] == lab]
        return sum(t["score"] for t in mine), sum(t["max_score"] for t in mine)

    for lab in labs:
        ref_earned, ref_most = points(ref_tests, lab)
        st_earned, st_most = points(start_tests, lab)
        verdict.summary.append(f"{lab:<24} regions {regions.get(lab, 0):>2}   reference "
                               f"{grading.fmt(ref_earned):>3}/{grading.fmt(ref_most):<3}  "
                               f"starter {grading.fmt(st_earned):>3}/{grading.fmt(st_most)}")
    return verdict


def start_servers(lab: Lab, root: Path) -> str | None:
    """Start the lab's servers under `root` as its demo does; None if they all got ready,
    else what went wrong."""
    targets: dict[str, str] = {}
    with LabRunner(lab, root) as runner:
        for step in lab.demo:
            proc = demo.choose_process(lab, step, runner.folder)
            if not proc.server:
                continue
            args = demo.fill_in(step.args, targets)
            try:
                server = runner.start_server(proc.name, *args, timeout=20)
            except (ProcessError, OSError) as error:
                return str(error).strip()
            targets[step.process] = f"localhost:{server.port}"
    return None


def run(labs: list[Lab] | None = None, test_timeout: float = grading.GRADE_TIMEOUT,
        keep: str | None = None) -> int:
    """The `check` command."""
    labs = list(labs) if labs else list(LABS)
    names = [lab.name for lab in labs]
    scratch = tempfile.mkdtemp(prefix="labkit-check-")
    try:
        copy = Path(keep) if keep else Path(scratch) / "starter"
        try:
            report = starter.make_starter(copy, labs)
        except starter.StarterError as error:
            print(f"FAIL: the starter copy cannot be made: {error}")
            return 1
        for warning in report.warnings:
            print(f"warning: {warning}")
        print(f"Starter copy: {copy} ({report.count()} solution regions)")

        verdict = Verdict()
        for lab in labs:
            if report.count(lab.name) and any(p.server for p in lab.processes):
                problem = start_servers(lab, copy)
                if problem:
                    verdict.problems.append(f"{lab.name}: the starter's server does not start: "
                                            f"{problem.splitlines()[0]}")
                    verdict.notes.append(problem)

        # Both runs take the tests (and labkit) from the starter copy, where they are
        # byte-identical copies: one snapshot, even while someone edits the kit's tests.
        print("Running the lab tests against the reference ...", flush=True)
        ref = grading.run_lab_tests(grading.REPO_ROOT, labs, test_timeout=test_timeout,
                                    kit=copy)
        print(f"  done in {ref.duration:.0f} s" + "".join(f"; {n}" for n in ref.notes))
        print("Running the lab tests against the starter copy ...", flush=True)
        start = grading.run_lab_tests(copy, labs, test_timeout=test_timeout, kit=copy)
        print(f"  done in {start.duration:.0f} s" + "".join(f"; {n}" for n in start.notes))
        if ref.results is None or start.results is None:
            print("FAIL: a test run left no results; its output:")
            print((ref if ref.results is None else start).log[-4000:])
            return 1

        judged = evaluate(ref.tests(), start.tests(),
                          {lab: report.count(lab) for lab in names}, names,
                          check_table=len(labs) == len(LABS))
        verdict.problems = [*verdict.problems, *judged.problems]
        verdict.notes += judged.notes
        print()
        for line in judged.summary:
            print(line)
        for note in verdict.notes:
            print(f"note: {note}")
        if verdict.ok:
            print("OK: the reference earns every point and the starter copy none.")
            return 0
        for problem in verdict.problems:
            print(f"FAIL: {problem}")
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
