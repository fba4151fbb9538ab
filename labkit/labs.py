"""The index of labs: the one place that says what each lab is made of.

The README's lab table, `labkit gen`, the demo runner, the doctor and the tests all read
this list. Adding a lab means adding one `Lab` entry here (and its proto under `protos/`).

Commands are written as a student types them in the lab folder. The word "python" at
the start of a command stands for the interpreter that runs labkit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTOS_DIR = REPO_ROOT / "protos"


@dataclass(frozen=True)
class Process:
    """One program of a lab, run from a folder inside the lab."""

    name: str  # label in demo output and in tests: "server", "client", ...
    command: tuple[str, ...]  # e.g. ("python", "server.py")
    cwd: str = "."  # folder inside the lab where the command is run
    server: bool = False  # servers log the ready line and run until stopped
    port_flag: str = "--port"  # how this server is told its port
    target_flag: str = "--target"  # how this client is told where its server is


@dataclass(frozen=True)
class DemoStep:
    """One step of a lab's live demo.

    Servers are started and left running until the lab's demo ends; clients are run to
    the end. In `args`, `{NAME}` stands for `host:port` of the started server NAME.
    """

    process: str
    args: tuple[str, ...] = ()
    fast_args: tuple[str, ...] = ()  # added with `demo --fast`: slow steps scaled down
    stdin: str | None = None  # typed into the process, then end of input
    interrupt_after: str | None = None  # send Ctrl+C once a line contains this text
    title: str = ""  # said before the step runs


@dataclass(frozen=True)
class Lab:
    name: str  # the lab's folder, and its folder under protos/
    title: str
    proto: str  # file name of the lab's proto, in protos/<name>/ and in the lab folder
    port: int | None  # the default port of the lab's (first) server; None: no server
    processes: tuple[Process, ...]
    demo: tuple[DemoStep, ...]
    python_out: tuple[str, ...] = (".",)  # folders (in the lab) that get Python stubs
    grpc_stubs: bool = True  # False: message classes only (no *_pb2_grpc.py)
    go_out: str | None = None  # folder (in the lab) that gets Go stubs, if any

    @property
    def canonical_proto(self) -> Path:
        return PROTOS_DIR / self.name / self.proto

    def process(self, name: str) -> Process:
        for proc in self.processes:
            if proc.name == name:
                return proc
        raise KeyError(f"lab {self.name} has no process named {name!r}")


LABS: tuple[Lab, ...] = (
    Lab(
        name="hello_world",
        title="Greeter/SayHello: the first gRPC service",
        proto="hello.proto",
        port=50051,
        processes=(
            Process("server", ("python", "server.py"), server=True),
            Process("client", ("python", "client.py")),
        ),
        demo=(
            DemoStep("server"),
            DemoStep("client", ("--target", "{server}")),
            DemoStep("client", ("--target", "{server}", "--name", "Zoë 李")),
        ),
    ),
    # The entries below are sketches until their lab's issue fills them in.
    Lab(
        name="protobuf_exploration",
        title="Protobuf: serialize, decode the wire format by hand, compare encodings",
        proto="assistant.proto",
        port=None,
        grpc_stubs=False,
        processes=(
            Process("main", ("python", "x_main_reduced.py")),
            Process("decode", ("python", "decode.py")),
        ),
        demo=(
            DemoStep("main"),
            DemoStep("decode", ("--message", "greet")),
        ),
    ),
    Lab(
        name="cross_language",
        title="A Python server and a Go client (plus a Python client)",
        proto="assistant.proto",
        port=8082,
        python_out=("server", "client"),
        go_out="client",
        processes=(
            Process("server", ("python", "hw_server.py"), cwd="server", server=True),
            Process("go-client", ("go", "run", "hw_client.go"), cwd="client", target_flag="-addr"),
            Process("client", ("python", "hw_client.py"), cwd="client"),
        ),
        demo=(
            DemoStep("server"),
            DemoStep("go-client", ("-addr", "{server}")),
            DemoStep("client", ("--target", "{server}")),
        ),
    ),
    Lab(
        name="streaming_server_side",
        title="Server-side streaming: a story streamed to the console in chunks",
        proto="assistant.proto",
        port=50051,
        processes=(
            Process("server", ("python", "server.py"), server=True),
            Process("client", ("python", "client.py")),
        ),
        demo=(
            DemoStep("server", fast_args=("--delay", "0.5", "--pace", "0.005")),
            DemoStep("client", ("--target", "{server}")),
        ),
    ),
    Lab(
        name="remote_counter",
        title="A local procedure refactored into a server-streaming RPC, stopped by Ctrl+C",
        proto="counter.proto",
        port=50051,
        processes=(
            Process("server", ("python", "server.py"), server=True),
            Process("client", ("python", "client.py")),
            Process("local", ("python", "local_procedure.py")),
        ),
        demo=(
            DemoStep("server"),
            DemoStep("client", ("--target", "{server}"), fast_args=("--step", "0.3"),
                     interrupt_after="count=10"),
        ),
    ),
    Lab(
        name="streaming_bidi",
        title="Bidirectional streaming: a number-guessing game, manual and automatic",
        proto="assistant.proto",
        port=50051,
        processes=(
            Process("server", ("python", "server.py"), server=True),
            Process("client", ("python", "client.py")),
        ),
        demo=(
            DemoStep("server"),
            DemoStep("client", ("--target", "{server}", "--auto")),
        ),
    ),
    Lab(
        name="multiplexing",
        title="Multiplexing: slow RPCs of two kinds at once over one HTTP/2 connection",
        proto="assistant.proto",
        port=50051,
        processes=(
            Process("server", ("python", "server.py"), server=True),
            Process("client", ("python", "client.py")),
        ),
        demo=(
            DemoStep("server", fast_args=("--chill-a", "1", "--chill-b", "0.6")),
            DemoStep("client", ("--target", "{server}", "-a", "1", "-b", "1")),
            DemoStep("client", ("--target", "{server}", "-a", "2", "-b", "2")),
        ),
    ),
    Lab(
        name="file_hash_service",
        title="A Python file service hashing files through a C++ hash server",
        proto="hash.proto",
        port=50051,
        processes=(
            Process("hash-server", ("python", "hash_service.py"), server=True),
            Process("file-service", ("python", "file_service.py"), server=True),
            Process("client", ("python", "client.py")),
        ),
        demo=(
            DemoStep("hash-server"),
            DemoStep("file-service", ("--hash-target", "{hash-server}")),
            DemoStep("client", ("--target", "{file-service}", "README.md")),
        ),
    ),
)


def get_lab(name: str) -> Lab:
    """The index entry of a lab, by folder name."""
    for lab in LABS:
        if lab.name == name:
            return lab
    known = ", ".join(lab.name for lab in LABS)
    raise KeyError(f"no lab named {name!r} (labs: {known})")
