"""Benchmark: how fast is hashing a file through two services, against hashing it here?

    python benchmark.py                  # a 1 GiB file (written to a temporary folder)
    python benchmark.py --size 256M      # a smaller one

It starts its own servers on free ports: the file service with the C++ hash server
(build/hash_service, when it is built: see README.md) and with the Python one, hashes
the same file through each, and with hashlib and `sha256sum` here, then prints MB/s
and the ratio to local hashlib. Each way runs --runs times; the best run counts (the
others were slowed down by whatever else the machine was doing).
"""

# First: from here on, Ctrl+C ends the benchmark quietly, even while grpc is still loading.
import calling

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import grpc

from file_service import CHUNK_SIZE
from hash_pb2 import HashFileRequest
from hash_pb2_grpc import FileServiceStub

HERE = Path(__file__).resolve().parent
CPP_SERVER = Path("build") / "hash_service"
READY = re.compile(r"Server started on port (\d+)")
READ_SIZE = 1024 * 1024
MAX_SIZE = 16 << 30  # bytes of the test file: it is written to a temporary folder
MAX_CHUNK_SIZE = 3 * 1024 * 1024  # as file_service.py allows: gRPC's limit is 4 MB


def parse_size(text: str) -> int:
    """argparse type: '1G', '256M', '64K' or a number of bytes, from 1 byte to MAX_SIZE."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    number = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = units.get(number[-1:], 1)
    try:
        size = float(number[:-1] if unit > 1 else number) * unit
    except ValueError:
        size = float("nan")
    if not 1 <= size <= MAX_SIZE:  # (nan is never in range)
        raise argparse.ArgumentTypeError(
            f"must be a size from 1 byte to {MAX_SIZE >> 30}G (try 1G, 256M, 1000000), "
            f"got {calling.shown(text)}")
    return int(size)


def write_test_file(path: Path, size: int) -> None:
    """`size` random-looking bytes (a repeated random block: as hard to hash as any)."""
    block = os.urandom(READ_SIZE)
    with open(path, "wb") as file:
        left = size
        while left > 0:
            file.write(block[:left])
            left -= len(block)
        # Wait until the kernel has written it to the disk: otherwise that happens in the
        # background during the first runs, and takes a core from the ways that need two.
        file.flush()
        os.fsync(file.fileno())


class Server:
    """A server started for the benchmark, stopped (Ctrl+C) when it is over."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.argv = argv
        self.process = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
        self.port = self.wait_ready()

    def wait_ready(self) -> int:
        assert self.process.stderr is not None
        for line in self.process.stderr:  # it logs the ready line within seconds
            match = READY.search(line)
            if match:
                # Read on whatever it logs later: a full pipe would stop the server.
                threading.Thread(target=self.process.stderr.read, daemon=True).start()
                return int(match.group(1))
        raise SystemExit(f"{' '.join(self.argv)} exited before it was ready")

    def stop(self) -> None:
        self.process.send_signal(2)  # SIGINT, as Ctrl+C
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def timed(work: Callable[[], str], expected: str, label: str) -> float:
    """Seconds that `work` takes; it must return the `expected` digest."""
    started = time.perf_counter()
    digest = work()
    took = time.perf_counter() - started
    if digest != expected:
        raise SystemExit(f"{label}: wrong digest {digest}, expected {expected}")
    return took


