"""protobuf_exploration: the student's wire decoder (wire_decoder.py), against the protobuf
runtime and `protoc --decode_raw`.

Differential: random messages of tests/data/wire_types.proto (every scalar type, nested
messages, packed and unpacked repeated fields, maps, oneof, groups, unknown fields) are
serialized by the protobuf runtime; what the decoder reads from the bytes must equal what
the runtime parsed, and agree with `python -m grpc_tools.protoc --decode_raw`.
Malformed input: every case names its byte offset; random bytes end in fields or in
DecodeError, never in another exception.

The decoder runs in a child process in the lab folder (labkit.testing.run_in_lab), which
hands back every decoded field as plain data: the test process never imports a student's
module. Each group of tests decodes all its inputs in one child (module-scoped fixtures),
and reads values (signed, ZigZag, floating...) with functions of its own.
"""

from __future__ import annotations

import random
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from google.protobuf import descriptor_pool, message_factory, unknown_fields
from google.protobuf.descriptor import FieldDescriptor as T
from google.protobuf.message import DecodeError as RuntimeDecodeError

from labkit.labs import get_lab
from labkit.procs import LabRunner
from labkit.protocol import compile_descriptor_set
from tests.output_support import hex_of, raised
from tests.test_protobuf_exploration import call_in_lab, read_varint, varint

LAB = "protobuf_exploration"
DATA = Path(__file__).parent / "data"
SEED = 20250429  # fixed: every run draws the same messages
MESSAGES = 300
RANDOM_BYTE_STRINGS = 400

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
WIRE_TYPE_NAMES = {VARINT: "VARINT", I64: "I64", LEN: "LEN", SGROUP: "SGROUP",
                   EGROUP: "EGROUP", I32: "I32"}


def load_wire_types() -> SimpleNamespace:
    """The message classes of tests/data/wire_types.proto, in a descriptor pool of their own
    (compiled by grpcio-tools' protoc; nothing generated is imported)."""
    pool = descriptor_pool.DescriptorPool()
    for file in compile_descriptor_set(DATA / "wire_types.proto").file:
        pool.Add(file)

    def message(name: str) -> type:
        return message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"labkit.wiretest.{name}"))

    return SimpleNamespace(WireTypes=message("WireTypes"), WireTypesV1=message("WireTypesV1"),
                           Inner=message("Inner"))


pb = load_wire_types()


# --- the decoder, in a child process in the lab folder ------------------------------------

# Runs in the lab folder: decodes each input with wire_decoder.decode and hands back every
# field as plain data (bytes as hex; a LEN payload as None when it is the input's bytes
# from value_offset to end, as it should be: 17 MB of JSON less). "lax": also read each
# LEN payload that is no message
# as protoc --decode_raw reads nested bytes (a tag of more than 32 bits cut to its low 32
# bits; see raw_text). "render": also show the fields with decode.py's render(), every
# reading of every value.
DECODE = """
import traceback
import wire_decoder as wd


def plain(field, lax, data):
    value = field.value
    if field.wire_type == wd.SGROUP:
        value = [plain(member, lax, data) for member in value]
    elif field.wire_type == wd.LEN and value == data[field.value_offset:field.end]:
        value = None
    elif isinstance(value, (bytes, bytearray)):
        value = bytes(value).hex()
    # A list, not a dict: tens of thousands of fields go back to the test (see Found).
    return [field.field_number, field.wire_type, field.offset, field.value_offset,
            field.end, value, field.length_offset, field.group_end_offset,
            None if field.message is None else
            [plain(member, lax, data) for member in field.message],
            lax_message(bytes(field.value)) if lax and field.wire_type == wd.LEN
            and field.message is None and field.value else None]


def lax_message(payload):
    strict = wd.read_tag

    def lax_tag(data, pos, end):
        tag, after = wd.read_varint(data, pos, end)
        short = bytearray()
        tag &= 0xFFFFFFFF
        while True:
            short.append(tag & 0x7F | (0x80 if tag > 0x7F else 0))
            tag >>= 7
            if not tag:
                break
        number, wire_type, _ = strict(bytes(short), 0, len(short))
        return number, wire_type, after

    wd.read_tag = lax_tag
    try:
        fields = wd.try_message(payload, 0, len(payload), 1)
    finally:
        wd.read_tag = strict
    return None if fields is None else [plain(field, True, payload) for field in fields]


def decode(case):
    data = bytes.fromhex(case["hex"])
    answer = {}
    try:
        fields = wd.decode(data)
        answer["fields"] = [plain(field, case.get("lax"), data) for field in fields]
    except wd.DecodeError as error:
        fields = error.fields
        answer["error"] = {"offset": error.offset, "expected": error.expected,
                           "text": str(error),
                           "fields": [plain(f, False, data) for f in fields]}
    except Exception:
        return {"crash": traceback.format_exc(limit=-4)}
    if case.get("render"):
        try:
            import decode as decode_py
            decode_py.render(data, fields, True)
        except Exception:
            answer["crash"] = traceback.format_exc(limit=-4)
    return answer


result = [decode(case) for case in payload]
"""


