"""Story-telling assistant: a server-side streaming RPC.

One TellStory request, many responses: a greeting, the story file in chunks of bytes,
an ending note. Run it with `python server.py`, then `python client.py` in another
terminal. `python server.py --help` lists the flags that speed it up for tests and demos.
"""

import argparse
import logging
import signal
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import assistant_pb2
import assistant_pb2_grpc
from assistant_pb2 import TellStoryRequest, TellStoryResponse

DEFAULT_PORT = 50051
HERE = Path(__file__).resolve().parent
DEFAULT_STORY = "story.txt"  # looked up next to this file, so any working folder will do
ENCODING = "utf-8"  # encoding of the greeting and the ending note (the story is sent as is)
PEEK_SIZE = 10  # bytes of each chunk shown in the log
MAX_NAME_LENGTH = 100  # characters, for user_name and institution
# gRPC refuses messages over 4 MiB by default; we stay well under that.
MAX_CHUNK_SIZE = 1024 * 1024


def check_request(request: TellStoryRequest) -> str | None:
    """What is wrong with the request, in a sentence; None if it is fine."""
    for field in ("user_name", "institution"):
        value = getattr(request, field)
        if not value.strip():
            return f"{field} is empty: say who the story is for"
        if len(value) > MAX_NAME_LENGTH:
            return f"{field} is too long ({len(value)} characters, at most {MAX_NAME_LENGTH})"
        # A newline in a name would forge extra lines in the server's log.
        if any(not ch.isprintable() for ch in value):
            return f"{field} contains control characters (newline, tab, ...): {value!r}"
    return None


def peek(chunk: bytes) -> str:
    """The first bytes of a chunk, for the log. A chunk may begin or end in the middle of
    a multi-byte character: those stray bytes are shown as \\x.. escapes, not as an error."""
    return chunk[:PEEK_SIZE].decode(ENCODING, errors="backslashreplace")


class Assistant(assistant_pb2_grpc.AssistantServiceServicer):
    """Tells the story in `story_path`, `chunk_size` bytes per response."""

    def __init__(self, story_path: Path, story_name: str, chunk_size: int, delay: float,
                 pace: float, finish: str, stopping: threading.Event) -> None:
        super().__init__()
        self.story_path = story_path  # where to read the story from
        self.story_fn = story_name  # its name in the log, as the user gave it
        self.buffer_size = chunk_size  # bytes read from the file per response
        self.delay = delay  # seconds of "story generation" before the story starts
        self.pace = pace  # seconds between two chunks
        self.finish = finish  # "cancel" (as the slides) or "ok"
        self.stopping = stopping  # set when the server is shutting down

    def TellStory(self, request: TellStoryRequest,
                  context: grpc.ServicerContext) -> Iterator[TellStoryResponse]:
        # BEGIN SOLUTION Greet, wait, stream the story file in chunks, say goodbye, end the call.
        problem = check_request(request)
        if problem:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        who = f"{request.user_name} from {request.institution}"
        # Set by gRPC when the call ends, whichever way: finished, cancelled by the client
        # (Ctrl+C), client process gone (connection lost), server stopping. Waiting on it
        # instead of time.sleep() lets us stop at once when nobody is listening any more.
        call_over = threading.Event()
        if not context.add_callback(call_over.set):
            call_over.set()  # the call has ended already: gRPC will not call the callback
        logging.info(f"Received story-telling request from {request.user_name}, "
                     f"{request.institution}.")
        sent = 0  # story bytes sent so far
        finished = False
        try:
            greeting = f"Hi {request.user_name} from {request.institution}! Here's your story:\n\n"
            yield TellStoryResponse(text_chunk=greeting.encode(ENCODING))
            # Simulating story generation time.
            if call_over.wait(self.delay):
                return
            logging.info(f"Start streaming {self.story_fn}")
            try:
                story = open(self.story_path, "rb")
            except OSError as error:
                finished = True  # not a departure: we end the call ourselves
                logging.error(f"Cannot read {self.story_fn}: {error.strerror}")
                context.abort(grpc.StatusCode.NOT_FOUND,
                              f"the story file {self.story_fn} cannot be read: {error.strerror}")
            with story:
                while True:
                    # Read a text chunk as a data buffer. It may end in the middle of a
                    # multi-byte character: the client's decoder takes care of that.
                    chunk = story.read(self.buffer_size)
                    if not chunk:
                        logging.info("[EOF]")
                        break
                    logging.info(f"Read {len(chunk)} bytes: {peek(chunk)} ...")
                    yield TellStoryResponse(text_chunk=chunk)
                    sent += len(chunk)
                    if call_over.wait(self.pace):
                        return
            ending = "\nThat's it! Hope you like the story~\n\n"
            yield TellStoryResponse(text_chunk=ending.encode(ENCODING))
            finished = True
            logging.info(f"Finishes streaming {self.story_fn} for {who}.")
            if self.finish == "cancel":
                # As the slides do: end the call by cancelling it. The client sees the
                # status CANCELLED (see README.md for why OK is the cleaner ending).
                context.cancel()
            # Otherwise returning ends the call with the status OK.
        finally:
            # We get here also when gRPC drops this generator because the call ended
            # while a response was waiting to be sent.
            if not finished:
                why = ("the server is stopping" if self.stopping.is_set()
                       else "the client went away")
                logging.info(f"Stopped streaming {self.story_fn} for {who} after {sent} "
                             f"bytes: {why}.")
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


