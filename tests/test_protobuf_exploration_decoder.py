"""protobuf_exploration: the hand-written wire decoder, in process.

Differential: random messages of tests/data/wire_types.proto (every scalar type, nested
messages, packed and unpacked repeated fields, maps, oneof, groups, unknown fields) are
serialized by the protobuf runtime; what the decoder reads from the bytes must equal what
the runtime parsed, and agree with `python -m grpc_tools.protoc --decode_raw`.
Malformed input: every case names its byte offset; random bytes end in fields or in
DecodeError, never in another exception.

The modules under test are loaded from the lab folder under --lab-root.
"""

from __future__ import annotations

import contextlib
import importlib.util
import random
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf.descriptor import FieldDescriptor as T

from labkit.labs import get_lab

LAB = "protobuf_exploration"
DATA = Path(__file__).parent / "data"
SEED = 20250429  # fixed: every run draws the same messages
MESSAGES = 300
RANDOM_BYTE_STRINGS = 400


def load_module(folder: Path, name: str) -> ModuleType:
    """Import `folder/name.py` (the lab's module under --lab-root) as it imports itself."""
    sys.path.insert(0, str(folder))
    try:
        for stale in (name, "wire_decoder"):
            sys.modules.pop(stale, None)
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        assert spec and spec.loader, f"{folder / name}.py is missing"
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def lab_folder(lab_root: Path) -> Path:
    return lab_root / get_lab(LAB).name


@pytest.fixture(scope="module")
def wd(lab_folder: Path) -> ModuleType:
    return load_module(lab_folder, "wire_decoder")