@dataclass
class Found:
    """One field as the student's decoder read it (from the child's plain data)."""

    field_number: int
    wire_type: int
    offset: int
    value_offset: int
    end: int
    value: object  # VARINT: int; I64, I32, LEN: bytes; SGROUP: list[Found]
    length_offset: int | None
    group_end_offset: int | None
    message: list[Found] | None
    lax: list[Found] | None = None  # LEN: the payload read as protoc reads nested bytes

    @property
    def group(self) -> list[Found]:
        assert isinstance(self.value, list)
        return self.value

    @property
    def text(self) -> str | None:
        try:
            return self.value.decode("utf-8")
        except UnicodeDecodeError:
            return None


def found_of(plain: list, data: bytes) -> Found:
    """A field from the child's plain data (Found's fields, in order); `data` holds the
    bytes its offsets count in."""
    number, wire_type, offset, value_offset, end, value, length_offset, close, message, \
        lax = plain
    if wire_type == SGROUP:
        value = [found_of(member, data) for member in value]
    elif isinstance(value, str):
        value = bytes.fromhex(value)
    elif value is None:
        value = data[value_offset:end]
    return Found(number, wire_type, offset, value_offset, end, value, length_offset, close,
                 None if message is None else [found_of(f, data) for f in message],
                 # lax: the payload read alone, its offsets counted from its first byte
                 None if lax is None else [found_of(f, value) for f in lax])


def decode_in_lab(lab: LabRunner, cases: dict[str, dict]) -> dict[str, dict]:
    """Decode every case ({"hex": ..., "lax": bool, "render": bool}) in one child; by name:
    {"fields": [Found]}, {"error": {...}}, or {"crash": traceback}."""
    answers = call_in_lab(lab, "wire_decoder.decode", DECODE, list(cases.values()))
    out = {}
    for (name, case), answer in zip(cases.items(), answers, strict=True):
        data = bytes.fromhex(case["hex"])
        if "fields" in answer:
            answer["fields"] = [found_of(f, data) for f in answer["fields"]]
        if "error" in answer:
            answer["error"]["fields"] = [found_of(f, data) for f in answer["error"]["fields"]]
        out[name] = answer
    return out


def fields_of(answers: dict[str, dict], name: str, data: bytes) -> list[Found]:
    """The fields the decoder read from a valid input, or a failure that says what it did."""
    answer = answers[name]
    assert "crash" not in answer, (
        f"wire_decoder.decode should read {name} ({hex_of(data)}); it raised "
        + raised(answer["crash"]))
    assert "error" not in answer, (
        f"wire_decoder.decode should read {name} ({hex_of(data)}), which the protobuf runtime "
        f"wrote; it raised DecodeError: {answer['error']['text']}")
    return answer["fields"]


# --- random messages ----------------------------------------------------------------

def float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def random_text(rng: random.Random) -> str:
    length = rng.choice([0, 1, 5, 127, 128, 300, rng.randrange(0, 40)])
    alphabet = "abcXYZ 019\n\t\"\\'é李😀\x00\x7f"
    return "".join(rng.choice(alphabet) for _ in range(length))


INT32_RANGE = (-(1 << 31), (1 << 31) - 1)
INT64_RANGE = (-(1 << 63), (1 << 63) - 1)
INTEGER_RANGES = {
    T.TYPE_INT32: INT32_RANGE, T.TYPE_SINT32: INT32_RANGE, T.TYPE_SFIXED32: INT32_RANGE,
    T.TYPE_INT64: INT64_RANGE, T.TYPE_SINT64: INT64_RANGE, T.TYPE_SFIXED64: INT64_RANGE,
    T.TYPE_UINT32: (0, (1 << 32) - 1), T.TYPE_FIXED32: (0, (1 << 32) - 1),
    T.TYPE_UINT64: (0, (1 << 64) - 1), T.TYPE_FIXED64: (0, (1 << 64) - 1),
}


