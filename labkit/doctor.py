"""`python -m labkit doctor`: is this machine ready for the labs of this copy? One line per
check, and for each problem the one command that fixes it.

A check fails only where something would break, and warns where something would warn:
a grpcio older than the stubs need (they refuse to import), a protobuf runtime that the
stubs' version check rejects or warns about, stubs that do not match their proto. A
compatible release other than the pinned one (grpcio 1.85.3 where 1.85.1 is pinned) is
fine, and said so. Only the labs whose folder is in this copy are considered: a starter
copy of two labs needs neither Go nor C++.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import socket
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from labkit import gen
from labkit.labs import REPO_ROOT, Lab, present_labs

APT_CPP = "sudo apt-get install -y cmake g++ pkg-config libgrpc++-dev libprotobuf-dev " \
          "protobuf-compiler protobuf-compiler-grpc libssl-dev"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "grpc_proxy", "all_proxy")
PIP_FIX = "python -m pip install -r requirements.txt"
# Packages whose own generated stubs need a grpcio at least as new as they are.
GRPC_COMPANIONS = ("grpcio-tools", "grpcio-reflection", "grpcio-health-checking")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""  # one line; empty when there is nothing to fix
    required: bool = True  # False: a warning (something would warn, or only some labs need it)


# --- versions -------------------------------------------------------------------------------


def requirements(path: Path) -> dict[str, str]:
    """requirements.txt as {name: version specifier}, e.g. {"grpcio": "==1.85.1"}."""
    found = {}
    for line in path.read_text().splitlines():
        # A name first: comments, options (-r, -e) and local paths (./labkit/...) are skipped.
        match = re.match(r"^([A-Za-z][A-Za-z0-9_.-]*)\s*([<>=!~][^#;]*)?", line.strip())
        if match:
            found[match.group(1).lower().replace("_", "-")] = (match.group(2) or "").strip()
    return found


def pinned(spec: str) -> str | None:
    """The version of an `==` pin, else None."""
    return spec[2:] if spec.startswith("==") else None


def version_tuple(version: str) -> tuple[int, ...]:
    """"1.85.3" -> (1, 85, 3): enough to order releases ("1.86.0rc1" -> (1, 86, 0))."""
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def installed(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def stub_versions(labs: list[Lab], root: Path) -> tuple[dict[str, str], dict[str, tuple]]:
    """What the labs' Python stubs were generated for, read from their text: the grpcio
    version of each *_pb2_grpc.py (GRPC_GENERATED_VERSION) and the protobuf gencode version
    of each *_pb2.py (the arguments of its ValidateProtobufRuntimeVersion call)."""
    grpc_needs: dict[str, str] = {}
    gencodes: dict[str, tuple] = {}
    for lab in labs:
        for out in lab.python_out:
            for path in sorted((root / lab.name / out).glob("*_pb2*.py")):
                text = path.read_text(encoding="utf-8", errors="replace")
                name = path.relative_to(root).as_posix()
                grpc_version = re.search(r"GRPC_GENERATED_VERSION = '([^']+)'", text)
                if grpc_version:
                    grpc_needs[name] = grpc_version.group(1)
                gencode = re.search(r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\."
                                    r"Domain\.(\w+),\s*(\d+),\s*(\d+),\s*(\d+),\s*'([^']*)'", text)
                if gencode:
                    domain, major, minor, patch, suffix = gencode.groups()
                    gencodes[name] = (domain, int(major), int(minor), int(patch), suffix)
    return grpc_needs, gencodes


def check_grpcio(have: str | None, pin: str | None, stubs_need: dict[str, str]) -> Check:
    """grpcio: the generated *_pb2_grpc.py refuse to import under an older grpcio than the
    one they were generated for; any release from there on works."""
    if have is None:
        return Check("grpcio", False, "not installed", PIP_FIX)
    too_old = {path: need for path, need in stubs_need.items()
               if version_tuple(have) < version_tuple(need)}
    if too_old:
        path, need = max(too_old.items(), key=lambda item: version_tuple(item[1]))
        return Check("grpcio", False, f"{have}, but the stubs need grpcio >= {need} "
                     f"(e.g. {path}): they would not import", PIP_FIX)
    note = f" (requirements.txt pins {pin}: a compatible release)" if pin and have != pin \
        else ""
    return Check("grpcio", True, have + note)


def check_companion(package: str, have: str | None, pin: str | None,
                    grpcio: str | None) -> Check:
    """grpcio-tools, -reflection, -health-checking: never newer than grpcio (the stubs of
    their own, and those grpcio-tools makes, need a grpcio at least as new)."""
    if have is None:
        return Check(package, False, "not installed", PIP_FIX)
    if grpcio is not None and version_tuple(grpcio) < version_tuple(have):
        made = "the stubs it makes" if package == "grpcio-tools" else "its own stubs"
        return Check(package, False, f"{have}, newer than grpcio {grpcio}: {made} would "
                     f"need grpcio >= {have} and not import", PIP_FIX)
    note = f" (requirements.txt pins {pin}: a compatible release)" if pin and have != pin \
        else ""
    return Check(package, True, have + note)


def check_protobuf(have: str | None, gencodes: dict[str, tuple]) -> Check:
    """protobuf: ask the installed runtime itself, as each stub does when it is imported,
    whether it accepts the stubs' gencode version (an error breaks, a warning warns)."""
    if have is None:
        return Check("protobuf", False, "not installed", PIP_FIX)
    from google.protobuf import runtime_version

    errors: list[str] = []
    warned: list[str] = []
    for path, (domain, major, minor, patch, suffix) in gencodes.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                runtime_version.ValidateProtobufRuntimeVersion(
                    runtime_version.Domain[domain], major, minor, patch, suffix, path)
            except (runtime_version.VersionError, KeyError) as error:
                errors.append(f"{path}: {error}")
        warned += [f"{path}: {warning.message}" for warning in caught]
    if errors:
        return Check("protobuf", False, f"{have}, which the stubs refuse: {errors[0][:160]}",
                     PIP_FIX)
    if warned:
        return Check("protobuf", False, f"{have}: importing the stubs warns: {warned[0][:160]}",
                     f"{PIP_FIX}   # then, if it still warns: python -m labkit gen",
                     required=False)
    return Check("protobuf", True, have)


