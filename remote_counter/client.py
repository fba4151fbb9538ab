"""Counter client: subscribes to the counting service and logs each count it streams.

Start the server first (`python server.py`), then run `python client.py`.
Press Ctrl+C to cancel the stream; `--count N` stops by itself after N counts.
"""

import argparse
import logging
import signal
import sys
from datetime import datetime

import grpc

from counter_pb2 import CountRequest
from counter_pb2_grpc import CounterStub

DEFAULT_TARGET = "localhost:50051"
# These labs talk to servers on your own machine or classroom network: a proxy set in
# the environment (http_proxy, ...) would only get in the way.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]


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


class CancelOnCtrlC:
    """`with CancelOnCtrlC() as ctrl_c:` inside the block, Ctrl+C cancels the call that
    was given to `ctrl_c.watch(call)`.

    Why not `except KeyboardInterrupt`? Python raises KeyboardInterrupt wherever the
    program happens to be when Ctrl+C comes, and that may be half-way through gRPC's own
    code that starts the call: the channel is then left unable to close, and the client
    hangs instead of exiting. Here Ctrl+C only cancels the call, and the loop over the
    responses ends with a CANCELLED error at a point of gRPC's choosing."""

    def __enter__(self) -> "CancelOnCtrlC":
        self.pressed = False
        self._call: grpc.Call | None = None
        self._previous = signal.signal(signal.SIGINT, self._on_ctrl_c)
        return self

    def _on_ctrl_c(self, signum: int, frame: object) -> None:
        self.pressed = True
        if self._call is not None:
            self._call.cancel()

    def watch(self, call: grpc.Call) -> None:
        self._call = call
        if self.pressed:  # Ctrl+C came while the call was being started
            call.cancel()

    def __exit__(self, *exc_info: object) -> None:
        signal.signal(signal.SIGINT, self._previous)


def log_counts(stub: CounterStub, request: CountRequest, limit: int | None) -> None:
    """Log every count the server streams, until Ctrl+C or until `limit` counts."""
    # BEGIN SOLUTION Log each count of the Count stream; stop after `limit`; Ctrl+C cancels.
    with CancelOnCtrlC() as ctrl_c:
        # A server-streaming call returns at once: an iterator over the responses, which
        # is also the call itself (we can cancel it).
        responses = stub.Count(request)
        ctrl_c.watch(responses)
        try:
            received = 0
            for response in responses:  # blocks until the server sends the next count
                logging.info(f"{datetime.now()}: count={response.count}")
                received += 1
                if limit is not None and received >= limit:
                    # Enough counts (--count): we end the stream ourselves. The server
                    # sees a cancellation, just as for Ctrl+C.
                    responses.cancel()
                    break
        except grpc.RpcError:
            if not ctrl_c.pressed:
                raise  # a real failure: run() reports it
            # Cancelling told the server that we are gone, so it stops counting for us.
            logging.info("Stream cancelled by user (Ctrl+C).")
    # END SOLUTION


def run(target: str, request: CountRequest, limit: int | None, timeout: float) -> int:
    """Count until stopped; return the exit code: 0 done, 1 the call failed, 2 no server."""
    # The channel is our connection to the server; `with` closes it when we are done.
    with grpc.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        if not wait_for_server(channel, target, timeout):
            return 2
        try:
            log_counts(CounterStub(channel), request, limit)
        except grpc.RpcError as error:
            print(f"Count failed: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    return 0


def build_request(from_val: int, step_sec: float) -> CountRequest | None:
    """The request, or None (with one line on stderr) if it cannot be encoded.
    Other checks (a step of 0, say) are the server's job: it answers INVALID_ARGUMENT."""
    try:
        return CountRequest(from_val=from_val, step_sec=step_sec)
    except ValueError:
        print(f"Invalid request: from={from_val} does not fit in from_val (an int64 "
              "in counter.proto)", file=sys.stderr)
        return None


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Counter client (remote_counter lab)")
    parser.add_argument("--from", dest="from_val", type=int, default=6,
                        help="value to count from; the first count is one more (default: 6)")
    parser.add_argument("--step", dest="step_sec", type=float, default=2.0,
                        help="seconds between counts, fractions allowed (default: 2)")
    parser.add_argument("--count", dest="limit", type=positive_int, default=None,
                        help="stop after this many counts (default: until Ctrl+C)")
    parser.add_argument("--target", default=DEFAULT_TARGET,
                        help=f"server address HOST:PORT (default: {DEFAULT_TARGET})")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the server (default: 5)")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    request = build_request(args.from_val, args.step_sec)
    if request is None:
        sys.exit(1)
    try:
        sys.exit(run(args.target, request, args.limit, args.timeout))
    except KeyboardInterrupt:
        # Ctrl+C before the stream started (while waiting for the server, say):
        # leaving the `with` block in run() closed the channel.
        logging.info("Cancelled by user (Ctrl+C).")
