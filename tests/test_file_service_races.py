"""file_hash_service: the file service while its folder changes under it.

A file service that checks a path and opens it later can be fooled in between: a folder
swapped for a symlink pointing out of --root makes it hash a file outside, a file
swapped for a FIFO blocks a worker for ever. Here, while several callers ask for the
same paths over and over, a thread in the test swaps exactly those things, for a few
seconds. Then:

- zero escapes: no answer carries the digest of a file outside the root, and no byte of
  one reaches the hash service (the stand-in of test_file_service_paths.py sees them);
- zero blocked workers: every call ends with an answer within its deadline, health
  answers throughout, and afterwards the file service stops on SIGTERM within 2 s;
- the race was run: some calls got the file, others a refusal.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grpc
import test_file_service_paths as path_tests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from test_file_service_paths import OK, SECRET, HashingStandIn, ask, sha256

from labkit.procs import LabProcess, target

LAB = "file_hash_service"

# The fixtures of the refused paths' tests, shared: the stand-in hash service, the root
# folder (with secrets outside it) and the file service in front of them.
hashing, root, file_service = path_tests.hashing, path_tests.root, path_tests.file_service

HAMMER_SECONDS = 2.5  # how long the tree changes under the calls
CALLERS = 6  # threads calling HashFile at once (fewer than the file service's workers)
DEADLINE = 5.0  # seconds, for each call and health check: an answer takes milliseconds
INSIDE = b"inside the root\n"
# What a call may end with while the tree changes: the file, or a refusal.
FAIR_ANSWERS = {OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.PERMISSION_DENIED}


def hammer(service: LabProcess, paths: list[str], change: Callable[[], None]) -> Counter:
    """Call HashFile on `paths` from CALLERS threads and check health from another,
    while `change` runs over and over, for HAMMER_SECONDS; return what the calls got:
    a Counter of (status code name, digest or message)."""
    stop = threading.Event()
    answers: Counter = Counter()
    problems: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        with grpc.insecure_channel(target(service)) as channel:
            while not stop.is_set():
                code, detail = ask(channel, random.choice(paths), timeout=DEADLINE)
                with lock:  # (a blocked worker shows as DEADLINE_EXCEEDED)
                    answers[code.name, detail if code == OK else detail.split(": ")[-1]] += 1
                    if code not in FAIR_ANSWERS:
                        problems.append(f"{code.name}: {detail}")

    def check_health() -> None:
        with grpc.insecure_channel(target(service)) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while not stop.wait(0.05):
                try:
                    stub.Check(health_pb2.HealthCheckRequest(), timeout=DEADLINE)
                except grpc.RpcError as error:
                    with lock:
                        problems.append(f"health: {error.code().name}")

    def keep_changing() -> None:
        try:
            while not stop.is_set():
                change()
        except OSError as error:  # the test's own mistake: say so rather than pass
            problems.append(f"changing the tree failed: {error}")
            stop.set()

    threads = [threading.Thread(target=work, daemon=True)
               for work in [keep_changing, check_health] + [call] * CALLERS]
    for thread in threads:
        thread.start()
    try:
        stop.wait(HAMMER_SECONDS)
    finally:
        stop.set()
        for thread in threads:
            thread.join(DEADLINE + 5)
    assert not any(thread.is_alive() for thread in threads), "a call never ended"
    assert not problems, f"{len(problems)} calls or health checks went wrong: {problems[:5]}"
    return answers


def assert_no_escape_and_a_clean_stop(answers: Counter, hashing: HashingStandIn,
                                      service: LabProcess) -> None:
    escapes = sum(n for (code, detail), n in answers.items() if detail == sha256(SECRET))
    assert escapes == 0, f"{escapes} digests of a file outside the root: {answers}"
    assert not hashing.saw_secret.is_set(), "bytes from outside reached the hash service"
    # The race ran: some calls hashed the file inside, others were refused.
    assert answers[OK.name, sha256(INSIDE)] > 0, answers
    assert sum(n for (code, _), n in answers.items() if code != OK.name) > 0, answers
    service.signal(signal.SIGTERM)
    assert service.wait(timeout=2 + 1) == 0, service.describe()  # 2 s, plus 1 s of slack
    assert "Server stopped" in service.stderr
    assert "Traceback" not in service.stderr, service.describe()


def test_folders_swapped_for_symlinks_pointing_out(root: Path, tmp_path: Path,
                                                   file_service: LabProcess,
                                                   hashing: HashingStandIn) -> None:
    # root/dir/a.txt is inside; outside-dir/a.txt (SECRET) is what a swapped dir leads to.
    # `dir` and `top/dir` become, for a moment each time, a symlink pointing out:
    # absolute or relative, to the outside folder or to its parent.
    for folder in (root, root / "top"):
        (folder / "dir").mkdir(parents=True)
        (folder / "dir" / "a.txt").write_bytes(INSIDE)
    outside = tmp_path / "outside-dir"
    links = [(root, outside), (root, Path("../outside-dir")),
             (root / "top", outside), (root / "top", Path("../../outside-dir"))]

    def swap_a_folder() -> None:
        folder, points_to = random.choice(links)
        (folder / "dir-link").symlink_to(points_to)
        os.rename(folder / "dir", folder / "dir-away")
        os.rename(folder / "dir-link", folder / "dir")  # now dir leads out
        os.rename(folder / "dir", folder / "dir-link")
        os.rename(folder / "dir-away", folder / "dir")  # and back
        os.unlink(folder / "dir-link")

    paths = ["dir/a.txt", "top/dir/a.txt", "top/dir/../dir/a.txt", f"{root}/dir/a.txt"]
    answers = hammer(file_service, paths, swap_a_folder)
    assert_no_escape_and_a_clean_stop(answers, hashing, file_service)


def test_files_swapped_for_fifos_and_links(root: Path, tmp_path: Path,
                                           file_service: LabProcess,
                                           hashing: HashingStandIn) -> None:
    # root/a.txt is replaced, atomically each time (a hard link renamed over it), by one
    # of: the file inside, a FIFO (inside the root, so it is opened: never waited on),
    # symlinks to a file and to a FIFO outside, and a symlink to itself (a loop).
    kinds = tmp_path / "kinds"
    kinds.mkdir()
    (kinds / "file").write_bytes(INSIDE)
    os.mkfifo(kinds / "fifo")
    (kinds / "to-outside").symlink_to(tmp_path / "outside.txt")
    (kinds / "to-outside-fifo").symlink_to("../outside-pipe")
    (kinds / "loop").symlink_to("a.txt")
    (root / "sub").mkdir()
    os.link(kinds / "file", root / "a.txt")
    now = ["file"]

    def swap_the_file() -> None:
        # (Another kind each time: renaming a hard link over itself does nothing.)
        kind = random.choice([k for k in ("file", "fifo", "to-outside", "to-outside-fifo",
                                          "loop") if k != now[0]])
        os.link(kinds / kind, root / "a.tmp", follow_symlinks=False)
        os.replace(root / "a.tmp", root / "a.txt")
        now[0] = kind

    paths = ["a.txt", "sub/../a.txt", f"{root}/a.txt"]
    answers = hammer(file_service, paths, swap_the_file)
    assert_no_escape_and_a_clean_stop(answers, hashing, file_service)

