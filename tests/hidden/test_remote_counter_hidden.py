"""remote_counter, hidden tests: not in the starter copy; students see their results once
grades are published. They check what the visible tests leave out:

- a whole class subscribes at once: each count is its own (a counter kept on the servicer,
  shared by every call, mixes them up), and one client leaving stops no one else;
- a client whose process is killed says no goodbye (no cancel, only a closed connection):
  the server must notice that too, and free the worker.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import test_remote_counter
from test_remote_counter import (
    AT_ONCE,
    LAB,
    LONG,
    CountRequest,
    Subscriber,
    count,
    wait_until_counting,
)

from labkit.procs import LabProcess, target

assert LAB == "remote_counter"

# The visible tests' fixture, which pytest starts again for this module: its own servers.
servers = test_remote_counter.servers


def consecutive_from(values: list[int], start: int) -> bool:
    return values == list(range(start + 1, start + 1 + len(values)))


def test_each_subscriber_counts_on_its_own(servers: dict[str, LabProcess]) -> None:
    address = target(servers["default"])
    starts = {0: 0.05, 1000: 0.07, -50: 0.03}  # from_val: step_sec
    subscribers = {start: Subscriber(address, start, step) for start, step in starts.items()}
    try:
        for subscriber in subscribers.values():
            subscriber.wait_for(6, AT_ONCE)
        for start, subscriber in subscribers.items():
            assert len(subscriber.values) >= 6 and consecutive_from(subscriber.values, start), (
                f"Three clients counting at once (from {', '.join(map(str, starts))}) should "
                f"each get their own count: from {start}, {start + 1}, {start + 2}, ...; "
                f"this one got {subscriber.seen()}.")
        subscribers[1000].leave("cancels")
        for start in (0, -50):
            subscriber = subscribers[start]
            more = len(subscriber.values) + 3
            assert subscriber.wait_for(more, AT_ONCE) and \
                consecutive_from(subscriber.values, start), (
                    "When one client of three leaves, the others should go on counting, each "
                    f"its own count; the one counting from {start} got {subscriber.seen()}.")
    finally:
        for subscriber in subscribers.values():
            subscriber.close()


# The test's own client, as a process of its own so that it can be killed: it calls Count
# with the request's bytes (given in hex) and reads counts until it is killed.
CLIENT = """
import sys
import grpc
channel = grpc.insecure_channel(sys.argv[1], options=[("grpc.enable_http_proxy", 0)])
call = channel.unary_stream("/counter.Counter/Count")(bytes.fromhex(sys.argv[2]), timeout=300)
for count in call:
    print(count.hex(), flush=True)
"""


def test_a_killed_client_frees_its_worker(servers: dict[str, LabProcess],
                                          tmp_path: Path) -> None:
    server = servers["one worker"]
    mark = len(server.lines)
    request = CountRequest(from_val=4242, step_sec=LONG).SerializeToString().hex()
    with LabProcess([sys.executable, "-c", CLIENT, target(server), request], tmp_path,
                    name="the test's client") as client:
        wait_until_counting(server, 4242, mark, ended=lambda: not client.alive)
        client.signal(signal.SIGKILL)
        client.wait(timeout=5)
        second = count(target(server), 100, 0.05, 2, timeout=AT_ONCE)
    assert len(second.values) == 2, (
        f"When a client's process is killed during a {LONG:g} s step (no cancel, only its "
        f"connection closes), the server should stop counting for it at once and free its "
        f"only worker (--workers 1); a second client (from 100, step 0.05) got "
        f"{second.ended()}.")
