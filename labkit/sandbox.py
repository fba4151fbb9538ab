"""Where the tests run a submission's programs: apart from the grader, and never left behind.

Tests run a lab's programs (a student's code) as processes. Two things must hold whatever
those programs do:

1. They cannot change the results. When the tests run as root (a grading container,
   Gradescope, CI), every lab process runs as an unprivileged user id of its own (one per
   test process, taken from a range nobody else uses, no /etc/passwd entry needed) with
   no supplementary groups. That user can read the labs, write only its own scratch
   folders, and write neither the results, nor the kit, nor hidden tests. The lab folders
   the processes run from are a snapshot copy owned by root.
2. None outlives the grading. Every process started by a lab program, also one that calls
   setsid() or forks twice to leave its parent, is found and killed: by its user id when
   we are root; otherwise because this process is a "child subreaper" (Linux
   prctl(PR_SET_CHILD_SUBREAPER)), which makes such orphans our children instead of init's.

Not root (a laptop): lab processes run with the grader's own rights, so they could write
anything the grader can; the README says so and how to grade in a container instead.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

UID_RANGE = range(61000, 62000)  # user ids for lab processes (one per test process)
LOCK_DIR = Path(tempfile.gettempdir()) / "labkit-sandbox-uids"
ENV_UID = "LABKIT_SANDBOX_UID"  # set by a parent that holds the id (labkit grade)
ENV_OFF = "LABKIT_SANDBOX"  # "0": run lab processes as ourselves even as root (debugging)
PR_SET_CHILD_SUBREAPER = 36
SETPRIV = shutil.which("setpriv")

# What the snapshot of a lab folder leaves out: what a build or a run leaves behind.
SNAPSHOT_IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".pytest_cache", "build", "cmake-build-*", ".git")


class SandboxError(RuntimeError):
    """The sandbox cannot be set up; the message says what to do."""


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, real uid) of a process, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    try:
        return int(fields["PPid"]), int(fields["Uid"].split()[0])
    except (KeyError, ValueError, IndexError):
        return None


def all_processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, real uid) of every process (Linux /proc)."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            found = _proc_stat(int(entry.name))
            if found is not None:
                table[int(entry.name)] = found
    return table


def descendants(roots: Iterable[int], table: dict[int, tuple[int, int]]) -> set[int]:
    """The given pids and every process below them."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _uid) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = [pid for pid in roots if pid in table]
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(children.get(pid, []))
    return found


