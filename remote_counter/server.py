"""Counter server: the local count() of local_procedure.py, made a server-streaming RPC.

Run it with `python server.py`, then `python client.py` in another terminal.
Ctrl+C in the client cancels the stream; this server notices at once and logs it.
"""

import argparse
import logging
import math
import signal
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import counter_pb2
import counter_pb2_grpc
from counter_pb2 import CountRequest, CountResponse

DEFAULT_PORT = 50051
INT64_MAX = 2**63 - 1  # the largest value of `int64 count` in counter.proto
MIN_STEP_SEC = 0.001  # a smaller step would flood the client rather than count
MAX_STEP_SEC = 86400.0  # a day; also keeps the wait below what threading can time


def seconds_text(seconds: float) -> str:
    """How the slides print a step: 2.0 as "2", 0.5 as "0.5"."""
    return str(int(seconds)) if seconds.is_integer() else str(seconds)


def check_request(request: CountRequest) -> str | None:
    """What is wrong with the request, or None if we can serve it."""
    step = request.step_sec
    if not math.isfinite(step):
        return f"step must be a finite number of seconds, got {step}"
    if step <= 0:
        return f"step must be more than 0 seconds, got {seconds_text(step)}"
    if not MIN_STEP_SEC <= step <= MAX_STEP_SEC:
        return (f"step must be between {MIN_STEP_SEC:g} and {MAX_STEP_SEC:g} seconds, "
                f"got {seconds_text(step)}")
    if request.from_val >= INT64_MAX:
        return (f"from must be less than {INT64_MAX} (the largest int64): "
                "the first count would overflow")
    return None


class CounterServiceImpl(counter_pb2_grpc.CounterServicer):
    """Our implementation of the Counter service that protoc generated for us."""

    def Count(self, request: CountRequest,
              context: grpc.ServicerContext) -> Iterator[CountResponse]:
        # BEGIN SOLUTION Check and log the request, then yield a count per step until the RPC ends.
        problem = check_request(request)
        if problem is not None:
            # abort() ends the RPC with this status and message; the server keeps serving.
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        described = f"from={request.from_val}, step={seconds_text(request.step_sec)}"

        # gRPC calls this callback when the RPC ends for any reason: the client cancelled
        # (Ctrl+C) or went away, or the server is stopping. We wait on the Event instead
        # of time.sleep(), so that we notice at once and free this worker thread, rather
        # than sleep out the step for a client that is gone.
        rpc_done = threading.Event()
        if not context.add_callback(rpc_done.set):
            rpc_done.set()  # the RPC has ended already: gRPC will not call the callback
        logging.info(f"Request: {described}")

        cnt = request.from_val
        try:
            # wait() returns False after step_sec seconds, True as soon as the RPC ends.
            while not rpc_done.wait(request.step_sec):
                if cnt == INT64_MAX:
                    logging.info(f"Count reached the largest int64 for request: {described}")
                    context.abort(grpc.StatusCode.OUT_OF_RANGE,
                                  f"count reached {INT64_MAX}, the largest int64: "
                                  "it cannot count further")
                cnt += 1
                yield CountResponse(count=cnt)
        finally:
            # Runs however the stream ends, also when gRPC drops this generator because
            # the client left while a count was on its way.
            if not context.is_active():
                logging.info(f"Response stream cancelled for request: {described}")
        # END SOLUTION


def add_standard_services(server: grpc.Server, service_names: list[str]) -> None:
    """Health checking and server reflection, so that tools like grpcurl work without
    the .proto file at hand: `grpcurl -plaintext localhost:50051 list`."""
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *service_names]:  # "" is the health of the server as a whole
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    names = [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)


def stop_on_signals(server: grpc.Server, grace: float = 1.0) -> None:
    """Ctrl+C (SIGINT) and SIGTERM stop the server gracefully: calls in flight get
    `grace` seconds to finish, then they are cancelled (which ends open counts)."""

    def handle(signum: int, frame: object) -> None:
        logging.info("Received %s, stopping the server...", signal.Signals(signum).name)
        server.stop(grace)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def serve(host: str, port: int, workers: int) -> None:
    # Each open stream holds one thread of this pool for as long as it lasts: with
    # --workers 1 a second client waits until the first one's stream has ended.
    requests_thread_pool = futures.ThreadPoolExecutor(max_workers=workers)
    # so_reuseport 0: a second server on the same port fails loudly instead of
    # silently sharing the port with the first one (gRPC's default on Linux).
    server = grpc.server(requests_thread_pool, options=[("grpc.so_reuseport", 0)])
    counter_pb2_grpc.add_CounterServicer_to_server(CounterServiceImpl(), server)
    service_name = counter_pb2.DESCRIPTOR.services_by_name["Counter"].full_name
    add_standard_services(server, [service_name])
    # Only use an insecure port for testing: no TLS. Port 0 asks for any free port,
    # and add_insecure_port returns the one we got.
    try:
        port = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        logging.error("Cannot listen on %s:%d. Is another server using that port? "
                      "Stop it, or start this one with --port 0 for a free port.", host, port)
        raise SystemExit(1)
    server.start()
    # Signal handlers first, then the ready line: whoever waits for that line may
    # press Ctrl+C right after it.
    stop_on_signals(server)
    logging.info("Server started on port %d", port)
    server.wait_for_termination()
    logging.info("Server stopped")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Counter server (remote_counter lab)")
    parser.add_argument("--host", default="[::]", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on, 0 for any free port (default: {DEFAULT_PORT})")
    parser.add_argument("--workers", type=positive_int, default=10,
                        help="threads serving calls, so streams open at once (default: 10)")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    serve(args.host, args.port, args.workers)
