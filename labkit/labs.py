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
# Plumbing that many labs share (serving, calling), written once here and copied into
# each lab folder by `labkit gen`, exactly as the protos are: a lab folder stays
# self-contained, and `gen --check` catches a copy that drifted.
LAB_MODULES_DIR = Path(__file__).resolve().parent / "lab_modules"


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
    fallback: str | None = None  # process to run instead when this one's program is absent


@dataclass(frozen=True)
class Item:
    """One item of a lab's rubric: its points are earned when every test it names passes
    (all or nothing, as a rubric line is marked), so that a broken lesson costs the item.

    Tests are named by function name (fnmatch patterns allowed) within the lab's test
    modules; a parametrized test counts with all its cases. A lab test that no item names
    is worth nothing: it checks a convention the kit gives (a server that starts and
    stops, a client without a server) and shows in reports as a 0-point check.
    """

    name: str  # short, shown in every report: "servicer"
    points: float
    tests: tuple[str, ...]
    about: str  # what the item asks of the student, one line in their words
    central: bool = False  # the lab's central lesson: a mistake there costs >= 1/4 of the lab
    hidden: bool = False  # its tests are hidden (tests/hidden/): results shown once published


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
    # Shared modules copied in by gen: (file in labkit/lab_modules/, folder in the lab).
    modules: tuple[tuple[str, str], ...] = ()
    # The lab's test modules (paths under tests/; those under tests/hidden/ are not shipped
    # in the starter copy) and its rubric: what grading runs and how it counts.
    tests: tuple[str, ...] = ()
    rubric: tuple[Item, ...] = ()

    @property
    def points(self) -> float:
        return sum(item.points for item in self.rubric)

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
        tests=("test_hello_world.py",),
        rubric=(Item("all", 1, ("test_*",), "placeholder until the rubric is written"),),
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
            Process("encodings", ("python", "encodings_table.py")),
            Process("benchmark", ("python", "benchmark.py")),
        ),
        demo=(
            DemoStep("main", title="serialize_and_deserialize() and compare_with_json()"),
            DemoStep("main", ("--message", "mult", "--part", "serialize"),
                     title="The mini-task: MultResponse's doubles (I64)"),
            DemoStep("decode", ("--message", "greet"),
                     title="The full decoder: offsets, wire types, readings"),
            DemoStep("decode", ("08 ff ff ff ff ff ff ff ff ff 01 22 03 08 96 01 2a 03 01 02 03",),
                     title="int32 -1 (10 bytes), a nested message, packed varints"),
            DemoStep("encodings", title="One Person record, five encodings"),
            DemoStep("benchmark", fast_args=("--number", "2000", "--repeat", "3"),
                     title="JSON against Protobuf: size and speed"),
        ),
        tests=("test_protobuf_exploration.py", "test_protobuf_exploration_decoder.py", "test_protobuf_exploration_tools.py"),
        rubric=(Item("all", 1, ("test_*",), "placeholder until the rubric is written"),),
    ),
    Lab(
        name="cross_language",
        title="A Python server and a Go client (plus a Python client)",
        proto="assistant.proto",
        port=8082,
        python_out=("server", "client"),
        go_out="client",
        processes=(
            # Run from the lab folder, as the slides do: python server/hw_server.py
            Process("server", ("python", "server/hw_server.py"), server=True),
            Process("go-client", ("go", "run", "hw_client.go"), cwd="client", target_flag="-addr"),
            Process("client", ("python", "hw_client.py"), cwd="client"),
        ),
        demo=(
            DemoStep("server"),
            # --addr: both clients take it (Go's flag package reads -addr and --addr), so
            # the Python client can stand in where Go is not installed.
            DemoStep("go-client", ("--addr", "{server}"), fallback="client",
                     title="The Go client calls the Python server"),
            DemoStep("client", ("--target", "{server}"),
                     title="The same calls from the Python client"),
        ),
        tests=("test_cross_language.py",),
        rubric=(Item("all", 1, ("test_*",), "placeholder until the rubric is written"),),
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
            DemoStep("server", fast_args=("--delay", "0.5", "--pace", "0.005"),
                     title="the story server: greeting, 3 s of 'generation', 1024-byte chunks"),
            DemoStep("client", ("--target", "{server}"),
                     title="the slides' run: the whole story, then the server cancels the call"),
            DemoStep("client", ("--target", "{server}", "--user-name", "Zoë Lefèvre",
                                "--institution", "Vallée-des-Échos"),
                     interrupt_after="CHAPTER II.",
                     title="Ctrl+C mid-story: the client cancels, the server stops at once"),
        ),
        tests=("test_streaming_server_side.py",),
        rubric=(Item("all", 1, ("test_*",), "placeholder until the rubric is written"),),
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
            DemoStep("local", fast_args=("--step", "0.3"), interrupt_after="count=9",
                     title="The local procedure, stopped with Ctrl+C"),
            DemoStep("server", title="The same count as a server-streaming RPC"),
            DemoStep("client", ("--target", "{server}"), fast_args=("--step", "0.3"),
                     interrupt_after="count=11",
                     title="The client logs each count; Ctrl+C cancels the stream"),
        ),
        tests=("test_remote_counter.py",),
        rubric=(Item("all", 1, ("test_*",), "placeholder until the rubric is written"),),
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
            # The secret of the slides' manual game, so that the typed guesses win it.
            DemoStep("server", ("--secret", "79")),
            DemoStep("client", ("--target", "{server}"), stdin="50\n75\n81\nxx\n80\n77\n78\n79\n",
                     title="manual mode: guesses typed in (an invalid one too), as on the slides"),
            DemoStep("client", ("--target", "{server}"), stdin="50\n",
                     title="manual mode: the input ends mid-game, the game is left cleanly"),
            DemoStep("client", ("--target", "{server}", "--auto", "--pause", "0.5"),
                     fast_args=("--pause", "0"),
                     title="auto mode: binary search, at most 7 guesses"),
        ),
        tests=("test_streaming_bidi.py",),
        rubric=(Item("all", 1, ("test_*",), "placeholder until the rubric is written"),),
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
            DemoStep("server", fast_args=("--chill-a", "1", "--chill-b", "0.6"),
                     title="A server with 3 workers: ChillA rests 5 s, ChillB 3 s"),
            DemoStep("client", ("--target", "{server}", "-a", "1", "-b", "1"),
                     title="Enough workers: both at once, done after the longer one (~5 s)"),
            DemoStep("client", ("--target", "{server}", "-a", "2", "-b", "2"),
                     title="4 calls, 3 workers: ChillB 1 waits for a free worker (~6 s)"),
            DemoStep("client", ("--target", "{server}", "-a", "2", "-b", "4"),
                     interrupt_after="ChillB 0 finished",
                     title="Ctrl+C once ChillB 0 is done: the calls in flight are cancelled"),
        ),
        tests=("test_multiplexing.py", "test_multiplexing_timeline.py"),
        rubric=(Item("all", 1, ("test_*",), "placeholder until the rubric is written"),),
    ),
    Lab(
        name="file_hash_service",
        title="A Python file service hashing files through a C++ hash server",
        proto="hash.proto",
        port=50051,
        processes=(
            # The C++ hash server, once built: cmake -S . -B build && cmake --build build
            Process("hash-server-cpp", ("build/hash_service",), server=True),
            Process("hash-server", ("python", "hash_service.py"), server=True),
            Process("file-service", ("python", "file_service.py"), server=True),  # port 50052
            Process("client", ("python", "client.py")),
        ),
        demo=(
            DemoStep("hash-server-cpp", fallback="hash-server",
                     title="The hash service (C++ if built, else Python)"),
            DemoStep("file-service", ("--hash-target", "{hash-server-cpp}")),
            DemoStep("client", ("--target", "{file-service}", "--verify", "README.md",
                                "hash.proto")),
        ),
        tests=("test_file_hash_service.py",),
        rubric=(Item("all", 1, ("test_*",), "placeholder until the rubric is written"),),
    ),
)


def get_lab(name: str) -> Lab:
    """The index entry of a lab, by folder name."""
    for lab in LABS:
        if lab.name == name:
            return lab
    known = ", ".join(lab.name for lab in LABS)
    raise KeyError(f"no lab named {name!r} (labs: {known})")

