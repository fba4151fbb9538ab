"""Helpers for tests that need a toolchain (Go, CMake and gRPC C++): skip with a one-line
reason where it is missing, except under LABKIT_REQUIRE_ALL=1 (set by .ci/run), where a
missing toolchain fails the test instead of hiding it."""

from __future__ import annotations

import os
import shutil

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from labkit.procs import LabProcess, Result


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


def assert_says_no_server(result: Result, target: str, start_command: str,
                          timeout: float = 1.0) -> None:
    """The design's rule for a client whose server is not there: one line on stderr that
    names the target and the command that starts the server, no traceback, nothing on
    stdout, exit code 2, within its --timeout (plus a few seconds to start the program)."""
    assert result.returncode == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert target in lines[0] and start_command in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "panic" not in result.stderr
    assert result.duration < timeout + 3


def assert_refuses_busy_port(second: LabProcess, port: int) -> None:
    """A second server started on a port that a first one holds: one clear line that names
    the port and the way out (--port 0), exit code 1, no traceback."""
    assert second.wait(timeout=10) == 1, second.describe()
    assert "Traceback" not in second.stderr
    assert str(port) in second.stderr and "--port 0" in second.stderr, second.stderr


def assert_health_serving(address: str, *services: str) -> None:
    """The standard health service answers SERVING for the server as a whole ("") and for
    each service named."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", *services):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
