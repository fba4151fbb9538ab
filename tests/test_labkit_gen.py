"""`labkit gen` in a student's copy, where each lab folder belongs to the student, and what
stubs describe (labkit/stubs.py), whatever version of protoc or of a plugin made them.
(The kit itself: tests/test_gen.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import doctor, gen, stubs
from labkit.labs import REPO_ROOT, get_lab
from labkit.starter import make_starter
from labkit.testing import require, require_commands


def labkit(root: Path, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labkit", *args], cwd=root,
                          capture_output=True, text=True, timeout=120, env=env)


def starter(tmp_path: Path, *labs: str) -> Path:
    dest = tmp_path / "copy"
    make_starter(dest, [get_lab(name) for name in labs])
    return dest


def add_field(proto: Path, after: str, field: str) -> str:
    """Add a field to a message of the proto, as a student does; the new text."""
    text = proto.read_text(encoding="utf-8")
    assert after in text
    text = text.replace(after, f"{after}\n  {field}", 1)
    proto.write_text(text, encoding="utf-8")
    return text


def slides_protoc(folder: Path, proto: str, out: str = ".") -> None:
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I./", f"--python_out={out}",
                    f"--pyi_out={out}", f"--grpc_python_out={out}", proto], cwd=folder,
                   check=True, timeout=60)


def python_fields(stub: Path, message: str) -> list[str]:
    file = stubs.python_descriptor(stub.read_text(encoding="utf-8"))
    return [field.name for m in file.message_type if m.name == message for field in m.field]


# --- a student's copy ---------------------------------------------------------------------------


def test_a_students_proto_with_stubs_regenerated_the_slides_way_is_accepted(
        tmp_path: Path) -> None:
    root = starter(tmp_path, "hello_world")
    lab_dir = root / "hello_world"
    add_field(lab_dir / "hello.proto", "string name = 1;", "int32 age = 2;")
    slides_protoc(lab_dir, "hello.proto")

    done = labkit(root, "gen", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("note: hello_world/hello.proto differs from the original "
            "protos/hello_world/hello.proto: the stubs follow yours") in done.stdout
    stubs_check = doctor.check_stubs([get_lab("hello_world")], root)
    assert stubs_check.ok, stubs_check.detail
    assert "your own proto in hello_world" in stubs_check.detail


def test_gen_makes_the_stubs_from_the_students_proto_and_never_changes_it(
        tmp_path: Path) -> None:
    root = starter(tmp_path, "streaming_bidi")
    proto = root / "streaming_bidi" / "assistant.proto"
    edited = add_field(proto, "int32 guess = 1;", "string note = 2;")

    done = labkit(root, "gen", "--check")
    assert done.returncode == 1
    stale = [line for line in done.stdout.splitlines() if line.startswith("stale:")]
    assert stale == [
        "stale: streaming_bidi/assistant_pb2.py (does not match assistant.proto: message "
        "GuessIntRequest differs)",
        "stale: streaming_bidi/assistant_pb2.pyi (does not match assistant.proto: class "
        "GuessIntRequest differs)"], done.stdout
    assert "does not change the protos" in done.stderr

    done = labkit(root, "gen")
    assert done.returncode == 0, done.stderr
    assert "generated: streaming_bidi (stubs from streaming_bidi/assistant.proto)" in done.stdout
    assert proto.read_text(encoding="utf-8") == edited  # the student's proto, untouched
    assert python_fields(root / "streaming_bidi" / "assistant_pb2.py", "GuessIntRequest") == \
        ["guess", "note"]
    assert labkit(root, "gen", "--check").returncode == 0


def test_gen_keeps_a_students_module_and_puts_back_what_is_missing(tmp_path: Path) -> None:
    lab = next((get_lab(name) for name in ("hello_world", "streaming_bidi", "multiplexing")
                if get_lab(name).modules), None)
    require(lab is not None, "no lab lists a shared module yet")
    assert lab is not None
    root = starter(tmp_path, lab.name)
    module, folder = lab.modules[0]
    mine = root / lab.name / folder / module
    mine.write_text(mine.read_text(encoding="utf-8") + "\n# my experiment\n", encoding="utf-8")
    (root / lab.name / lab.proto).unlink()

    done = labkit(root, "gen", lab.name)
    assert done.returncode == 0, done.stderr
    assert mine.read_text(encoding="utf-8").endswith("# my experiment\n")
    assert f"note: {lab.name}/{folder}/{module}".replace("/./", "/") in done.stdout
    assert "kept yours" in done.stdout
    assert (root / lab.name / lab.proto).read_bytes() == \
        (REPO_ROOT / "protos" / lab.name / lab.proto).read_bytes()
    assert f"{lab.name}/{lab.proto} was missing: the original is back" in done.stdout


def test_a_copy_of_some_labs_has_gen_and_doctor_for_those_labs(tmp_path: Path) -> None:
    root = starter(tmp_path, "hello_world", "protobuf_exploration")
    for args in (("gen", "--check"), ("gen",)):
        done = labkit(root, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "missing" not in done.stdout + done.stderr
        assert ("ok: 2 lab(s): stubs match their protos" if "--check" in args else
                "generated: protobuf_exploration") in done.stdout

    done = labkit(root, "doctor")
    lines = done.stdout.splitlines()
    assert "ok   stubs                   match the labs' protos" in lines, done.stdout
    # Only what these two labs need: no Go, no C++, one port.
    names = [line[5:].split("  ")[0] for line in lines if line[:4] in ("ok  ", "FAIL", "warn")]
    assert not {"go", "go plugins", "cmake", "grpc c++", "port 8082", "port 50052"} & set(names)
    assert "port 50051" in names

    done = labkit(root, "gen", "cross_language")
    assert done.returncode == 1
    assert "has no cross_language folder" in done.stderr and "Traceback" not in done.stderr


def test_go_stubs_regenerated_the_slides_way_are_accepted(tmp_path: Path) -> None:
    """Debian's protoc with the installed plugins (any version), as the slides run it; then
    a proto changed and only the Python stubs regenerated: the Go stubs are named."""
    require_commands("protoc", why="regenerating the Go stubs the slides' way")
    plugins = gen.find_go_plugins()
    require(plugins is not None, "regenerating the Go stubs needs protoc-gen-go and "
            "protoc-gen-go-grpc (" + "; ".join(gen.GO_PLUGIN_INSTALL.values()) + ")")
    assert plugins is not None
    root = starter(tmp_path, "cross_language")
    lab_dir = root / "cross_language"
    path = os.pathsep.join([*{str(p.parent) for p in plugins.values()}, os.environ["PATH"]])
    subprocess.run(["protoc", "-I=./", "--go_out=./client/", "--go-grpc_out=./client/",
                    "assistant.proto"], cwd=lab_dir, check=True, timeout=60,
                   env={**os.environ, "PATH": path})
    assert labkit(root, "gen", "--check").returncode == 0

    add_field(lab_dir / "assistant.proto", "string institution = 2;", "int32 year = 3;")
    for out in ("server", "client"):
        slides_protoc(lab_dir, "assistant.proto", f"./{out}/")
    done = labkit(root, "gen", "--check")
    assert done.returncode == 1
    assert [line for line in done.stdout.splitlines() if line.startswith("stale:")] == [
        "stale: cross_language/client/pb/assistant.pb.go (does not match assistant.proto: "
        "message GreetRequest differs)"], done.stdout


# --- what stubs describe ------------------------------------------------------------------------


def hello_file():
    return stubs.python_descriptor((REPO_ROOT / "hello_world" / "hello_pb2.py").read_text())


def go_quoted(data: bytes) -> str:
    """A Go string literal of these bytes, in protoc-gen-go's manner."""
    named = {0x0A: "\\n", 0x09: "\\t", 0x22: '\\"', 0x5C: "\\\\"}
    return '"' + "".join(named.get(b) or (chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}")
                         for b in data) + '"'


