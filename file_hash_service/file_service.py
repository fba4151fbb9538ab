"""File service: hashes files for its callers by streaming them to the hash service.

This is `hash_file` of the lecture: it reuses `sha` of the hash service (C++ or Python,
whichever runs at --hash-target) through the stubs generated from the same hash.proto.

    python hash_service.py            # or build/hash_service: port 50051
    python file_service.py            # port 50052, serves files under the current folder
    python client.py hash.proto       # prints the digest, as sha256sum does
"""

import serving  # first: from here on, Ctrl+C ends the server cleanly (see serving.py)

import argparse
import asyncio
import errno
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import grpc

import hash_pb2_grpc
from hash_pb2 import Chunk, HashFileReply, HashFileRequest

DEFAULT_PORT = 50052
DEFAULT_HASH_TARGET = "localhost:50051"
NO_DEADLINE = 10 * 365 * 24 * 3600.0  # seconds: longer than any real deadline
# Each Chunk must stay well below gRPC's default limit of 4 MB per message. 1 MiB chunks
# are as fast as any larger size (see README.md, "Benchmark") and keep memory use low.
CHUNK_SIZE = 1024 * 1024
# Clients ignore proxy variables for these local labs.
CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    # When the hash service comes back after a failure, try it again within 2 s
    # (gRPC's default backoff grows to 2 minutes).
    ("grpc.max_reconnect_backoff_ms", 2000),
]


def read_chunks(file: BinaryIO, chunk_size: int) -> Iterator[Chunk]:
    """The file's content as a stream of Chunk messages (nothing at all for an empty file)."""
    # BEGIN SOLUTION Read the file chunk_size bytes at a time; yield each piece as a Chunk.
    while data := file.read(chunk_size):
        yield Chunk(data=data)
    # END SOLUTION


def time_left(context: grpc.ServicerContext) -> float | None:
    """Seconds until our caller's deadline; None if the caller set no deadline."""
    left = context.time_remaining()
    # Without a deadline gRPC reports some 292 billion years (its "infinite future"):
    # passing that on as a timeout would overflow, so we pass None, "no deadline".
    return None if left is None or left > NO_DEADLINE else left


class FileServiceImpl(hash_pb2_grpc.FileServiceServicer):
    """Our implementation of the FileService: a client of the HashService."""

    def __init__(self, root: Path, hash_target: str, chunk_size: int) -> None:
        self.root = root.resolve()  # absolute: asked-for absolute paths start with it
        # Every requested file is opened relative to this descriptor of the root (see
        # open_beneath): renaming or replacing the root's path later changes nothing.
        self.root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        self.hash_target = hash_target
        self.chunk_size = chunk_size
        # One channel for all calls: gRPC multiplexes them over one connection.
        self.channel = grpc.insecure_channel(hash_target, options=CHANNEL_OPTIONS)
        self.hash_stub = hash_pb2_grpc.HashServiceStub(self.channel)

    def HashFile(self, request: HashFileRequest,
                 context: grpc.ServicerContext) -> HashFileReply:
        # BEGIN SOLUTION Open request.path with open_beneath, stream it to ShaStream, reply (README, step 6).
        # Never open(root / request.path): `..` or a symlink would lead out of the root.
        try:
            file = open_beneath(self.root_fd, self.root, request.path)
        except PathError as error:  # outside the root, not there, not a regular file...
            context.abort(error.code, error.message)
        with file:
            # Our caller's deadline becomes the hash service's deadline, and when our
            # call ends early (cancelled, deadline passed) we cancel the hash call too:
            # nobody would read its result.
            hash_call = self.hash_stub.ShaStream.future(
                read_chunks(file, self.chunk_size), timeout=time_left(context))
            if not context.add_callback(hash_call.cancel):
                hash_call.cancel()  # our call ended already
            try:
                reply = hash_call.result()
            except grpc.FutureCancelledError:  # we cancelled it: our caller went away
                context.abort(grpc.StatusCode.CANCELLED, "the call was cancelled")
            except grpc.RpcError as error:
                self.abort_for_hash_error(error, context)
            return HashFileReply(path=request.path, size=reply.size,
                                 hex_digest=reply.hex_digest)
        # END SOLUTION

    def abort_for_hash_error(self, error: grpc.RpcError, context: grpc.ServicerContext) -> None:
        """Pass on a failed hash call to our caller, saying which service failed."""
        code = error.code()
        if code == grpc.StatusCode.UNAVAILABLE:
            context.abort(code, f"the hash service at {self.hash_target} is unavailable "
                                f"(is it running?): {error.details()}")
        context.abort(code, f"the hash service at {self.hash_target} failed: {error.details()}")


