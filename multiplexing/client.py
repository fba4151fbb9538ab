"""Assistant client: starts several slow calls at once over one channel and times them.

Start the server first (`python server.py`), then run `python client.py -a 2 -b 2`:
2 ChillA and 2 ChillB calls, all in flight at the same time over one HTTP/2 connection.
At the end it draws a timeline of the calls and compares the total time with what a
server pool of `--workers` threads, first come first served, predicts.
"""

# First: from here on, Ctrl+C ends the client quietly, even while grpc is still loading.
# calling.py holds what every client of the labs does the same way (flags, no server...).
import calling

import argparse
import logging
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import datetime

import grpc

from assistant_pb2 import ChatMessage
from assistant_pb2_grpc import AssistantServiceStub
from timeline import CallTiming, prediction_line, render_timeline

DEFAULT_TARGET = "localhost:50051"
MSG_DEFAULT = "Time to chill."
MAX_CALLS = 50  # of each kind: enough to see queueing, not enough to flood the server
MAX_WORKERS = 1000  # a pool this big would never make a call of ours wait
# The server tells, in each reply's trailing metadata, in which order the calls joined
# its queue, how long each one waited there and how long it ran (CallTimer in server.py).
ARRIVAL_KEY = "arrival"
QUEUED_SECONDS_KEY = "queued-seconds"
RAN_SECONDS_KEY = "ran-seconds"


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
    # BEGIN SOLUTION Send it (into in_flight), wait for the reply, log; return timing() (lines: README).
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
    # BEGIN SOLUTION Submit one call_chill per (name, id) of the plan: all in flight at once, in order.
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
    with grpc.insecure_channel(target, options=calling.CHANNEL_OPTIONS) as channel:
        if not calling.wait_for_server(channel, target, timeout, "python server.py"):
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
                # Until every call is done or one failed, in short waits: Ctrl+C is seen
                # between two of them (see calling.WAIT_SLICE).
                pending = set(tasks)
                while pending:
                    done, pending = wait(pending, timeout=calling.WAIT_SLICE,
                                         return_when=FIRST_EXCEPTION)
                    if any(task.exception() for task in done):
                        break
            except KeyboardInterrupt:
                cancel_all(in_flight, log=True)
                channel.close()  # also ends a call that was just being started
                logging.info("Cancelled by user (Ctrl+C).")
                return 0
            for label, task in zip(labels, tasks):
                error = task.exception() if task.done() else None
                if isinstance(error, grpc.RpcError):
                    cancel_all(in_flight, log=False)
                    return calling.call_failed(label, error)
            calls = [task.result() for task in tasks]
    total = time.monotonic() - start_time
    logging.info(f"Total execution time = {total:.2f} seconds.")
    for line in render_timeline(calls):
        print(line)
    if calls:
        print(prediction_line(calls, workers, total))
    return 0


def pool_size(text: str) -> int:
    """argparse type: the server's number of workers, from 1 to MAX_WORKERS (the
    prediction keeps one slot per worker: more would only fill the memory)."""
    workers = calling.whole_number(1)(text)
    if workers > MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_WORKERS}, got {calling.shown(text)}")
    return workers


def main() -> int:
    parser = calling.ArgumentParser(description="Assistant client (multiplexing lab)")
    parser.add_argument("-a", type=calling.whole_number(0, MAX_CALLS), default=1, metavar="N",
                        help="how many ChillA calls to make at once (default: 1)")
    parser.add_argument("-b", type=calling.whole_number(0, MAX_CALLS), default=1, metavar="M",
                        help="how many ChillB calls to make at once (default: 1)")
    parser.add_argument("--workers", type=pool_size, default=3,
                        help="the server's number of workers, for the FIFO prediction "
                             "(default: 3, as `python server.py`)")
    parser.add_argument("--message", type=calling.text, default=MSG_DEFAULT,
                        help=f"text sent with each call (default: {MSG_DEFAULT!r})")
    calling.add_server_flags(parser, DEFAULT_TARGET,
                             "seconds to wait for the server to be reachable; the calls "
                             "themselves take as long as they take")
    args = parser.parse_args()
    return run(args.target, args.a, args.b, args.workers, args.message, args.timeout)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    calling.run_main(main)
