"""file_hash_service: how the file service judges the paths it is asked for.

The file service opens every file beneath a descriptor of its --root, one name at a
time, and judges what it opened (see file_hash_service/README.md, "Paths and the root").
These tests ask it for the awkward paths (symlink loops, long names, `a.txt/`, NUL,
text that is not UTF-8, deep folders, links inside and out) and check the answer's
status code and message: the path as asked, and nothing from outside the root.

The file service runs as a process; its hash service is a stand-in in the test process
that hashes what it receives and remembers every byte it saw, so a test sees what
reached the other side. test_file_service_races.py uses the same stand-in.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from labkit.procs import LabProcess, LabRunner, target
from labkit.protocol import lab_proto

LAB = "file_hash_service"

PROTO = lab_proto(LAB)
HashFileRequest = PROTO.message("HashFileRequest")
ShaReply = PROTO.message("ShaReply")
SECRET = b"SECRET outside the root\n"  # the content of every file outside the root
OK = grpc.StatusCode.OK


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class HashingStandIn:
    """A stand-in hash service: ShaStream hashes the chunks it receives, as the real one
    does, and records whether any of them held SECRET (bytes from outside the root)."""

    def __init__(self) -> None:
        self.saw_secret = threading.Event()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        self.server.add_generic_rpc_handlers([PROTO.handler("HashService", self)])
        self.port = self.server.add_insecure_port("localhost:0")
        self.server.start()

    def ShaStream(self, chunks: Iterator, context: grpc.ServicerContext):
        data = b"".join(chunk.data for chunk in chunks)
        if SECRET in data:
            self.saw_secret.set()
        return ShaReply(hex_digest=sha256(data), size=len(data))

    @property
    def target(self) -> str:
        return f"localhost:{self.port}"


@pytest.fixture
def hashing() -> Iterator[HashingStandIn]:
    standin = HashingStandIn()
    try:
        yield standin
    finally:
        standin.server.stop(0)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The folder the file service serves. Next to it, outside: `outside.txt`, the
    folder `outside-dir` (with `a.txt` in it) and the FIFO `outside-pipe`, all secret."""
    (tmp_path / "outside.txt").write_bytes(SECRET)
    (tmp_path / "outside-dir").mkdir()
    (tmp_path / "outside-dir" / "a.txt").write_bytes(SECRET)
    os.mkfifo(tmp_path / "outside-pipe")
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def file_service(lab: LabRunner, root: Path, hashing: HashingStandIn) -> LabProcess:
    return lab.start_server("file-service", "--root", str(root), "--hash-target",
                            hashing.target)


def ask(channel: grpc.Channel, path: str, timeout: float = 5) -> tuple[grpc.StatusCode, str]:
    """HashFile(path): (OK, digest) or (the status code, its message)."""
    try:
        reply = PROTO.stub(channel, "FileService").HashFile(HashFileRequest(path=path),
                                                            timeout=timeout)
    except grpc.RpcError as error:
        return error.code(), error.details()
    return OK, reply.hex_digest


def assert_names_nothing_else(message: str, shown: str, tmp_path: Path) -> None:
    """Past the path as asked (`shown`), the message names nothing from the disk."""
    rest = message.removeprefix(shown)
    for leak in (str(tmp_path), "outside-", "outside.txt", "Traceback", "Errno"):
        assert leak not in rest, message


# === refusals: the status code, and a message with the path as asked ====================

