"""protobuf_exploration, black box: the student's small decoder in x_main_reduced.py (tags
and lengths as varints, the mini-task's doubles) and the tree that decode.py prints with
the student's wire_decoder.py.

x_main_reduced.py runs as a student runs it, and its output is compared with the slides.
Its functions are also called on bytes of the test's own (field numbers from 16 on, long
strings, every kind of double), in a child process in the lab folder
(labkit.testing.run_in_lab): the test process never imports a student's module. What the
records should be comes from the test's own reading of the bytes (`expected_records`),
checked against the protobuf runtime with the kit's own proto (labkit.protocol).

The wire decoder itself is tested in test_protobuf_exploration_decoder.py; what the lab
gives ready-made (the encodings table, the benchmark, the command lines) in
test_protobuf_exploration_tools.py.
"""

from __future__ import annotations

import math
import struct

import pytest

from labkit.procs import LabRunner, ProcessError, Result
from labkit.protocol import lab_proto
from labkit.testing import StudentCodeError, run_in_lab
from tests.output_support import cut, first_difference, hex_of, raised, said

LAB = "protobuf_exploration"
PROTO = lab_proto(LAB)
GreetRequest = PROTO.message("GreetRequest")
MultResponse = PROTO.message("MultResponse")

GREET_HEX = "0a 05 50 65 74 65 72 12 07 53 55 53 54 65 63 68"
CHILD_TIMEOUT = 20  # seconds for a child to call a student's function on all its inputs

# The slides' output of serialize_and_deserialize() and compare_with_json(), line for line.
SLIDES_GREET = """\
> Initial Message:
user_name: "Peter"
institution: "SUSTech"

> After Serialization: b'\\n\\x05Peter\\x12\\x07SUSTech'
>>> Binary form: 00001010 00000101 01010000 01100101 01110100 01100101 01110010 00010010 \
00000111 01010011 01010101 01010011 01010100 01100101 01100011 01101000
>>> Hex Representation: 0a 05 50 65 74 65 72 12 07 53 55 53 54 65 63 68
>>> Trying to decode the serialized message...

>>> Record: {'field_number': 1, 'wire_type': 2, 'wire_type_name': 'LEN', 'length': 5, \
'payload': 'Peter'}
>>> Record: {'field_number': 2, 'wire_type': 2, 'wire_type_name': 'LEN', 'length': 7, \
'payload': 'SUSTech'}
>>> Final Result:
{1: 'Peter', 2: 'SUSTech'}

> Deserialized Message:
user_name: "Peter"
institution: "SUSTech"

"""
SLIDES_JSON = """\
> JSON serialized into 48 bytes: b'{"user_name": "Peter", "institution": "SUSTech"}'
> Protobuf serialized into 16 bytes: b'\\n\\x05Peter\\x12\\x07SUSTech'
"""
SLIDES_MINI_TASK = """\
>>> Record: {'field_number': 1, 'wire_type': 1, 'wire_type_name': 'I64', 'payload': 3.5}
>>> Record: {'field_number': 2, 'wire_type': 1, 'wire_type_name': 'I64', 'payload': 7.0}
>>> Record: {'field_number': 3, 'wire_type': 1, 'wire_type_name': 'I64', 'payload': 24.5}
>>> Final Result:
{1: 3.5, 2: 7.0, 3: 24.5}
"""


# --- the test's own reading of the bytes --------------------------------------------------

def varint(number: int) -> bytes:
    out = bytearray()
    while True:
        out.append(number & 0x7F | (0x80 if number > 0x7F else 0))
        number >>= 7
        if not number:
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at data[pos] (kept to 64 bits, as the runtimes do) and the position after
    it."""
    value = shift = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value & 0xFFFF_FFFF_FFFF_FFFF, pos


def text_field(number: int, text: str) -> bytes:
    payload = text.encode("utf-8")
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def double_field(number: int, value: float) -> bytes:
    return varint(number << 3 | 1) + struct.pack("<d", value)


def expected_records(data: bytes) -> str:
    """What try_decode_proto_binary prints for `data` (LEN strings and I64 doubles), as the
    slides print it: one `>>> Record:` line per field, then the field numbers and values."""
    lines, result, pos = [], {}, 0
    while pos < len(data):
        tag, pos = read_varint(data, pos)
        record: dict[str, object] = {"field_number": tag >> 3, "wire_type": tag & 7}
        if tag & 7 == 2:
            length, pos = read_varint(data, pos)
            record |= {"wire_type_name": "LEN", "length": length,
                       "payload": data[pos:pos + length].decode("utf-8")}
            pos += length
        else:
            record |= {"wire_type_name": "I64",
                       "payload": struct.unpack("<d", data[pos:pos + 8])[0]}
            pos += 8
        result[record["field_number"]] = record["payload"]
        lines.append(f">>> Record: {record}")
    return "\n".join([*lines, ">>> Final Result:", repr(result)]) + "\n"


def decoding_block(stdout: str) -> str:
    """What the script printed between `>>> Trying to decode the serialized message...`
    (and its empty line) and the next empty line: try_decode_proto_binary's lines."""
    head = ">>> Trying to decode the serialized message...\n\n"
    if head not in stdout:
        return ""
    return stdout.split(head, 1)[1].split("\n\n", 1)[0] + "\n"