@pytest.fixture(scope="module")
def pb(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """wire_types_pb2, generated now by grpcio-tools' protoc into a scratch folder."""
    out = tmp_path_factory.mktemp("wire_types")
    done = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{DATA}", f"--python_out={out}",
         "wire_types.proto"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    spec = importlib.util.spec_from_file_location("wire_types_pb2", out / "wire_types_pb2.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


@pytest.fixture(scope="module")
def samples(pb: ModuleType) -> list[bytes]:
    rng = random.Random(SEED)
    out = []
    for _ in range(MESSAGES):
        message = pb.WireTypes()
        fill(rng, message)
        out.append(message.SerializeToString())
    return out


# --- the runtime's view and the decoder's view, as plain Python values ----------------

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


def expected_wire_type(wd: ModuleType, fd) -> int:
    if fd.is_packed or fd.type in (T.TYPE_STRING, T.TYPE_BYTES, T.TYPE_MESSAGE):
        return wd.LEN
    if fd.type == T.TYPE_GROUP:
        return wd.SGROUP
    if fd.type in (T.TYPE_DOUBLE, T.TYPE_FIXED64, T.TYPE_SFIXED64):
        return wd.I64
    if fd.type in (T.TYPE_FLOAT, T.TYPE_FIXED32, T.TYPE_SFIXED32):
        return wd.I32
    return wd.VARINT


def varint_as(wd: ModuleType, fd, number: int) -> object:
    """A varint read as the field's type, with the decoder's readings."""
    if fd.type in (T.TYPE_SINT32, T.TYPE_SINT64):
        return wd.zigzag_decode(number)
    if fd.type == T.TYPE_BOOL:
        return number != 0
    if fd.type in (T.TYPE_UINT32, T.TYPE_UINT64):
        return number
    return wd.to_signed(number, 64)  # int32, int64, enum


def fixed_as(wd: ModuleType, fd, raw: bytes) -> object:
    if fd.type in (T.TYPE_DOUBLE, T.TYPE_FLOAT):
        return wd.as_floating(raw)
    if fd.type in (T.TYPE_SFIXED32, T.TYPE_SFIXED64):
        return wd.as_sfixed(raw)
    return wd.as_fixed(raw)


def decoded_single(wd: ModuleType, fd, found) -> object:
    """The value of one decoded record, read as the schema says."""
    if found.wire_type == wd.VARINT:
        return varint_as(wd, fd, found.value)
    if found.wire_type in (wd.I64, wd.I32):
        return fixed_as(wd, fd, found.value)
    if found.wire_type == wd.SGROUP:
        return decoded_dict(wd, fd.message_type, found.group)
    if fd.type == T.TYPE_MESSAGE:
        inner = found.message if found.value else []
        assert inner is not None, f"field {fd.number}: payload does not decode as a message"
        return decoded_dict(wd, fd.message_type, inner)
    if fd.type == T.TYPE_STRING:
        assert found.text is not None, f"field {fd.number}: payload is not UTF-8"
        return found.text
    return found.value  # bytes


def decoded_dict(wd: ModuleType, descriptor, fields: list) -> dict:
    """Decoded fields read with the schema: {field number: value}, as runtime_dict."""
    out: dict = {}
    for found in fields:
        fd = descriptor.fields_by_number.get(found.field_number)
        assert fd is not None, f"{descriptor.name} has no field {found.field_number}"
        assert found.wire_type == expected_wire_type(wd, fd), (
            f"{fd.full_name}: wire type {found.wire_type}")
        if is_map(fd):
            entry = decoded_single(wd, fd, found)
            key_fd = fd.message_type.fields_by_name["key"]
            value_fd = fd.message_type.fields_by_name["value"]
            key = entry.get(1, key_fd.default_value)
            out.setdefault(fd.number, {})[key] = entry.get(
                2, {} if is_message(value_fd) else value_fd.default_value)
        elif fd.is_packed:
            if fd.type in (T.TYPE_FIXED32, T.TYPE_SFIXED32, T.TYPE_FLOAT):
                values = [fixed_as(wd, fd, raw) for raw in found.packed_fixed(4)]
            elif fd.type in (T.TYPE_FIXED64, T.TYPE_SFIXED64, T.TYPE_DOUBLE):
                values = [fixed_as(wd, fd, raw) for raw in found.packed_fixed(8)]
            else:
                values = [varint_as(wd, fd, number) for number in found.packed_varints]
            out.setdefault(fd.number, []).extend(values)
        elif fd.is_repeated:
            out.setdefault(fd.number, []).append(decoded_single(wd, fd, found))
        else:
            out[fd.number] = decoded_single(wd, fd, found)
    return out


# --- protoc --decode_raw's text, rebuilt from the decoder's fields ---------------------

def c_escape(data: bytes) -> str:
    """protoc's CEscape: \\n \\r \\t \\" \\' \\\\, octal for other bytes outside ASCII 32-126."""
    named = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x27: "\\'", 0x5C: "\\\\"}
    return "".join(named.get(byte) or (chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03o}")
                   for byte in data)


@contextlib.contextmanager
def protoc_lax_tags(wd: ModuleType) -> Iterator[None]:
    """Decode tags as protoc does inside a LEN payload: a tag varint of more than 32 bits
    is cut to its low 32 bits. The runtimes reject such bytes as corrupt, and so does the
    decoder; only protoc --decode_raw's nested reading accepts them (see
    test_tags_over_32_bits_are_rejected_as_the_runtime_does)."""
    strict = wd.read_tag

    def lax(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
        tag, after = wd.read_varint(data, pos, end)
        short = varint_bytes(tag & 0xFFFF_FFFF)
        number, wire_type, _ = strict(short, 0, len(short))
        return number, wire_type, after

    wd.read_tag = lax
    try:
        yield
    finally:
        wd.read_tag = strict


def raw_text(wd: ModuleType, fields: list, indent: str = "") -> list[str]:
    """The decoder's fields as protoc --decode_raw prints them."""
    lines = []
    for found in fields:
        number = found.field_number
        if found.wire_type == wd.VARINT:
            lines.append(f"{indent}{number}: {found.value}")
        elif found.wire_type == wd.I64:
            lines.append(f"{indent}{number}: 0x{found.fixed:016x}")
        elif found.wire_type == wd.I32:
            lines.append(f"{indent}{number}: 0x{found.fixed:08x}")
        elif found.wire_type == wd.SGROUP:
            lines += [f"{indent}{number} {{", *raw_text(wd, found.group, indent + "  "),
                      f"{indent}}}"]
        else:
            inner = found.message
            if inner is None and found.value:
                with protoc_lax_tags(wd):
                    inner = wd.try_message(found.value, 0, len(found.value), 1)
            if inner:
                lines += [f"{indent}{number} {{", *raw_text(wd, inner, indent + "  "),
                          f"{indent}}}"]
            else:
                lines.append(f'{indent}{number}: "{c_escape(found.value)}"')
    return lines


def varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def len_field(number: int, payload: bytes) -> bytes:
    return varint_bytes(number << 3 | 2) + varint_bytes(len(payload)) + payload


# --- differential tests ------------------------------------------------------------------

def test_random_messages_decode_as_the_runtime_parses_them(wd, pb, samples) -> None:
    descriptor = pb.WireTypes.DESCRIPTOR
    wire_types_seen: set[int] = set()
    for data in samples:
        fields = wd.decode(data)
        wire_types_seen |= {found.wire_type for found in fields}
        parsed = pb.WireTypes.FromString(data)
        assert decoded_dict(wd, descriptor, fields) == runtime_dict(parsed), data.hex(" ")
    assert wire_types_seen == {wd.VARINT, wd.I64, wd.LEN, wd.SGROUP, wd.I32}


def test_unknown_fields_decode_as_the_runtime_keeps_them(wd, pb, samples) -> None:
    from google.protobuf import unknown_fields

    def runtime_unknown(field_set) -> list:
        return [(item.field_number, item.wire_type,
                 runtime_unknown(item.data) if item.wire_type == wd.SGROUP else item.data)
                for item in field_set]

    def decoded_unknown(fields) -> list:
        out = []
        for found in fields:
            if found.wire_type == wd.SGROUP:
                value = decoded_unknown(found.group)
            elif found.wire_type in (wd.I64, wd.I32):
                value = found.fixed
            else:
                value = found.value
            out.append((found.field_number, found.wire_type, value))
        return out

    known = {fd.number for fd in pb.WireTypesV1.DESCRIPTOR.fields}
    for data in samples[:100]:
        old = pb.WireTypesV1.FromString(data)  # knows 2 fields: the rest is unknown to it
        expected = runtime_unknown(unknown_fields.UnknownFieldSet(old))
        decoded = [item for item in decoded_unknown(wd.decode(data)) if item[0] not in known]
        assert decoded == expected, data.hex(" ")
        # The old program writes the unknown fields back: the decoder still finds them all.
        again = [item for item in decoded_unknown(wd.decode(old.SerializeToString()))
                 if item[0] not in known]
        assert sorted(again, key=repr) == sorted(expected, key=repr)


def decode_raw(data: bytes) -> list[str]:
    """What `python -m grpc_tools.protoc --decode_raw` prints for `data` (read from stdin)."""
    done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "--decode_raw"],
                          input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode("ascii").splitlines()


def test_random_messages_agree_with_protoc_decode_raw(wd, samples) -> None:
    # A few messages as they are, one protoc run each ...
    for data in samples[:8]:
        assert decode_raw(data) == raw_text(wd, wd.decode(data)), data.hex(" ")
    # ... and all of them in one protoc run: each one a LEN field 1 of an outer message.
    outer = b"".join(len_field(1, data) for data in samples)
    assert decode_raw(outer) == raw_text(wd, wd.decode(outer))


# --- readings of single values ------------------------------------------------------------

def single_field(wd, pb, **values):
    fields = wd.decode(pb.WireTypes(**values).SerializeToString())
    assert len(fields) == 1
    return fields[0]


def test_negative_int32_is_ten_bytes_read_signed_beside_unsigned(wd, pb) -> None:
    found = single_field(wd, pb, f_int32=-1)
    assert found.end - found.value_offset == 10
    assert found.value == (1 << 64) - 1
    assert found.int64 == -1


def test_sint_reads_with_zigzag(wd, pb) -> None:
    found = single_field(wd, pb, f_sint32=-3)
    assert found.value == 5
    assert found.sint64 == -3


def test_fixed_and_floating_readings(wd, pb) -> None:
    double = single_field(wd, pb, f_double=24.5)
    assert (double.wire_type_name, double.floating) == ("I64", 24.5)
    assert double.fixed == struct.unpack("<Q", struct.pack("<d", 24.5))[0]
    negative = single_field(wd, pb, f_sfixed64=-2)
    assert (negative.sfixed, negative.fixed) == (-2, (1 << 64) - 2)
    single = single_field(wd, pb, f_float=1.5)
    assert (single.wire_type_name, single.floating) == ("I32", 1.5)
    assert single.fixed == 0x3FC00000
    assert single_field(wd, pb, f_sfixed32=-5).sfixed == -5


@pytest.mark.parametrize("length", [127, 128, 300, 20000])
def test_long_strings_have_multi_byte_lengths(wd, pb, length: int) -> None:
    found = single_field(wd, pb, f_string="x" * length)
    assert found.text == "x" * length
    assert found.value_offset - found.length_offset == len(varint_bytes(length))


@pytest.mark.parametrize("name, number", [("f_wide2", 2047), ("f_wide3", 262143),
                                          ("f_widest", 536870911)])
def test_large_field_numbers(wd, pb, name: str, number: int) -> None:
    value = 7 if name == "f_widest" else "z"
    found = single_field(wd, pb, **{name: value})
    assert found.field_number == number


def test_len_payload_readings(wd, pb) -> None:
    nested = single_field(wd, pb, f_message=pb.Inner(id=7, name="n"))
    assert [(f.field_number, f.wire_type) for f in nested.message] == [(1, 0), (2, 2)]
    assert nested.message[0].offset == nested.value_offset  # offsets count from the input's start
    packed = single_field(wd, pb, p_int32=[1, 300, -1])
    assert packed.packed_varints == [1, 300, (1 << 64) - 1]
    raw = single_field(wd, pb, f_bytes=b"\xff\xfe\x80")
    assert (raw.text, raw.message, raw.packed_varints) == (None, None, None)
    assert (raw.packed_fixed(4), raw.packed_fixed(8)) == (None, None)
    assert raw.value == b"\xff\xfe\x80"
    doubles = single_field(wd, pb, p_double=[1.5, -2.0])
    assert [wd.as_floating(raw) for raw in doubles.packed_fixed(8)] == [1.5, -2.0]


def test_a_tenth_varint_byte_over_1_keeps_64_bits_as_the_runtime_does(wd, pb) -> None:
    # Never written, but read: the bits past the 64th are dropped.
    data = bytes.fromhex("20 ff ff ff ff ff ff ff ff ff 7f")
    (found,) = wd.decode(data)
    assert found.value == pb.WireTypes.FromString(data).f_uint64 == (1 << 64) - 1


def test_messages_nest_100_deep_like_the_runtime_and_deeper_bytes_stay_bytes(wd) -> None:
    data = bytes.fromhex("08 01")
    for _ in range(1000):  # no recursion error, however deep
        data = len_field(1, data)
    (found,) = wd.decode(data)
    levels = 0
    while found.message:
        (found,) = found.message
        levels += 1
    assert levels == 100
    assert found.message is None and found.wire_type == wd.LEN


def test_repeated_fields_keep_every_value(wd, pb) -> None:
    fields = wd.decode(pb.WireTypes(u_string=["a", "b", "a"]).SerializeToString())
    assert [(f.field_number, f.text) for f in fields] == [(33, "a"), (33, "b"), (33, "a")]


def test_groups_hold_their_fields(wd, pb) -> None:
    message = pb.WireTypes()
    message.single.a = 5
    message.single.b = "in"
    (found,) = wd.decode(message.SerializeToString())
    assert (found.field_number, found.wire_type_name) == (41, "SGROUP")
    assert [(f.field_number, f.value) for f in found.group] == [(1, 5), (2, b"in")]


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
]


