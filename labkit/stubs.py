"""What generated stubs describe, read from their text without importing them.

`labkit gen --check` asks whether a lab's stubs match the proto beside them. Comparing
bytes would reject stubs that a student regenerated with the slides' commands: every
protoc, grpcio-tools, protoc-gen-go and protoc-gen-go-grpc release stamps its version
into what it writes, and lays the code out its own way. What the stubs describe does not
change with the version, so that is what is compared:

- `*_pb2.py` embeds the proto's FileDescriptorProto (`AddSerializedFile(b"...")`);
- `*.pb.go` embeds it too (`file_<name>_rawDesc`, a string or, from older protoc-gen-go,
  a `[]byte{...}`);
- `*_pb2.pyi` lists the message classes and their fields;
- `*_pb2_grpc.py` calls `channel.unary_unary("/pkg.Service/Method", ...)` and the like
  for each RPC, with its request and response types;
- `*_grpc.pb.go` holds a `grpc.ServiceDesc` per service: its methods, which ones stream.

A description maps a name ("message HelloRequest", "rpc /helloworld.Greeter/SayHello") to
a value; two descriptions agree when they are equal, and the names whose values differ
say where a stub and the proto part ways. Comments in a proto are in no stub, so editing
them changes nothing here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

Description = dict[str, object]
GRPC_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


class StubError(ValueError):
    """A stub whose description cannot be read (not made by protoc, or cut short)."""


# --- the proto ------------------------------------------------------------------------------


def _clear_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    for message in messages:
        for field in [*message.field, *message.extension]:
            field.ClearField("json_name")
        _clear_json_names(message.nested_type)


def normalized(file: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """The file without what generators may or may not keep: source positions, and the
    json_name that protoc derives from each field's name (Go keeps it, Python does not)."""
    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(file)
    copy.ClearField("source_code_info")
    _clear_json_names(copy.message_type)
    for field in copy.extension:
        field.ClearField("json_name")
    return copy


def describe_file(file: descriptor_pb2.FileDescriptorProto) -> Description:
    """A proto file's description: one entry per message, enum, service and extension."""
    file = normalized(file)
    parts = {"message": "message_type", "enum": "enum_type", "service": "service",
             "extension": "extension"}
    rest = descriptor_pb2.FileDescriptorProto()
    rest.CopyFrom(file)
    for field in parts.values():
        rest.ClearField(field)
    described: Description = {"package, imports and options":
                              rest.SerializeToString(deterministic=True)}
    for kind, field in parts.items():
        for item in getattr(file, field):
            described[f"{kind} {item.name}"] = item.SerializeToString(deterministic=True)
    return described


def parse_file(data: bytes, where: str) -> descriptor_pb2.FileDescriptorProto:
    try:
        return descriptor_pb2.FileDescriptorProto.FromString(data)
    except DecodeError as error:
        raise StubError(f"{where}: its embedded descriptor does not parse ({error})") from None


# --- Python ---------------------------------------------------------------------------------


def parse_python(text: str, where: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as error:
        raise StubError(f"{where}: not Python ({error.msg}, line {error.lineno})") from None


def python_descriptor(text: str, where: str = "stub") -> descriptor_pb2.FileDescriptorProto:
    """The FileDescriptorProto that a `*_pb2.py` embeds."""
    tree = parse_python(text, where)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        # AddSerializedFile(b"..."); protobuf 3.19 and older: FileDescriptor(serialized_pb=)
        candidates = node.args[:1] if name == "AddSerializedFile" else \
            [kw.value for kw in node.keywords if kw.arg == "serialized_pb"]
        for candidate in candidates:
            if isinstance(candidate, ast.Constant) and isinstance(candidate.value, bytes):
                return parse_file(candidate.value, where)
    raise StubError(f"{where}: no serialized descriptor found (is it protoc's *_pb2.py?)")


def describe_pb2(text: str, where: str = "stub") -> Description:
    """What a `*_pb2.py` describes: the proto file it embeds."""
    return describe_file(python_descriptor(text, where))


def describe_pyi(text: str, where: str = "stub") -> Description:
    """The classes of a `*_pb2.pyi` and the names each one declares (fields, their
    *_FIELD_NUMBER constants, enum values); nested classes under dotted names."""
    tree = parse_python(text, where)
    described: Description = {}

    def names(body: list[ast.stmt]) -> tuple[str, ...]:
        found = [node.target.id for node in body
                 if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)]
        return tuple(sorted(n for n in found if n != "DESCRIPTOR" and not n.startswith("__")))

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                described[f"class {prefix}{node.name}"] = names(node.body)
                visit(node.body, f"{prefix}{node.name}.")

    described["module"] = names(tree.body)
    visit(tree.body, "")
    return described