# --- running the student's code ----------------------------------------------------------

def run_ok(lab: LabRunner, *args: str) -> Result:
    """python x_main_reduced.py ARGS, which must end well."""
    result = lab.run("main", *args)
    command = " ".join(("python x_main_reduced.py", *args))[:120]
    assert result.returncode == 0 and "Traceback" not in result.stderr, (
        f"`{command}` should run to the end (exit code 0); it exited {result.returncode}.")
    return result


# Runs in the lab folder (labkit.testing.run_in_lab): try_decode_proto_binary on each input,
# with what it printed and what it returned, or where it failed.
TRY_DECODE = """
import contextlib, io, traceback
import x_main_reduced
result = []
for hex_text in payload:
    printed = io.StringIO()
    answer = {}
    with contextlib.redirect_stdout(printed):
        try:
            answer["returned"] = repr(x_main_reduced.try_decode_proto_binary(
                bytes.fromhex(hex_text)))
        except Exception:
            answer["error"] = traceback.format_exc(limit=-3)
    answer["printed"] = printed.getvalue()
    result.append(answer)
"""


def call_in_lab(lab: LabRunner, function: str, script: str, payload: object) -> list:
    """Run `script` (which calls `function` of the lab) in a child; a child that cannot
    load the lab's module, or hangs, fails the test with a sentence saying so."""
    try:
        return run_in_lab(lab, script, payload, timeout=CHILD_TIMEOUT)
    except StudentCodeError as error:
        failed = f"The lab's module could not be loaded to call {function}:\n{error}"
    except ProcessError:
        failed = (f"A call of {function} did not return within {CHILD_TIMEOUT} s (the test's "
                  "inputs are small: does every step move the position forward?)")
    pytest.fail(failed, pytrace=False)


def try_decode(lab: LabRunner, inputs: list[bytes]) -> list[dict]:
    """try_decode_proto_binary(data) for each input, in one child process."""
    return call_in_lab(lab, "try_decode_proto_binary", TRY_DECODE,
                       [data.hex() for data in inputs])


def assert_decodes(lab: LabRunner, cases: dict[str, bytes]) -> None:
    """try_decode_proto_binary prints and returns the test's own reading of each case."""
    answers = try_decode(lab, list(cases.values()))
    for (name, data), answer in zip(cases.items(), answers, strict=True):
        expected = expected_records(data)
        shown = hex_of(data, 24)
        assert "error" not in answer, (
            f"try_decode_proto_binary should decode {name} ({shown}); it raised "
            + raised(answer.get("error", "")))
        assert answer["printed"] == expected, (
            f"try_decode_proto_binary should print one `>>> Record:` line per field of {name} "
            f"({shown}), then `>>> Final Result:` and the values by field number; "
            + first_difference(expected, answer["printed"]))
        returned = expected.splitlines()[-1]
        assert answer["returned"] == returned, (
            f"try_decode_proto_binary should return {cut(returned)} for {name}; it returned "
            f"{cut(answer['returned'])}.")


# --- x_main_reduced.py: tags and lengths --------------------------------------------------

def test_script_prints_the_slides_output(lab: LabRunner) -> None:
    result = run_ok(lab)
    assert result.stdout == SLIDES_GREET + SLIDES_JSON, (
        "`python x_main_reduced.py` should print the slides' output line for line (the "
        "README's 'Expected output'); "
        + first_difference(SLIDES_GREET + SLIDES_JSON, result.stdout))