@pytest.mark.parametrize("case, hex_text, offset, expected", MALFORMED,
                         ids=[case[0] for case in MALFORMED])
def test_malformed_input_names_offset_and_expectation(wd, case, hex_text, offset,
                                                      expected) -> None:
    with pytest.raises(wd.DecodeError) as caught:
        wd.decode(bytes.fromhex(hex_text))
    error = caught.value
    assert error.offset == offset, str(error)
    assert expected in error.expected, str(error)
    assert f"at byte {offset}" in str(error)


def test_tags_over_32_bits_are_rejected_as_the_runtime_does(wd, pb) -> None:
    # The 10 bytes of int32 -2^31 read as a tag: field 2^28 once cut to 32 bits, as
    # protoc --decode_raw does inside a LEN payload. The runtime calls it corrupt.
    data = bytes.fromhex("80 80 80 80 f8 ff ff ff ff 01 7f")
    from google.protobuf.message import DecodeError as RuntimeDecodeError

    with pytest.raises(RuntimeDecodeError):
        pb.WireTypesV1.FromString(data)
    with pytest.raises(wd.DecodeError) as caught:
        wd.decode(data)
    assert caught.value.offset == 0 and "32 bits" in caught.value.expected


def test_decode_error_keeps_the_fields_before_it(wd) -> None:
    with pytest.raises(wd.DecodeError) as caught:
        wd.decode(bytes.fromhex("08 01 12 01 41 1a 09 00"))
    assert [(f.field_number, f.offset) for f in caught.value.fields] == [(1, 0), (2, 2)]
    assert caught.value.offset == 6


