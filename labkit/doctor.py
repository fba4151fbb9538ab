"""`python -m labkit doctor`: is this machine ready for the kit? One line per check, and
for each problem the one command that fixes it."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from labkit.labs import LABS, REPO_ROOT

APT_CPP = "sudo apt-get install -y cmake g++ pkg-config libgrpc++-dev libprotobuf-dev " \
          "protobuf-compiler protobuf-compiler-grpc libssl-dev"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "grpc_proxy", "all_proxy")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""  # one line; empty when there is nothing to fix
    required: bool = True  # False: only some labs need it


def pinned_versions(requirements: Path) -> dict[str, str]:
    """`name==version` pins of requirements.txt."""
    pins = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def installed(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python() -> Check:
    ok = sys.version_info >= (3, 10)
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("python", ok, f"{version} at {sys.executable}",
                 "" if ok else "install Python 3.10 or newer")


def check_packages() -> list[Check]:
    pins = pinned_versions(REPO_ROOT / "requirements.txt")
    fix = "python -m pip install -r requirements.txt"
    checks = []
    for package in ("grpcio", "grpcio-tools", "protobuf"):
        have = installed(package)
        want = pins.get(package)
        if have is None:
            checks.append(Check(package, False, "not installed", fix))
        elif want and have != want:
            checks.append(Check(package, False, f"{have}, but the kit pins {want}", fix))
        else:
            checks.append(Check(package, True, have))
    return checks


def check_stubs() -> Check:
    """The checked-in stubs match the installed grpcio-tools (and the protos)."""
    done = subprocess.run([sys.executable, "-m", "labkit", "gen", "--check"], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    if done.returncode == 0:
        return Check("stubs", True, "match the protos and this grpcio-tools")
    stale = [line for line in done.stdout.splitlines() if line.startswith("stale:")]
    detail = f"{len(stale)} stale file(s), e.g. {stale[0][7:]}" if stale else \
        (done.stderr.strip().splitlines() or ["gen --check failed"])[-1]
    return Check("stubs", False, detail, "python -m labkit gen")


def command_version(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    done = subprocess.run(argv, capture_output=True, text=True)
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else None


def check_toolchains() -> list[Check]:
    go = command_version(["go", "version"])
    cmake = command_version(["cmake", "--version"])
    grpcpp = command_version(["pkg-config", "--modversion", "grpc++"])
    plugin = shutil.which("grpc_cpp_plugin")
    return [
        Check("go", go is not None, go or "not found (cross_language's Go client)",
              "" if go else "install Go 1.21 or newer from https://go.dev/doc/install (Debian "
              "bookworm's golang-go is too old)", required=False),
        Check("cmake", cmake is not None, cmake or "not found (file_hash_service's C++ server)",
              "" if cmake else APT_CPP, required=False),
        Check("grpc c++", grpcpp is not None and plugin is not None,
              f"grpc++ {grpcpp}, grpc_cpp_plugin at {plugin}" if grpcpp and plugin
              else "libraries or grpc_cpp_plugin not found (file_hash_service's C++ server)",
              "" if grpcpp and plugin else APT_CPP, required=False),
    ]


def check_go_plugins() -> Check:
    """protoc-gen-go and protoc-gen-go-grpc, at the versions the Go stubs were made with."""
    from labkit import gen

    plugins = gen.find_go_plugins()
    install = " && ".join(gen.GO_PLUGIN_INSTALL.values())
    if plugins is None:
        return Check("go plugins", False, "protoc-gen-go / protoc-gen-go-grpc not found "
                     "(only needed to regenerate cross_language's Go stubs)", install,
                     required=False)
    notes = gen.go_version_notes(plugins)
    if notes:
        return Check("go plugins", False, "other versions than the Go stubs were made with",
                     install, required=False)
    return Check("go plugins", True, ", ".join(f"{name} {gen.GO_PLUGIN_VERSIONS[name]}"
                                               for name in plugins))


def check_proxies() -> Check:
    set_vars = [v for v in os.environ if v.lower() in PROXY_VARIABLES and os.environ[v]]
    if not set_vars:
        return Check("proxy", True, "no proxy variables set")
    return Check("proxy", True, f"{', '.join(set_vars)} set: the labs' clients ignore them "
                 "(grpc.enable_http_proxy=0), but your own code may not",
                 f"unset {' '.join(set_vars)}   # only for your own experiments")


def check_ports() -> list[Check]:
    checks = []
    for port in sorted({lab.port for lab in LABS if lab.port}):
        with socket.socket() as sock:
            try:
                sock.bind(("", port))
                checks.append(Check(f"port {port}", True, "free"))
            except OSError:
                checks.append(Check(f"port {port}", False, "in use: a lab server still running?",
                                    f"find it with `lsof -i :{port}` (or `ss -ltnp`) and stop "
                                    "it, or start servers with --port 0"))
    return checks


def all_checks() -> list[Check]:
    return [check_python(), *check_packages(), check_stubs(), *check_toolchains(),
            check_go_plugins(), check_proxies(), *check_ports()]


def run() -> int:
    checks = all_checks()
    width = max(len(check.name) for check in checks)
    for check in checks:
        mark = "ok  " if check.ok else ("FAIL" if check.required else "warn")
        print(f"{mark} {check.name:<{width}}  {check.detail}")
        if check.fix:
            print(f"     {'':<{width}}  fix: {check.fix}")
    problems = [c for c in checks if not c.ok and c.required]
    print("\nAll set." if not problems else f"\n{len(problems)} problem(s) to fix, see above.")
    return 1 if problems else 0