def test_long_names_need_two_byte_lengths(lab: LabRunner) -> None:
    # 200 bytes: the length is the varint c8 01, not one byte (the slides' lazy decoder).
    name = "é" * 100
    result = run_ok(lab, "--user-name", name, "--part", "serialize")
    expected = expected_records(GreetRequest(user_name=name, institution="SUSTech")
                                .SerializeToString())
    assert decoding_block(result.stdout) == expected, (
        "A 200-byte user_name has a length of two bytes (c8 01 = 72 + 1 * 128): "
        "try_decode_proto_binary should read the length as a varint, print 'length': 200 "
        "with the whole name, and then field 2, 'SUSTech'; "
        + first_difference(expected, decoding_block(result.stdout)))


def test_tags_and_lengths_are_varints(lab: LabRunner) -> None:
    # Field numbers from 16 on need a tag of two bytes or more: 16 << 3 | 2 = 130 = 82 01.
    assert_decodes(lab, {
        "field 16 (tag 82 01)": text_field(16, "sixteen") + text_field(1, "one"),
        "field 2047 (tag fa 7f)": text_field(2047, "wide") + text_field(2, "two"),
        "field 2048 (a 3-byte tag)": text_field(2048, "wider"),
        "field 536870911, the largest (a 5-byte tag)": text_field(536870911, "last"),
        "a double in field 100": double_field(100, 2.5) + text_field(3, "x"),
        "a 300-byte string (length ac 02)": text_field(1, "a" * 300) + text_field(2, "b"),
        "a 20000-byte string (length a0 9c 01)": text_field(2, "李" * 6000 + "ok" * 1000),
        "an empty string": text_field(1, "") + text_field(2, "after"),
    })


# --- the mini-task: doubles ------------------------------------------------------------------

def test_mini_task_decodes_the_doubles_of_mult_response(lab: LabRunner) -> None:
    result = run_ok(lab, "--message", "mult", "--part", "serialize")
    assert decoding_block(result.stdout) == SLIDES_MINI_TASK, (
        "`python x_main_reduced.py --message mult --part serialize` should print the "
        "mini-task's three I64 records of MultResponse(xin=3.5, yin=7, result=24.5), as on "
        "the slide; " + first_difference(SLIDES_MINI_TASK, decoding_block(result.stdout)))


DOUBLES = [3.5, 7.0, 24.5, -0.5, 1e300, -5e-324, 0.1, -0.0, 2.0 ** 53 + 2, 1.7976931348623157e308,
           math.inf, -math.inf]

# Runs in the lab folder: decode_i64_payload at offsets 0 and 5.
READ_DOUBLES = """
import traceback
import x_main_reduced
result = []
for hex_text in payload:
    data = bytes.fromhex(hex_text)
    try:
        value, after = x_main_reduced.decode_i64_payload(data, 5)
        result.append({"value": repr(value), "after": after})
    except Exception:
        result.append({"error": traceback.format_exc(limit=-3)})
"""


def test_decode_i64_payload_reads_a_little_endian_double(lab: LabRunner) -> None:
    inputs = [b"\x09\x01\x02\x03\x04" + struct.pack("<d", value) + b"\x7f" for value in DOUBLES]
    answers = call_in_lab(lab, "decode_i64_payload", READ_DOUBLES,
                          [data.hex() for data in inputs])
    for value, data, answer in zip(DOUBLES, inputs, answers, strict=True):
        raw = data[5:13].hex(" ")
        assert "error" not in answer, (
            f"decode_i64_payload(data, 5) should read the 8 bytes {raw} as the double "
            f"{value!r}; it raised " + raised(answer.get("error", "")))
        assert (answer["value"], answer["after"]) == (repr(value), 13), (
            f"decode_i64_payload(data, 5) should return ({value!r}, 13): the 8 bytes {raw} "
            "read as a little-endian double, and the position after them; it returned "
            f"({answer['value']}, {answer['after']!r}).")


def test_mult_responses_decode_with_their_doubles(lab: LabRunner) -> None:
    messages = [MultResponse(xin=-0.5, yin=1e300, result=-5e299),
                MultResponse(xin=0.1, yin=0.2, result=0.1 * 0.2),
                MultResponse(xin=-2.25, result=math.inf),  # yin 0: proto3 leaves it out
                MultResponse(xin=1e-310, yin=6.02214076e23, result=-0.0)]
    assert_decodes(lab, {f"MultResponse({str(m).strip().replace(chr(10), ', ')})":
                         m.SerializeToString() for m in messages})