def random_scalar(rng: random.Random, fd) -> object:
    kind = fd.type
    if kind in INTEGER_RANGES:
        low, high = INTEGER_RANGES[kind]
        picks = [low, high, 0, 1, -1, 127, 128, 300, -300, rng.randint(low, high),
                 rng.randint(-1000, 1000)]
        return min(max(rng.choice(picks), low), high)
    if kind == T.TYPE_BOOL:
        return rng.random() < 0.5
    if kind == T.TYPE_ENUM:
        return rng.choice([value.number for value in fd.enum_type.values])
    if kind in (T.TYPE_DOUBLE, T.TYPE_FLOAT):
        if kind == T.TYPE_FLOAT:
            return float32(rng.choice([0.0, -0.0, 1.5, 0.1, 3.4e38, 1e-45, float("-inf"),
                                       rng.uniform(-1e6, 1e6)]))
        return rng.choice([0.0, -0.0, -2.25, 0.1, 3.5, 1e-300, 1e300, float("inf"),
                           rng.uniform(-1e6, 1e6)])
    if kind == T.TYPE_STRING:
        return random_text(rng)
    if kind == T.TYPE_BYTES:
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 3, 130, 17])))
    raise AssertionError(f"no generator for field {fd.full_name}")


def is_message(fd) -> bool:
    return fd.type in (T.TYPE_MESSAGE, T.TYPE_GROUP)


def is_map(fd) -> bool:
    return fd.type == T.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry


def fill(rng: random.Random, message, depth: int = 0) -> None:
    """Set a random choice of the message's fields (at most one of each oneof)."""
    descriptor = message.DESCRIPTOR
    oneof_fields = {fd.name for oneof in descriptor.oneofs for fd in oneof.fields}
    for oneof in descriptor.oneofs:
        if rng.random() < 0.7:
            fill_field(rng, message, rng.choice(oneof.fields), depth)
    for fd in descriptor.fields:
        if fd.name not in oneof_fields and rng.random() < 0.6:
            fill_field(rng, message, fd, depth)


def fill_field(rng: random.Random, message, fd, depth: int) -> None:
    if is_message(fd) and depth >= 3:
        return  # keep nesting shallow: protoc --decode_raw stops nesting at 10 levels
    if is_map(fd):
        entries = getattr(message, fd.name)
        key_fd = fd.message_type.fields_by_name["key"]
        value_fd = fd.message_type.fields_by_name["value"]
        for _ in range(rng.randrange(4)):
            key = random_scalar(rng, key_fd)
            if is_message(value_fd):
                fill(rng, entries[key], depth + 1)
            else:
                entries[key] = random_scalar(rng, value_fd)
    elif fd.is_repeated:
        values = getattr(message, fd.name)
        counts = [0, 1, 2] if is_message(fd) else [0, 1, 2, 5, 40]
        for _ in range(rng.choice(counts)):
            if is_message(fd):
                fill(rng, values.add(), depth + 1)
            else:
                values.append(random_scalar(rng, fd))
    elif is_message(fd):
        child = getattr(message, fd.name)
        child.SetInParent()  # set even when it stays empty: an empty LEN / group
        fill(rng, child, depth + 1)
    else:
        setattr(message, fd.name, random_scalar(rng, fd))


def random_messages() -> list[bytes]:
    rng = random.Random(SEED)
    out = []
    for _ in range(MESSAGES):
        message = pb.WireTypes()
        fill(rng, message)
        out.append(message.SerializeToString())
    return out


SAMPLES = random_messages()


# --- the runtime's view and the decoder's view, as plain Python values ----------------

