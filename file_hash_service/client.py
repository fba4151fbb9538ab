"""Client of the file service: prints the SHA-256 of files, as `sha256sum` does.

Start the hash service and the file service first (see README.md), then:

    python client.py hash.proto README.md          # <digest>  <path>, one line per file
    python client.py --verify hash.proto           # also hash locally and compare

Paths are looked up by the file service, relative to its --root folder.
"""

# First: from here on, Ctrl+C ends the client quietly, even while grpc is still loading.
# calling.py holds what every client of the labs does the same way (flags, no server...).
import calling

import hashlib
import logging
import os
import sys
import threading
import time

import grpc

from hash_pb2 import HashFileReply, HashFileRequest
from hash_pb2_grpc import FileServiceStub

DEFAULT_TARGET = "localhost:50052"
PROGRESS_MIN_SIZE = 8 * 1024 * 1024  # files this big get a progress line on a terminal
READ_SIZE = 1024 * 1024


class Progress:
    """One line on stderr, redrawn in place, while a long step runs: only on a terminal
    (a progress line in a file or a pipe would be noise) and only for big files."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.started = time.monotonic()
        self.shown = sys.stderr.isatty() and total >= PROGRESS_MIN_SIZE

    def show(self, done: int | None = None) -> None:
        """Draw the bar: `done` bytes of the total, or (None) a bar that only says
        "busy" because the file service does not tell how far it is."""
        if not self.shown:
            return
        width = 30
        elapsed = time.monotonic() - self.started
        if done is None:  # a marker moving to and fro, 10 steps a second
            room = width - 3
            step = int(elapsed * 10) % (2 * room)
            position = step if step <= room else 2 * room - step
            bar = " " * position + "<=>" + " " * (room - position)
            amount = f"{self.total / 1e6:.0f} MB"
        else:
            filled = width * done // max(self.total, 1)
            bar = "#" * filled + "." * (width - filled)
            amount = f"{done / 1e6:.0f}/{self.total / 1e6:.0f} MB"
        print(f"\r{self.label} [{bar}] {amount} {elapsed:.1f} s ", end="", file=sys.stderr,
              flush=True)

    def clear(self) -> None:
        if self.shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def local_size(path: str) -> int:
    """Size of the file here, 0 when there is no such local file (the file service may
    run elsewhere: then we cannot show how big it is)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def start_hash_file(stub: FileServiceStub, path: str, deadline: float) -> grpc.Future:
    """Ask the file service for the SHA-256 of `path`; the reply comes in the future."""
    # BEGIN SOLUTION Start a HashFile call for the path, timeout=deadline; return its future (README, step 7).
    # A future rather than a plain call: we redraw the progress line while we wait.
    return stub.HashFile.future(HashFileRequest(path=path), timeout=deadline)
    # END SOLUTION


def wait_for_reply(call: grpc.Future, path: str) -> HashFileReply:
    """The call's reply (raises grpc.RpcError if it failed), with a progress line while
    we wait. Leaving early (Ctrl+C) cancels the call."""
    progress = Progress(f"hashing {path}", local_size(path))
    finished = threading.Event()
    call.add_done_callback(lambda _: finished.set())
    try:
        while not finished.wait(0.1):
            progress.show()
        return call.result()
    finally:
        call.cancel()  # does nothing if the call is over; cancels it on Ctrl+C
        progress.clear()


def hash_locally(path: str) -> str:
    """SHA-256 of a local file with hashlib, in pieces: the file may be bigger than memory."""
    digest = hashlib.sha256()
    progress = Progress(f"verifying {path}", local_size(path))
    done = 0
    try:
        # Only a regular file: a FIFO or a device (/dev/zero) could block or never end.
        with calling.open_regular_file(path) as file:
            while data := file.read(READ_SIZE):
                digest.update(data)
                done += len(data)
                progress.show(done)
    finally:
        progress.clear()
    return digest.hexdigest()


def verify(path: str, remote_digest: str) -> bool:
    """Hash the file here too and say whether both digests agree."""
    try:
        local_digest = hash_locally(path)
    except OSError as error:
        print(f"{path}: cannot verify here: {error.strerror}")
        return False
    if local_digest == remote_digest:
        print(f"{path}: OK, the local SHA-256 agrees")
        return True
    print(f"{path}: MISMATCH, the local SHA-256 is {local_digest}")
    return False


def run(target: str, paths: list[str], timeout: float, deadline: float,
        check: bool) -> int:
    """Hash every path; return the exit code: 0 all done (and agreeing), 1 a file failed,
    2 no file service."""
    failed = False
    with grpc.insecure_channel(target, options=calling.CHANNEL_OPTIONS) as channel:
        if not calling.wait_for_server(channel, target, timeout, "python file_service.py",
                                       what="the file service"):
            return 2
        stub = FileServiceStub(channel)
        for path in paths:
            try:
                reply = wait_for_reply(start_hash_file(stub, path, deadline), path)
            except grpc.RpcError as error:
                # One line per failed file, then on to the next file, as sha256sum does.
                calling.say(f"HashFile failed for {calling.one_line(path)}: "
                            f"{calling.status_text(error)}")
                failed = True
                continue
            # Two spaces between digest and path: the format `sha256sum -c` reads back.
            print(f"{reply.hex_digest}  {reply.path}", flush=True)
            if check and not verify(path, reply.hex_digest):
                failed = True
    return 1 if failed else 0


def main() -> int:
    parser = calling.ArgumentParser(
        description="Print the SHA-256 of files, computed by the file service and the "
                    "hash service (file_hash_service lab)")
    parser.add_argument("paths", nargs="+", metavar="PATH", type=calling.text,
                        help="files to hash, relative to the file service's --root")
    parser.add_argument("--verify", action="store_true",
                        help="also hash each file here with hashlib and say if they agree")
    calling.add_server_flags(parser, DEFAULT_TARGET, "seconds to wait for the file service")
    parser.add_argument("--deadline", type=calling.seconds(calling.MIN_TIMEOUT), default=60.0,
                        help="seconds each file may take to hash (default: 60)")
    args = parser.parse_args()
    # Ctrl+C while waiting: wait_for_reply cancels the call, and the file service cancels
    # its own call to the hash service in turn.
    return run(args.target, args.paths, args.timeout, args.deadline, args.verify)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    calling.run_main(main)