# --- decode.py: the tree of the student's wire decoder -----------------------------------

GREET_TREE = """\
16 bytes: 0a 05 50 65 74 65 72 12 07 53 55 53 54 65 63 68
offset  bytes                           reading
0       0a                              field 1: LEN (wire type 2)
1       05                                length 5
2       50 65 74 65 72                    text "Peter"
7       12                              field 2: LEN (wire type 2)
8       07                                length 7
9       53 55 53 54 65 63 68              text "SUSTech"
2 fields at the top level.
"""


def test_decode_prints_the_tree_of_the_slides_bytes(lab: LabRunner) -> None:
    result = lab.run("decode", *GREET_HEX.split())
    assert (result.returncode, result.stdout) == (0, GREET_TREE), (
        f"`python decode.py {GREET_HEX}` should print the README's tree ('The decoder') and "
        f"exit 0; it exited {result.returncode}, and " + first_difference(GREET_TREE,
                                                                          result.stdout))


def test_decode_shows_every_wire_type_and_reading(lab: LabRunner) -> None:
    hex_text = ("08 ff ff ff ff ff ff ff ff ff 01 "  # field 1 VARINT -1
                "15 cd cc cc 3d "                    # field 2 I32 0.1f
                "19 00 00 00 00 00 00 f8 bf "        # field 3 I64 -1.5
                "22 03 08 96 01 "                    # field 4 LEN: a message {1: 150}
                "2a 03 01 02 03 "                    # field 5 LEN: packed [1, 2, 3]
                "32 02 ff fe "                       # field 6 LEN: just bytes
                "5b 08 05 5c")                       # field 11 SGROUP {1: 5} EGROUP
    result = lab.run("decode", hex_text)
    lines = result.stdout.splitlines()
    expected = [
        "0       08                              field 1: VARINT (wire type 0)",
        "1       ff ff ff ff ff ff ff ff ff 01     varint 18446744073709551615 | "
        "int64/int32 -1 | sint (zigzag) -9223372036854775808",
        "11      15                              field 2: I32 (wire type 5)",
        "12      cd cc cc 3d                       float 0.1 | fixed32 1036831949",
        "16      19                              field 3: I64 (wire type 1)",
        "17      00 00 00 00 00 00 f8 bf           double -1.5 | fixed64 13832806255468478464"
        " | sfixed64 -4613937818241073152",
        "25      22                              field 4: LEN (wire type 2)",
        "26      03                                length 3",
        "                                          a message (1 field):",
        "27      08                                  field 1: VARINT (wire type 0)",
        "28      96 01                                 varint 150 | sint (zigzag) 75",
        "30      2a                              field 5: LEN (wire type 2)",
        "32      01 02 03                          packed varints [1, 2, 3]",
        "                                            as sint (zigzag) [-1, 1, -2]",
        "35      32                              field 6: LEN (wire type 2)",
        "37      ff fe                             bytes",
        "39      5b                              field 11: SGROUP (wire type 3)",
        "                                          a group (1 field) up to its EGROUP:",
        "40      08                                  field 1: VARINT (wire type 0)",
        "41      05                                    varint 5 | sint (zigzag) -3",
        "42      5c                              field 11: EGROUP (wire type 4), the group ends",
        "7 fields at the top level.",
    ]
    missing = [line for line in expected if line not in lines]
    assert result.returncode == 0 and not missing, (
        "`python decode.py` on bytes with every wire type (VARINT, I32, I64, LEN, SGROUP) "
        f"should show {len(expected)} rows (and exit 0); it exited {result.returncode}, and "
        f"{len(missing)} are missing, the first: `{(missing or ['none'])[0]}`.")


def test_decode_malformed_bytes_shows_what_it_read_then_the_error(lab: LabRunner) -> None:
    result = lab.run("decode", "08 96 01 12 05 61 62")
    error = ("Not valid protobuf: at byte 4: expected a length of at most 2 (the bytes left), "
             "found 5")
    assert result.returncode == 1 and result.stderr.splitlines() == [error], (
        "`python decode.py 08 96 01 12 05 61 62` (a length of 5 with 2 bytes left) should exit "
        f"1 with the one line `{error}`; it exited {result.returncode} and said "
        f"{said(result.stderr)}.")
    assert "1       96 01                             varint 150" in result.stdout, (
        "Before the error, decode.py should show field 1 it read (the varint 96 01 = 150); "
        f"it printed {said(result.stdout)}.")