def check_other_packages(specs: dict[str, str]) -> Check:
    """The rest of requirements.txt: installed (another release than the pin is fine)."""
    missing, other = [], []
    for package, spec in specs.items():
        have = installed(package)
        if have is None:
            missing.append(package)
        elif pinned(spec) and have != pinned(spec):
            other.append(f"{package} {have}, pinned {pinned(spec)}")
    if missing:
        return Check("other packages", False, f"not installed: {', '.join(missing)}", PIP_FIX)
    note = f" ({'; '.join(other)})" if other else ""
    return Check("other packages", True, f"the other {len(specs)} of requirements.txt{note}")


def check_packages(labs: list[Lab], root: Path = REPO_ROOT) -> list[Check]:
    specs = requirements(root / "requirements.txt")
    grpc_needs, gencodes = stub_versions(labs, root)
    grpcio = installed("grpcio")
    checks = [check_grpcio(grpcio, pinned(specs.get("grpcio", "")), grpc_needs)]
    checks += [check_companion(package, installed(package), pinned(specs.get(package, "")),
                               grpcio) for package in GRPC_COMPANIONS]
    checks.append(check_protobuf(installed("protobuf"), gencodes))
    rest = {name: spec for name, spec in specs.items()
            if name not in ("grpcio", "protobuf", *GRPC_COMPANIONS)}
    checks.append(check_other_packages(rest))
    return checks


# --- the rest -------------------------------------------------------------------------------


def check_python() -> Check:
    ok = sys.version_info >= (3, 10)
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("python", ok, f"{version} at {sys.executable}",
                 "" if ok else "install Python 3.10 or newer")


def check_stubs(labs: list[Lab], root: Path = REPO_ROOT) -> Check:
    """The stubs match the proto beside them (and, in the kit, the copies their sources)."""
    try:
        stale, notes = gen.check_labs(labs, root)
    except gen.GenError as error:
        return Check("stubs", False, str(error).splitlines()[0], "python -m labkit gen")
    if not stale:
        edited = [note.path.split("/")[0] for note in notes if note.path.endswith(".proto")]
        mine = f" (your own proto in {', '.join(edited)})" if edited else ""
        return Check("stubs", True, f"match the labs' protos{mine}")
    first = stale[0]
    detail = f"{len(stale)} file(s) out of step, e.g. {first}"
    names = {lab.name for lab in labs}
    at_fault = {item.path.split("/")[0] for item in stale}
    fix = "python -m labkit gen" + ("" if at_fault - names else  # the README's table too
                                    " " + " ".join(sorted(at_fault)))
    if all(item.go for item in stale):
        # Only the Go stubs: that breaks the Go client, which needs Go in the first place.
        if gen.find_go_plugins() is None:
            fix = " && ".join([*gen.GO_PLUGIN_INSTALL.values(), fix])
        return Check("stubs", False, detail, fix, required=shutil.which("go") is not None)
    return Check("stubs", False, detail, fix)


