"""`python -m labkit wire --bench`: what the wire proxy costs a call.

Starts hello_world's server and `python -m labkit wire` in front of it, both as processes
(the proxy printing every frame, as in class), then times hello calls of three kinds,
each directly and through the proxy, turn by turn, and prints the medians in a table
against the bound of issue 16: through the proxy, at most twice the direct time plus
50 ms. It exits 1 if a kind of call is over the bound.

- a call on an open channel: SayHello on a channel whose connection is up;
- a new channel: connect, SayHello, close (the proxy connects to the server too);
- `python client.py` as a student runs it: a new process, connect, one call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import grpc

from labkit.labs import REPO_ROOT, get_lab
from labkit.procs import LabProcess, LabRunner, target
from labkit.protocol import lab_proto

CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]
ALLOWED_FACTOR = 2.0
ALLOWED_EXTRA = 0.050  # seconds


def say_hello(channel: grpc.Channel) -> None:
    hello = lab_proto("hello_world")
    reply = hello.stub(channel, "Greeter").SayHello(hello.message("HelloRequest")(name="Ada"),
                                                    timeout=10)
    assert reply.message == "Hello, Ada!", reply


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def kinds(runner: LabRunner) -> dict[str, Callable[[str], object]]:
    """Each kind of call, as a function of the address to call."""
    open_channels: dict[str, grpc.Channel] = {}

    def on_open_channel(address: str) -> None:
        if address not in open_channels:
            open_channels[address] = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        say_hello(open_channels[address])

    def on_new_channel(address: str) -> None:
        # A subchannel pool of its own: else gRPC reuses the connection of another channel.
        options = [*CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
        with grpc.insecure_channel(address, options=options) as channel:
            say_hello(channel)

    def client_run(address: str) -> None:
        result = runner.run("client", "--target", address, "--name", "Ada")
        assert result.returncode == 0, result.output

    return {"SayHello on an open channel": on_open_channel,
            "new channel: connect, SayHello": on_new_channel,
            "python client.py (new process)": client_run}


def run(calls: int = 20) -> int:
    print(f"Timing hello_world calls, {calls} of each kind directly and {calls} through "
          "`python -m labkit wire` (printing every frame) ...", flush=True)
    with LabRunner(get_lab("hello_world"), REPO_ROOT) as runner:
        server = runner.start_server()
        wire = LabProcess(["python", "-m", "labkit", "wire", "--to", target(server),
                           "--port", "0"], cwd=REPO_ROOT, name="wire")
        try:
            wire.wait_ready()
            addresses = {"direct": target(server), "wire": target(wire)}
            rows = []
            for name, call in kinds(runner).items():
                for address in addresses.values():
                    call(address)  # warm up: imports, connections, the reflection lookup
                times: dict[str, list[float]] = {"direct": [], "wire": []}
                for _ in range(calls):
                    for way, address in addresses.items():
                        times[way].append(timed(lambda: call(address)))  # noqa: B023
                rows.append((name, statistics.median(times["direct"]),
                             statistics.median(times["wire"])))
        finally:
            wire.stop()
    print(table(rows, calls))
    return 0 if all(within_bound(direct, wire) for _, direct, wire in rows) else 1


def within_bound(direct: float, wire: float) -> bool:
    return wire <= ALLOWED_FACTOR * direct + ALLOWED_EXTRA


def table(rows: list[tuple[str, float, float]], calls: int) -> str:
    head = (f"{'median of ' + str(calls):<32} {'direct':>10} {'via wire':>10} "
            f"{'bound: 2x+50ms':>15}  within")
    lines = [head, "-" * len(head)]
    for name, direct, wire in rows:
        bound = ALLOWED_FACTOR * direct + ALLOWED_EXTRA
        lines.append(f"{name:<32} {direct * 1000:>7.1f} ms {wire * 1000:>7.1f} ms "
                     f"{bound * 1000:>12.1f} ms  {'yes' if within_bound(direct, wire) else 'NO'}")
    return "\n".join(lines)
