"""hello_world, black box: the student's server through the test's own client, the
student's client against a stand-in server of the test's own, and both together as the
slides run them.

The stand-in answers with a reply the reference server could never give, so a client earns
its points only by calling SayHello and printing what came back.
"""

from __future__ import annotations

import signal
import threading

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from labkit.procs import LabRunner, target
from labkit.protocol import lab_proto
from labkit.testing import (
    StandIn,
    assert_health_serving,
    assert_refuses_busy_port,
    assert_says_no_server,
    token,
)

LAB = "hello_world"
PROTO = lab_proto(LAB)
HelloRequest = PROTO.message("HelloRequest")
HelloReply = PROTO.message("HelloReply")


@pytest.fixture
def server(lab: LabRunner):
    """A server of this test alone (a test that stops it, or starts a second one)."""
    return lab.start_server()


@pytest.fixture(scope="module")
def shared(runner: LabRunner):
    """One server for the tests that only call it: started once, checked by each."""
    return runner.start_server()


class Greeter:
    """The stand-in's SayHello: a greeting of its own, never the reference's."""

    def __init__(self) -> None:
        self.word = f"Bonjour-{token()}"

    def reply_to(self, name: str) -> str:
        return f"{self.word}, {name}?"

    def SayHello(self, request, context):
        return HelloReply(message=self.reply_to(request.name))


class SilentGreeter:
    """A stand-in that never answers (until the test ends): a client without a deadline
    would wait forever."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def SayHello(self, request, context):
        self.release.wait(30)
        return HelloReply(message="too late")


# --- the servicer, through the test's own client ------------------------------------------

@pytest.mark.parametrize("name", ["World", "Ada", "Zoë 李", ""])
def test_server_greets_by_name(shared, name: str) -> None:
    with grpc.insecure_channel(target(shared)) as channel:
        try:
            reply = PROTO.stub(channel, "Greeter").SayHello(HelloRequest(name=name), timeout=10)
        except grpc.RpcError as error:
            pytest.fail(f"SayHello(name={name!r}) should answer 'Hello, {name}!'; the server "
                        f"answered {error.code().name}: {error.details()}", pytrace=False)
    expected = f"Hello, {name}!"
    assert reply.message == expected, (
        f"SayHello(name={name!r}) should answer {expected!r} (the slides' greeting); "
        f"the server answered {reply.message!r}.")


# --- the client, against the stand-in --------------------------------------------------------

@pytest.mark.parametrize("name", [None, "Ada Lovelace", "Zoë 李"])
def test_client_prints_the_servers_reply(lab: LabRunner, name: str | None) -> None:
    greeter = Greeter()
    with StandIn(LAB, "Greeter", greeter) as stand_in:
        args = ("--target", stand_in.target) + (("--name", name) if name is not None else ())
        result = lab.run("client", *args)
    sent = name if name is not None else "World"
    expected = f"Client received: {greeter.reply_to(sent)}\n"
    assert [call.method for call in stand_in.calls] == ["SayHello"], (
        f"The client should call SayHello once; the test's server received "
        f"{[call.method for call in stand_in.calls] or 'no call'}.")
    assert stand_in.calls[0].request.name == sent, (
        f"The client should send the name {sent!r} in its HelloRequest; it sent "
        f"{stand_in.calls[0].request.name!r}.")
    assert result.stdout == expected and result.returncode == 0, (
        f"The client should print {expected.strip()!r} (what the server answered) and exit "
        f"0; it printed {result.stdout.strip()!r} and exited {result.returncode}.")


def test_client_sets_a_deadline(lab: LabRunner) -> None:
    greeter = Greeter()
    with StandIn(LAB, "Greeter", greeter) as stand_in:
        lab.run("client", "--target", stand_in.target, "--timeout", "7")
    assert stand_in.calls, "The client should call SayHello; the test's server got no call."
    deadline = stand_in.calls[0].deadline
    assert deadline is not None and 1 < deadline <= 7.5, (
        "The client should give SayHello a deadline (the --timeout, 7 s here) so that a "
        "silent server cannot hang it; "
        + ("it set none." if deadline is None else f"it set {deadline:.1f} s."))


def test_client_gives_up_on_a_silent_server(lab: LabRunner) -> None:
    silent = SilentGreeter()
    try:
        with StandIn(LAB, "Greeter", silent) as stand_in:
            client = lab.start("client", "--target", stand_in.target, "--timeout", "2")
            client.close_stdin()
            try:
                code = client.wait(timeout=15)
            except AssertionError:
                pytest.fail("The client should give up once its deadline (--timeout 2) "
                            "passes; it still waited after 15 s.", pytrace=False)
            finally:
                silent.release.set()
    finally:
        silent.release.set()
    assert code == 1 and "DEADLINE_EXCEEDED" in client.stderr, (
        "When the server does not answer within --timeout, the client should print one "
        "line with DEADLINE_EXCEEDED and exit 1; it exited "
        f"{code} and printed {client.stderr.strip()[-200:]!r}.")


# --- both, as the slides run them -----------------------------------------------------------

def test_slides_run(lab: LabRunner, shared) -> None:
    result = lab.run("client", "--target", target(shared))
    assert result.stdout == "Client received: Hello, World!\n" and result.returncode == 0, (
        "python client.py against python server.py should print the slides' line "
        f"'Client received: Hello, World!'; it printed {result.stdout.strip()!r} "
        f"(exit {result.returncode}).")


# --- what the kit gives: 0-point checks -------------------------------------------------------

def test_client_ignores_proxy_variables(lab: LabRunner, shared) -> None:
    # A proxy that does not exist: a client that used it could not reach the server.
    proxy = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
             "grpc_proxy": "http://127.0.0.1:9", "no_proxy": ""}
    result = lab.run("client", "--target", target(shared), "--timeout", "3", env=proxy)
    assert result.returncode != 2, result.output


def test_client_without_server_says_how_to_start_it(lab: LabRunner, free_port: int) -> None:
    result = lab.run("client", "--target", f"localhost:{free_port}", "--timeout", "1")
    assert_says_no_server(result, f"localhost:{free_port}", "python server.py")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_server_stops_gracefully_on_signal(lab: LabRunner, server, signum: int) -> None:
    server.signal(signum)
    assert server.wait(timeout=2 + 1) == 0, server.describe()  # 2 s, plus 1 s of slack
    assert "Server stopped" in server.stderr
    assert "Traceback" not in server.stderr


def test_reflection_lists_the_greeter(shared) -> None:
    with grpc.insecure_channel(target(shared)) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "helloworld.Greeter" in services
    assert "grpc.health.v1.Health" in services


def test_health_answers_serving(shared) -> None:
    assert_health_serving(target(shared), "helloworld.Greeter")


def test_server_reports_a_busy_port_clearly(lab: LabRunner, shared) -> None:
    second = lab.start("server", "--port", str(shared.port))
    assert_refuses_busy_port(second, shared.port)