def _kill_all(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def become_subreaper() -> bool:
    """Make orphans of our descendants our children (Linux); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap_zombies() -> None:
    """Collect exited children that nobody waits for (adopted orphans, as a subreaper)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class UidLock:
    """An unprivileged user id held for as long as this object lives (a lock file per id,
    so that concurrent test processes and `labkit grade -j N` never share one)."""

    def __init__(self) -> None:
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        for uid in UID_RANGE:
            handle = open(LOCK_DIR / f"uid-{uid}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self.uid = uid
            self._handle = handle
            return
        raise SandboxError(f"every user id in {UID_RANGE.start}..{UID_RANGE.stop - 1} is taken")

    def release(self) -> None:
        self._handle.close()


class Sandbox:
    """How this test process runs lab programs, and how it cleans up after them."""

    def __init__(self, uid: int | None) -> None:
        self.uid = uid  # None: lab processes run as ourselves
        self.snapshots: list[Path] = []  # lab roots copied for the lab user
        self._lock: UidLock | None = None
        self.subreaper = become_subreaper()
        self.base = Path(tempfile.mkdtemp(prefix="labkit-sandbox-"))
        self.home = self.base / "home"
        self.home.mkdir()
        if uid is not None:
            os.chmod(self.base, 0o711)  # the lab user may pass through, not list
            os.chown(self.home, uid, uid)
            self.kill_user_processes()  # a crashed earlier run may have left some

    @classmethod
    def for_this_process(cls) -> Sandbox:
        """As root: a user id of our own (or the one our parent holds); otherwise none."""
        if os.geteuid() != 0 or os.environ.get(ENV_OFF) == "0":
            return cls(None)
        if os.environ.get(ENV_UID):
            return cls(int(os.environ[ENV_UID]))
        lock = UidLock()
        sandbox = cls(lock.uid)
        sandbox._lock = lock
        sandbox.check_python()
        return sandbox

    @property
    def isolated(self) -> bool:
        return self.uid is not None

    # --- running ----------------------------------------------------------------------

    def command(self, argv: list[str]) -> list[str]:
        """The command line that runs `argv` in the sandbox: as the lab user, through
        util-linux's setpriv, which drops our rights and then executes the program.

        Why not Popen(user=...): Python must then fork() instead of vfork(), and fork()
        runs gRPC's fork handlers in a test process whose gRPC threads are busy (a
        stand-in server): now and then the child crashed before it could execute."""
        if self.uid is None:
            return list(argv)
        if SETPRIV is None:
            raise SandboxError("setpriv (util-linux) is needed to run lab processes as an "
                               "unprivileged user; install util-linux")
        return [SETPRIV, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                "--", *argv]

    def env(self) -> dict[str, str]:
        """Environment entries for a lab process: a home and scratch folders of its own."""
        if self.uid is None:
            return {}
        return {
            "HOME": str(self.home), "USER": f"labkit{self.uid}", "LOGNAME": f"labkit{self.uid}",
            "TMPDIR": str(self.home), "XDG_CACHE_HOME": str(self.home / ".cache"),
            "GOCACHE": str(self.home / ".cache" / "go-build"),
            "GOPATH": str(self.home / "go"),
            # Never write __pycache__ into the (read-only) lab folders.
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def check_python(self) -> None:
        """The lab user must be able to run this interpreter (pyenv installs it under
        /root, which others may not enter): let others pass through (o+x, no listing)
        the folders on the way, then prove it with `import grpc`."""
        for path in {Path(sys.executable), Path(sys.executable).resolve(), Path(sys.prefix)}:
            self.allow_through(path)
        probe = subprocess.run(self.command([sys.executable, "-c", "import grpc"]),
                               capture_output=True, text=True, timeout=60,
                               env={**os.environ, **self.env()}, umask=0o022)
        if probe.returncode != 0:
            raise SandboxError(
                f"the unprivileged lab user (uid {self.uid}) cannot run {sys.executable} "
                f"with grpc: {probe.stderr.strip()[-300:]}. Install Python where every user "
                f"can read it, or set {ENV_OFF}=0 to run lab processes as root (unsafe).")

    @staticmethod
    def allow_through(path: Path) -> None:
        """Give others the right to pass through every folder above `path`."""
        for folder in path.parents:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(folder, stat.S_IMODE(mode) | stat.S_IXOTH)

    # --- folders ----------------------------------------------------------------------

    def share(self, folder: Path) -> Path:
        """Let lab processes use `folder` (a test's scratch folder): theirs to write, and
        reachable through its parents."""
        if self.uid is not None:
            self.allow_through(folder)
            os.chown(folder, self.uid, self.uid)
        return folder

    def snapshot(self, lab_root: Path, labs: Iterable[str]) -> Path:
        """A copy of the given lab folders that lab processes can read but not change.
        Without isolation the labs run where they are."""
        if self.uid is None:
            return lab_root
        dest = Path(tempfile.mkdtemp(prefix="labs-", dir=self.base))
        os.chmod(dest, 0o755)
        self.snapshots.append(dest)
        for name in labs:
            source = lab_root / name
            if source.is_dir():
                # symlinks=True: a link in a student's folder stays a link (never followed
                # out of the folder by the copy).
                shutil.copytree(source, dest / name, symlinks=True, ignore=SNAPSHOT_IGNORE)
        for path in [dest, *dest.rglob("*")]:
            if not path.is_symlink():
                mode = stat.S_IMODE(path.stat().st_mode)
                readable = 0o755 if path.is_dir() or mode & 0o100 else 0o644
                os.chmod(path, readable)
        return dest

    def runnable(self, lab_root: Path, lab: str) -> Path:
        """A lab root from which lab processes can run `lab`: `lab_root` itself, or a
        snapshot of that lab when the lab user could not (or should not) use it."""
        if self.uid is None or self.base in Path(lab_root).resolve().parents:
            return Path(lab_root)
        return self.snapshot(Path(lab_root), [lab])

    def scratch(self, name: str) -> Path:
        """A new folder that lab processes own (a build folder for a student's Go or C++
        code, say)."""
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.base))
        return self.share(folder)

    def run(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a program as a lab process (a build of a student's code) to its end."""
        return subprocess.run(self.command(argv), cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, umask=0o022,
                              env={**os.environ, LAB_PROCESS_TAG: "1", **self.env(),
                                   **(env or {})})

    # --- cleaning up --------------------------------------------------------------------

    def kill_user_processes(self) -> int:
        """Kill every process of the lab user (root only); the number killed."""
        if self.uid is None:
            return 0
        killed = 0
        for _round in range(100):  # a fork bomb converges in a few rounds
            pids = [pid for pid, (_ppid, uid) in all_processes().items() if uid == self.uid]
            if not pids:
                break
            _kill_all(pids)
            killed += len(pids)
            time.sleep(0.01)  # let the kernel tear them down before the next scan
        _reap_zombies()
        return killed

    def kill_strays(self, keep: Iterable[int]) -> int:
        """Kill the lab processes that are not (below) a process in `keep`: a server that
        forked twice to escape, say. The number killed."""
        table = all_processes()
        kept = descendants(keep, table)
        me = os.getpid()
        if self.uid is not None:
            strays = [pid for pid, (_ppid, uid) in table.items()
                      if uid == self.uid and pid not in kept]
        else:
            # Our descendants that no kept process accounts for (adopted orphans among
            # them, as a subreaper), sparing helper processes of the test itself.
            strays = [pid for pid in descendants([me], table) - kept - {me}
                      if pid not in kept and _is_lab_process(pid)]
        _kill_all(strays)
        _reap_zombies()
        return len(strays)

    def close(self) -> None:
        """Kill whatever the lab user still runs and remove the scratch folders."""
        self.kill_user_processes()
        shutil.rmtree(self.base, ignore_errors=True)
        if self._lock is not None:
            self._lock.release()


LAB_PROCESS_TAG = "LABKIT_LAB_PROCESS"  # in the environment of every lab process


def _is_lab_process(pid: int) -> bool:
    """Whether a process descends from a lab program (its environment carries the tag;
    a program can drop it, which only matters without isolation)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{LAB_PROCESS_TAG}=1".encode() in environ.split(b"\0")
