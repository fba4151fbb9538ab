"""Build a lab's Go client and C++ server for the tests, in the sandbox.

A student's Go or C++ code is built as a lab process (labkit/sandbox.py): as the
unprivileged lab user when we are root, into a scratch folder of its own, from the
read-only snapshot of the lab. Nothing is fetched from the network while building a
student's code (GOPROXY=off), no other Go toolchain is run (GOTOOLCHAIN=local), and cgo is
off (the client needs none).

Speed: a cold build of grpc-go takes ~40 s on two cores. The kit's own client is built once
as us (a trusted build, which also fetches the modules on a fresh machine), and the lab
user's Go build cache starts as hard links to that warm cache: a student's build then
compiles only their own package. The links are read-only to the lab user, so one build can
never change what another compiles.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from labkit.labs import REPO_ROOT
from labkit.sandbox import Sandbox

GO_BUILD_TIMEOUT = 600  # seconds: a cold build of grpc-go on 2 cores, modules fetched first
CMAKE_TIMEOUT = 600
GO_ENV = {"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOWORK": "off",
          "GOFLAGS": "-mod=readonly"}


class BuildError(RuntimeError):
    """A build failed; the message holds the command and its output."""


def _go_env(name: str) -> str:
    done = subprocess.run(["go", "env", name], capture_output=True, text=True, timeout=60)
    return done.stdout.strip()


@functools.cache
def warm_go_cache() -> tuple[Path, Path]:
    """Build the kit's own Go client once (as us, trusted code): the Go build cache and the
    module cache then hold everything a student's client needs. (GOCACHE, GOMODCACHE).
    A stamp in the build cache, named after what the build depends on, saves rebuilding
    (and re-checking) it in every test session."""
    client = REPO_ROOT / "cross_language" / "client"
    gocache, gomodcache = Path(_go_env("GOCACHE")), Path(_go_env("GOMODCACHE"))
    inputs = hashlib.sha256()
    for part in (_go_env("GOVERSION"), repr(sorted(GO_ENV.items())),
                 (client / "go.mod").read_text(), (client / "go.sum").read_text()):
        inputs.update(part.encode())
    stamp = gocache / f"labkit-warm-{inputs.hexdigest()[:16]}"
    if stamp.exists():
        return gocache, gomodcache
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"labkit-warm-go-{os.getpid()}"
    done = subprocess.run(["go", "build", "-o", str(out), "."], cwd=client,
                          env={**os.environ, **GO_ENV}, capture_output=True, text=True,
                          timeout=GO_BUILD_TIMEOUT)
    out.unlink(missing_ok=True)
    if done.returncode != 0:
        raise BuildError(f"go build of the kit's own client failed:\n{done.stderr}")
    stamp.write_text("the kit's Go client was built with this cache\n")
    return gocache, gomodcache


def link_tree(source: Path, dest: Path, owner: int | None) -> None:
    """Copy a folder tree as hard links (a plain copy across file systems); the folders
    belong to `owner`, the files stay ours and read-only to others."""
    for folder, _dirs, files in os.walk(source):
        target = dest / Path(folder).relative_to(source)
        target.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            os.chown(target, owner, owner)
        for name in files:
            try:
                os.link(Path(folder) / name, target / name)
            except OSError:
                shutil.copy2(Path(folder) / name, target / name)


def go_build(sandbox: Sandbox, package: Path, name: str = "go-client") -> Path:
    """Build the Go program in `package` (a folder of a lab) as a lab process; its path."""
    gocache, gomodcache = warm_go_cache()
    scratch = sandbox.scratch(name)
    cache = scratch / "go-build"
    link_tree(gocache, cache, sandbox.uid)
    if sandbox.isolated:
        Sandbox.allow_through(gomodcache)  # read-only to the lab user, as every module is
    binary = scratch / name
    env = {**GO_ENV, "GOCACHE": str(cache), "GOMODCACHE": str(gomodcache), "GOPROXY": "off"}
    done = sandbox.run(["go", "build", "-o", str(binary), "."], cwd=package, env=env,
                       timeout=GO_BUILD_TIMEOUT)
    if done.returncode != 0:
        raise BuildError(f"go build in {package} failed:\n{done.stdout}{done.stderr}")
    return binary


def cmake_build(sandbox: Sandbox, source: Path, target: str, name: str = "cmake") -> Path:
    """Configure and build `target` of the CMake project in `source` as a lab process."""
    build = sandbox.scratch(name)
    # -O1 rather than Release's -O3: fast enough for any test, and it compiles in about
    # two thirds of the time (the benchmark builds Release, as the README says).
    for step in (["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=None",
                  "-DCMAKE_CXX_FLAGS=-O1"],
                 ["cmake", "--build", str(build), "-j", "2", "--target", target]):
        done = sandbox.run(step, cwd=build, timeout=CMAKE_TIMEOUT)
        if done.returncode != 0:
            raise BuildError(f"{' '.join(step)} failed:\n{done.stdout}{done.stderr}")
    return build / target