def test_awkward_paths_get_a_clear_refusal(root: Path, tmp_path: Path,
                                           file_service: LabProcess,
                                           hashing: HashingStandIn) -> None:
    (root / "a.txt").write_bytes(b"inside\n")
    (root / "loop").symlink_to("loop")
    (root / "ping").symlink_to("pong")
    (root / "pong").symlink_to("sub/../ping")
    (root / "sub").mkdir()
    (root / "link-out").symlink_to(tmp_path / "outside.txt")
    (root / "up-out").symlink_to("../outside-dir")
    (root / "pipe-out").symlink_to(tmp_path / "outside-pipe")
    (root / "sub" / "up-up").symlink_to("../../outside.txt")
    os.mkfifo(root / "pipe")
    (root / "to-pipe").symlink_to("pipe")
    os.mknod(root / "socket", stat.S_IFSOCK | 0o666)  # what a Unix socket leaves on disk
    refused = {
        "loop": ("INVALID_ARGUMENT", "too many symbolic links"),
        "ping": ("INVALID_ARGUMENT", "too many symbolic links"),
        "a.txt/": ("INVALID_ARGUMENT", "a file in it is used as a directory"),
        "a.txt/.": ("INVALID_ARGUMENT", "a file in it is used as a directory"),
        "a.txt/b": ("INVALID_ARGUMENT", "a file in it is used as a directory"),
        "x" * 256: ("INVALID_ARGUMENT", "a name in it is too long"),
        "sub/" * 1100 + "a.txt": ("INVALID_ARGUMENT", "longer than 4096 bytes"),
        "ok\0.txt": ("INVALID_ARGUMENT", "NUL"),
        "pipe": ("INVALID_ARGUMENT", "not a regular file"),
        "to-pipe": ("INVALID_ARGUMENT", "not a regular file"),
        "socket": ("INVALID_ARGUMENT", "not a regular file"),
        "sub/": ("INVALID_ARGUMENT", "is a directory"),
        "sub/..": ("INVALID_ARGUMENT", "is a directory"),
        "link-out": ("PERMISSION_DENIED", "outside the folder"),
        "up-out/a.txt": ("PERMISSION_DENIED", "outside the folder"),
        "pipe-out": ("PERMISSION_DENIED", "outside the folder"),
        "sub/up-up": ("PERMISSION_DENIED", "outside the folder"),
        "sub/../../outside-pipe": ("PERMISSION_DENIED", "outside the folder"),
        f"{root}/../outside.txt": ("PERMISSION_DENIED", "outside the folder"),
        f"{root}-not/a.txt": ("PERMISSION_DENIED", "outside the folder"),
        "/": ("PERMISSION_DENIED", "outside the folder"),
        "no/such/folder/a.txt": ("NOT_FOUND", "no such file"),
    }
    with grpc.insecure_channel(target(file_service)) as channel:
        for path, (code, reason) in refused.items():
            seen_code, message = ask(channel, path)
            assert (seen_code.name, reason in message) == (code, True), (path, message)
            # The path as asked starts the message (shortened when long: it
            # travels in a header), and nothing outside the root is named.
            shown = path.replace("\0", "\\0")
            shown = shown if len(shown) <= 100 else f"{shown[:60]}...{shown[-30:]}"
            assert message.startswith(f"{shown}: "), message
            assert_names_nothing_else(message, shown, tmp_path)
        # After all that, it still hashes what it should: through a link chain too.
        (root / "sub" / "alias").symlink_to("../a.txt")
        (root / "via").symlink_to("sub/alias")
        assert ask(channel, "via") == (OK, sha256(b"inside\n"))
    assert not hashing.saw_secret.is_set()
    assert "Traceback" not in file_service.stderr, file_service.describe()


def test_outside_answers_the_same_whether_it_exists_or_not(
        root: Path, tmp_path: Path, file_service: LabProcess) -> None:
    # Pairs of paths: the first leads to something that exists outside the root (a file,
    # a folder, a FIFO, a symlink loop), the second to nothing. A caller must not tell
    # which is which.
    (tmp_path / "outside-loop").symlink_to("outside-loop")
    (root / "to-file").symlink_to(tmp_path / "outside.txt")
    (root / "to-none").symlink_to(tmp_path / "no-such.txt")
    (root / "rel-file").symlink_to("../outside-dir/a.txt")
    (root / "rel-none").symlink_to("../outside-dir/none.txt")
    pairs = [("../outside.txt", "../no-such.txt"), ("../outside-dir", "../no-such-dir"),
             ("../outside-pipe", "../no-such-pipe"), ("../outside-loop", "../no-loop"),
             (str(tmp_path / "outside.txt"), str(tmp_path / "no-such.txt")),
             ("to-file", "to-none"), ("rel-file", "rel-none")]
    with grpc.insecure_channel(target(file_service)) as channel:
        for there, not_there in pairs:
            code, message = ask(channel, there)
            assert code == grpc.StatusCode.PERMISSION_DENIED, (there, message)
            assert ask(channel, not_there) == (code, message.replace(there, not_there))