def to_signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def zigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def as_fixed(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def as_floating(raw: bytes) -> float:
    return struct.unpack("<d" if len(raw) == 8 else "<f", raw)[0]


def packed_varints(payload: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(payload):
        value, pos = read_varint(payload, pos)
        values.append(value)
    return values


def runtime_value(fd, value) -> object:
    if is_map(fd):
        value_fd = fd.message_type.fields_by_name["value"]
        return {key: runtime_value(value_fd, item) for key, item in value.items()}
    if fd.is_repeated:
        return [runtime_single(fd, item) for item in value]
    return runtime_single(fd, value)


def runtime_single(fd, value) -> object:
    return runtime_dict(value) if is_message(fd) else value


def runtime_dict(message) -> dict:
    return {fd.number: runtime_value(fd, value) for fd, value in message.ListFields()}


def expected_wire_type(fd) -> int:
    if fd.is_packed or fd.type in (T.TYPE_STRING, T.TYPE_BYTES, T.TYPE_MESSAGE):
        return LEN
    if fd.type == T.TYPE_GROUP:
        return SGROUP
    if fd.type in (T.TYPE_DOUBLE, T.TYPE_FIXED64, T.TYPE_SFIXED64):
        return I64
    if fd.type in (T.TYPE_FLOAT, T.TYPE_FIXED32, T.TYPE_SFIXED32):
        return I32
    return VARINT


def varint_as(fd, number: int) -> object:
    """A varint read as the field's type."""
    if fd.type in (T.TYPE_SINT32, T.TYPE_SINT64):
        return zigzag(number)
    if fd.type == T.TYPE_BOOL:
        return number != 0
    if fd.type in (T.TYPE_UINT32, T.TYPE_UINT64):
        return number
    return to_signed(number, 64)  # int32, int64, enum


def fixed_as(fd, raw: bytes) -> object:
    if fd.type in (T.TYPE_DOUBLE, T.TYPE_FLOAT):
        return as_floating(raw)
    if fd.type in (T.TYPE_SFIXED32, T.TYPE_SFIXED64):
        return int.from_bytes(raw, "little", signed=True)
    return as_fixed(raw)


class Mismatch(Exception):
    """The decoded fields do not fit the schema; the message says where."""


def decoded_single(fd, found: Found) -> object:
    """The value of one decoded record, read as the schema says."""
    if found.wire_type == VARINT:
        return varint_as(fd, found.value)
    if found.wire_type in (I64, I32):
        return fixed_as(fd, found.value)
    if found.wire_type == SGROUP:
        return decoded_dict(fd.message_type, found.group)
    if fd.type == T.TYPE_MESSAGE:
        inner = found.message if found.value else []
        if inner is None:
            raise Mismatch(f"field {fd.number} at byte {found.offset}: its payload should "
                           "decode as a message (Field.message), but it is None")
        return decoded_dict(fd.message_type, inner)
    if fd.type == T.TYPE_STRING:
        return found.text
    return found.value  # bytes


def decoded_dict(descriptor, fields: list[Found]) -> dict:
    """Decoded fields read with the schema: {field number: value}, as runtime_dict."""
    out: dict = {}
    for found in fields:
        fd = descriptor.fields_by_number.get(found.field_number)
        if fd is None:
            raise Mismatch(f"a field {found.field_number} at byte {found.offset}, which "
                           f"{descriptor.name} does not have")
        if found.wire_type != expected_wire_type(fd):
            raise Mismatch(f"field {fd.number} ({fd.name}) at byte {found.offset} should have "
                           f"wire type {expected_wire_type(fd)}, not {found.wire_type}")
        if is_map(fd):
            entry = decoded_single(fd, found)
            key_fd = fd.message_type.fields_by_name["key"]
            value_fd = fd.message_type.fields_by_name["value"]
            key = entry.get(1, key_fd.default_value)
            out.setdefault(fd.number, {})[key] = entry.get(
                2, {} if is_message(value_fd) else value_fd.default_value)
        elif fd.is_packed:
            size = {T.TYPE_FIXED32: 4, T.TYPE_SFIXED32: 4, T.TYPE_FLOAT: 4,
                    T.TYPE_FIXED64: 8, T.TYPE_SFIXED64: 8, T.TYPE_DOUBLE: 8}.get(fd.type)
            payload = found.value
            if size:
                values = [fixed_as(fd, payload[i:i + size]) for i in range(0, len(payload), size)]
            else:
                values = [varint_as(fd, number) for number in packed_varints(payload)]
            out.setdefault(fd.number, []).extend(values)
        elif fd.is_repeated:
            out.setdefault(fd.number, []).append(decoded_single(fd, found))
        else:
            out[fd.number] = decoded_single(fd, found)
    return out


# --- protoc --decode_raw's text, rebuilt from the decoder's fields ---------------------

def c_escape(data: bytes) -> str:
    """protoc's CEscape: \\n \\r \\t \\" \\' \\\\, octal for other bytes outside ASCII 32-126."""
    named = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x27: "\\'", 0x5C: "\\\\"}
    return "".join(named.get(byte) or (chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03o}")
                   for byte in data)


def raw_text(fields: list[Found], indent: str = "") -> list[str]:
    """The decoder's fields as protoc --decode_raw prints them. Inside a LEN payload, protoc
    cuts a tag of more than 32 bits to its low 32 bits (the runtimes reject such bytes as
    corrupt, and so does the decoder: see test_tags_over_32_bits_are_rejected_as_the_
    runtime_does); `Found.lax` is the payload read that way."""
    lines = []
    for found in fields:
        number = found.field_number
        if found.wire_type == VARINT:
            lines.append(f"{indent}{number}: {found.value}")
        elif found.wire_type == I64:
            lines.append(f"{indent}{number}: 0x{as_fixed(found.value):016x}")
        elif found.wire_type == I32:
            lines.append(f"{indent}{number}: 0x{as_fixed(found.value):08x}")
        elif found.wire_type == SGROUP:
            lines += [f"{indent}{number} {{", *raw_text(found.group, indent + "  "),
                      f"{indent}}}"]
        else:
            inner = found.message if found.message is not None else found.lax
            if inner:
                lines += [f"{indent}{number} {{", *raw_text(inner, indent + "  "),
                          f"{indent}}}"]
            else:
                lines.append(f'{indent}{number}: "{c_escape(found.value)}"')
    return lines


def decode_raw(data: bytes) -> list[str]:
    """What `python -m grpc_tools.protoc --decode_raw` prints for `data` (read from stdin)."""
    done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "--decode_raw"],
                          input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode("ascii").splitlines()


