"""The kit's pytest plugin: `--lab-root`, the sandbox of lab processes, failure feedback,
and grading (`--grade`, `--grade-json`).

pyproject.toml loads it with `-p labkit.plugin`, before any conftest, so that pytest knows
that `--lab-root` takes a value. (Written `--lab-root DIR` with a space, pytest would take
DIR for a test path, and read DIR's own configuration: the kit's pytest guard,
labkit/pytest_guard/, rewrites it to `--lab-root=DIR` before pytest starts.)

For every test it
- runs lab processes in the sandbox (labkit/sandbox.py): as an unprivileged user when we
  are root, and kills, when the test ends, any process a lab program left behind;
- adds to a failing test's report what was expected and seen and what each lab process of
  the test printed (labkit/feedback.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from labkit import feedback, procs
from labkit.labs import REPO_ROOT
from labkit.sandbox import Sandbox

SANDBOX = pytest.StashKey[Sandbox]()
STARTED_AT = pytest.StashKey[float]()
WATCHED = pytest.StashKey[list[feedback.Watch]]()
FAILURE = pytest.StashKey[str]()
FEEDBACK_SECTION = "what went wrong"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lab-root", action="append", default=[], metavar="DIR",
        help="run the lab tests against the labs under DIR (a student's copy); default: "
             "this repository. Given several times, every lab test runs against each.")
    group = parser.getgroup("labkit grading")
    group.addoption("--grade", action="store_true",
                    help="grade: run only the lab tests and end with each lab's rubric")
    group.addoption("--grade-json", metavar="FILE",
                    help="also write Gradescope's results.json to FILE (implies --grade)")
    group.addoption("--grade-timeout", type=float, default=None, metavar="SECONDS",
                    help="deadline of each test while grading (default: 30)")


def lab_roots(config: pytest.Config) -> list[Path]:
    """The copies of the labs under test (`--lab-root`, default: this repository)."""
    return [Path(root).resolve() for root in config.getoption("--lab-root")] or [REPO_ROOT]


def grading(config: pytest.Config) -> bool:
    return bool(config.getoption("--grade") or config.getoption("--grade-json"))


def pytest_configure(config: pytest.Config) -> None:
    if grading(config):
        from labkit.grading import Grader

        if getattr(config.option, "numprocesses", None):
            # With pytest-xdist the results stay in the workers: the report would be empty.
            raise pytest.UsageError("--grade runs the tests one at a time: leave out -n")
        # A test module that cannot even be imported costs its tests, not the whole run.
        config.option.continue_on_collection_errors = True
        config.pluginmanager.register(Grader(config), "labkit-grader")


def sandbox_of(config: pytest.Config) -> Sandbox:
    """This test process's sandbox, made on first use."""
    if SANDBOX not in config.stash:
        sandbox = Sandbox.for_this_process()
        config.stash[SANDBOX] = sandbox
        procs.DEFAULT_SANDBOX = sandbox
    return config.stash[SANDBOX]


@pytest.fixture(scope="session")
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """Where lab processes run (see labkit/sandbox.py)."""
    return sandbox_of(request.config)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    # Before anything writes a result: no process of a submission may still run.
    sandbox = session.config.stash.get(SANDBOX, None)
    if sandbox is not None:
        sandbox.close()
        procs.DEFAULT_SANDBOX = None


# --- each test: watch the lab processes, explain a failure, leave nothing running -------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[WATCHED] = feedback.watch(p for p in list(procs.STARTED) if p.alive)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed and call.excinfo is not None and call.when in ("setup", "call"):
        before = item.stash.get(WATCHED, [])
        known = {id(w.process) for w in before}
        watched = [*before, *(feedback.Watch(p, 0) for p in list(procs.STARTED)
                             if id(p) not in known and p.started_at >= item_started(item))]
        message = feedback.message_of(call.excinfo.value, report.longreprtext)
        text = feedback.failure_text(message, watched, roots_of(item))
        item.stash[FAILURE] = text
        report.sections.append((FEEDBACK_SECTION, text))
    return report


def item_started(item: pytest.Item) -> float:
    return item.stash.get(STARTED_AT, 0.0)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem) -> None:
    item.stash[STARTED_AT] = time.monotonic()


def roots_of(item: pytest.Item) -> list[Path]:
    """Folders whose paths are shown relative in feedback: the labs under test."""
    roots = [*lab_roots(item.config)]
    sandbox = item.config.stash.get(SANDBOX, None)
    if sandbox is not None:
        roots += [*sandbox.snapshots, sandbox.base]
    return roots


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    # After the test's fixtures are gone: whatever a lab program left behind (a server
    # that forked twice, say) goes too. Processes still owned by a live fixture stay.
    sandbox = item.config.stash.get(SANDBOX, None)
    if sandbox is not None:
        alive = [p.popen.pid for p in list(procs.STARTED) if p.alive]
        sandbox.kill_strays(keep=alive)
