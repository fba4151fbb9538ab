"""Helpers for tests that need a toolchain (Go, CMake and gRPC C++): skip with a one-line
reason where it is missing, except under LABKIT_REQUIRE_ALL=1 (set by .ci/run), where a
missing toolchain fails the test instead of hiding it."""

from __future__ import annotations

import os
import shutil

import pytest


def require(condition: bool, reason: str) -> None:
    """Skip (or fail, with LABKIT_REQUIRE_ALL=1) unless `condition` holds."""
    if condition:
        return
    if os.environ.get("LABKIT_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (LABKIT_REQUIRE_ALL=1: nothing may be skipped)", pytrace=False)
    pytest.skip(reason)


def require_commands(*commands: str, why: str) -> None:
    """Require programs on PATH, e.g. require_commands("go", why="the Go client")."""
    missing = [command for command in commands if shutil.which(command) is None]
    require(not missing, f"{why} needs {', '.join(missing)} on PATH")
