"""The harness itself: waiting for lines under a deadline, signals, stopping for sure."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from labkit.procs import LabProcess, ProcessError

PY = sys.executable


def script(code: str) -> list[str]:
    return [PY, "-u", "-c", code]


def test_ready_line_gives_the_port(tmp_path) -> None:
    with LabProcess(script("print('INFO: Server started on port 43210')\nimport time\n"
                           "time.sleep(30)"), tmp_path) as proc:
        assert proc.wait_ready(timeout=10) == 43210
        assert proc.port == 43210


def test_missing_ready_line_fails_within_deadline_with_output(tmp_path) -> None:
    with LabProcess(script("print('booting, never ready')\nimport time\ntime.sleep(30)"),
                    tmp_path, name="stuck") as proc:
        started = time.monotonic()
        with pytest.raises(ProcessError) as failure:
            proc.wait_ready(timeout=1.0)
        assert time.monotonic() - started < 1.0 + 1.0
    message = str(failure.value)
    assert "did not print" in message and "within 1 s" in message
    assert "booting, never ready" in message  # the process's own output is shown


def test_process_that_dies_early_fails_at_once(tmp_path) -> None:
    with LabProcess(script("import sys\nprint('bad config', file=sys.stderr)\nsys.exit(3)"),
                    tmp_path) as proc:
        started = time.monotonic()
        with pytest.raises(ProcessError) as failure:
            proc.wait_ready(timeout=20)
        assert time.monotonic() - started < 10  # not the 20 s deadline
    assert "exited with 3" in str(failure.value)
    assert "bad config" in str(failure.value)


def test_stdin_is_fed_and_output_captured_by_stream(tmp_path) -> None:
    code = "import sys\nfor line in sys.stdin:\n    print(line.strip().upper())\n" \
           "print('done', file=sys.stderr)"
    with LabProcess(script(code), tmp_path) as proc:
        proc.send("hello\nzoë\n")
        proc.close_stdin()
        assert proc.wait(timeout=10) == 0
    assert proc.stdout == "HELLO\nZOË\n"
    assert proc.stderr == "done\n"


def test_signal_reaches_the_process(tmp_path) -> None:
    code = ("import signal, sys, time\n"
            "signal.signal(signal.SIGINT, lambda *a: (print('got SIGINT'), sys.exit(0)))\n"
            "print('waiting')\ntime.sleep(30)")
    with LabProcess(script(code), tmp_path) as proc:
        proc.wait_for("waiting", timeout=10)
        proc.signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
    assert "got SIGINT" in proc.stdout


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path) -> None:
    code = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('stubborn')\ntime.sleep(60)")
    proc = LabProcess(script(code), tmp_path)
    proc.wait_for("stubborn", timeout=10)
    proc.stop(timeout=0.5)
    assert not proc.alive
    assert proc.popen.returncode == -signal.SIGKILL


def test_context_stops_the_process_when_the_caller_fails(tmp_path) -> None:
    with pytest.raises(RuntimeError):
        with LabProcess(script("import time\nprint('up')\ntime.sleep(60)"), tmp_path) as proc:
            proc.wait_for("up", timeout=10)
            raise RuntimeError("the test failed here")
    assert not proc.alive
