"""What the lab tests' failure messages share: where a program's output parts from the
expected lines, and what a student's function raised, each said in one line that a grade
report can show as it is (issue 12.1)."""

from __future__ import annotations

import re


def cut(text: str, limit: int = 100) -> str:
    """A long text cut short, saying how long it was."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def hex_of(data: bytes, limit: int = 16) -> str:
    """Bytes in hex, the first `limit` of them when there are more."""
    text = data[:limit].hex(" ")
    return text if len(data) <= limit else f"{text} ... ({len(data)} bytes)"


def said(text: str) -> str:
    """What a program printed, in short: its first line, and how many more there were."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "nothing"
    more = f" (and {len(lines) - 1} more lines)" if len(lines) > 1 else ""
    return f"`{cut(lines[0], 200)}`{more}"


def first_difference(expected: str, seen: str) -> str:
    """Where two outputs part, in one line: the first line that differs, both ways."""
    want, have = expected.splitlines(), seen.splitlines()
    for number in range(max(len(want), len(have))):
        line = want[number] if number < len(want) else "(no more lines)"
        got = have[number] if number < len(have) else "(no more lines)"
        if line != got:
            return f"line {number + 1} should be `{cut(line)}` but is `{cut(got)}`."
    return "the lines are the same."


def raised(traceback_text: str) -> str:
    """A traceback said in one line: the exception, and the last place it went through
    (the student's file and line), then the traceback's last lines below it."""
    lines = traceback_text.strip().splitlines()
    places = [line.strip() for line in lines if re.match(r"\s*File \"", line)]
    where = f" ({places[-1]})" if places else ""
    return f"{cut(lines[-1] if lines else 'an exception', 200)}{where}.\n" + \
        "\n".join(lines[-5:])
