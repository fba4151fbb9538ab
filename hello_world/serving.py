"""Serving plumbing that every Python server of the labs shares.

Written once, in labkit/lab_modules/serving.py, and copied into each lab folder by
`python -m labkit gen` (edit it there, never a lab's copy: `gen --check` names a copy
that drifted). A lab's server.py keeps its lesson in view, the servicer and serve(), and
takes the rest from here:

- server_flags(): the flags every server has (--host, --port, --workers, --max-calls),
  and number(), seconds() and text() to check a lab's own flags where they enter: a
  value that makes no sense gets one line that names the flag, and exit code 2;
- new_server(): a grpc.aio server whose every call passes the Guard (bytes that are not
  a message, a full server, a TODO, an unexpected error: each gets a status and a message);
- run(): health checking and reflection, the port (a busy one: one line, exit 1), the
  ready line, Ctrl+C and SIGTERM, and a stop that is over within 2 s in every state.

Why grpc.aio: a call that waits (for a counter's next step, a player's next guess, a
story's next chunk) costs a coroutine rather than a thread, so a whole class fits on one
server, and health checks never queue behind the lessons' calls. Methods written as a
plain `def` (multiplexing's ChillA and ChillB, as the slides write them) run on a pool
of --workers threads instead, with the context that grpc.server() gives them.
"""

import logging
import os
import signal
import threading
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl+C, and what `kill` sends
STOP_DEADLINE = 1.5  # seconds after Ctrl+C at which the program ends, whatever is stuck

_stopping = threading.Event()  # set at the first Ctrl+C or SIGTERM
_stop_server: Callable[[], None] | None = None  # how to stop the server; set by run()


def end_now() -> None:
    """End the program at once with exit code 0, saying so (once logging is set up)."""
    logging.info("Server stopped")
    logging.shutdown()
    # os._exit, not sys.exit: it works from any thread, and it does not wait for worker
    # threads that are stuck (in a read that never returns, say) as a normal exit does.
    os._exit(0)


def on_stop_signal(signum: int) -> None:
    """Ctrl+C or SIGTERM. Before the server serves (Python may still be loading grpc):
    end at once, without a KeyboardInterrupt traceback. While it serves: stop it
    gracefully, and whatever happens, end STOP_DEADLINE seconds from now (a method stuck
    in a read, gRPC's stop hanging after a malformed message). A second one: end at once."""
    if _stop_server is None or _stopping.is_set():
        end_now()
    logging.info("Received %s, stopping the server...", signal.Signals(signum).name)
    _stopping.set()
    deadline = threading.Timer(STOP_DEADLINE, end_now)
    deadline.daemon = True
    deadline.start()
    _stop_server()


def watch_stop_signals() -> None:
    while True:
        on_stop_signal(signal.sigwait(STOP_SIGNALS))


if hasattr(signal, "pthread_sigmask"):  # Linux, macOS
    # The signals are blocked here, before any other thread is made (gRPC makes several):
    # every thread inherits that, so the signals wait for the one thread that sigwait()s
    # for them, and it acts at once, whatever the others do (even a method that holds up
    # the event loop with time.sleep).
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    threading.Thread(target=watch_stop_signals, name="stop-signals", daemon=True).start()
else:  # Windows: the main thread runs the handler
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, lambda signum, _frame: on_stop_signal(signum))

# The other imports come after the above, so that it covers the time they take.
import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import ctypes  # noqa: E402
import inspect  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from concurrent import futures  # noqa: E402
from typing import Any, NoReturn  # noqa: E402

import grpc  # noqa: E402
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # noqa: E402
from grpc_reflection.v1alpha import reflection  # noqa: E402

GRACE = 1.0  # seconds that calls in flight get to finish when the server stops
DEFAULT_MAX_CALLS = 1000  # calls taken in at once: a class of 200, with room to spare
MOST = 10_000  # the largest --workers and --max-calls we take
MOST_SHOWN = 40  # characters of a bad flag value quoted back in the error line

# --- the command line -------------------------------------------------------------------