def test_go_string_literals_decode_to_their_bytes() -> None:
    literal = '"\\x0fa\\n\\"\\\\é\\u00e9\\101\\a"'
    assert stubs.go_string_bytes(literal) == b'\x0fa\n"\\' + "éé".encode() + b"A\x07"


@pytest.mark.parametrize("layout", ["string", "byte slice"])
def test_a_pb_go_raw_descriptor_is_read_in_either_layout(layout: str) -> None:
    """protoc-gen-go v1.36.1 and newer write the raw descriptor as a string constant,
    older releases as a []byte; both describe the same file."""
    data = hello_file().SerializeToString()
    if layout == "string":
        lines = [go_quoted(data[i:i + 20]) for i in range(0, len(data), 20)]
        body = '"" +\n\t' + " +\n\t".join(lines) + "\n"
        text = f"package pb\n\nconst file_hello_proto_rawDesc = {body}\nvar other = 1\n"
    else:
        hexes = ", ".join(f"0x{b:02x}" for b in data)
        text = f"package pb\n\nvar file_hello_proto_rawDesc = []byte{{\n\t{hexes},\n}}\n"
    assert stubs.go_descriptor(text) == hello_file()
    with pytest.raises(stubs.StubError, match="no raw descriptor"):
        stubs.go_descriptor("package pb\n")


def test_descriptions_of_the_python_stubs_name_what_differs() -> None:
    grpc_stub = (REPO_ROOT / "hello_world" / "hello_pb2_grpc.py").read_text()
    assert stubs.describe_python_grpc(grpc_stub) == {
        "rpc /helloworld.Greeter/SayHello": ("unary_unary", "HelloRequest", "HelloReply")}
    pyi = stubs.describe_pyi((REPO_ROOT / "hello_world" / "hello_pb2.pyi").read_text())
    assert pyi["class HelloRequest"] == ("NAME_FIELD_NUMBER", "name")
    other = hello_file()
    other.message_type[0].field.add(name="age", number=2, type=5, label=1)
    assert stubs.differences(stubs.describe_file(hello_file()), stubs.describe_file(other)) \
        == ["message HelloRequest"]


def test_the_go_service_description_matches_the_proto() -> None:
    file = stubs.python_descriptor(
        (REPO_ROOT / "cross_language" / "server" / "assistant_pb2.py").read_text())
    grpc_go = (REPO_ROOT / "cross_language" / "client" / "pb" / "assistant_grpc.pb.go").read_text()
    described = stubs.describe_go_grpc(grpc_go)
    assert described == stubs.expected_go_grpc(file) == {
        "service AssistantService": (("GreetWithInfo", "Multiply"), (), "assistant.proto")}
    bidi = stubs.python_descriptor(
        (REPO_ROOT / "streaming_bidi" / "assistant_pb2.py").read_text())
    assert stubs.expected_go_grpc(bidi) == {
        "service AssistantService": ((), (("GuessInt", True, True),), "assistant.proto")}
    assert [str(p) for p in stubs.go_stub_paths(file)] == ["pb/assistant.pb.go",
                                                           "pb/assistant_grpc.pb.go"]