# --- Opening a requested file beneath the root -------------------------------------------
#
# Checking a path first and opening it afterwards races with whoever changes the folder
# in between: a folder swapped for a symlink pointing out, a file swapped for a FIFO.
# So we check nothing in advance. We walk the path one name at a time, opening each
# name relative to the folder we opened just before (os.open with dir_fd), never
# letting the kernel follow a symlink (O_NOFOLLOW), and we judge what we opened
# (os.fstat), not what some path named a moment earlier. Symlinks we follow ourselves,
# name by name with the same care, so none of them leads out of the root.

PATH_MAX = 4096  # bytes in a path, as Linux counts them (the kernel checks names itself)
MAX_SYMLINKS = 40  # symlinks followed for one path, as Linux does: more means a loop
MAX_DEPTH = 32  # folders below the root: each folder we are in holds a file descriptor
# O_NONBLOCK: opening a FIFO (or a device) returns at once instead of waiting for a
# writer. O_NOCTTY: a terminal never becomes this server's controlling terminal.
OPEN_ONE_NAME = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY


class PathError(Exception):
    """A requested path that we refuse to hash: carries the status code to answer and a
    message naming the path as it was asked (shortened if long: it travels in a header)."""

    def __init__(self, code: grpc.StatusCode, requested: str, reason: str) -> None:
        shown = requested if len(requested) <= 100 else f"{requested[:60]}...{requested[-30:]}"
        self.code = code
        self.message = f"{shown}: {reason}" if requested else reason
        super().__init__(self.message)


def open_beneath(root_fd: int, root: Path, requested: str) -> BinaryIO:
    """Open the regular file that `requested` names beneath the root (`root_fd` is a
    descriptor of the folder whose absolute path is `root`), or raise PathError.

    Messages name the path as it was asked and nothing else: not the root, not where a
    symlink points. Anything outside the root is refused before it is looked at, so the
    answer is the same whether it exists or not."""
    if not requested:
        raise PathError(grpc.StatusCode.INVALID_ARGUMENT, requested, "the path is empty")
    if "\0" in requested:
        raise PathError(grpc.StatusCode.INVALID_ARGUMENT, requested.replace("\0", "\\0"),
                        "the path contains a NUL character")
    if len(requested.encode()) >= PATH_MAX:
        raise PathError(grpc.StatusCode.INVALID_ARGUMENT, requested,
                        f"the path is longer than {PATH_MAX} bytes")
    names = names_from_root(root, requested, requested)
    folders = [root_fd]  # the folders we went into, from the root down: we are in the last
    links = 0
    try:
        while names:
            name = names.pop(0)
            if name in ("", "."):  # "a//b", "./a": nothing to open
                continue
            if name == "..":  # back to the folder we came from, never above the root
                if len(folders) == 1:
                    raise outside(requested)
                os.close(folders.pop())
                continue
            try:
                fd = os.open(name, OPEN_ONE_NAME, dir_fd=folders[-1])
            except OSError as error:
                if error.errno != errno.ELOOP:
                    raise refusal(requested, error) from None
                # A symlink: O_NOFOLLOW refused it. Go on with where it points instead.
                links += 1
                if links > MAX_SYMLINKS:
                    raise PathError(grpc.StatusCode.INVALID_ARGUMENT, requested,
                                    "too many symbolic links (a loop?)") from None
                target = read_link(name, folders[-1], requested)
                if target.startswith("/"):  # an absolute link starts again from the root
                    while len(folders) > 1:
                        os.close(folders.pop())
                names[:0] = names_from_root(root, target, requested)
                continue
            mode = os.fstat(fd).st_mode  # what we opened, whatever the name is now
            if stat.S_ISDIR(mode):
                folders.append(fd)  # closed below, like every folder we go through
                if len(folders) > MAX_DEPTH + 1:
                    raise PathError(grpc.StatusCode.INVALID_ARGUMENT, requested,
                                    f"more than {MAX_DEPTH} folders deep")
                continue
            if names or not stat.S_ISREG(mode):  # "a.txt/", "a.txt/b"; a FIFO, a device
                os.close(fd)
                raise PathError(grpc.StatusCode.INVALID_ARGUMENT, requested,
                                "a file in it is used as a directory" if names
                                else "not a regular file")
            os.set_blocking(fd, True)  # back to normal reads: a regular file never waits
            return os.fdopen(fd, "rb")
        raise PathError(grpc.StatusCode.INVALID_ARGUMENT, requested,
                        "is a directory, not a file")
    finally:
        for folder in folders[1:]:  # the root's descriptor stays open for the next call
            os.close(folder)


