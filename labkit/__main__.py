"""`python -m labkit COMMAND`: the instructors' tools. `python -m labkit --help` lists them."""

from __future__ import annotations

import argparse
import sys

from labkit.labs import REPO_ROOT, Lab, get_lab, present_labs


def lab_list(names: list[str]) -> list[Lab]:
    """The labs named on the command line (when none is named: every lab whose folder is
    in this copy; a starter copy may hold only some)."""
    present = present_labs()
    try:
        labs = [get_lab(name.strip("/")) for name in names] if names else present
    except KeyError as error:
        raise SystemExit(f"error: {error.args[0]}") from None
    missing = [lab.name for lab in labs if lab not in present]
    if missing:
        raise SystemExit(f"error: this copy ({REPO_ROOT}) has no {', '.join(missing)} folder")
    return labs


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

    return check.run(lab_list(args.lab or []), test_timeout=args.test_timeout, keep=args.keep,
                     with_mutants=not args.no_mutants, jobs=args.jobs, repeat=args.repeat,
                     load=args.load)


def cmd_autograder(args: argparse.Namespace) -> int:
    from labkit import autograder

    return autograder.run(args.dest, lab_list(args.lab or []))


def cmd_classroom(args: argparse.Namespace) -> int:
    from labkit import classroom

    return classroom.run([lab.name for lab in lab_list(args.labs)], clients=args.clients)


def cmd_doctor(args: argparse.Namespace) -> int:
    from labkit import doctor

    return doctor.run()


def cmd_wire(args: argparse.Namespace) -> int:
    if args.bench:
        from labkit import wire_bench

        return wire_bench.run(calls=args.calls)
    if args.to is None:
        print("python -m labkit wire: error: --to HOST:PORT is needed: the server to "
              "forward to, e.g. --to localhost:50051", file=sys.stderr)
        return 2
    from labkit import wire

    return wire.run(args.to, args.host, args.port, hide_connection=args.hide_connection,
                    stream=args.stream, max_bytes=args.max_bytes)


def host_port(text: str) -> str:
    """argparse type: HOST:PORT, as a client's --target."""
    from labkit.wire import split_target

    try:
        split_target(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


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
    grade.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                       help="grade N students at once (default: 1; one per core is plenty)")
    grade.set_defaults(func=cmd_grade)

    check = commands.add_parser(
        "check", help="prove the grading bites: reference earns all, starter and mutants less")
    check.add_argument("--lab", action="append", metavar="NAME",
                       help="check only this lab (repeatable; default: every lab)")
    check.add_argument("--test-timeout", type=float, default=30, metavar="SECONDS",
                       help="deadline of each test (default: 30)")
    check.add_argument("--keep", metavar="DIR", help="write the starter copy to DIR and keep it")
    check.add_argument("--no-mutants", action="store_true",
                       help="grade only the reference and the starter")
    check.add_argument("-j", "--jobs", type=int, default=2, metavar="N",
                       help="labs checked at once (default: 2)")
    check.add_argument("--repeat", type=int, default=0, metavar="N",
                       help="then grade the reference N more times: every point every time")
    check.add_argument("--load", action="store_true",
                       help="with --repeat: keep every core busy meanwhile (a slow machine)")
    check.set_defaults(func=cmd_check)

    autograder = commands.add_parser(
        "autograder", help="write a Gradescope autograder zip (setup.sh, run_autograder)")
    autograder.add_argument("dest", metavar="DEST.zip", help="the zip to write")
    autograder.add_argument("--lab", action="append", metavar="NAME",
                            help="grade only this lab (repeatable; default: every lab)")
    autograder.set_defaults(func=cmd_autograder)

    classroom = commands.add_parser(
        "classroom", help="benchmark: a whole class of clients on each lab's server")
    classroom.add_argument("labs", nargs="*", metavar="LAB",
                           help="labs to measure (default: every lab with a server)")
    classroom.add_argument("--clients", type=int, default=200, metavar="N",
                           help="students at once (default: 200)")
    classroom.set_defaults(func=cmd_classroom)

    doctor = commands.add_parser("doctor", help="check this machine for the kit's needs")
    doctor.set_defaults(func=cmd_doctor)

    wire = commands.add_parser("wire", help="see the wire: a proxy that prints every HTTP/2 "
                                            "frame of every call")
    wire.add_argument("--to", type=host_port, metavar="HOST:PORT",
                      help="the server to forward every connection to, e.g. localhost:50051")
    wire.add_argument("--host", default="[::]", help="address to listen on (default: all)")
    wire.add_argument("--port", type=int, default=50050,
                      help="port to listen on, 0 for any free port (default: 50050); point "
                           "the client there: --target localhost:50050")
    wire.add_argument("--hide-connection", action="store_true",
                      help="hide the connection's own frames (stream 0: SETTINGS, PING, "
                           "WINDOW_UPDATE of the connection, GOAWAY)")
    wire.add_argument("--stream", type=int, metavar="ID",
                      help="show only the frames of this stream")
    wire.add_argument("--max-bytes", type=int, default=64, metavar="N",
                      help="bytes of a message shown in hex (default: 64; 0: all)")
    wire.add_argument("--bench", action="store_true",
                      help="instead: time hello_world calls with and without the proxy")
    wire.add_argument("--calls", type=int, default=20, metavar="N",
                      help="with --bench: calls of each kind timed (default: 20)")
    wire.set_defaults(func=cmd_wire)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