def len_field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


# --- the inputs of valid bytes, decoded in one child --------------------------------------

def single(**values) -> bytes:
    return pb.WireTypes(**values).SerializeToString()


def group_message() -> bytes:
    message = pb.WireTypes()
    message.single.a = 5
    message.single.b = "in"
    return message.SerializeToString()


def nested_1000() -> bytes:
    data = bytes.fromhex("08 01")
    for _ in range(1000):  # no recursion error, however deep
        data = len_field(1, data)
    return data


OLD_PROGRAM = [pb.WireTypesV1.FromString(data) for data in SAMPLES[:100]]
OUTER = "every random message, each a LEN field 1 of one outer message"
# Compared with protoc: a few messages one by one, and all of them in one run.
FOR_PROTOC = [f"random message {i}" for i in range(3)] + [OUTER]
VALID = {
    **{f"random message {i}": data for i, data in enumerate(SAMPLES)},
    **{f"unknown fields written back {i}": old.SerializeToString()
       for i, old in enumerate(OLD_PROGRAM)},
    OUTER: b"".join(len_field(1, data) for data in SAMPLES),
    "int32 -1": single(f_int32=-1),
    "sint32 -3": single(f_sint32=-3),
    "double 24.5": single(f_double=24.5),
    "sfixed64 -2": single(f_sfixed64=-2),
    "float 1.5": single(f_float=1.5),
    "sfixed32 -5": single(f_sfixed32=-5),
    **{f"a string of {n} bytes": single(f_string="x" * n) for n in (127, 128, 300, 20000)},
    "field 2047": single(f_wide2="z"),
    "field 262143": single(f_wide3="z"),
    "field 536870911": single(f_widest=7),
    "a nested message": single(f_message=pb.Inner(id=7, name="n")),
    "packed int32 [1, 300, -1]": single(p_int32=[1, 300, -1]),
    "bytes ff fe 80": single(f_bytes=b"\xff\xfe\x80"),
    "packed doubles [1.5, -2.0]": single(p_double=[1.5, -2.0]),
    "a varint whose tenth byte is 7f": bytes.fromhex("20 ff ff ff ff ff ff ff ff ff 7f"),
    "messages nested 1000 deep": nested_1000(),
    "repeated strings a, b, a": single(u_string=["a", "b", "a"]),
    "a group": group_message(),
}


@pytest.fixture(scope="module")
def valid(lab_root: Path, sandbox) -> dict[str, dict]:
    with LabRunner(get_lab(LAB), lab_root, sandbox=sandbox) as lab:
        return decode_in_lab(lab, {name: {"hex": data.hex(), "lax": name in FOR_PROTOC}
                                   for name, data in VALID.items()})


def decoded(valid: dict[str, dict], name: str) -> list[Found]:
    return fields_of(valid, name, VALID[name])


def only_field(valid: dict[str, dict], name: str) -> Found:
    fields = decoded(valid, name)
    assert len(fields) == 1, (
        f"The bytes of {name} ({hex_of(VALID[name])}) hold one field; the decoder read "
        f"{len(fields)}: {[(f.field_number, f.wire_type) for f in fields]}.")
    return fields[0]


# --- differential tests ------------------------------------------------------------------

def test_random_messages_decode_as_the_runtime_parses_them(valid) -> None:
    descriptor = pb.WireTypes.DESCRIPTOR
    wire_types_seen: set[int] = set()
    for number, data in enumerate(SAMPLES):
        name = f"random message {number}"
        fields = decoded(valid, name)
        wire_types_seen |= {found.wire_type for found in fields}
        expected = runtime_dict(pb.WireTypes.FromString(data))
        try:
            seen = decoded_dict(descriptor, fields)
        except Mismatch as mismatch:
            pytest.fail(f"wire_decoder.decode should read {name} ({hex_of(data)}) as the "
                        f"protobuf runtime does; it read {mismatch}.", pytrace=False)
        differ = sorted(k for k in expected.keys() | seen.keys()
                        if expected.get(k) != seen.get(k))
        assert not differ, (
            f"wire_decoder.decode should read {name} ({hex_of(data)}) as the protobuf runtime "
            f"does; field {differ[0]} differs: the runtime read "
            f"{str(expected.get(differ[0]))[:150]}, the decoder "
            f"{str(seen.get(differ[0]))[:150]}.")
    assert wire_types_seen == {VARINT, I64, LEN, SGROUP, I32}, (
        "The random messages hold every wire type but EGROUP (which closes a group); the "
        f"decoder's fields had only {sorted(wire_types_seen)}.")


