"""Story-telling assistant: a server-side streaming RPC.

One TellStory request, many responses: a greeting, the story file in chunks of bytes,
an ending note. Run it with `python server.py`, then `python client.py` in another
terminal. `python server.py --help` lists the flags that speed it up for tests and demos.
"""

import serving  # first: from here on, Ctrl+C ends the server cleanly (see serving.py)

import argparse
import asyncio
import errno
import logging
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import grpc

import assistant_pb2_grpc
from assistant_pb2 import TellStoryRequest, TellStoryResponse

DEFAULT_PORT = 50051
ENCODING = "utf-8"  # encoding of the greeting and the ending note (the story is sent as is)


class Assistant(assistant_pb2_grpc.AssistantServiceServicer):
    """Tells the story in `story_path`, `chunk_size` bytes per response."""

    def __init__(self, story_path: Path, story_name: str, chunk_size: int, delay: float,
                 pace: float, finish: str) -> None:
        super().__init__()
        self.story_path = story_path  # where to read the story from
        self.story_fn = story_name  # its name in the log, as the user gave it
        self.buffer_size = chunk_size  # bytes read from the file per response
        self.delay = delay  # seconds of "story generation" before the story starts
        self.pace = pace  # seconds between two chunks
        self.finish = finish  # "cancel" (as the slides) or "ok"

    async def TellStory(self, request: TellStoryRequest,
                        context: grpc.aio.ServicerContext) -> AsyncIterator[TellStoryResponse]:
        # The words the tests check, line by line: README.md, "What the tests check".
        # BEGIN SOLUTION Greet, wait, stream the story file in chunks, say goodbye, end the call.
        problem = check_request(request)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        who = f"{request.user_name} from {request.institution}"
        logging.info(f"Received story-telling request from {request.user_name}, "
                     f"{request.institution}.")
        sent = 0  # story bytes sent so far
        finished = False
        try:
            greeting = f"Hi {request.user_name} from {request.institution}! Here's your story:\n\n"
            yield TellStoryResponse(text_chunk=greeting.encode(ENCODING))
            # Simulating story generation time. asyncio.sleep, not the slides' time.sleep:
            # meanwhile the server tells other stories. When the call ends (Ctrl+C in the
            # client, the client gone, the server stopping) gRPC cancels the sleep at once.
            await asyncio.sleep(self.delay)
            logging.info(f"Start streaming {self.story_fn}")
            try:
                story = open_story(self.story_path)
            except OSError as error:
                finished = True  # not a departure: we end the call ourselves
                logging.error(f"Cannot read {self.story_fn}: {error.strerror}")
                await context.abort(grpc.StatusCode.NOT_FOUND,
                                    f"the story file {self.story_fn} cannot be read: "
                                    f"{error.strerror}")
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
                    await asyncio.sleep(self.pace)
            ending = "\nThat's it! Hope you like the story~\n\n"
            yield TellStoryResponse(text_chunk=ending.encode(ENCODING))
            finished = True
            logging.info(f"Finishes streaming {self.story_fn} for {who}.")
            if self.finish == "cancel":
                # As the slides do: end the call by cancelling it. The client sees the
                # status CANCELLED (see README.md for why OK is the cleaner ending).
                await context.abort(grpc.StatusCode.CANCELLED, "the story is over")
            # Otherwise returning ends the call with the status OK.
        finally:
            # We get here also when the call ends under us: the sleep or the yield is
            # cancelled (the client went away, or the server is stopping).
            if not finished:
                why = "the server is stopping" if serving.is_stopping() else "the client went away"
                logging.info(f"Stopped streaming {self.story_fn} for {who} after {sent} "
                             f"bytes: {why}.")
        # END SOLUTION


async def serve(args: argparse.Namespace, story_path: Path, story_name: str) -> None:
    server = serving.new_server(args)
    assistant = Assistant(story_path, story_name, args.chunk_size, args.delay, args.pace,
                          args.finish)
    assistant_pb2_grpc.add_AssistantServiceServicer_to_server(assistant, server)
    # Listens on --host:--port, logs "Server started on port N", serves until Ctrl+C.
    await serving.run(server, args, "AssistantService")


HERE = Path(__file__).resolve().parent
DEFAULT_STORY = "story.txt"  # looked up next to this file, so any working folder will do
PEEK_SIZE = 10  # bytes of each chunk shown in the log
MAX_NAME_LENGTH = 100  # characters, for user_name and institution
# gRPC refuses messages over 4 MiB by default; we stay well under that.
MAX_CHUNK_SIZE = 1024 * 1024
MAX_STORY_SIZE = 64 * 1024 * 1024  # bytes: a story, not a disk image


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


def open_story(path: Path) -> BinaryIO:
    """The story file, open for reading; OSError (with a strerror) if it cannot be told.

    O_NONBLOCK: opening a FIFO (a named pipe) would otherwise wait for a writer, maybe
    forever. Then fstat says what we really opened: only a regular file of at most
    MAX_STORY_SIZE bytes is told (a device such as /dev/zero would never end)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise OSError(errno.EISDIR, "it is a folder")
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file (a FIFO, a device?)")
        if info.st_size > MAX_STORY_SIZE:
            raise OSError(errno.EFBIG, f"it is larger than {MAX_STORY_SIZE} bytes")
        os.set_blocking(fd, True)  # a regular file never makes a read wait
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def story_file(arg: str | None) -> tuple[Path, str]:
    """The story's path and its name for the log; exit with one line if it cannot be told."""
    path, name = (HERE / DEFAULT_STORY, DEFAULT_STORY) if arg is None else (Path(arg), arg)
    try:
        open_story(path).close()
    except OSError as error:
        logging.error("Cannot serve %s: %s. Give another with --story PATH.", path,
                      error.strerror)
        raise SystemExit(1) from None
    return path, name


def parse_args() -> argparse.Namespace:
    parser = serving.server_flags("Story-telling server (streaming_server_side lab)",
                                  DEFAULT_PORT)
    parser.add_argument("--story", metavar="PATH", type=serving.text("a file's path", 4096),
                        help=f"the file to tell, any file at all (default: {DEFAULT_STORY})")
    parser.add_argument("--chunk-size", type=serving.number(1, MAX_CHUNK_SIZE), default=1024,
                        help="bytes per response (default: 1024)")
    parser.add_argument("--delay", type=serving.seconds(0, 3600), default=3.0,
                        help="seconds of 'story generation' after the greeting (default: 3)")
    parser.add_argument("--pace", type=serving.seconds(0, 3600), default=0.05,
                        help="seconds between two chunks (default: 0.05)")
    parser.add_argument("--finish", choices=("cancel", "ok"), default="cancel",
                        help="how the stream ends: cancel the call, as the slides do, "
                             "or return with status OK (default: cancel)")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    story_path, story_name = story_file(args.story)
    asyncio.run(serve(args, story_path, story_name))