class ServerArgumentParser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line told in one line (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def shown(text: str) -> str:
    """A flag's value, quoted for an error line: escapes shown, long values cut short."""
    return repr(text if len(text) <= MOST_SHOWN else text[:MOST_SHOWN] + "...")


def number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high."""

    def parse(text: str) -> int:
        # Digits only, and not too many of them (int() would also take "٣" or "1_000").
        if not re.fullmatch(r"[+-]?[0-9]{1,20}", text.strip()) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high}, got {shown(text)}")
        return int(text)

    return parse


def seconds(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number of seconds from low to high (never nan or infinity)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:  # false for nan too
            raise argparse.ArgumentTypeError(
                f"must be a number of seconds from {low:g} to {high:g}, got {shown(text)}")
        return value

    return parse


def text(what: str, longest: int = 1000) -> Callable[[str], str]:
    """An argparse type: printable text (also: valid UTF-8; a byte that is not arrives
    as an unprintable stand-in character), `what` saying what it is for."""

    def parse(value: str) -> str:
        if not value or len(value) > longest or not value.isprintable():
            raise argparse.ArgumentTypeError(
                f"must be {what}: printable UTF-8 text of 1 to {longest} characters, "
                f"got {shown(value)}")
        return value

    return parse


def server_flags(description: str, port: int,
                 workers: int | None = None) -> ServerArgumentParser:
    """A parser with the flags that every server has; a lab adds its own to it.

    `workers`: the lab's default for --workers; None: as many as --max-calls."""
    parser = ServerArgumentParser(description=description)
    parser.add_argument("--host", type=text("an address", 255), default="[::]",
                        help="address to listen on (default: [::], every address of this "
                             "machine; 0.0.0.0 or [::] lets students connect)")
    parser.add_argument("--port", type=number(0, 65535), default=port,
                        help=f"port to listen on, 0 for any free port (default: {port})")
    default = "as many as --max-calls" if workers is None else workers
    parser.add_argument("--workers", type=number(1, MOST), default=workers, metavar="N",
                        help="calls worked on at the same time; more wait in line for a "
                             f"free worker (default: {default})")
    parser.add_argument("--max-calls", type=number(1, MOST), default=DEFAULT_MAX_CALLS,
                        metavar="N",
                        help="calls taken in at once, working or waiting in line; more "
                             "are refused at once with RESOURCE_EXHAUSTED, 'the server "
                             f"is full' (default: {DEFAULT_MAX_CALLS})")
    return parser


# --- the guard around every call ----------------------------------------------------------


class Undecodable:
    """What a request's bytes become when they are not the message the method expects.

    Left to gRPC, such bytes would end the call with INTERNAL (or UNKNOWN) and a
    traceback in our log; the Guard answers INVALID_ARGUMENT with a message instead."""

    def __init__(self, expected: str) -> None:
        self.expected = expected  # the message type's name, e.g. "HelloRequest"


def tolerant(parse: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """A request deserializer that hands on an Undecodable instead of raising."""
    if parse is None:
        return None
    message_class = getattr(parse, "__self__", None)  # FromString belongs to its class
    expected = getattr(message_class, "__name__", "message")

    def parse_or_not(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception:  # DecodeError, mostly; nothing else may pass for a message
            return Undecodable(expected)

    return parse_or_not


async def checked(requests: AsyncIterator[Any],
                  context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    """A stream of requests that ends the call with INVALID_ARGUMENT at the first one
    that is not a message: the whole call fails, never half of it."""
    count = 0
    async for request in requests:
        count += 1
        if isinstance(request, Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"message {count} of the request stream is not a "
                                f"{request.expected} (its bytes do not decode)")
        yield request


class CallEnded(Exception):
    """Raised by SyncContext.abort when the call has already ended."""


class SyncContext:
    """The context a plain `def` method gets: grpc.server()'s, on top of grpc.aio's.

    grpc.aio can run such methods in threads, but its context for them calls back
    add_callback only after the method returns, and has no is_active(): a method that
    rests until its call ends (multiplexing's rest) would rest on for a cancelled call.
    Here both work as in grpc.server(): callbacks run as soon as the call ends."""

    def __init__(self, context: grpc.aio.ServicerContext,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._context = context
        self._loop = loop
        self._lock = threading.Lock()  # the worker thread and the event loop share us
        self._callbacks: list[Callable[[], None]] = []
        self._ended = False

    def end(self) -> None:
        """The call is over (answered, cancelled, or the server is stopping)."""
        with self._lock:
            callbacks, self._callbacks, self._ended = self._callbacks, [], True
        for callback in callbacks:
            callback()

    def is_active(self) -> bool:
        return not self._ended

    def add_callback(self, callback: Callable[[], None]) -> bool:
        """Call `callback` when the call ends; False (and no call) if it has ended."""
        with self._lock:
            if not self._ended:
                self._callbacks.append(callback)
        return not self._ended

    def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        if self._ended:
            raise CallEnded(details)
        aborting = asyncio.run_coroutine_threadsafe(self._context.abort(code, details),
                                                    self._loop)
        aborting.result()  # raises the AbortError that ends the method
        raise CallEnded(details)  # not reached: abort always raises

    def peer(self) -> str:
        return self._context.peer()

    def time_remaining(self) -> float | None:
        return self._context.time_remaining()

    def invocation_metadata(self) -> Any:
        return self._context.invocation_metadata()

    def set_trailing_metadata(self, metadata: Any) -> None:
        self._context.set_trailing_metadata(metadata)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._context.set_code(code)

    def set_details(self, details: str) -> None:
        self._context.set_details(details)


class Guard(grpc.aio.ServerInterceptor):
    """Stands between gRPC and every method of the server, health and reflection too:

    - bytes that are not the expected message: INVALID_ARGUMENT, with a message;
    - past --max-calls calls at once: RESOURCE_EXHAUSTED, "the server is full" (health
      checks and reflection are always answered);
    - at most --workers calls worked on at once, the others wait in line: async methods
      for a place, plain `def` methods for a thread of the pool;
    - NotImplementedError (a TODO of the starter copy): UNIMPLEMENTED with its message,
      and one line in the log; any other exception: UNKNOWN, and its traceback logged.
    """

    def __init__(self, workers: int, max_calls: int) -> None:
        self.max_calls = max_calls
        self.calls = 0  # the lessons' calls taken in right now (only the event loop counts)
        self.places = asyncio.Semaphore(workers)
        self.pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
        # method -> (its handler, that handler guarded): made once per handler.
        self.guarded: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # no such method: gRPC answers UNIMPLEMENTED
        method = handler_call_details.method
        made_for, guarded = self.guarded.get(method, (None, None))
        if made_for is not handler:  # new, or an interceptor of the lab makes one per call
            guarded = self.guard(method, handler)
            self.guarded[method] = (handler, guarded)
        return guarded

    @contextlib.asynccontextmanager
    async def answering(self, method: str, context: grpc.aio.ServicerContext,
                        request: Any = None, place: bool = True) -> AsyncIterator[None]:
        """Around one call: take it in (or refuse it), then turn what the method raises
        into a status and a message. `place`: wait for a place among --workers."""
        lesson = not method.startswith("/grpc.")  # not health checking, not reflection
        if isinstance(request, Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"the request is not a {request.expected} "
                                "(its bytes do not decode)")
        if lesson and self.calls >= self.max_calls:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"the server is full: it takes {self.max_calls} calls at "
                                "once (its --max-calls); try again in a moment")
        self.calls += lesson
        try:
            async with self.places if lesson and place else contextlib.nullcontext():
                yield
        except (grpc.aio.AbortError, CallEnded):
            raise  # the method ended the call itself, with its own status
        except NotImplementedError as error:
            # The starter copy's TODO, in a function the method calls: say so in one line.
            details = str(error) or "not implemented yet"
            logging.error("%s: UNIMPLEMENTED: %s", method, details)
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, details)
        except Exception as error:
            # A bug: the traceback (file and line) goes to the log, a summary to the caller.
            logging.exception("%s failed", method)
            if context.done():
                raise
            await context.abort(grpc.StatusCode.UNKNOWN,
                                f"the server failed: {type(error).__name__}: {error}"[:300])
        finally:
            self.calls -= lesson

    async def in_thread(self, behaviour: Callable, request: Any,
                        context: grpc.aio.ServicerContext) -> Any:
        """Run a plain `def` unary method on a worker thread of the pool."""
        sync_context = SyncContext(context, asyncio.get_running_loop())
        try:
            # A call that is cancelled while it waits in the pool's queue never runs.
            return await asyncio.get_running_loop().run_in_executor(
                self.pool, behaviour, request, sync_context)
        finally:
            sync_context.end()  # wakes the method at once if it rests until the call ends

    def guard(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` with its method wrapped in the guard."""
        streaming_in, streaming_out = handler.request_streaming, handler.response_streaming
        kind = f"{'stream' if streaming_in else 'unary'}_{'stream' if streaming_out else 'unary'}"
        behaviour = getattr(handler, kind)
        answering = self.answering

        def requests_of(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return checked(request, context) if streaming_in else request

        if inspect.isasyncgenfunction(behaviour):  # async def ... yield: a response stream

            async def guarded(request: Any, context: grpc.aio.ServicerContext):
                async with answering(method, context, request):
                    responses = behaviour(requests_of(request, context), context)
                    async with contextlib.aclosing(responses):
                        async for response in responses:
                            yield response

        elif inspect.iscoroutinefunction(behaviour):  # async def

            async def guarded(request: Any, context: grpc.aio.ServicerContext):
                async with answering(method, context, request):
                    return await behaviour(requests_of(request, context), context)

        elif kind == "unary_unary":  # def: runs on a worker thread

            async def guarded(request: Any, context: grpc.aio.ServicerContext):
                async with answering(method, context, request, place=False):
                    return await self.in_thread(behaviour, request, context)

        else:

            async def guarded(request: Any, context: grpc.aio.ServicerContext):
                logging.error("%s: a streaming method must be written `async def` here", method)
                await context.abort(grpc.StatusCode.UNIMPLEMENTED,
                                    "this streaming method is not written `async def`")

        make = getattr(grpc, f"{kind}_rpc_method_handler")
        return make(guarded, request_deserializer=tolerant(handler.request_deserializer),
                    response_serializer=handler.response_serializer)


# The worker pools of the servers made here (one server per program, in practice):
# run() lets their methods finish before the program ends.
_pools: list[futures.ThreadPoolExecutor] = []


def new_server(args: argparse.Namespace,
               interceptors: tuple[grpc.aio.ServerInterceptor, ...] = ()) -> grpc.aio.Server:
    """A grpc.aio server that guards every call (see Guard), with --workers and
    --max-calls from `args`. Call it from a coroutine (grpc.aio needs the event loop)."""
    guard = Guard(args.workers or args.max_calls, args.max_calls)
    _pools.append(guard.pool)
    # so_reuseport 0: a second server on the same port fails loudly instead of
    # silently sharing the port with the first one (gRPC's default on Linux).
    return grpc.aio.server(interceptors=[guard, *interceptors],
                           options=[("grpc.so_reuseport", 0)])


def keep_big_buffers_in_the_heap() -> None:
    """Speed for servers of big messages (the file hash lab), on Linux with glibc: gRPC
    and protobuf allocate a fresh 1 MiB buffer for every chunk. glibc hands out blocks
    that big as new memory mappings, and the kernel zero-fills each 4 KB page of those on
    first touch and unmaps them on free: some 250,000 page faults per GiB hashed. Keeping
    big blocks in glibc's heap lets them be reused instead. Elsewhere (macOS, Windows)
    there is no mallopt and nothing to do."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's <malloc.h>
    mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # blocks up to 32 MB come from the heap
    mallopt(m_trim_threshold, 64 * 1024 * 1024)  # and the heap keeps 64 MB of free space


# --- running and stopping -----------------------------------------------------------------

def is_stopping() -> bool:
    """True once Ctrl+C or SIGTERM asked the server to stop."""
    return _stopping.is_set()


async def add_health_and_reflection(server: grpc.aio.Server,
                                    service_names: tuple[str, ...]) -> health.aio.HealthServicer:
    """Health checking and server reflection, so that tools like grpcurl work without
    the .proto file at hand: `grpcurl -plaintext localhost:50051 list`."""
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *service_names]:  # "" is the health of the server as a whole
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    names = [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    return health_servicer


@contextlib.contextmanager
def stderr_silenced():
    """Lines that C code writes to stderr meanwhile go nowhere."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as nowhere:
        os.dup2(nowhere.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def can_listen(server: grpc.aio.Server, host: str, port: int) -> int | None:
    """Listen on host:port (no TLS: for labs only): the port we got, None if we cannot."""
    try:
        # gRPC's C core would print a line of its own first (E... add_port.cc ...).
        with stderr_silenced():
            return server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        return None


def listen(server: grpc.aio.Server, host: str, port: int) -> int:
    """Listen on host:port; the port we got (port 0: any free one). A port that is taken,
    or an address that is not this machine's, ends the program: one line, exit code 1."""
    got = can_listen(server, host, port)
    if got is not None:
        return got
    if can_listen(grpc.aio.server(), host, 0) is None:  # even any free port fails: the address
        logging.error("Cannot listen on %s:%d: %s is not an address of this machine. "
                      "Leave out --host to listen on all of them.", host, port, host)
    else:
        logging.error("Cannot listen on %s:%d. Is another server using that port? "
                      "Stop it, or start this one with --port 0 for a free port.", host, port)
    raise SystemExit(1)


async def run(server: grpc.aio.Server, args: argparse.Namespace, *service_names: str,
              slides_line: str | None = None) -> NoReturn:
    """Serve until Ctrl+C or SIGTERM, then stop and end the program (exit code 0).

    `service_names`: the lab's services (full names), for health and reflection.
    `slides_line`: a ready line as the slides word it, logged (with %d for the port)
    just before the kit's own, `Server started on port N`."""
    health_servicer = await add_health_and_reflection(server, service_names)
    port = listen(server, args.host, args.port)
    await server.start()
    # How Ctrl+C stops the server, set before the ready line: whoever waits for that line
    # may press Ctrl+C right after it. (The signals come on a thread of their own.)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_server() -> None:  # called on the signals' thread: hand over to the loop
        loop.call_soon_threadsafe(stop.set)

    global _stop_server
    _stop_server = stop_server
    if slides_line:
        logging.info(slides_line, port)
    logging.info("Server started on port %d", port)
    await stop.wait()

    await health_servicer.enter_graceful_shutdown()  # health checks say NOT_SERVING now
    await server.stop(GRACE)  # calls in flight get GRACE seconds, then they are cancelled
    for pool in _pools:
        # Methods on worker threads see their call end (add_callback) and return: let
        # them, so that what they log on the way out is not lost. Calls still waiting
        # in line never start.
        await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
    end_now()
