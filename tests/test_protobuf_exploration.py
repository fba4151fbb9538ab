"""protobuf_exploration, black box: the student's script, the decoder's command line, the
encodings table and the benchmark, run as a student runs them.

The decoder itself is tested against the protobuf runtime and protoc in
test_protobuf_exploration_decoder.py.
"""

from __future__ import annotations

from pathlib import Path

from labkit.procs import LabRunner

LAB = "protobuf_exploration"

GREET_HEX = "0a 05 50 65 74 65 72 12 07 53 55 53 54 65 63 68"

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



def run_ok(lab: LabRunner, process: str, *args: str, stdin: str | None = None):
    result = lab.run(process, *args, stdin=stdin)
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.stderr, result.stderr
    return result


# --- x_main_reduced.py ----------------------------------------------------------------

def test_script_prints_the_slides_output(lab: LabRunner) -> None:
    result = run_ok(lab, "main")
    assert result.stdout == SLIDES_GREET + SLIDES_JSON


def test_mini_task_decodes_the_doubles_of_mult_response(lab: LabRunner) -> None:
    result = run_ok(lab, "main", "--message", "mult", "--part", "serialize")
    assert "> Initial Message:\nxin: 3.5\nyin: 7\nresult: 24.5\n" in result.stdout
    assert (">>> Hex Representation: 09 00 00 00 00 00 00 0c 40 11 00 00 00 00 00 00 1c 40 "
            "19 00 00 00 00 00 80 38 40\n") in result.stdout
    assert ">>> Trying to decode the serialized message...\n\n" + SLIDES_MINI_TASK + "\n" \
        in result.stdout
    assert "JSON serialized" not in result.stdout


def test_long_names_need_two_byte_lengths(lab: LabRunner) -> None:
    # 200 bytes: the length is the varint c8 01, not one byte (the slides' lazy decoder).
    name = "é" * 100
    result = run_ok(lab, "main", "--user-name", name, "--part", "serialize")
    assert ">>> Hex Representation: 0a c8 01 c3 a9" in result.stdout
    assert (f">>> Record: {{'field_number': 1, 'wire_type': 2, 'wire_type_name': 'LEN', "
            f"'length': 200, 'payload': '{name}'}}") in result.stdout
    assert f">>> Final Result:\n{{1: '{name}', 2: 'SUSTech'}}\n" in result.stdout


def test_other_doubles_in_the_mini_task(lab: LabRunner) -> None:
    result = run_ok(lab, "main", "--message", "mult", "--xin", "-0.5", "--yin", "1e300",
                    "--part", "serialize")
    assert ">>> Final Result:\n{1: -0.5, 2: 1e+300, 3: -5e+299}\n" in result.stdout


# --- decode.py ----------------------------------------------------------------------------

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


def test_decode_hex_with_spaces_prints_the_tree(lab: LabRunner) -> None:
    assert run_ok(lab, "decode", *GREET_HEX.split()).stdout == GREET_TREE
    assert run_ok(lab, "decode", GREET_HEX).stdout == GREET_TREE
    assert run_ok(lab, "decode", GREET_HEX.replace(" ", "")).stdout == GREET_TREE


def test_decode_file_and_stdin(lab: LabRunner, tmp_path: Path) -> None:
    data = tmp_path / "greet.bin"
    data.write_bytes(bytes.fromhex(GREET_HEX))
    assert run_ok(lab, "decode", "--file", str(data)).stdout == GREET_TREE
    # stdin carries the raw bytes; the harness sends text, so these bytes must be ASCII
    assert run_ok(lab, "decode", stdin="\x0a\x05Peter\x12\x07SUSTech").stdout == GREET_TREE


def test_decode_message_shortcuts(lab: LabRunner) -> None:
    greet = run_ok(lab, "decode", "--message", "greet").stdout
    assert greet.splitlines()[1:] == GREET_TREE.splitlines()
    assert "GreetRequest" in greet.splitlines()[0]
    mult = run_ok(lab, "decode", "--message", "mult").stdout
    assert "0       09                              field 1: I64 (wire type 1)" in mult
    assert "1       00 00 00 00 00 00 0c 40           double 3.5 | fixed64 " in mult
    assert "double 24.5" in mult


def test_decode_shows_every_wire_type_and_reading(lab: LabRunner) -> None:
    hex_text = ("08 ff ff ff ff ff ff ff ff ff 01 "  # field 1 VARINT -1
                "15 cd cc cc 3d "                    # field 2 I32 0.1f
                "19 00 00 00 00 00 00 f8 bf "        # field 3 I64 -1.5
                "22 03 08 96 01 "                    # field 4 LEN: a message {1: 150}
                "2a 03 01 02 03 "                    # field 5 LEN: packed [1, 2, 3]
                "32 02 ff fe "                       # field 6 LEN: just bytes
                "5b 08 05 5c")                       # field 11 SGROUP {1: 5} EGROUP
    lines = run_ok(lab, "decode", hex_text).stdout.splitlines()
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
    assert not missing, "\n".join(lines)


def test_decode_malformed_bytes_shows_what_it_read_then_the_error(lab: LabRunner) -> None:
    result = lab.run("decode", "08 96 01 12 05 61 62")
    assert result.returncode == 1, result.output
    assert "28      96 01" not in result.stdout
    assert "1       96 01                             varint 150" in result.stdout
    assert result.stderr.splitlines() == [
        "Not valid protobuf: at byte 4: expected a length of at most 2 (the bytes left), "
        "found 5"]
