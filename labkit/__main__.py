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

    doctor = commands.add_parser("doctor", help="check this machine for the kit's needs")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