def _type_name(node: ast.expr | None) -> str:
    """`hello__pb2.HelloRequest.SerializeToString` -> "HelloRequest" (nested: "A.B")."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join(reversed(parts[1:]))  # without the method and the module's alias


def describe_python_grpc(text: str, where: str = "stub") -> Description:
    """Each RPC of a `*_pb2_grpc.py` stub: its path, kind, request and response types."""
    tree = parse_python(text, where)
    described: Description = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in GRPC_KINDS and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "channel" and node.args
                and isinstance(node.args[0], ast.Constant)):
            continue
        keywords = {kw.arg: kw.value for kw in node.keywords}
        described[f"rpc {node.args[0].value}"] = (
            node.func.attr, _type_name(keywords.get("request_serializer")),
            _type_name(keywords.get("response_deserializer")))
    return described


# --- Go -------------------------------------------------------------------------------------

RAW_DESC_RE = re.compile(r"(?m)^(?:var|const)\s+file_\w+_rawDesc\s*=\s*")
GO_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"')
GO_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34,
              "'": 39}


def go_string_bytes(literal: str) -> bytes:
    """The bytes of a Go interpreted string literal, quotes included: "\\x0fa\\n"."""
    body, out, i = literal[1:-1], bytearray(), 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out += char.encode("utf-8")
            i += 1
            continue
        escape = body[i + 1]
        if escape in GO_ESCAPES:
            out.append(GO_ESCAPES[escape])
            i += 2
        elif escape == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        elif escape in "01234567":
            out.append(int(body[i + 1:i + 4], 8))
            i += 4
        elif escape in "uU":
            width = 4 if escape == "u" else 8
            out += chr(int(body[i + 2:i + 2 + width], 16)).encode("utf-8")
            i += 2 + width
        else:
            raise ValueError(f"unknown escape \\{escape}")
    return bytes(out)


def go_descriptor(text: str, where: str = "stub") -> descriptor_pb2.FileDescriptorProto:
    """The FileDescriptorProto that a `*.pb.go` embeds as its raw descriptor."""
    found = RAW_DESC_RE.search(text)
    if found is None:
        raise StubError(f"{where}: no raw descriptor found (is it protoc-gen-go's *.pb.go, "
                        "v1.20 or newer?)")
    rest = text[found.end():]
    try:
        if rest.startswith("[]byte{"):  # protoc-gen-go before v1.36.1
            data = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-fA-F]{2})",
                                                          rest[:rest.index("}")]))
        else:  # "" + "\n" + "\x0fhello.proto..." + ..., one literal or more per line
            literals: list[str] = []
            for line in rest.splitlines():
                literals += GO_STRING_RE.findall(line)
                if not line.rstrip().endswith("+"):
                    break
            data = b"".join(go_string_bytes(literal) for literal in literals)
    except ValueError as error:
        raise StubError(f"{where}: its raw descriptor cannot be read ({error})") from None
    return parse_file(data, where)


SERVICE_DESC_RE = re.compile(r"grpc\.ServiceDesc\{(.*?)\n\}", re.S)


def describe_pb_go(text: str, where: str = "stub") -> Description:
    """What a `*.pb.go` describes: the proto file it embeds."""
    return describe_file(go_descriptor(text, where))


def describe_go_grpc(text: str, where: str = "stub") -> Description:
    """Each `grpc.ServiceDesc` of a `*_grpc.pb.go`: methods, streams and their directions."""
    described: Description = {}
    for body in SERVICE_DESC_RE.findall(text):
        service = re.search(r'ServiceName:\s*"([^"]*)"', body)
        metadata = re.search(r'Metadata:\s*"([^"]*)"', body)
        methods = tuple(re.findall(r'MethodName:\s*"([^"]*)"', body))
        streams = []
        for chunk in body.split("StreamName:")[1:]:
            name = re.match(r'\s*"([^"]*)"', chunk)
            streams.append((name.group(1) if name else "?",
                            bool(re.search(r"ServerStreams:\s*true", chunk)),
                            bool(re.search(r"ClientStreams:\s*true", chunk))))
        described[f"service {service.group(1) if service else '?'}"] = (
            methods, tuple(streams), metadata.group(1) if metadata else "")
    return described


def expected_go_grpc(file: descriptor_pb2.FileDescriptorProto) -> Description:
    """What `describe_go_grpc` finds in the `*_grpc.pb.go` of this proto."""
    described: Description = {}
    for service in file.service:
        full_name = f"{file.package}.{service.name}" if file.package else service.name
        methods = tuple(m.name for m in service.method
                        if not (m.client_streaming or m.server_streaming))
        streams = tuple((m.name, m.server_streaming, m.client_streaming)
                        for m in service.method if m.client_streaming or m.server_streaming)
        described[f"service {full_name}"] = (methods, streams, file.name)
    return described


def go_stub_paths(file: descriptor_pb2.FileDescriptorProto) -> list[PurePosixPath]:
    """Where protoc-gen-go and protoc-gen-go-grpc write this proto's Go stubs, relative to
    --go_out (the default paths=import: the go_package's import path, then the file)."""
    import_path = file.options.go_package.split(";")[0]
    stem = PurePosixPath(file.name).name.removesuffix(".proto")
    folder = PurePosixPath(import_path) if import_path else PurePosixPath(file.name).parent
    paths = [folder / f"{stem}.pb.go"]
    if file.service:
        paths.append(folder / f"{stem}_grpc.pb.go")
    return paths


# --- comparing ------------------------------------------------------------------------------


def differences(expected: Description, actual: Description) -> list[str]:
    """The names whose entries differ, missing or extra included, in a stable order."""
    names = sorted(set(expected) | set(actual))
    return [name for name in names if expected.get(name) != actual.get(name)]
