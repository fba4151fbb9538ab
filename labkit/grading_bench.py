"""`python -m labkit.grading_bench`: how long grading takes, and how long its report is.

Prints a table: the reference and the untouched starter graded one at a time (the time an
instructor waits per student, and the length of the report a student reads), and with
`--class N` a class of N copies (half reference, half starter) graded with `grade -j 1`
and with `grade -j J`. The targets (issue: feedback and autograding): the reference in
60 s or less, the starter in 90 s or less, the starter's report 200 lines or fewer, on two
cores.

    python -m labkit.grading_bench               # reference and starter
    python -m labkit.grading_bench --class 4 -j 2
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

from labkit import grading
from labkit.labs import LABS, REPO_ROOT, get_lab
from labkit.starter import make_starter

TARGETS = {"reference": 60.0, "starter": 90.0}
REPORT_LINES = 200


def grade_one(root: Path, labs) -> tuple[float, int, float, float, list[str]]:
    """(seconds, lines of the report, points, points possible, items missed)."""
    run = grading.run_lab_tests(root, labs)
    data = run.results or {}
    possible = sum(t["max_score"] for t in data.get("tests", []))
    missed = [t["name"] for t in data.get("tests", [])
              if t["max_score"] > 0 and t["status"] != "passed"]
    return run.duration, len(run.log.splitlines()), data.get("score", 0), possible, missed


def grade_class(folder: Path, labs, jobs: int) -> float:
    started = time.monotonic()
    with redirect_stdout(io.StringIO()):
        grading.grade_class(folder, folder.parent / f"class-j{jobs}.csv", labs, jobs=jobs)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.grading_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--lab", action="append", help="only this lab (repeatable)")
    parser.add_argument("--class", dest="students", type=int, default=0, metavar="N",
                        help="also grade a class of N copies with -j 1 and -j J")
    parser.add_argument("-j", "--jobs", type=int, default=2, metavar="J")
    args = parser.parse_args(argv)
    labs = [get_lab(name) for name in args.lab] if args.lab else list(LABS)
    scratch = Path(tempfile.mkdtemp(prefix="labkit-grading-bench-"))
    ok = True
    try:
        starter = scratch / "starter"
        make_starter(starter, labs)
        print(f"{'graded copy':<34} {'seconds':>8} {'target':>7} {'report lines':>13} "
              f"{'points':>10}")
        for name, root in (("reference", REPO_ROOT), ("starter", starter)):
            seconds, lines, points, possible, missed = grade_one(root, labs)
            target = TARGETS[name] if len(labs) == len(LABS) else None
            late = target is not None and seconds > target
            long = name == "starter" and lines > REPORT_LINES
            ok = ok and not late and not long
            print(f"{name + ', one at a time':<34} {seconds:>8.1f} "
                  f"{(f'{target:g}' if target else '-'):>7} {lines:>13} "
                  f"{f'{points:g}/{possible:g}':>10}" + ("  <- over target" if late or long
                                                         else ""), flush=True)
            if name == "reference":
                ok = ok and not missed
                for item in missed:  # a correct copy must never lose a point
                    print(f"    the reference missed: {item}", flush=True)
        if args.students:
            folder = scratch / "class"
            for number in range(args.students):
                source = REPO_ROOT if number % 2 == 0 else starter
                dest = folder / f"student{number:02d}"
                for lab in labs:
                    shutil.copytree(source / lab.name, dest / lab.name,
                                    ignore=shutil.ignore_patterns("__pycache__", "build"))
            for jobs in (1, args.jobs):
                seconds = grade_class(folder, labs, jobs)
                print(f"{f'class of {args.students}, grade -j {jobs}':<34} {seconds:>8.1f} "
                      f"{'-':>7} {'-':>13} {'-':>10}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
