"""`python -m labkit check [--lab NAME ...]`: prove that the grading bites, and is fair.

Rustlings' "dev check" for this kit. It writes the starter copy into a scratch folder,
starts each starter lab's servers once (a starter whose server cannot start is no use to
a student), then grades, in ONE pytest run per lab, the reference (this repository), the
starter copy and every mutant of the lab (labkit/mutants/: a student-like mistake applied
to a copy of the reference). It holds when

- the lab's rubric is sound: every item names a test that exists, and the lab has a
  central item;
- the reference earns every point, and passes its 0-point checks too;
- the starter copy earns no point;
- every mutant loses points, and a mutant marked central (it breaks the lab's central
  lesson) at least a quarter of the lab's points.

`--repeat N` grades the reference N times more, with `--load` while other processes keep
every core busy: a correct copy must earn every point every time (no flaky points).

Skipped tests (a toolchain missing here) earn nothing, so the reference would fail: run
with what the README installs (LABKIT_REQUIRE_ALL=1 in .ci/run turns a skip into a failure
that names the missing tool). Exit 0 when everything holds, 1 otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from labkit import demo, grading, starter
from labkit.labs import LABS, REPO_ROOT, Lab
from labkit.mutants import Mutant, mutants_of
from labkit.procs import LabRunner, ProcessError


class CheckError(Exception):
    """A mutant or a rubric that cannot be used as written (named in the message)."""


@dataclass
class LabVerdict:
    lab: Lab
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # what was checked, for the report
    summary: str = ""


# --- mutants -----------------------------------------------------------------------------


def copy_lab(source: Path, dest: Path) -> None:
    shutil.copytree(source, dest, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build"))


def apply_mutant(lab: Lab, mutant: Mutant, dest_root: Path, source_root: Path = REPO_ROOT) -> None:
    """Write a copy of the reference lab under `dest_root` with the mistake in it. The text
    to change must occur once, inside a solution region (it is a student's mistake)."""
    copy_lab(source_root / lab.name, dest_root / lab.name)
    path = dest_root / lab.name / mutant.file
    text = path.read_text(encoding="utf-8")
    count = text.count(mutant.find)
    if count != 1:
        raise CheckError(f"{lab.name} mutant {mutant.name}: its text occurs {count} times in "
                         f"{mutant.file} (it must occur once)")
    start = text.index(mutant.find)
    line = text[:start].count("\n")
    last = text[:start + len(mutant.find.rstrip("\n"))].count("\n")  # its last line
    regions = starter.find_regions(text, mutant.file)
    if not any(r.begin < line and last < r.end for r in regions):
        raise CheckError(f"{lab.name} mutant {mutant.name}: {mutant.file}:{line + 1} is not "
                         "inside a solution region (a mutant is a mistake in students' code)")
    path.write_text(text.replace(mutant.find, mutant.replace), encoding="utf-8")


# --- judging one lab's run ----------------------------------------------------------------------


def points(results: dict) -> tuple[float, float]:
    return results["score"], sum(t["max_score"] for t in results["tests"])


def missed_items(results: dict) -> list[dict]:
    return [t for t in results["tests"] if t["max_score"] > 0 and t["status"] != "passed"]


def judge(lab: Lab, by_root: dict[str, dict], reference: str, starter_root: str | None,
          mutants: dict[str, Mutant]) -> LabVerdict:
    """Judge one lab's graded run: `by_root` maps each lab root to its results.json."""
    verdict = LabVerdict(lab)
    ref = by_root.get(reference)
    if ref is None:
        verdict.problems.append(f"{lab.name}: the reference was not graded")
        return verdict
    earned, possible = points(ref)
    ran = {nodeid.split("::")[-1].split("[")[0] for t in ref["tests"]
           for nodeid in t["extra_data"]["tests"]}
    for item in lab.rubric:
        if not any(grading.item_matches(item, name) for name in ran):
            verdict.problems.append(f"{lab.name}: rubric item {item.name!r} names no test "
                                    f"that ran ({', '.join(item.tests)})")
    if not any(item.central for item in lab.rubric):
        verdict.problems.append(f"{lab.name}: no rubric item is marked central")
    for test in missed_items(ref):
        verdict.problems.append(f"{lab.name}: the reference misses {test['name']}: "
                                f"{_first_failure(test)}")
    for test in ref["tests"]:
        if test["max_score"] == 0 and test["status"] != "passed":
            verdict.problems.append(f"{lab.name}: a 0-point check fails on the reference: "
                                    f"{test['name']}: {_first_failure(test)}")
    verdict.lines.append(f"reference {grading.fmt(earned)}/{grading.fmt(possible)}")

    if starter_root is not None and starter_root in by_root:
        st_earned, _ = points(by_root[starter_root])
        for test in by_root[starter_root]["tests"]:
            if test["max_score"] > 0 and test["status"] == "passed":
                verdict.problems.append(f"{lab.name}: the untouched starter earns {test['name']}"
                                        " (its tests cannot tell solved from unsolved)")
        verdict.lines.append(f"starter {grading.fmt(st_earned)}/{grading.fmt(possible)}")

    caught = 0
    for root, mutant in mutants.items():
        result = by_root.get(root)
        if result is None:
            verdict.problems.append(f"{lab.name} mutant {mutant.name}: not graded")
            continue
        lost = possible - points(result)[0]
        need = possible / 4 if mutant.central else min(1, possible)
        missed = ", ".join(t["extra_data"]["item"] for t in missed_items(result)) or "nothing"
        line = (f"mutant {mutant.name}{' (central)' if mutant.central else ''}: loses "
                f"{grading.fmt(lost)} of {grading.fmt(possible)} ({missed})")
        verdict.lines.append(line)
        if lost < need:
            verdict.problems.append(
                f"{lab.name} mutant {mutant.name} ({mutant.about}) loses only "
                f"{grading.fmt(lost)} points; it must lose "
                f"{'a quarter of the lab' if mutant.central else 'points'}")
        else:
            caught += 1
    verdict.summary = (f"{lab.name:<24} {'  '.join(verdict.lines[:2]):<36} "
                       f"mutants caught {caught}/{len(mutants)}")
    return verdict


def _first_failure(test: dict) -> str:
    output = test.get("output") or ""
    lines = [line for line in output.splitlines()[1:] if line.strip()]
    return (lines[1] if len(lines) > 1 else lines[0] if lines else "")[:200]


# --- running ----------------------------------------------------------------------------------


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


def check_lab(lab: Lab, scratch: Path, starter_copy: Path | None, with_mutants: bool,
              test_timeout: float) -> LabVerdict:
    """Grade the reference, the starter and the mutants of one lab in one pytest run."""
    mutants: dict[str, Mutant] = {}
    if with_mutants:
        for mutant in mutants_of(lab.name):
            dest = scratch / f"mutant-{lab.name}-{mutant.name}"
            try:
                apply_mutant(lab, mutant, dest)
            except CheckError as error:
                verdict = LabVerdict(lab, [str(error)])
                verdict.summary = f"{lab.name:<24} mutants cannot be applied"
                return verdict
            mutants[str(dest.resolve())] = mutant
    roots = [REPO_ROOT, *([starter_copy] if starter_copy else []), *map(Path, mutants)]
    run = grading.run_lab_tests(roots, [lab], test_timeout=test_timeout)
    if run.results is None:
        verdict = LabVerdict(lab, [f"{lab.name}: the graded run left no results: "
                                   + " ".join(run.notes) + "\n" + run.log[-3000:]])
        verdict.summary = f"{lab.name:<24} no results"
        return verdict
    by_root = run.results.get("roots") or {str(REPO_ROOT): run.results}
    verdict = judge(lab, by_root, str(REPO_ROOT),
                    str(starter_copy.resolve()) if starter_copy else None, mutants)
    verdict.lines.append(f"graded in {run.duration:.0f} s")
    return verdict


def busy_cores() -> list[subprocess.Popen]:
    """One process per core that only burns CPU: a busy machine, for --load."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 2)]


def check_repeat(labs: list[Lab], times: int, load: bool, test_timeout: float) -> list[str]:
    """Grade the reference `times` times (under load if asked): every point every time."""
    problems = []
    burners = busy_cores() if load else []
    try:
        for number in range(1, times + 1):
            run = grading.run_lab_tests(REPO_ROOT, labs, test_timeout=test_timeout)
            missed = missed_items(run.results) if run.results else []
            state = "every point" if run.results and not missed else "MISSED POINTS"
            print(f"  run {number}/{times}{' under load' if load else ''}: {state} "
                  f"({run.duration:.0f} s)", flush=True)
            if run.results is None:
                problems.append(f"run {number}: no results: {' '.join(run.notes)}")
            for test in missed:
                problems.append(f"run {number}: the reference missed {test['name']}: "
                                f"{_first_failure(test)}")
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    return problems


def run(labs: list[Lab] | None = None, test_timeout: float = grading.GRADE_TIMEOUT,
        keep: str | None = None, with_mutants: bool = True, jobs: int = 2, repeat: int = 0,
        load: bool = False) -> int:
    """The `check` command."""
    labs = list(labs) if labs else list(LABS)
    scratch = Path(tempfile.mkdtemp(prefix="labkit-check-"))
    try:
        copy = Path(keep) if keep else scratch / "starter"
        try:
            report = starter.make_starter(copy, labs)
        except starter.StarterError as error:
            print(f"FAIL: the starter copy cannot be made: {error}")
            return 1
        print(f"Starter copy: {copy} ({report.count()} solution regions)")
        problems: list[str] = []
        for lab in labs:
            if not report.count(lab.name):
                problems.append(f"{lab.name}: no solution regions (mark what students write "
                                "with BEGIN SOLUTION / END SOLUTION)")
            elif any(p.server for p in lab.processes):
                trouble = start_servers(lab, copy)
                if trouble:
                    problems.append(f"{lab.name}: the starter's server does not start: "
                                    f"{trouble.splitlines()[0]}")
        print(f"Grading each lab's reference, starter and mutants ({jobs} at a time) ...",
              flush=True)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            verdicts = list(pool.map(
                lambda lab: check_lab(lab, scratch, copy, with_mutants, test_timeout), labs))
        for verdict in verdicts:
            print(verdict.summary)
            for line in verdict.lines[2:]:
                print(f"    {line}")
            problems += verdict.problems
        if repeat:
            print(f"Grading the reference {repeat} more time(s)"
                  f"{' while every core is kept busy' if load else ''} ...", flush=True)
            problems += check_repeat(labs, repeat, load, test_timeout)
        if not problems:
            print("OK: the reference earns every point, the starter none, every mutant loses"
                  " points (central ones at least a quarter of their lab)"
                  + (", and no point is flaky." if repeat else "."))
            return 0
        for problem in problems:
            print(f"FAIL: {problem}")
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
