"""`python -m labkit COMMAND`: the instructors' tools. `python -m labkit --help` lists them."""

from __future__ import annotations

import argparse
import sys

from labkit.labs import LABS, Lab, get_lab


def lab_list(names: list[str]) -> list[Lab]:
    """The labs named on the command line (all of them when none is named)."""
    try:
        return [get_lab(name.strip("/")) for name in names] if names else list(LABS)
    except KeyError as error:
        raise SystemExit(f"error: {error.args[0]}")


def cmd_gen(args: argparse.Namespace) -> int:
    from labkit import gen

    return gen.run(lab_list(args.labs), check=args.check)


def cmd_demo(args: argparse.Namespace) -> int:
    from labkit import demo

    return demo.run(lab_list(args.labs), fast=args.fast, host=args.host,
                    print_client_command=args.print_client_command)


def cmd_starter(args: argparse.Namespace) -> int:
    from labkit import starter

    return starter.run(args.dest, lab_list(args.lab or []))


def cmd_grade(args: argparse.Namespace) -> int:
    from labkit import grading

    return grading.run(args, lab_list(args.lab or []))


def cmd_check(args: argparse.Namespace) -> int:
    from labkit import check

    return check.run(lab_list(args.lab or []), test_timeout=args.test_timeout, keep=args.keep)


def cmd_doctor(args: argparse.Namespace) -> int:
    from labkit import doctor

    return doctor.run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = commands.add_parser("gen", help="copy the protos into the labs and regenerate stubs")
    gen.add_argument("--check", action="store_true",
                     help="change nothing; name every stale file and exit 1 if there is one")
    gen.add_argument("labs", nargs="*", metavar="LAB", help="labs to handle (default: all)")
    gen.set_defaults(func=cmd_gen)

    demo = commands.add_parser("demo", help="run labs live: servers, then scripted clients")
    demo.add_argument("labs", nargs="*", metavar="LAB", help="labs to run (default: all)")
    demo.add_argument("--fast", action="store_true", help="scale the slow steps down")
    demo.add_argument("--host", default="localhost",
                      help="address the servers listen on; 0.0.0.0 lets students connect")
    demo.add_argument("--print-client-command", action="store_true",
                      help="print the command students run to reach each server")
    demo.set_defaults(func=cmd_demo)

    starter = commands.add_parser("starter", help="write the starter copy: solutions -> TODO")
    starter.add_argument("dest", metavar="DEST", help="new folder for the copy")
    starter.add_argument("--lab", action="append", metavar="NAME",
                         help="copy only this lab (repeatable; default: every lab)")
    starter.set_defaults(func=cmd_starter)

    grade = commands.add_parser("grade", help="grade every student folder into one CSV")
    grade.add_argument("submissions", metavar="SUBMISSIONS_DIR",
                       help="folder with one folder per student (each a copy of the labs)")
    grade.add_argument("--csv", required=True, metavar="FILE", help="the CSV to write")
    grade.add_argument("--lab", action="append", metavar="NAME",
                       help="grade only this lab (repeatable; default: every lab)")
    grade.add_argument("--results", metavar="DIR",
                       help="keep each student's results.json and pytest output in DIR")
    grade.add_argument("--test-timeout", type=float, default=30, metavar="SECONDS",
                       help="deadline of each test (default: 30)")
    grade.add_argument("--student-timeout", type=float, default=900, metavar="SECONDS",
                       help="deadline of one student's whole run (default: 900)")
    grade.add_argument("-k", dest="select", metavar="EXPRESSION",
                       help="grade only the tests that pytest -k EXPRESSION selects")
    grade.set_defaults(func=cmd_grade)

    check = commands.add_parser(
        "check", help="prove the grading bites: reference earns all, starter none")
    check.add_argument("--lab", action="append", metavar="NAME",
                       help="check only this lab (repeatable; default: every lab)")
    check.add_argument("--test-timeout", type=float, default=30, metavar="SECONDS",
                       help="deadline of each test (default: 30)")
    check.add_argument("--keep", metavar="DIR", help="write the starter copy to DIR and keep it")
    check.set_defaults(func=cmd_check)

    doctor = commands.add_parser("doctor", help="check this machine for the kit's needs")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