def names_from_root(root: Path, path: str, requested: str) -> list[str]:
    """The names to walk for `path`: a relative path from where we are, an absolute one
    from the root, if it starts with the root's own absolute path (else it is outside)."""
    names = path.split("/")
    if not path.startswith("/"):
        return names
    for root_name in root.parts[1:]:
        while names and names[0] in ("", "."):
            names.pop(0)
        if not names or names.pop(0) != root_name:
            raise outside(requested)
    return names


def read_link(name: str, folder_fd: int, requested: str) -> str:
    """Where the symlink `name` in the folder `folder_fd` points."""
    try:
        return os.readlink(name, dir_fd=folder_fd)
    except OSError as error:
        if error.errno == errno.EINVAL:  # no longer a symlink: it changed meanwhile.
            return name  # Open the name once more (it counts as a link: no endless loop).
        raise refusal(requested, error) from None


def outside(requested: str) -> PathError:
    return PathError(grpc.StatusCode.PERMISSION_DENIED, requested,
                     "outside the folder this file service serves")


# How we answer when opening one name fails, by errno: (status code, reason).
REFUSALS = {
    errno.ENOENT: (grpc.StatusCode.NOT_FOUND, "no such file"),
    errno.EACCES: (grpc.StatusCode.PERMISSION_DENIED, "permission denied"),
    errno.EPERM: (grpc.StatusCode.PERMISSION_DENIED, "permission denied"),
    errno.ENAMETOOLONG: (grpc.StatusCode.INVALID_ARGUMENT, "a name in it is too long"),
    # A socket, or a device that cannot be opened without waiting:
    errno.ENXIO: (grpc.StatusCode.INVALID_ARGUMENT, "not a regular file"),
    errno.ENODEV: (grpc.StatusCode.INVALID_ARGUMENT, "not a regular file"),
    errno.EAGAIN: (grpc.StatusCode.INVALID_ARGUMENT, "not a regular file"),
    errno.EMFILE: (grpc.StatusCode.RESOURCE_EXHAUSTED,
                   "the file service has too many files open: try again later"),
}


def refusal(requested: str, error: OSError) -> PathError:
    """The answer to an error from opening one name of `requested`."""
    code, reason = REFUSALS.get(error.errno, (grpc.StatusCode.PERMISSION_DENIED,
                                              f"cannot open it: {error.strerror}"))
    return PathError(code, requested, reason)


async def serve(args: argparse.Namespace) -> None:
    # HashFile is a plain `def` (it waits on files and on the hash service): each call
    # runs on a worker thread of the server's pool (see serving.py).
    server = serving.new_server(args)
    root = Path(args.root).resolve()
    service = FileServiceImpl(root, args.hash_target, args.chunk_size)
    hash_pb2_grpc.add_FileServiceServicer_to_server(service, server)
    logging.info("Serving files under %s, hashing them with the hash service at %s",
                 root, args.hash_target)
    # Listens on --host:--port, logs "Server started on port N", serves until Ctrl+C.
    await serving.run(server, args, "filehash.FileService")


MAX_CHUNK_SIZE = 3 * 1024 * 1024  # bytes: well below gRPC's limit of 4 MB per message
# Threads for HashFile calls. A call holds one for a few ms per MiB; with many more, the
# threads would mostly wait for each other (Python runs one thread's code at a time).
DEFAULT_WORKERS = 16


def parse_args() -> argparse.Namespace:
    parser = serving.server_flags("File service (file_hash_service lab)", DEFAULT_PORT,
                                  workers=DEFAULT_WORKERS)
    parser.add_argument("--root", type=serving.text("a folder's path", 4096), default=".",
                        help="folder whose files may be hashed (default: the current folder)")
    parser.add_argument("--hash-target", type=serving.text("HOST:PORT", 255),
                        default=DEFAULT_HASH_TARGET,
                        help=f"the hash service, HOST:PORT (default: {DEFAULT_HASH_TARGET})")
    parser.add_argument("--chunk-size", type=serving.number(1, MAX_CHUNK_SIZE),
                        default=CHUNK_SIZE,
                        help=f"bytes per Chunk sent to the hash service (default: {CHUNK_SIZE})")
    args = parser.parse_args()
    if not os.path.isdir(args.root):
        parser.error(f"--root {args.root}: not a folder")
    if not os.access(args.root, os.R_OK | os.X_OK):  # we open it, and files beneath it
        parser.error(f"--root {args.root}: this program may not read that folder")
    return args


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    serving.keep_big_buffers_in_the_heap()
    asyncio.run(serve(args))
