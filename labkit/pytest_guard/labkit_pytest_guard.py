"""Make `pytest --lab-root DIR` mean `pytest --lab-root=DIR`, before pytest starts.

Why this exists: pytest chooses its configuration file from the paths on its command line
before any plugin is loaded. Written with a space, `--lab-root DIR` looks to pytest like an
unknown option followed by a test path, DIR, so pytest reads DIR's pyproject.toml (or
pytest.ini, ...) and with it DIR's plugins and conftest.py: a submission would grade itself.
No pytest plugin can prevent that, because the choice is made before plugins load. Python
runs the import line of a `.pth` file in site-packages at start-up, before pytest; this
module, imported from there, joins `--lab-root DIR` into one word in sys.argv when the
program is pytest, so pytest keeps the kit's configuration. It changes nothing else, and
nothing in any other program.
"""

import os
import sys

PYTEST_PROGRAMS = {"pytest", "py.test", "pytest.exe", "py.test.exe"}


def runs_pytest(orig_argv: list[str], argv: list[str]) -> bool:
    """Whether this interpreter runs pytest: the `pytest` script or `python -m pytest`."""
    if argv and os.path.basename(argv[0]) in PYTEST_PROGRAMS:
        return True
    for index, arg in enumerate(orig_argv[1:], 1):
        if arg == "-m":
            return orig_argv[index + 1:index + 2] == ["pytest"]
        if arg.startswith("-m"):
            return arg[2:] == "pytest"
        if not arg.startswith("-"):
            return False  # a script or a command: not `-m pytest`
    return False


def join_lab_root(argv: list[str]) -> None:
    """Rewrite `--lab-root DIR` as `--lab-root=DIR`, in place (up to a `--`)."""
    index = 1
    while index < len(argv) - 1 and argv[index] != "--":
        if argv[index] == "--lab-root":
            argv[index:index + 2] = [f"--lab-root={argv[index + 1]}"]
        index += 1


if "--lab-root" in getattr(sys, "argv", ()) and runs_pytest(
        getattr(sys, "orig_argv", []), sys.argv):
    join_lab_root(sys.argv)