def runtime_unknown(field_set) -> list:
    return [(item.field_number, item.wire_type,
             runtime_unknown(item.data) if item.wire_type == SGROUP else item.data)
            for item in field_set]


def decoded_unknown(fields: list[Found]) -> list:
    out = []
    for found in fields:
        if found.wire_type == SGROUP:
            value = decoded_unknown(found.group)
        elif found.wire_type in (I64, I32):
            value = as_fixed(found.value)
        else:
            value = found.value
        out.append((found.field_number, found.wire_type, value))
    return out


def test_unknown_fields_decode_as_the_runtime_keeps_them(valid) -> None:
    known = {fd.number for fd in pb.WireTypesV1.DESCRIPTOR.fields}
    for number, (data, old) in enumerate(zip(SAMPLES, OLD_PROGRAM, strict=False)):
        # An old program knows 2 fields: the rest are unknown to it, and kept.
        expected = runtime_unknown(unknown_fields.UnknownFieldSet(old))
        seen = [item for item in decoded_unknown(decoded(valid, f"random message {number}"))
                if item[0] not in known]
        assert seen == expected, (
            f"wire_decoder.decode should read the fields that an older program does not know "
            f"as the runtime keeps them (field number, wire type, value) in random message "
            f"{number} ({hex_of(data)}); they differ.")
        # The old program writes the unknown fields back: the decoder still finds them all.
        again = [item for item in decoded_unknown(
            decoded(valid, f"unknown fields written back {number}")) if item[0] not in known]
        assert sorted(again, key=repr) == sorted(expected, key=repr), (
            f"An older program writes back the fields it does not know; the decoder should "
            f"find them all in its bytes ({hex_of(old.SerializeToString())}).")


def test_random_messages_agree_with_protoc_decode_raw(valid) -> None:
    # The protoc runs go side by side.
    with ThreadPoolExecutor(max_workers=len(FOR_PROTOC)) as pool:
        printed = list(pool.map(lambda name: decode_raw(VALID[name]), FOR_PROTOC))
    for name, expected in zip(FOR_PROTOC, printed, strict=True):
        seen = raw_text(decoded(valid, name))
        line = next((i for i, (a, b) in enumerate(zip(expected, seen, strict=False)) if a != b),
                    min(len(expected), len(seen)))
        assert seen == expected, (
            f"The decoder's fields of {name} should read as `protoc --decode_raw` prints them; "
            f"line {line + 1} differs: protoc {(expected[line:line + 1] or ['(end)'])[0]!r}, "
            f"the decoder {(seen[line:line + 1] or ['(end)'])[0]!r}.")


# --- single values ----------------------------------------------------------------------

def test_negative_int32_is_ten_bytes_read_signed_beside_unsigned(valid) -> None:
    found = only_field(valid, "int32 -1")
    assert (found.end - found.value_offset, found.value) == (10, (1 << 64) - 1), (
        "int32 -1 is sent as the varint ff ff ff ff ff ff ff ff ff 01 (10 bytes, 2^64 - 1); "
        f"the decoder read {found.end - found.value_offset} bytes, value {found.value}.")


def test_sint_reads_with_zigzag(valid) -> None:
    found = only_field(valid, "sint32 -3")
    assert found.value == 5 and zigzag(found.value) == -3, (
        f"sint32 -3 is sent as the varint 5 (ZigZag); the decoder read {found.value}.")


def test_fixed_and_floating_readings(valid) -> None:
    for name, wire_type, raw in (
            ("double 24.5", I64, struct.pack("<d", 24.5)),
            ("sfixed64 -2", I64, struct.pack("<q", -2)),
            ("float 1.5", I32, struct.pack("<f", 1.5)),
            ("sfixed32 -5", I32, struct.pack("<i", -5))):
        found = only_field(valid, name)
        assert (found.wire_type, found.value) == (wire_type, raw), (
            f"{name} is wire type {WIRE_TYPE_NAMES[wire_type]} with the value bytes "
            f"{raw.hex(' ')}; the decoder read wire type {found.wire_type} with "
            f"{found.value.hex(' ') if isinstance(found.value, bytes) else found.value!r}.")


def test_long_strings_have_multi_byte_lengths(valid) -> None:
    for length in (127, 128, 300, 20000):
        found = only_field(valid, f"a string of {length} bytes")
        length_bytes = found.value_offset - (found.length_offset or 0)
        assert (found.text, length_bytes) == ("x" * length, len(varint(length))), (
            f"A string of {length} bytes has a length varint of {len(varint(length))} "
            f"byte(s) ({varint(length).hex(' ')}); the decoder read a length of "
            f"{length_bytes} byte(s) and a payload of {len(found.value)} bytes.")


