"""`labkit starter`: solution regions become TODOs that fail clearly; the copy still runs."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labkit.gen import is_student_copy
from labkit.labs import LABS, REPO_ROOT, get_lab
from labkit.procs import LabRunner, target
from labkit.starter import (
    MARKER_RE,
    StarterError,
    is_source,
    make_starter,
    replace_regions,
    student_readme,
)

SERVICER = textwrap.dedent('''\
    import grpc
    import demo_pb2_grpc


    class Base(demo_pb2_grpc.DemoServicer):
        pass


    class DemoService(Base):
        def Unary(self, request, context: grpc.ServicerContext):
            # BEGIN SOLUTION Answer with "hi" and the name.
            return make_reply(f"hi {request.name}")
            # END SOLUTION

        async def Streamed(self, request, context):
            # BEGIN SOLUTION Stream three "tick" replies.
            for n in range(3):
                yield n
            # END SOLUTION

        def Helper(self, request, context):
            def inner(x):
                # BEGIN SOLUTION Double x.
                return 2 * x
                # END SOLUTION
            return inner(request)
''')


def starter_of(source: str, path: str = "lab/server.py") -> str:
    text, _regions = replace_regions(textwrap.dedent(source), path)
    return text


def test_servicer_methods_answer_unimplemented_and_other_code_raises() -> None:
    text, regions = replace_regions(SERVICER, "lab/server.py")
    assert len(regions) == 3
    ast.parse(text)
    assert not any(MARKER_RE.match(line) for line in text.splitlines())
    assert "return make_reply" not in text and "2 * x" not in text and "yield n" not in text
    # A method of a class deriving (through Base) from the generated *Servicer:
    assert ('        # TODO: Answer with "hi" and the name.\n'
            '        context.abort(grpc.StatusCode.UNIMPLEMENTED, '
            '"TODO: Answer with \\"hi\\" and the name.")\n') in text
    # async servicer methods await the abort:
    assert ('        await context.abort(grpc.StatusCode.UNIMPLEMENTED, '
            '"TODO: Stream three \\"tick\\" replies.")') in text
    # A function inside a servicer method is no servicer method:
    assert ('            # TODO: Double x.\n'
            '            raise NotImplementedError("TODO: Double x.")\n') in text


def test_a_plain_function_raises_not_implemented_with_the_prompt() -> None:
    text = starter_of('''\
        def say_hello(stub, name):
            """Docstring stays."""
            # BEGIN SOLUTION Call SayHello.
            reply = stub.SayHello(name)
            return reply.message
            # END SOLUTION
        ''', "lab/client.py")
    assert text == textwrap.dedent('''\
        def say_hello(stub, name):
            """Docstring stays."""
            # TODO: Call SayHello.
            raise NotImplementedError("TODO: Call SayHello.")
        ''')


def test_a_region_without_prompt_names_its_function() -> None:
    text = starter_of('''\
        def decode(data):
            # BEGIN SOLUTION
            return data
            # END SOLUTION
        ''')
    assert 'raise NotImplementedError("TODO: write this part (decode)")' in text


def test_a_servicer_module_without_import_grpc_still_gets_a_status() -> None:
    text = starter_of('''\
        from x_pb2_grpc import XServicer

        class X(XServicer):
            def Get(self, request, context):
                # BEGIN SOLUTION Get it.
                return 1
                # END SOLUTION
        ''')
    compile(text, "x.py", "exec")
    assert "import grpc\n" in text and "grpc.StatusCode.UNIMPLEMENTED" in text


@pytest.mark.parametrize("source, complaint", [
    ("def f():\n    # BEGIN SOLUTION a\n    return 1\n", ":2: BEGIN SOLUTION without an END"),
    ("def f():\n    return 1\n    # END SOLUTION\n", ":3: END SOLUTION without a BEGIN"),
    ("def f():\n    # BEGIN SOLUTION a\n    # BEGIN SOLUTION b\n    return 1\n"
     "    # END SOLUTION\n    # END SOLUTION\n", ":3: BEGIN SOLUTION inside"),
    ("def f():\n    # BEGIN SOLUTION a\n    return 1\n  # END SOLUTION\n", ":4: END SOLUTION "
     "is not indented"),
    ("def f():\n    # begin solution a\n    return 1\n", ":2: malformed solution marker"),
    ("# BEGIN SOLUTION a\nX = 1\n# END SOLUTION\n", ":1: solution region outside a function"),
    ("def f(x):\n    if x:\n        # BEGIN SOLUTION a\n        return 1\n    else:\n"
     "        return 2\n        # END SOLUTION\n", "is indented less than the markers"),
    ("def f(x):\n    # BEGIN SOLUTION a\n    if x:\n        return 1\n    # END SOLUTION\n"
     "    else:\n        return 2\n", "the starter version does not parse"),
    ("// BEGIN SOLUTION a\n", "comments start with '#'"),
])
def test_unbalanced_or_misplaced_markers_fail_loudly(source: str, complaint: str) -> None:
    with pytest.raises(StarterError) as caught:
        replace_regions(source, "lab/server.py")
    assert complaint in str(caught.value)
    assert str(caught.value).startswith("lab/server.py:")


def test_go_and_cpp_regions() -> None:
    go = "func main() {\n\t// BEGIN SOLUTION Call Greet.\n\tfmt.Println(r)\n\t// END SOLUTION\n}\n"
    text, _ = replace_regions(go, "client/main.go")
    assert text == "func main() {\n\t// TODO: Call Greet.\n\tpanic(\"TODO: Call Greet.\")\n}\n"
    cpp = textwrap.dedent('''\
        class HashImpl final : public Hash::Service {
          Status Sha(ServerContext* context, const Req* request,
                     Reply* reply) override {
            // BEGIN SOLUTION Hash the bytes.
            reply->set_hex(sha(request->data()));
            return Status::OK;
            // END SOLUTION
          }
        };

        std::string sha(const std::string& data) {
          // BEGIN SOLUTION Compute SHA-256.
          return "";
          // END SOLUTION
        }
        ''')
    text, _ = replace_regions(cpp, "hash.cpp")
    assert ("    // TODO: Hash the bytes.\n    return ::grpc::Status(::grpc::StatusCode::"
            "UNIMPLEMENTED, \"TODO: Hash the bytes.\");\n") in text
    assert '  throw std::logic_error("TODO: Compute SHA-256.");\n' in text
    assert "set_hex" not in text and 'return "";' not in text


# --- the copy -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hello_starter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("starter") / "kit"
    report = make_starter(dest, [get_lab("hello_world")])
    assert report.count("hello_world") == 2
    return dest


def test_one_lab_copy_has_what_it_needs_to_run_and_be_tested(hello_starter: Path) -> None:
    files = {p.relative_to(hello_starter).as_posix() for p in hello_starter.rglob("*")
             if p.is_file()}
    for needed in ("hello_world/server.py", "hello_world/client.py", "hello_world/hello_pb2.py",
                   "hello_world/hello_pb2_grpc.py", "hello_world/hello.proto",
                   "protos/hello_world/hello.proto", "labkit/procs.py", "labkit/labs.py",
                   "tests/conftest.py", "tests/test_hello_world.py", "requirements.txt",
                   "pyproject.toml"):
        assert needed in files
    # Other labs, the tests of labkit itself, caches and VCS data stay behind.
    assert not any(f.startswith(tuple(f"{lab.name}/" for lab in LABS[1:])) for f in files)
    assert not any(f.startswith("tests/test_labkit") or f == "tests/test_gen.py" for f in files)
    assert not any("__pycache__" in f or f.startswith(".git/") or "/build/" in f
                   or f.endswith(".pyc") for f in files)
    # Stubs, protos and tests are copied byte for byte.
    for same in ("hello_world/hello_pb2.py", "hello_world/hello.proto",
                 "tests/test_hello_world.py", "labkit/procs.py"):
        assert (hello_starter / same).read_bytes() == (REPO_ROOT / same).read_bytes()


def test_starter_sources_parse_and_hold_no_solution(hello_starter: Path) -> None:
    for name in ("server.py", "client.py"):
        text = (hello_starter / "hello_world" / name).read_text()
        ast.parse(text)
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        assert "# TODO: " in text
    server = (hello_starter / "hello_world" / "server.py").read_text()
    assert 'f"Hello, {request.name}!"' not in server
    assert "context.abort(grpc.StatusCode.UNIMPLEMENTED" in server
    client = (hello_starter / "hello_world" / "client.py").read_text()
    assert "stub.SayHello(" not in client and "raise NotImplementedError(" in client


def test_starter_server_answers_unimplemented_in_one_client_line(hello_starter: Path) -> None:
    lab = get_lab("hello_world")
    with LabRunner(lab, hello_starter) as starter, LabRunner(lab, REPO_ROOT) as reference:
        server = starter.start_server()
        result = reference.run("client", "--target", target(server))
    assert result.returncode == 1, result.output
    assert result.stdout == ""
    assert result.stderr == ("SayHello failed: UNIMPLEMENTED: TODO: Build a HelloReply whose "
                             "message greets request.name.\n")


def test_starter_client_runs_and_fails_naming_the_task(hello_starter: Path) -> None:
    lab = get_lab("hello_world")
    with LabRunner(lab, REPO_ROOT) as reference, LabRunner(lab, hello_starter) as starter:
        server = reference.start_server()
        result = starter.run("client", "--target", target(server))
    assert result.returncode == 1, result.output
    # One line that names the TODO (the lab's calling module prints it), no traceback.
    assert result.stdout == ""
    assert re.fullmatch(r"TODO: Send a HelloRequest with the name and return the reply's "
                        r"message\. \(client\.py, line \d+, in say_hello\)\n",
                        result.stderr), result.stderr


def test_copy_refuses_a_folder_in_use_or_inside_the_kit(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(StarterError, match="not empty"):
        make_starter(tmp_path / "used", [get_lab("hello_world")])
    assert (tmp_path / "used" / "notes.txt").read_text() == "mine"
    with pytest.raises(StarterError, match="inside the kit"):
        make_starter(REPO_ROOT / "starter-copy", [get_lab("hello_world")])
    assert not (REPO_ROOT / "starter-copy").exists()


def test_whole_kit_starter_replaces_every_region_and_every_file_parses(tmp_path: Path) -> None:
    dest = tmp_path / "kit"
    report = make_starter(dest, None)
    for lab in LABS:
        if not (REPO_ROOT / lab.name).is_dir():
            continue
        for path in (dest / lab.name).rglob("*"):
            rel = path.relative_to(dest)
            if not path.is_file() or not is_source(rel):
                continue
            text = path.read_text(encoding="utf-8")
            assert not any(MARKER_RE.match(line) for line in text.splitlines()), rel
            if path.suffix == ".py":
                ast.parse(text, str(rel))
    assert report.count() == sum(
        (REPO_ROOT / lab.name / Path(r.path).relative_to(lab.name)).is_file()
        for lab in LABS for r in report.regions.get(lab.name, []))
    assert not (dest / ".git").exists() and not (dest / ".ci").exists()


def test_starter_command_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "labkit", "starter", str(tmp_path / "s"),
                           "--lab", "hello_world", "--lab", "protobuf_exploration"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hello_world: 2 solution region(s) replaced (client.py, server.py)" in done.stdout
    # Each lab's own first command, not `python server.py` for every lab.
    lines = done.stdout.splitlines()
    dest = (tmp_path / "s").resolve()
    assert f"  hello_world           cd {dest / 'hello_world'} && python server.py" in lines
    assert (f"  protobuf_exploration  cd {dest / 'protobuf_exploration'} && python "
            "x_main_reduced.py") in lines
    again = subprocess.run([sys.executable, "-m", "labkit", "starter", str(tmp_path / "s")],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1
    assert again.stdout.startswith("error: ") and "not empty" in again.stdout


# --- what the copy tells students -------------------------------------------------------------


def test_the_copy_is_marked_as_a_students_copy(hello_starter: Path) -> None:
    assert is_student_copy(hello_starter)
    assert not is_student_copy(REPO_ROOT)


def test_the_copy_has_a_readme_for_students_about_its_own_labs(hello_starter: Path) -> None:
    readme = (hello_starter / "README.md").read_text(encoding="utf-8")
    assert readme == student_readme([get_lab("hello_world")])
    assert readme.startswith("# gRPC labs\n")
    # A row for the copy's lab, with its run commands; none for the labs left out.
    assert ("| [hello_world](hello_world/README.md) | Greeter/SayHello: the first gRPC service "
            "| `cd hello_world && python server.py`<br>`cd hello_world && python client.py` "
            "| 50051 |") in readme
    assert not any(f"[{lab.name}]" in readme for lab in LABS[1:])
    assert "protoc-gen-go" not in readme  # cross_language's part: not in this copy
    assert "<!--" not in readme
    # Nothing for instructors.
    for instructors_only in ("instructor", "labkit grade", "labkit starter", "labkit check",
                             "Gradescope", "--lab-root", "labkit demo", "submission"):
        assert instructors_only.lower() not in readme.lower(), instructors_only


def test_a_labs_own_part_of_the_readme_comes_with_that_lab() -> None:
    with_go = student_readme([get_lab("hello_world"), get_lab("cross_language")])
    assert "protoc -I=./ --go_out=./client/ --go-grpc_out=./client/ assistant.proto" in with_go
    assert "[cross_language](cross_language/README.md)" in with_go
    assert "<!--" not in with_go