def test_a_path_that_is_not_utf8_is_invalid(file_service: LabProcess) -> None:
    # What the generated stubs cannot send (a proto3 string is UTF-8), any other client
    # can: HashFileRequest with field 1 (path) holding bytes that are not UTF-8.
    raw = bytes([0x0A, 6]) + b"\xff\xfe.txt"
    with grpc.insecure_channel(target(file_service)) as channel:
        hash_file = channel.unary_unary("/filehash.FileService/HashFile")
        with pytest.raises(grpc.RpcError) as raised:
            hash_file(raw, timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value
    assert raised.value.details(), "the answer says what was wrong"
    assert "Traceback" not in file_service.stderr, file_service.describe()


# === symlinks inside the root are followed, as the kernel would, but beneath the root ===

def test_links_that_stay_inside_are_followed(root: Path, file_service: LabProcess) -> None:
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "docs" / "deep" / "page.txt").write_bytes(b"page\n")
    (root / "docs" / "top.txt").write_bytes(b"top\n")
    (root / "short").symlink_to("docs/deep")  # a folder inside
    (root / "absolute").symlink_to(root / "docs" / "top.txt")  # absolute, into the root
    (root / "docs" / "deep" / "back").symlink_to("../top.txt")
    expected = {
        "short/page.txt": b"page\n",
        "short/../top.txt": b"top\n",  # `..` of the folder the link leads to, as the kernel
        "absolute": b"top\n",
        "docs/deep/back": b"top\n",
        "./short//back": b"top\n",
        str(root / "short" / "page.txt"): b"page\n",  # absolute, inside the root
    }
    with grpc.insecure_channel(target(file_service)) as channel:
        for path, data in expected.items():
            assert ask(channel, path) == (OK, sha256(data)), path


def test_folders_deeper_than_the_limit_are_refused(root: Path,
                                                   file_service: LabProcess) -> None:
    # Each folder the file service walks through holds a descriptor until the call ends:
    # 32 levels are plenty for a lab and keep a call's descriptors bounded.
    deep = root.joinpath(*["d"] * 33)
    deep.mkdir(parents=True)
    (deep / "f.txt").write_bytes(b"deep\n")
    (deep.parent / "f.txt").write_bytes(b"32 deep\n")
    with grpc.insecure_channel(target(file_service)) as channel:
        assert ask(channel, "d/" * 32 + "f.txt") == (OK, sha256(b"32 deep\n"))
        code, message = ask(channel, "d/" * 33 + "f.txt")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "folders deep" in message, message


def test_refusals_leave_no_descriptor_open(root: Path, file_service: LabProcess) -> None:
    fd_folder = Path(f"/proc/{file_service.popen.pid}/fd")
    if not os.access(fd_folder, os.R_OK):
        pytest.skip("cannot count the file service's descriptors here (no /proc)")
    root.joinpath(*["d"] * 33).mkdir(parents=True)
    (root / "d" / "a.txt").write_bytes(b"a\n")
    (root / "d" / "loop").symlink_to("../d/loop")
    os.mkfifo(root / "d" / "pipe")
    paths = ["d/" * 33 + "x", "d/loop", "d/pipe", "d/a.txt/", "d/d/../../..", "d/a.txt"]
    with grpc.insecure_channel(target(file_service)) as channel:
        for path in paths:  # once, so that the channel and the stub are set up
            ask(channel, path)
        before = len(os.listdir(fd_folder))
        for _ in range(30):
            for path in paths:
                ask(channel, path)
        after = len(os.listdir(fd_folder))
    assert after <= before + 2, f"{before} descriptors open before, {after} after"
    assert stat.S_ISDIR(os.stat(root / "d").st_mode)  # (the tree was there all along)


def test_a_root_it_may_not_read_is_refused_at_start(lab: LabRunner, tmp_path: Path,
                                                    sandbox) -> None:
    if os.geteuid() == 0 and not sandbox.isolated:
        pytest.skip("lab processes run as root here, and root may read any folder")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o311)  # its owner may enter it and write in it, but not read it
    result = lab.run("file-service", "--port", "0", "--root", str(locked))
    assert result.returncode == 2, result.output
    assert result.stderr.splitlines()[-1].endswith(
        f"error: --root {locked}: this program may not read that folder"), result.stderr