def test_large_field_numbers(valid) -> None:
    for number in (2047, 262143, 536870911):
        found = only_field(valid, f"field {number}")
        tag = varint(number << 3 | found.wire_type)
        assert found.field_number == number, (
            f"The tag {tag.hex(' ')} is a varint: field number {number}; the decoder read "
            f"field {found.field_number}.")


def test_len_payload_readings(valid) -> None:
    nested = only_field(valid, "a nested message")
    assert nested.message is not None and \
        [(f.field_number, f.wire_type) for f in nested.message] == [(1, 0), (2, 2)], (
            "Inner(id=7, name='n') in field 17: its payload should read as a message with "
            "field 1 (VARINT) and field 2 (LEN).")
    assert nested.message[0].offset == nested.value_offset, (
        "Offsets count from the first byte of the input, also inside nested messages: the "
        f"inner field 1 starts at byte {nested.value_offset}, the decoder said "
        f"{nested.message[0].offset}.")
    packed = only_field(valid, "packed int32 [1, 300, -1]")
    assert packed.wire_type == LEN and packed_varints(packed.value) == [1, 300, (1 << 64) - 1], (
        "Packed int32 [1, 300, -1] is one LEN record holding the varints 01 ac 02 ff...01; "
        f"the decoder read {packed.value!r}.")
    raw = only_field(valid, "bytes ff fe 80")
    assert (raw.value, raw.message) == (b"\xff\xfe\x80", None), (
        "bytes ff fe 80 are no message; the decoder read "
        f"{raw.value!r} with message {raw.message!r}.")
    doubles = only_field(valid, "packed doubles [1.5, -2.0]")
    assert doubles.value == struct.pack("<dd", 1.5, -2.0), (
        f"Packed doubles [1.5, -2.0] are 16 bytes in one LEN record; the decoder read "
        f"{doubles.value!r}.")


def test_a_tenth_varint_byte_over_1_keeps_64_bits_as_the_runtime_does(valid) -> None:
    # Never written, but read: the bits past the 64th are dropped.
    data = VALID["a varint whose tenth byte is 7f"]
    found = only_field(valid, "a varint whose tenth byte is 7f")
    assert found.value == pb.WireTypes.FromString(data).f_uint64 == (1 << 64) - 1, (
        "A 10-byte varint carries 70 bits; like the runtime, the decoder should keep the low "
        f"64: 2^64 - 1. It read {found.value}.")


def test_messages_nest_100_deep_like_the_runtime_and_deeper_bytes_stay_bytes(valid) -> None:
    found = only_field(valid, "messages nested 1000 deep")
    levels = 0
    while found.message:
        (found,) = found.message
        levels += 1
    assert levels == 100 and found.message is None and found.wire_type == LEN, (
        "Messages nested 1000 deep: like the protobuf runtimes, the decoder should read 100 "
        f"levels of messages and leave the rest as bytes; it read {levels}.")


def test_repeated_fields_keep_every_value(valid) -> None:
    fields = decoded(valid, "repeated strings a, b, a")
    assert [(f.field_number, f.text) for f in fields] == [(33, "a"), (33, "b"), (33, "a")], (
        "A repeated string field is one LEN record per value, in order; the decoder read "
        f"{[(f.field_number, f.text) for f in fields]}.")


def test_groups_hold_their_fields(valid) -> None:
    found = only_field(valid, "a group")
    assert (found.field_number, found.wire_type) == (41, SGROUP) and \
        [(f.field_number, f.value) for f in found.group] == [(1, 5), (2, b"in")], (
            "Group 41 {a: 5, b: 'in'} is SGROUP 41, fields 1 and 2, EGROUP 41; the decoder "
            f"read field {found.field_number}, wire type {found.wire_type}.")


# --- malformed input -------------------------------------------------------------------

MALFORMED = [
    # (case, hex, offset of the error, words of what was expected)
    ("truncated varint", "08 96", 2, "varint"),
    ("truncated tag", "80", 1, "varint"),
    ("varint over 10 bytes", "08" + " ff" * 10 + " 01", 10, "10 bytes"),
    ("length past the end", "0a 05 61 62", 1, "length"),
    ("wire type 6", "0e 00", 0, "wire type"),
    ("wire type 7", "08 01 0f", 2, "wire type"),
    ("field number 0", "00 01", 0, "field number"),
    ("EGROUP without SGROUP", "0c", 0, "SGROUP"),
    ("EGROUP of another field", "0b 14", 1, "EGROUP of field 1"),
    ("SGROUP without EGROUP", "0b 08 01", 3, "EGROUP of field 1"),
    ("truncated I64", "09 00 00 00", 1, "8 bytes"),
    ("truncated I32", "08 01 15 00", 3, "4 bytes"),
    ("field number over 2^29-1", "f8 ff ff ff ff 01 00", 0, "32 bits"),
    ("groups nested 101 deep", "0b" * 101 + "0c" * 101, 100, "nested"),
    # The 10 bytes of int32 -2^31 read as a tag: field 2^28 once cut to 32 bits, as
    # protoc --decode_raw does inside a LEN payload. The runtime calls it corrupt.
    ("a tag of more than 32 bits", "80 80 80 80 f8 ff ff ff ff 01 7f", 0, "32 bits"),
]
KEEPS_FIELDS = "08 01 12 01 41 1a 09 00"  # fields 1 and 2, then a length past the end