def hash_with_hashlib(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while data := file.read(READ_SIZE):
            digest.update(data)
    return digest.hexdigest()


def hash_with_sha256sum(path: Path) -> str:
    done = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    return done.stdout.split()[0]


class Chain:
    """A hash server and a file service in front of it, both started for the benchmark."""

    def __init__(self, hash_server: list[str], root: Path, chunk_size: int) -> None:
        self.servers = [Server([*hash_server, "--port", "0"], HERE)]
        hash_target = f"localhost:{self.servers[0].port}"
        try:
            self.servers.append(Server([sys.executable, str(HERE / "file_service.py"),
                                        "--port", "0", "--root", str(root),
                                        "--hash-target", hash_target,
                                        "--chunk-size", str(chunk_size)], HERE))
        except BaseException:
            self.servers[0].stop()  # no server outlives the benchmark
            raise
        self.channel = grpc.insecure_channel(f"localhost:{self.servers[1].port}",
                                             options=[("grpc.enable_http_proxy", 0)])
        self.stub = FileServiceStub(self.channel)

    def hash(self, name: str) -> str:
        return self.stub.HashFile(HashFileRequest(path=name), timeout=600).hex_digest

    def __enter__(self) -> "Chain":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.channel.close()
        for server in reversed(self.servers):
            server.stop()


def main() -> int:
    parser = calling.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=1 << 30,
                        help="file size, e.g. 1G, 256M (default: 1G)")
    parser.add_argument("--runs", type=calling.whole_number(1, 100), default=3,
                        help="timed runs of each way; the best counts (default: 3)")
    parser.add_argument("--chunk-size", type=calling.whole_number(1, MAX_CHUNK_SIZE),
                        default=CHUNK_SIZE,
                        help=f"passed on to file_service.py (default: {CHUNK_SIZE})")
    parser.add_argument("--cpp-server", type=Path, default=HERE / CPP_SERVER,
                        help=f"the C++ hash server (default: {CPP_SERVER})")
    args = parser.parse_args()
    cpp_server = args.cpp_server.resolve()
    if not cpp_server.is_file():
        print(f"note: {args.cpp_server} is not built: no C++ row "
              "(see README.md to build it)", file=sys.stderr)

    # What else runs on the machine changes the figures (see README.md, "Benchmark"):
    # the table says how busy it was before we started.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory(prefix="hash-bench-") as folder, ExitStack() as stack:
        path = Path(folder) / "data.bin"
        print(f"Writing a {args.size / (1 << 20):.0f} MiB test file...", file=sys.stderr)
        write_test_file(path, args.size)
        expected = hash_with_hashlib(path)  # also brings the file into the page cache

        ways: dict[str, Callable[[], str]] = {}
        if cpp_server.is_file():
            cpp = stack.enter_context(Chain([str(cpp_server)], path.parent, args.chunk_size))
            ways["file service + C++ hash server"] = lambda: cpp.hash(path.name)
        python = stack.enter_context(
            Chain([sys.executable, str(HERE / "hash_service.py")], path.parent, args.chunk_size))
        ways["file service + Python hash server"] = lambda: python.hash(path.name)
        ways["local hashlib"] = lambda: hash_with_hashlib(path)
        if shutil.which("sha256sum"):
            ways["local sha256sum"] = lambda: hash_with_sha256sum(path)

        for label, work in ways.items():  # warm up: connections made, code run once
            timed(work, expected, label)
        # Round by round rather than way by way: a busy moment on the machine then slows
        # one run of every way, not all the runs of one way.
        seconds = {label: float("inf") for label in ways}
        for round_number in range(1, args.runs + 1):
            print(f"Round {round_number} of {args.runs}...", file=sys.stderr)
            for label, work in ways.items():
                seconds[label] = min(seconds[label], timed(work, expected, label))

    megabytes = args.size / 1e6
    baseline = megabytes / seconds["local hashlib"]
    print(f"{args.size / (1 << 20):.0f} MiB file, chunks of {args.chunk_size} bytes, "
          f"best of {args.runs} runs, {os.cpu_count()} CPUs, load average {load:.1f} before")
    print(f"{'way':<36} {'MB/s':>8} {'x hashlib':>10}")
    for label, took in seconds.items():
        rate = megabytes / took
        print(f"{label:<36} {rate:>8.0f} {rate / baseline:>9.2f}x")
    return 0


if __name__ == "__main__":
    calling.run_main(main)