def stop_on_signals(server: grpc.Server, stopping: threading.Event, grace: float = 1.0) -> None:
    """Ctrl+C (SIGINT) and SIGTERM stop the server gracefully: stories in flight get
    `grace` seconds to finish, then they are cancelled."""

    def handle(signum: int, frame: object) -> None:
        logging.info("Received %s, stopping the server...", signal.Signals(signum).name)
        stopping.set()
        server.stop(grace)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def serve(args: argparse.Namespace, story_path: Path, story_name: str) -> None:
    # The server runs each call on a thread from this pool: a story being told keeps
    # its thread busy, so `--workers` stories can be told at a time.
    requests_thread_pool = futures.ThreadPoolExecutor(max_workers=args.workers)
    # so_reuseport 0: a second server on the same port fails loudly instead of
    # silently sharing the port with the first one (gRPC's default on Linux).
    server = grpc.server(requests_thread_pool, options=[("grpc.so_reuseport", 0)])
    stopping = threading.Event()
    assistant = Assistant(story_path, story_name, args.chunk_size, args.delay, args.pace,
                          args.finish, stopping)
    assistant_pb2_grpc.add_AssistantServiceServicer_to_server(assistant, server)
    service_name = assistant_pb2.DESCRIPTOR.services_by_name["AssistantService"].full_name
    add_standard_services(server, [service_name])
    try:
        port = server.add_insecure_port(f"{args.host}:{args.port}")
    except RuntimeError:
        logging.error("Cannot listen on %s:%d. Is another server using that port? "
                      "Stop it, or start this one with --port 0 for a free port.",
                      args.host, args.port)
        raise SystemExit(1)
    server.start()
    # Signal handlers first, then the ready line: whoever waits for that line may
    # press Ctrl+C right after it.
    stop_on_signals(server, stopping)
    logging.info("Server started on port %d", port)
    server.wait_for_termination()
    logging.info("Server stopped")


def story_file(arg: str | None) -> tuple[Path, str]:
    """The story's path and its name for the log; exit with one line if it is unreadable."""
    path, name = (HERE / DEFAULT_STORY, DEFAULT_STORY) if arg is None else (Path(arg), arg)
    problem = None
    if path.is_dir():
        problem = "it is a folder"
    elif not path.is_file():
        problem = "there is no such file"
    else:
        try:
            with open(path, "rb"):
                pass
        except OSError as error:
            problem = error.strerror
    if problem:
        logging.error("Cannot serve %s: %s. Give another with --story PATH.", path, problem)
        raise SystemExit(1)
    return path, name


def number(kind: type, low: float, high: float | None = None):
    """An argparse type: a number of `kind` between low and high."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}")
        if value != value or value < low or (high is not None and value > high):  # NaN too
            limits = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: {limits}")
        return value

    return parse


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Story-telling server (streaming_server_side lab)")
    parser.add_argument("--host", default="[::]", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on, 0 for any free port (default: {DEFAULT_PORT})")
    parser.add_argument("--story", metavar="PATH",
                        help=f"the file to tell, any file at all (default: {DEFAULT_STORY})")
    parser.add_argument("--chunk-size", type=number(int, 1, MAX_CHUNK_SIZE), default=1024,
                        help="bytes per response (default: 1024)")
    parser.add_argument("--delay", type=number(float, 0, 3600), default=3.0,
                        help="seconds of 'story generation' after the greeting (default: 3)")
    parser.add_argument("--pace", type=number(float, 0, 3600), default=0.05,
                        help="seconds between two chunks (default: 0.05)")
    parser.add_argument("--finish", choices=("cancel", "ok"), default="cancel",
                        help="how the stream ends: cancel the call, as the slides do, "
                             "or return with status OK (default: cancel)")
    parser.add_argument("--workers", type=number(int, 1, 1000), default=10,
                        help="threads serving calls, stories told at a time (default: 10)")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    story_path, story_name = story_file(args.story)
    serve(args, story_path, story_name)
