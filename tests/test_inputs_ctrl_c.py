"""Issue 14: Ctrl+C at any moment ends a program of the labs cleanly: exit code 0 (the
design's, for clients; the kit's scripts do the same), no traceback.

"Any moment" includes the first half second, while grpc is being imported (found with
`python -X importtime`, which logs each import as it completes), the wait for a server
that never answers, and Ctrl+C pressed twice. (Python's own start, before a program's
first line runs, is not the program's to handle: the tests press Ctrl+C after it.)
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from inputs_support import (
    DEAD_PROXY,
    PROPERTY,
    SERVICES,
    SilentServer,
    imported,
    runners,
    stand_ins,
    with_import_times,
)

from labkit.labs import Process, get_lab
from labkit.procs import LabProcess, LabRunner

pytestmark = pytest.mark.slow  # a program start (~0.4 s) per case, some 50 cases

CLIENTS = {lab: "client" for lab in SERVICES}  # every client of the kit, in Python
CLIENT_ARGS = {"streaming_bidi": ("--auto",), "file_hash_service": ("a.txt",)}
SCRIPTS = [  # (lab, process, arguments): the programs that are no clients
    ("protobuf_exploration", "main", ()),
    ("protobuf_exploration", "decode", ()),  # reads stdin: Ctrl+C comes while it waits
    ("protobuf_exploration", "encodings", ()),
    ("protobuf_exploration", "benchmark", ("--number", "100", "--repeat", "2")),
    ("remote_counter", "local", ()),
    ("file_hash_service", "benchmark", ("--size", "1M", "--runs", "1")),
]
FILE_BENCHMARK = Process("benchmark", ("python", "benchmark.py"))  # not in the lab index


@pytest.fixture(scope="module")
def labs(lab_root: Path):
    yield from runners(lab_root, sorted({*CLIENTS, *(lab for lab, _, _ in SCRIPTS)}))


def process_of(lab: str, name: str) -> Process:
    if (lab, name) == ("file_hash_service", "benchmark"):
        return FILE_BENCHMARK
    return get_lab(lab).process(name)


def assert_ended_cleanly(program: LabProcess) -> None:
    code = program.wait(timeout=10)
    assert code == 0, program.describe()  # never -2: "killed by Ctrl+C"
    assert "Traceback" not in program.stderr and "KeyboardInterrupt" not in program.stderr, \
        program.describe()


def press_ctrl_c_while_loading(runner: LabRunner, process: Process, *args: str,
                               module: str = "") -> bool:
    """Start the program, press Ctrl+C as soon as calling.py has been imported, and check
    that it ends cleanly. True if `module` (imported after calling.py, and slower) was
    still loading when Ctrl+C came."""
    program = runner.start(with_import_times(process), *args, env=DEAD_PROXY)
    program.wait_for(imported("calling"), timeout=15)
    program.interrupt()
    pressed = len(program.lines)
    assert_ended_cleanly(program)
    return not any(line.endswith(f"| {module}") for _, line in program.lines[:pressed])


@pytest.mark.parametrize("lab", list(CLIENTS))
def test_ctrl_c_while_grpc_is_being_imported(labs, lab: str) -> None:
    process = get_lab(lab).process(CLIENTS[lab])
    # Importing grpc takes a few hundred milliseconds, the reaction to a line a few: almost
    # always Ctrl+C comes while grpc loads. A slow machine may need another try.
    assert any(press_ctrl_c_while_loading(labs[lab], process, *CLIENT_ARGS.get(lab, ()),
                                          module="grpc")
               for _ in range(3)), "Ctrl+C never came while grpc was being imported"


@pytest.mark.parametrize("lab, name, args", SCRIPTS, ids=[f"{lab}-{name}"
                                                         for lab, name, _ in SCRIPTS])
def test_ctrl_c_while_a_script_starts(labs, lab: str, name: str, args: tuple[str, ...]) -> None:
    press_ctrl_c_while_loading(labs[lab], process_of(lab, name), *args)


@pytest.mark.parametrize("lab", list(CLIENTS))
def test_ctrl_c_while_waiting_for_a_server_that_never_answers(labs, lab: str) -> None:
    silent = SilentServer()
    try:
        client = labs[lab].start(CLIENTS[lab], "--target", silent.target, "--timeout", "30",
                                 *CLIENT_ARGS.get(lab, ()), env=DEAD_PROXY)
        assert silent.accepted.wait(15), client.describe()  # it connected, and now waits
        client.interrupt()
        assert_ended_cleanly(client)
        assert "Cancelled by user (Ctrl+C)." in client.stderr, client.describe()
    finally:
        silent.close()


@pytest.fixture(scope="module")
def hanging_servers():
    """A stand-in server per lab whose every call waits until it is cancelled."""
    yield from stand_ins(list(CLIENTS), hanging=True)


@PROPERTY
@given(lab=st.sampled_from(list(CLIENTS)), delay=st.floats(0, 0.8),
       again=st.none() | st.floats(0, 0.3))
def test_ctrl_c_once_or_twice_at_any_moment(labs, hanging_servers, lab: str, delay: float,
                                            again: float | None) -> None:
    """Ctrl+C from the moment the client has imported calling.py on: while it loads grpc,
    connects, calls; pressed again (`again` seconds later) while the first one is handled."""
    process = with_import_times(get_lab(lab).process(CLIENTS[lab]))
    client = labs[lab].start(process, "--target", hanging_servers[lab].target,
                             *CLIENT_ARGS.get(lab, ()), env=DEAD_PROXY)
    try:
        client.wait_for(imported("calling"), timeout=15)
        time.sleep(delay)  # the moment chosen (not a wait for readiness)
        client.interrupt()
        if again is not None:
            time.sleep(again)
            client.interrupt()
        assert_ended_cleanly(client)
    finally:
        client.stop()
