"""Assistant client: starts several slow calls at once over one channel and times them.

Start the server first (`python server.py`), then run `python client.py -a 2 -b 2`:
2 ChillA and 2 ChillB calls, all in flight at the same time over one HTTP/2 connection.
At the end it draws a timeline of the calls and compares the total time with what a
server pool of `--workers` threads, first come first served, predicts.
"""

import argparse
import logging
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import datetime

import grpc

from assistant_pb2 import ChatMessage
from assistant_pb2_grpc import AssistantServiceStub
from timeline import CallTiming, prediction_line, render_timeline

DEFAULT_TARGET = "localhost:50051"
# These labs talk to servers on your own machine or classroom network: a proxy set in
# the environment (http_proxy, ...) would only get in the way.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]
MSG_DEFAULT = "Time to chill."
MAX_CALLS = 50  # of each kind: enough to see queueing, not enough to flood the server
# The server tells, in each reply's trailing metadata, in which order the calls joined
# its queue, how long each one waited there and how long it ran (CallTimer in server.py).
ARRIVAL_KEY = "arrival"
QUEUED_SECONDS_KEY = "queued-seconds"
RAN_SECONDS_KEY = "ran-seconds"


def wait_for_server(channel: grpc.Channel, target: str, timeout: float) -> bool:
    """True once the channel is connected; False (with one line on stderr) if the server
    cannot be reached within `timeout` seconds."""
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        print(f"Cannot reach the server at {target} (waited {timeout:g} s). "
              "Start it first: python server.py", file=sys.stderr)
        return False


def timing(label: str, sent: float, replied: float, call: grpc.Call) -> CallTiming:
    """A finished call's times, with what the server said in the trailing metadata."""
    said = dict(call.trailing_metadata() or ())
    try:
        arrival = int(said[ARRIVAL_KEY])
        queued = float(said[QUEUED_SECONDS_KEY])
        ran = float(said[RAN_SECONDS_KEY])
    except (KeyError, ValueError):  # a server without CallTimer
        return CallTiming(label, sent, replied)
    return CallTiming(label, sent, replied, arrival, queued, ran)


def call_chill(stub: AssistantServiceStub, name: str, call_id: int, message: str,
               start_time: float, sent: threading.Event,
               in_flight: dict[str, grpc.Future]) -> CallTiming:
    """Make one ChillA or ChillB call and wait for its reply (runs on a pool thread).

    Sets `sent` as soon as the request is on its way, and keeps the call in `in_flight`
    so that Ctrl+C can cancel it.
    """
    # BEGIN SOLUTION Send the request, wait for the reply, log how long it took.
    rpc = stub.ChillA if name == "ChillA" else stub.ChillB
    logging.info(f"{datetime.now()}: Calling {name} {call_id}")
    start_t = time.monotonic()
    try:
        # future() sends the request and returns at once; result() waits for the reply.
        call = rpc.future(ChatMessage(id=call_id, message=message))
        in_flight[f"{name} {call_id}"] = call
    finally:
        sent.set()
    call.result()  # raises grpc.RpcError if the call failed
    end_t = time.monotonic()
    logging.info(f"{datetime.now()}: {name} {call_id} finished after {end_t - start_t:.2f} seconds")
    return timing(f"{name} {call_id}", start_t - start_time, end_t - start_time, call)
    # END SOLUTION


def start_calls(executor: ThreadPoolExecutor, stub: AssistantServiceStub,
                plan: list[tuple[str, int]], message: str, start_time: float,
                in_flight: dict[str, grpc.Future]) -> list[Future]:
    """Start every call of the plan on its own pool thread; return their futures."""
    # BEGIN SOLUTION Submit one call_chill per (name, id) of the plan to the executor.
    tasks = []
    for name, call_id in plan:
        sent = threading.Event()
        tasks.append(executor.submit(call_chill, stub, name, call_id, message, start_time,
                                     sent, in_flight))
        # Why wait: threads start in any order. Waiting until this call is sent (a
        # fraction of a millisecond) makes the calls leave in the order of the plan,
        # so that with -a 2 -b 2 it is a ChillB that waits, as in the slides.
        sent.wait()
    return tasks
    # END SOLUTION


def cancel_all(in_flight: dict[str, grpc.Future], log: bool) -> None:
    """Cancel every call that has not finished yet (the server sees it as CANCELLED)."""
    for label, call in list(in_flight.items()):
        if call.cancel() and log:  # cancel() is False for a call that had already ended
            logging.info(f"{datetime.now()}: {label} cancelled")


def run(target: str, num_a: int, num_b: int, workers: int, message: str,
        timeout: float) -> int:
    """Make the calls; return the exit code: 0 done (or Ctrl+C), 1 a call failed, 2 no server."""
    # One channel: every call below shares its one HTTP/2 connection, each call on a
    # stream of its own.
    with grpc.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        if not wait_for_server(channel, target, timeout):
            return 2
        stub = AssistantServiceStub(channel)
        plan = [("ChillA", i) for i in range(num_a)] + [("ChillB", i) for i in range(num_b)]
        labels = [f"{name} {call_id}" for name, call_id in plan]
        in_flight: dict[str, grpc.Future] = {}
        start_time = time.monotonic()
        # One thread per call, so that all of them are in flight at once (the default
        # pool size depends on the number of CPUs, and would queue calls here).
        with ThreadPoolExecutor(max_workers=max(1, len(plan))) as executor:
            try:
                tasks = start_calls(executor, stub, plan, message, start_time, in_flight)
                wait(tasks, return_when=FIRST_EXCEPTION)
            except KeyboardInterrupt:
                cancel_all(in_flight, log=True)
                channel.close()  # also ends a call that was just being started
                logging.info("Cancelled by user (Ctrl+C).")
                return 0
            for label, task in zip(labels, tasks):
                error = task.exception() if task.done() else None
                if isinstance(error, grpc.RpcError):
                    print(f"{label} failed: {error.code().name}: {error.details()}",
                          file=sys.stderr)
                    cancel_all(in_flight, log=False)
                    return 1
            calls = [task.result() for task in tasks]
    total = time.monotonic() - start_time
    logging.info(f"Total execution time = {total:.2f} seconds.")
    for line in render_timeline(calls):
        print(line)
    if calls:
        print(prediction_line(calls, workers, total))
    return 0


def count(text: str) -> int:
    """argparse type: how many calls of one kind, 0 to MAX_CALLS."""
    value = int(text)
    if not 0 <= value <= MAX_CALLS:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_CALLS}, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number, 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Assistant client (multiplexing lab)")
    parser.add_argument("-a", type=count, default=1, metavar="N",
                        help="how many ChillA calls to make at once (default: 1)")
    parser.add_argument("-b", type=count, default=1, metavar="M",
                        help="how many ChillB calls to make at once (default: 1)")
    parser.add_argument("--target", default=DEFAULT_TARGET,
                        help=f"server address HOST:PORT (default: {DEFAULT_TARGET})")
    parser.add_argument("--workers", type=positive_int, default=3,
                        help="the server's number of workers, for the FIFO prediction "
                             "(default: 3, as `python server.py`)")
    parser.add_argument("--message", default=MSG_DEFAULT,
                        help=f"text sent with each call (default: {MSG_DEFAULT!r})")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the server to be reachable (default: 5); "
                             "the calls themselves take as long as they take")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    try:
        sys.exit(run(args.target, args.a, args.b, args.workers, args.message, args.timeout))
    except KeyboardInterrupt:
        # Ctrl+C before the calls started (while connecting): nothing to cancel.
        logging.info("Cancelled by user (Ctrl+C).")