def test_random_bytes_end_in_fields_or_decode_error(wd, samples, lab_folder: Path) -> None:
    rng = random.Random(SEED)
    tag_like = [0x08, 0x0A, 0x0B, 0x0C, 0x0D, 0x09, 0x12, 0x80, 0xFF, 0x01, 0x00, 0x02, 0x05]
    inputs = [bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
              for _ in range(RANDOM_BYTE_STRINGS // 2)]
    inputs += [bytes(rng.choice(tag_like) for _ in range(rng.randrange(40)))
               for _ in range(RANDOM_BYTE_STRINGS // 2)]
    for data in samples[:100]:  # valid messages, cut short or with one byte changed
        cut = rng.randrange(len(data) + 1)
        inputs.append(data[:cut])
        if data:
            spot = rng.randrange(len(data))
            inputs.append(data[:spot] + bytes([rng.randrange(256)]) + data[spot + 1:])
    render = load_module(lab_folder, "decode").render
    outcomes = {"fields": 0, "error": 0}
    for data in inputs:
        try:
            fields = wd.decode(data)
        except wd.DecodeError as error:
            assert 0 <= error.offset <= len(data), (data.hex(" "), str(error))
            fields = error.fields
            outcomes["error"] += 1
        else:
            outcomes["fields"] += 1
        render(data, fields, True)  # every reading of every value can be shown
    assert min(outcomes.values()) > 50, outcomes  # both ends were reached, often
