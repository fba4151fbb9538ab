"""The index of labs: the one place that says what each lab is made of.

The README's lab table, `labkit gen`, the demo runner, the doctor and the tests all read
this list. Adding a lab means adding one `Lab` entry here (and its proto under `protos/`).

Commands are written as a student types them in the lab folder. The word "python" at
the start of a command stands for the interpreter that runs labkit.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    port: int | None = None  # this server's default port, where it is not the lab's port


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
    # A client step run through `python -m labkit wire` (started in front of the server
    # the step's --target names), which prints every HTTP/2 frame of the call.
    wire: bool = False


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
        modules=(("calling.py", "."), ("serving.py", ".")),  # plumbing (lab_modules/)
        processes=(
            Process("server", ("python", "server.py"), server=True),
            Process("client", ("python", "client.py")),
        ),
        demo=(
            DemoStep("server"),
            DemoStep("client", ("--target", "{server}")),
            DemoStep("client", ("--target", "{server}", "--name", "Zoë 李")),
            DemoStep("client", ("--target", "{server}", "--name", "Ada"), wire=True,
                     title="See the wire: the same call through a proxy that prints "
                           "every HTTP/2 frame"),
        ),
        tests=("test_hello_world.py",),
        rubric=(
            Item("servicer", 4, ("test_server_greets_by_name",),
                 "SayHello answers 'Hello, <name>!' for any name (through the test's client)",
                 central=True),
            Item("client", 4, ("test_client_prints_the_servers_reply",
                               "test_client_sets_a_deadline",
                               "test_client_gives_up_on_a_silent_server"),
                 "the client calls SayHello with the name and a deadline, and prints the "
                 "reply (against the test's own server)", central=True),
            Item("slides", 2, ("test_slides_run",),
                 "server and client together print the slides' 'Client received: Hello, "
                 "World!'"),
        ),
    ),
    # The entries below are sketches until their lab's issue fills them in.
    Lab(
        name="protobuf_exploration",
        title="Protobuf: serialize, decode the wire format by hand, compare encodings",
        proto="assistant.proto",
        port=None,
        grpc_stubs=False,
        modules=(("calling.py", "."),),  # the clients' plumbing (lab_modules/)
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
        tests=("test_protobuf_exploration.py", "test_protobuf_exploration_decoder.py",
               "test_protobuf_exploration_tools.py",
               "hidden/test_protobuf_exploration_hidden.py"),
        rubric=(
            Item("tags-and-lengths", 6, ("test_script_prints_the_slides_output",
                                         "test_long_names_need_two_byte_lengths",
                                         "test_tags_and_lengths_are_varints"),
                 "try_decode_proto_binary reads every tag and every length as a varint "
                 "(field numbers from 16 on, strings of 128 bytes and more) and prints the "
                 "slides' records", central=True),
            Item("doubles", 6, ("test_mini_task_decodes_the_doubles_of_mult_response",
                                "test_decode_i64_payload_reads_a_little_endian_double",
                                "test_mult_responses_decode_with_their_doubles"),
                 "the mini-task: decode_i64_payload reads an I64 record's 8 bytes as a "
                 "little-endian double, and MultResponse decodes as on the slide",
                 central=True),
            Item("wire-decoder", 6, ("test_random_messages_*", "test_unknown_fields_*",
                                     "test_negative_int32_*", "test_sint_reads_with_zigzag",
                                     "test_fixed_and_floating_readings",
                                     "test_long_strings_have_multi_byte_lengths",
                                     "test_large_field_numbers", "test_len_payload_readings",
                                     "test_a_tenth_varint_byte_*", "test_messages_nest_*",
                                     "test_repeated_fields_keep_every_value",
                                     "test_groups_hold_their_fields"),
                 "wire_decoder.py reads every wire type as the protobuf runtime and protoc "
                 "--decode_raw do: random messages, long lengths, large field numbers, "
                 "nesting, groups", central=True),
            Item("malformed-bytes", 2, ("test_malformed_input_names_offset_and_expectation",
                                        "test_decode_error_keeps_the_fields_before_it",
                                        "test_random_bytes_end_in_fields_or_decode_error"),
                 "for bytes that are not protobuf, wire_decoder.py raises DecodeError naming "
                 "the byte and what it expected there, and never another exception"),
            Item("decode-tree", 2, ("test_decode_prints_the_tree_of_the_slides_bytes",
                                    "test_decode_shows_every_wire_type_and_reading",
                                    "test_decode_malformed_bytes_shows_*"),
                 "python decode.py prints the README's tree of the slides' bytes, of every "
                 "wire type, and of bytes that are not protobuf"),
            Item("any-message", 2, ("test_any_message_the_runtime_writes",
                                    "test_lengths_at_the_edges_of_varint_bytes"),
                 "try_decode_proto_binary decodes any GreetRequest and MultResponse the "
                 "protobuf runtime writes", hidden=True),
        ),
    ),
    Lab(
        name="cross_language",
        title="A Python server and a Go client (plus a Python client)",
        proto="assistant.proto",
        port=8082,
        python_out=("server", "client"),
        go_out="client",
        modules=(("calling.py", "client"), ("serving.py", "server")),  # plumbing (lab_modules/)
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
        rubric=(
            Item("server", 4, ("test_server_greets_with_name_and_institution",
                               "test_server_multiplies"),
                 "GreetWithInfo answers 'Hello <user_name> from <institution>!' and Multiply "
                 "sends back both factors and their product (through the test's client)"),
            Item("go-client", 8, ("test_go_client_prints_the_servers_replies",
                                  "test_go_client_sends_its_flags",
                                  "test_go_client_sets_deadlines",
                                  "test_go_client_gives_up_on_a_silent_server",
                                  "test_go_client_ctrl_c_cancels_the_call",
                                  "test_go_client_reports_bad_input_in_one_line"),
                 "the Go client calls GreetWithInfo and Multiply with its flags, each with "
                 "the deadline of -timeout and the ctx it is given, and prints the replies "
                 "(against the test's own server)", central=True),
            Item("python-client", 4, ("test_python_client_prints_the_servers_replies",
                                      "test_python_client_sends_its_flags",
                                      "test_python_client_sets_deadlines",
                                      "test_python_client_gives_up_on_a_silent_server",
                                      "test_python_client_ctrl_c_cancels_the_call",
                                      "test_python_client_reports_bad_input_in_one_line"),
                 "the Python client does the same as the Go client: both calls with their "
                 "deadlines, the replies printed (against the test's own server)"),
            Item("slides", 4, ("test_*_client_prints_the_slides_lines",
                               "test_both_clients_send_the_same_requests_and_print_*"),
                 "server and clients together print the slides' lines; the Go and Python "
                 "clients send the same bytes and print the same lines"),
        ),
    ),
    Lab(
        name="streaming_server_side",
        title="Server-side streaming: a story streamed to the console in chunks",
        proto="assistant.proto",
        port=50051,
        modules=(("calling.py", "."), ("serving.py", ".")),  # plumbing (lab_modules/)
        processes=(
            Process("server", ("python", "server.py"), server=True),
            Process("client", ("python", "client.py")),
        ),
        demo=(
            DemoStep("server", fast_args=("--delay", "0.5", "--pace", "0.005"),
                     title="the story server: greeting, a 'generation' pause, 1024-byte chunks"),
            DemoStep("client", ("--target", "{server}"),
                     title="the slides' run: the whole story, then the server cancels the call"),
            DemoStep("client", ("--target", "{server}", "--user-name", "Zoë Lefèvre",
                                "--institution", "Vallée-des-Échos"),
                     interrupt_after="CHAPTER II.",
                     title="Ctrl+C mid-story: the client cancels, the server stops at once"),
        ),
        tests=("test_streaming_server_side.py",),
        rubric=(
            Item("story-bytes", 6, ("test_server_sends_the_file_byte_exact",),
                 "the server streams the story file byte for byte in chunks of --chunk-size, "
                 "whatever the file: text whose characters a chunk cuts in two, binary, empty "
                 "(through the test's client)", central=True),
            Item("stops-when-client-goes", 6, ("test_server_stops_when_the_client_goes",),
                 "when its client leaves (cancels, or closes the connection) during the delay "
                 "or mid-story, the server stops the story at once and frees its worker",
                 central=True),
            Item("greeting-and-ending", 1, ("test_server_greets_first_and_ends_with_the_note",
                                            "test_server_waits_the_delay_then_paces_the_chunks"),
                 "the slides' greeting first and ending note last, --delay after the greeting, "
                 "--pace between chunks, and the status CANCELLED (OK with --finish ok)"),
            Item("server-log", 1, ("test_server_logs_the_slides_lines",),
                 "the server logs the slides' lines (Received..., Start streaming..., Read N "
                 "bytes: ..., [EOF], Finishes streaming...) and 'Stopped streaming ...' when "
                 "a client leaves"),
            Item("bad-requests", 1, ("test_server_refuses_bad_requests",),
                 "a request with an empty, too long or multi-line name gets INVALID_ARGUMENT, "
                 "and the server keeps serving"),
            Item("client-story", 6, ("test_client_prints_the_story_it_is_sent",),
                 "the client calls TellStory with --user-name and --institution and prints "
                 "every chunk as it comes, no character broken; --output saves the story byte "
                 "for byte (against the test's own server)", central=True),
            Item("client-endings", 1, ("test_client_ends_as_the_stream_ends",),
                 "the client tells the endings apart: OK, an error (one line, exit 1), and "
                 "Ctrl+C, which cancels the call (against the test's own server)"),
            Item("slides", 2, ("test_slides_run", "test_slides_ctrl_c_mid_story"),
                 "server and client together print the slides' run, and Ctrl+C in the client "
                 "mid-story stops the server's story"),
        ),
    ),
    Lab(
        name="remote_counter",
        title="A local procedure refactored into a server-streaming RPC, stopped by Ctrl+C",
        proto="counter.proto",
        port=50051,
        modules=(("calling.py", "."), ("serving.py", ".")),  # plumbing (lab_modules/)
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
        tests=("test_remote_counter.py", "hidden/test_remote_counter_hidden.py"),
        rubric=(
            Item("cancel-frees-worker", 8, ("test_cancel_frees_the_worker_at_once",),
                 "when its client cancels (or closes the connection) during a step, the "
                 "server stops counting at once and its worker serves the next client "
                 "(through the test's client)", central=True),
            Item("counts", 2, ("test_server_counts_up_from_the_start",
                               "test_server_waits_one_step_between_counts"),
                 "Count streams from_val + 1, from_val + 2, ..., one count per step_sec"),
            Item("server-log", 1, ("test_server_logs_the_slides_lines",),
                 "the server logs the slides' 'Request: from=6, step=2' and, when the client "
                 "cancels, 'Response stream cancelled for request: from=6, step=2'"),
            Item("limits", 1, ("test_server_refuses_bad_requests",
                               "test_server_stops_at_the_largest_int64"),
                 "a bad step or from gets INVALID_ARGUMENT; no count goes past the largest "
                 "int64 (OUT_OF_RANGE)"),
            Item("client", 8, ("test_client_logs_the_counts_it_is_sent",
                               "test_client_ctrl_c_cancels_the_stream"),
                 "the client calls Count with --from and --step, logs every count it is sent "
                 "as the slides, stops after --count N, and Ctrl+C cancels the call (against "
                 "the test's own server)", central=True),
            Item("client-errors", 1, ("test_client_reports_a_failed_call",),
                 "a failed call: one line 'Count failed: CODE: details', exit 1"),
            Item("slides", 1, ("test_slides_run",),
                 "server and client together: the slides' counts, then Ctrl+C on both sides"),
            Item("many-clients", 2, ("test_each_subscriber_counts_on_its_own",
                                     "test_a_killed_client_frees_its_worker"),
                 "clients counting at once each get their own count, and a client whose "
                 "process is killed frees its worker at once", hidden=True),
        ),
    ),
    Lab(
        name="streaming_bidi",
        title="Bidirectional streaming: a number-guessing game, manual and automatic",
        proto="assistant.proto",
        port=50051,
        modules=(("calling.py", "."), ("serving.py", ".")),  # plumbing (lab_modules/)
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
        tests=("test_streaming_bidi.py", "hidden/test_streaming_bidi_hidden.py"),
        rubric=(
            Item("server", 4, ("test_server_answers_each_guess_until_it_is_found",
                               "test_server_answers_out_of_range_guesses_and_the_game_goes_on"),
                 "GuessInt answers each guess with '<', '>' or '=' and the slides' message "
                 "and log lines, out of range with a message and no symbol, and ends the game "
                 "after the right guess (through the test's client)"),
            Item("own-secret", 6, ("test_concurrent_games_each_keep_their_own_secret",),
                 "games played at the same time each keep their own random secret",
                 central=True),
            Item("leaving", 2, ("test_server_ends_a_game_the_player_leaves",),
                 "a game the player leaves (end of input, Ctrl+C) ends on the server with "
                 "'Game left unfinished: ...' and 'Guessing service finished.'"),
            Item("client", 2, ("test_manual_client_*",),
                 "manual mode sends the typed guesses and prints the server's answers; end "
                 "of input closes the stream, Ctrl+C cancels the call (against the test's "
                 "own server)"),
            Item("auto", 6, ("test_auto_client_wins_every_secret_within_7_guesses",),
                 "auto mode (binary search) wins every secret 1..100 within 7 guesses, "
                 "logging 'Init guess: go for 50' and 'Guessing: N'", central=True),
            Item("slides", 2, ("test_slides_*",),
                 "server and client together print the slides' manual and auto transcripts"),
            Item("hidden", 2, ("test_server_answers_guesses_sent_ahead_in_order",
                               "test_client_reports_a_game_the_server_ends_with_an_error"),
                 "guesses sent before any answer are each answered in order; a game the "
                 "server ends with an error is reported in one line", hidden=True),
        ),
    ),
    Lab(
        name="multiplexing",
        title="Multiplexing: slow RPCs of two kinds at once over one HTTP/2 connection",
        proto="assistant.proto",
        port=50051,
        modules=(("calling.py", "."), ("serving.py", ".")),  # plumbing (lab_modules/)
        processes=(
            Process("server", ("python", "server.py"), server=True),
            Process("client", ("python", "client.py")),
        ),
        demo=(
            DemoStep("server", fast_args=("--chill-a", "1", "--chill-b", "0.6"),
                     title="A server with 3 workers: ChillA rests longer than ChillB"),
            DemoStep("client", ("--target", "{server}", "-a", "1", "-b", "1"),
                     title="Enough workers: both at once, done when the longer one is"),
            DemoStep("client", ("--target", "{server}", "-a", "2", "-b", "2"),
                     title="4 calls, 3 workers: ChillB 1 waits for a free worker"),
            DemoStep("client", ("--target", "{server}", "-a", "2", "-b", "4"),
                     interrupt_after="ChillB 0 finished",
                     title="Ctrl+C once ChillB 0 is done: the calls in flight are cancelled"),
        ),
        tests=("test_multiplexing.py",),
        rubric=(
            Item("servicer", 4, ("test_server_echoes_each_call_after_its_rest",
                                 "test_server_refuses_a_bad_request_at_once"),
                 "ChillA and ChillB log start (with the peer) and end, rest --chill-a / "
                 "--chill-b seconds and echo the request; a bad request gets "
                 "INVALID_ARGUMENT at once (through the test's client)"),
            Item("pool", 6, ("test_server_runs_calls_at_once_up_to_its_workers_then_queues_"
                             "them",),
                 "calls sent at once rest at the same time, as many as the server has "
                 "workers; the next one waits in the pool's queue for a free worker",
                 central=True),
            Item("cancel", 2, ("test_cancelled_call_frees_its_worker_at_once",),
                 "a cancelled call logs 'cancelled after N.NN seconds' and frees its worker "
                 "at once"),
            Item("client", 6, ("test_client_sends_every_call_at_once_and_shows_each_reply",),
                 "the client sends all its calls at once over one channel, logs 'Calling "
                 "...' and '... finished after N.NN seconds' as each reply comes, and passes "
                 "the server's timings to the timeline (against the test's own server)",
                 central=True),
            Item("ctrl-c", 1, ("test_client_cancels_every_call_in_flight_on_ctrl_c",),
                 "Ctrl+C cancels every call in flight and logs each one"),
            Item("predictor", 3, ("test_fifo_schedule_gives_each_call_to_the_first_free_"
                                  "worker",),
                 "fifo_schedule gives each call, in order, to the worker that is free first"),
            Item("slides", 2, ("test_slides_runs",),
                 "server and client together: -a 1 -b 1 and -a 2 -b 2 on 3 workers as the "
                 "slides show, one connection per client run"),
        ),
    ),
    Lab(
        name="file_hash_service",
        title="A Python file service hashing files through a C++ hash server",
        proto="hash.proto",
        port=50051,
        modules=(("calling.py", "."), ("serving.py", ".")),  # plumbing (lab_modules/)
        processes=(
            # The C++ hash server, once built: cmake -S . -B build && cmake --build build
            Process("hash-server-cpp", ("build/hash_service",), server=True),
            Process("hash-server", ("python", "hash_service.py"), server=True),
            Process("file-service", ("python", "file_service.py"), server=True, port=50052),
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
        rubric=(
            Item("inside-root", 10, ("test_file_service_stays_inside_its_root",),
                 "the file service hashes only files beneath --root: `..`, absolute paths "
                 "and symlinks that lead out (also into a folder named like the root, "
                 "`../root-other/x`) get PERMISSION_DENIED, and none of their bytes reaches "
                 "the hash service (through the test's client)", central=True),
            Item("refusals", 1, ("test_file_service_refuses_what_it_cannot_hash",),
                 "a missing file, a folder, a FIFO, `a.txt/` and an empty path are refused "
                 "at once with the README's status and message, and the service goes on"),
            Item("every-byte", 10, ("test_file_service_streams_every_byte_to_the_hash_"
                                    "service",
                                    "test_file_service_replies_with_the_path_size_and_digest"),
                 "HashFile streams every byte of the file, in order, to ShaStream in chunks "
                 "of at most --chunk-size (files over 4 MB too), and replies the path as "
                 "asked, the size and the digest the hash service answered (against the "
                 "test's own hash service)", central=True),
            Item("deadline-and-cancel", 2, ("test_file_service_passes_its_callers_deadline_on",
                                            "test_file_service_cancels_the_hash_call_when_its_"
                                            "caller_leaves"),
                 "the file service gives ShaStream its caller's time left (none without a "
                 "deadline), and cancels it when its caller leaves"),
            Item("python-hash-server", 4, ("test_python_hash_server_hashes_every_byte",),
                 "hash_service.py: Sha and ShaStream answer the SHA-256 (64 lowercase hex "
                 "digits) and the size of every byte they are sent, empty and empty chunks "
                 "too (through the test's client)", central=True),
            Item("cpp-hash-server", 4, ("test_cpp_hash_server_hashes_every_byte",),
                 "hash_service.cpp builds with CMake, and Sha and ShaStream answer as the "
                 "Python server does (through the test's client)", central=True),
            Item("client", 3, ("test_client_asks_for_each_path_and_prints_the_replies",
                               "test_client_gives_each_call_its_deadline",
                               "test_client_gives_up_on_a_silent_file_service"),
                 "the client calls HashFile for each path with --deadline and prints "
                 "'<digest>  <path>' from each reply (against the test's own file service)"),
            Item("chain", 6, ("test_chain_hashes_files_as_sha256sum_does",),
                 "client, file service and each hash server together print the digests "
                 "sha256sum prints, --verify agrees (the README's run), and every reply holds "
                 "the file's size", central=True),
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


def present_labs(root: Path = REPO_ROOT) -> list[Lab]:
    """The labs whose folder is in this copy (a starter copy may hold only some)."""
    return [lab for lab in LABS if (root / lab.name).is_dir()]
