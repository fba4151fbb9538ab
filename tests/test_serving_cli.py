"""The servers' command lines: every flag checked where it enters.

A value that makes no sense (inf, nan, negative, huge, not a number, not UTF-8) gets one
line that names the flag and what it takes, exit code 2, no traceback, no hang; a value
that does gets a server that starts (and stops on SIGTERM with exit code 0), or one line
and exit code 1 when what it names is not there (a story file, a port that is taken).

First the values the issues name, all servers at once; then hypothesis draws arbitrary
ones (floats finite and not, huge integers, any text, bytes that are not UTF-8), a few
examples per run so that the file stays fast.
"""

from __future__ import annotations

import math
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_serving import SERVERS, runners  # the module-scoped `runners` fixture too

from labkit.procs import LabProcess, ProcessError

__all__ = ["runners"]  # a fixture, used by name

NOT_UTF8 = os.fsdecode(b"caf\xe9")  # Latin-1 bytes, as a shell passes them on: not UTF-8

# The flags of each server that take a value: the shared ones, then the lab's own.
SHARED = ["--port", "--workers", "--max-calls", "--host"]
OWN = {
    "story": ["--delay", "--pace", "--chunk-size", "--story", "--finish"],
    "chill": ["--chill-a", "--chill-b"],
    "game": ["--seed", "--secret"],
    "files": ["--chunk-size", "--root", "--hash-target"],
}
# What the numeric flags take: whole numbers from low to high, seconds from low to high.
WHOLE = {"--port": (0, 65535), "--workers": (1, 10_000), "--max-calls": (1, 10_000),
         "--secret": (1, 100), "--seed": (-2**63, 2**63 - 1)}
CHUNK_SIZES = {"story": (1, 1024 * 1024), "files": (1, 3 * 1024 * 1024)}
SECONDS = {"--delay": (0, 3600), "--pace": (0, 3600), "--chill-a": (0, 3600),
           "--chill-b": (0, 3600)}


def start(runners, name: str, flag: str, value: str) -> LabProcess:
    lab, process, args, _ = SERVERS[name]
    if flag == "--seed":
        args = ()  # not with --secret: the one or the other
    # --flag=value: a value that starts with "-" is the flag's value, not another flag.
    return runners[lab].start(process, "--port", "0", *args, f"{flag}={value}")


def makes_sense(name: str, flag: str, value: str) -> bool | None:
    """Whether the flag takes the value (None: not a number flag, no opinion)."""
    low_high = CHUNK_SIZES[name] if flag == "--chunk-size" else WHOLE.get(flag)
    if low_high:
        whole = re.fullmatch(r"\s*[+-]?[0-9]{1,20}\s*", value)
        return bool(whole) and low_high[0] <= int(value) <= low_high[1]
    if flag in SECONDS:
        try:
            seconds = float(value)
        except ValueError:
            return False
        return math.isfinite(seconds) and SECONDS[flag][0] <= seconds <= SECONDS[flag][1]
    return None


def check(server: LabProcess, name: str, flag: str, value: str) -> None:
    """The server started and stops cleanly, or it said why not in one line."""
    try:
        server.wait_ready(timeout=20)
        started = True
    except ProcessError:
        started = False  # it exited first
    if started:
        assert server.stop() == 0, server.describe()
    else:
        code = server.wait(timeout=10)
        said = [line for line in server.stderr.splitlines() if not line.startswith("INFO:")]
        assert len(said) == 1, server.describe()
        if code == 2:  # the line names the flag
            assert re.search(rf"(^|\W){re.escape(flag)}\b", said[0]), server.describe()
        else:  # a story file that is not there, a port or an address we cannot listen on
            assert code == 1 and ("Cannot serve" in said[0] or "Cannot listen" in said[0]), \
                server.describe()
    assert "Traceback" not in server.stderr, server.describe()
    expected = makes_sense(name, flag, value)
    if expected is False:
        assert not started and server.popen.returncode == 2, (flag, value, server.describe())
    elif expected and flag != "--port":
        assert started, (flag, value, server.describe())


# The values the issues name, and their kind: every server at once.
NAMED = [
    ("chill", "--chill-a", "inf"), ("chill", "--chill-b", "nan"),
    ("story", "--delay", "inf"), ("story", "--delay", "-1"), ("story", "--delay", "1e300"),
    ("story", "--pace", "nan"), ("story", "--chunk-size", "0"), ("files", "--chunk-size", "1e3"),
    ("hello", "--workers", str(10**9)), ("counter", "--max-calls", "0"),
    ("cross", "--port", "70000"), ("hash", "--port", "-1"), ("game", "--secret", "101"),
    ("game", "--seed", "1.5"), ("story", "--story", NOT_UTF8), ("files", "--root", NOT_UTF8),
    ("files", "--hash-target", NOT_UTF8), ("hello", "--host", NOT_UTF8),
    ("counter", "--host", ""), ("game", "--host", "localhost\nINFO:root:forged"),
    ("chill", "--workers", "3.0"), ("story", "--finish", "maybe"),
]


def test_the_named_values_get_one_line_naming_the_flag(runners) -> None:
    servers = [(start(runners, name, flag, value), name, flag, value)
               for name, flag, value in NAMED]
    for server, name, flag, value in servers:
        check(server, name, flag, value)
        assert server.popen.returncode == 2, (flag, value)


VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),  # "inf", "nan", "1e+300"
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.text(max_size=30),
    st.binary(max_size=20).map(os.fsdecode),  # bytes as a shell passes them: not UTF-8
).filter(lambda value: "\0" not in value)  # a command line cannot hold NUL


@pytest.mark.slow  # 12 programs started one after the other: about 6 s
@settings(max_examples=int(os.environ.get("LABKIT_EXAMPLES", 12)), deadline=None, database=None,
          derandomize=os.environ.get("LABKIT_EXAMPLES") is None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_value_of_any_flag(runners, data) -> None:
    name = data.draw(st.sampled_from(sorted(SERVERS)), label="server")
    flag = data.draw(st.sampled_from(SHARED + OWN.get(name, [])), label="flag")
    value = data.draw(VALUES, label="value")
    check(start(runners, name, flag, value), name, flag, value)
