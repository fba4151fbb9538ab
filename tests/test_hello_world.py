"""hello_world, black box: the real server and client as processes."""

from __future__ import annotations

import signal

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from labkit.procs import LabRunner, target
from labkit.testing import assert_health_serving, assert_refuses_busy_port, assert_says_no_server

LAB = "hello_world"


@pytest.fixture
def server(lab: LabRunner):
    return lab.start_server()


def test_default_greeting(lab: LabRunner, server) -> None:
    result = lab.run("client", "--target", target(server))
    assert result.returncode == 0, result.output
    assert result.stdout == "Client received: Hello, World!\n"


def test_name_with_non_ascii_text(lab: LabRunner, server) -> None:
    result = lab.run("client", "--target", target(server), "--name", "Zoë 李")
    assert result.returncode == 0, result.output
    assert result.stdout == "Client received: Hello, Zoë 李!\n"


def test_empty_name_is_greeted_as_is(lab: LabRunner, server) -> None:
    # Documented in hello_world/README.md: "" is proto3's default, a valid request.
    result = lab.run("client", "--target", target(server), "--name", "")
    assert result.returncode == 0, result.output
    assert result.stdout == "Client received: Hello, !\n"


def test_client_ignores_proxy_variables(lab: LabRunner, server) -> None:
    # A proxy that does not exist: a client that used it could not reach the server.
    proxy = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
             "grpc_proxy": "http://127.0.0.1:9", "no_proxy": ""}
    result = lab.run("client", "--target", target(server), "--timeout", "3", env=proxy)
    assert result.returncode == 0, result.output
    assert "Hello, World!" in result.stdout


def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "1")
    assert_says_no_server(result, f"localhost:{free_port}", "python server.py")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_server_stops_gracefully_on_signal(lab: LabRunner, server, signum: int) -> None:
    server.signal(signum)
    assert server.wait(timeout=2 + 1) == 0, server.describe()  # 2 s, plus 1 s of slack
    assert "Server stopped" in server.stderr
    assert "Traceback" not in server.stderr


def test_reflection_lists_the_greeter(server) -> None:
    with grpc.insecure_channel(target(server)) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "helloworld.Greeter" in services
    assert "grpc.health.v1.Health" in services


def test_health_answers_serving(server) -> None:
    assert_health_serving(target(server), "helloworld.Greeter")


def test_server_reports_a_busy_port_clearly(lab: LabRunner, server) -> None:
    second = lab.start("server", "--port", str(server.port))
    assert_refuses_busy_port(second, server.port)