def random_inputs() -> list[bytes]:
    rng = random.Random(SEED)
    tag_like = [0x08, 0x0A, 0x0B, 0x0C, 0x0D, 0x09, 0x12, 0x80, 0xFF, 0x01, 0x00, 0x02, 0x05]
    inputs = [bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
              for _ in range(RANDOM_BYTE_STRINGS // 2)]
    inputs += [bytes(rng.choice(tag_like) for _ in range(rng.randrange(40)))
               for _ in range(RANDOM_BYTE_STRINGS // 2)]
    for data in SAMPLES[:100]:  # valid messages, cut short or with one byte changed
        cut = rng.randrange(len(data) + 1)
        inputs.append(data[:cut])
        if data:
            spot = rng.randrange(len(data))
            inputs.append(data[:spot] + bytes([rng.randrange(256)]) + data[spot + 1:])
    return inputs


RANDOM_INPUTS = random_inputs()


@pytest.fixture(scope="module")
def malformed(lab_root: Path, sandbox) -> dict[str, dict]:
    cases = {case: {"hex": hex_text.replace(" ", "")} for case, hex_text, *_ in MALFORMED}
    cases["fields before an error"] = {"hex": KEEPS_FIELDS.replace(" ", "")}
    cases.update({f"random bytes {i}": {"hex": data.hex(), "render": True}
                  for i, data in enumerate(RANDOM_INPUTS)})
    with LabRunner(get_lab(LAB), lab_root, sandbox=sandbox) as lab:
        return decode_in_lab(lab, cases)


def test_malformed_input_names_offset_and_expectation(malformed) -> None:
    for case, hex_text, offset, expected in MALFORMED:
        answer = malformed[case]
        assert "crash" not in answer, (
            f"wire_decoder.decode({hex_text}) ({case}) should raise DecodeError; it raised "
            + raised(answer["crash"]))
        assert "error" in answer, (
            f"wire_decoder.decode({hex_text}) ({case}) should raise DecodeError at byte "
            f"{offset}; it returned fields "
            f"{[(f.field_number, f.wire_type) for f in answer['fields']]}.")
        error = answer["error"]
        assert error["offset"] == offset and expected in error["expected"] and \
            f"at byte {offset}" in error["text"], (
                f"wire_decoder.decode({hex_text}) ({case}) should raise DecodeError at byte "
                f"{offset}, expecting {expected!r}...; it said {error['text']!r}.")


def test_tags_over_32_bits_are_rejected_as_the_runtime_does() -> None:
    # The runtime's side of the last MALFORMED case: it calls these bytes corrupt too.
    data = bytes.fromhex(MALFORMED[-1][1])
    with pytest.raises(RuntimeDecodeError):
        pb.WireTypesV1.FromString(data)


def test_decode_error_keeps_the_fields_before_it(malformed) -> None:
    answer = malformed["fields before an error"]
    assert "error" in answer and answer["error"]["offset"] == 6 and \
        [(f.field_number, f.offset) for f in answer["error"]["fields"]] == [(1, 0), (2, 2)], (
            f"wire_decoder.decode({KEEPS_FIELDS}) should raise DecodeError at byte 6 (a length "
            "of 9 with 1 byte left) whose `fields` hold field 1 (at byte 0) and field 2 (at "
            f"byte 2); it gave {answer.get('error') or answer.get('crash') or 'no error'}.")


def test_random_bytes_end_in_fields_or_decode_error(malformed) -> None:
    outcomes = {"fields": 0, "error": 0}
    for number, data in enumerate(RANDOM_INPUTS):
        answer = malformed[f"random bytes {number}"]
        assert "crash" not in answer, (
            f"Any bytes should end in fields or in DecodeError (and decode.py's tree of "
            f"them); for {hex_of(data)} something else was raised: " + raised(answer["crash"]))
        if "error" in answer:
            assert 0 <= answer["error"]["offset"] <= len(data), (
                f"A DecodeError names a byte of the input; for {hex_of(data)} it named byte "
                f"{answer['error']['offset']}.")
            outcomes["error"] += 1
        else:
            outcomes["fields"] += 1
    assert min(outcomes.values()) > 50, (
        "Of the random and damaged inputs, many are valid and many are not; the decoder "
        f"read {outcomes['fields']} as fields and {outcomes['error']} as errors.")
