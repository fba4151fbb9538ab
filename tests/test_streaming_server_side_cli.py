"""streaming_server_side's command lines: a mistake in a flag gets one clear line.

Not graded (labkit/labs.py does not list this module among the lab's tests): the flags are
checked by code outside the solution regions, which the starter copy keeps. The lab's
graded tests are in test_streaming_server_side.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.procs import LabRunner

LAB = "streaming_server_side"


# Mistakes on the command line: code outside the solution regions (the starter keeps it),
# so these pass on the starter copy too.
@pytest.mark.parametrize("process, args, code, complaint", [
    ("client", ("--output", "{tmp}/no-such-folder/out.txt"), 1, "Cannot write"),
    ("server", ("--story", "no-such-story.txt"), 1, "no-such-story.txt"),
    ("server", ("--story", "{tmp}"), 1, "--story PATH"),  # a folder, not a file
    ("server", ("--chunk-size", "0"), 2, "--chunk-size"),
    ("server", ("--delay", "-1"), 2, "--delay"),
    ("server", ("--pace", "nan"), 2, "--pace"),
    ("server", ("--workers", "0"), 2, "--workers"),
    ("server", ("--finish", "maybe"), 2, "--finish"),
], ids=["unwritable --output", "missing --story", "--story a folder", "chunk size 0",
        "negative delay", "pace nan", "no workers", "finish maybe"])
def test_command_line_mistakes_get_one_clear_line(lab: LabRunner, tmp_path: Path,
                                                  free_port: int, process: str,
                                                  args: tuple[str, ...], code: int,
                                                  complaint: str) -> None:
    args = tuple(arg.replace("{tmp}", str(tmp_path)) for arg in args)
    where = ("--target", f"localhost:{free_port}") if process == "client" else ("--port", "0")
    result = lab.run(process, *where, *args, timeout=10)
    assert result.returncode == code, result.output  # 2: argparse's usage error
    assert complaint in result.stderr.splitlines()[-1], result.stderr
    assert "Traceback" not in result.stderr
    if code == 1:
        assert len(result.stderr.splitlines()) == 1, result.stderr