def command_version(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    done = subprocess.run(argv, capture_output=True, text=True)
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else None


def needs_go(lab: Lab) -> bool:
    return bool(lab.go_out) or any(proc.command[0] == "go" for proc in lab.processes)


def needs_cpp(lab: Lab, root: Path) -> bool:
    return (root / lab.name / "CMakeLists.txt").is_file()


def check_toolchains(labs: list[Lab], root: Path = REPO_ROOT) -> list[Check]:
    checks = []
    go_labs = [lab.name for lab in labs if needs_go(lab)]
    if go_labs:
        go = command_version(["go", "version"])
        checks.append(Check(
            "go", go is not None, go or f"not found ({', '.join(go_labs)}: the Go client)",
            "" if go else "install Go 1.21 or newer from https://go.dev/doc/install (Debian "
            "bookworm's golang-go is too old)", required=False))
    cpp_labs = [lab.name for lab in labs if needs_cpp(lab, root)]
    if cpp_labs:
        cmake = command_version(["cmake", "--version"])
        grpcpp = command_version(["pkg-config", "--modversion", "grpc++"])
        plugin = shutil.which("grpc_cpp_plugin")
        what = f"{', '.join(cpp_labs)}: the C++ server"
        checks += [
            Check("cmake", cmake is not None, cmake or f"not found ({what})",
                  "" if cmake else APT_CPP, required=False),
            Check("grpc c++", grpcpp is not None and plugin is not None,
                  f"grpc++ {grpcpp}, grpc_cpp_plugin at {plugin}" if grpcpp and plugin
                  else f"libraries or grpc_cpp_plugin not found ({what})",
                  "" if grpcpp and plugin else APT_CPP, required=False),
        ]
    return checks


def check_go_plugins(labs: list[Lab], root: Path = REPO_ROOT) -> list[Check]:
    """protoc-gen-go and protoc-gen-go-grpc, where a lab has Go stubs to regenerate. Any
    compatible version will do: the stubs are checked for what they describe."""
    go_labs = [lab.name for lab in labs if lab.go_out]
    if not go_labs:
        return []
    plugins = gen.find_go_plugins()
    if plugins is None:
        return [Check("go plugins", False, "protoc-gen-go / protoc-gen-go-grpc not found "
                      f"(only needed to regenerate {', '.join(go_labs)}'s Go stubs)",
                      " && ".join(gen.GO_PLUGIN_INSTALL.values()), required=False)]
    versions = {name: gen.plugin_version(path) for name, path in plugins.items()}
    note = ""
    if not gen.is_student_copy(root) and versions != gen.GO_PLUGIN_VERSIONS:
        note = " (the kit's Go stubs were made with other versions: regenerating them " \
               "changes their header only)"
    return [Check("go plugins", True,
                  ", ".join(f"{name} {version}" for name, version in versions.items()) + note)]


def check_proxies() -> Check:
    set_vars = [v for v in os.environ if v.lower() in PROXY_VARIABLES and os.environ[v]]
    if not set_vars:
        return Check("proxy", True, "no proxy variables set")
    return Check("proxy", True, f"{', '.join(set_vars)} set: the labs' clients ignore them "
                 "(grpc.enable_http_proxy=0), but your own code may not",
                 f"unset {' '.join(set_vars)}   # only for your own experiments")


def default_ports(labs: list[Lab]) -> list[int]:
    """Every default port of these labs' servers (the file service's 50052 too)."""
    ports = {lab.port for lab in labs if lab.port}
    ports |= {proc.port for lab in labs for proc in lab.processes if proc.port}
    return sorted(ports)


def check_ports(labs: list[Lab]) -> list[Check]:
    checks = []
    for port in default_ports(labs):
        with socket.socket() as sock:
            try:
                sock.bind(("", port))
                checks.append(Check(f"port {port}", True, "free"))
            except OSError:
                checks.append(Check(f"port {port}", False, "in use: a lab server still running?",
                                    f"find it with `lsof -i :{port}` (or `ss -ltnp`) and stop "
                                    "it, or start servers with --port 0"))
    return checks


def all_checks(root: Path = REPO_ROOT) -> list[Check]:
    labs = present_labs(root)
    return [check_python(), *check_packages(labs, root), check_stubs(labs, root),
            *check_toolchains(labs, root), *check_go_plugins(labs, root), check_proxies(),
            *check_ports(labs)]


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
