"""protobuf_exploration, black box: what the lab gives students ready-made (the encodings
table, the benchmark, the command-line handling of the scripts). No rubric item names these
tests (labkit/labs.py): they are 0-point checks, and pass on the starter copy too, since no
solution region is involved.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labkit.procs import LabRunner

LAB = "protobuf_exploration"

SLIDES_JSON = """\
> JSON serialized into 48 bytes: b'{"user_name": "Peter", "institution": "SUSTech"}'
> Protobuf serialized into 16 bytes: b'\\n\\x05Peter\\x12\\x07SUSTech'
"""

# The bytes of the encodings slides.
SLIDES_ENCODINGS = {
    "JSON (no whitespace)": (81, None),
    "MessagePack": (66, "83 a8 75 73 65 72 4e 61 6d 65 a6 4d 61 72 74 69 6e ae 66 61 76 6f "
                        "72 69 74 65 4e 75 6d 62 65 72 cd 05 39 a9 69 6e 74 65 72 65 73 74 "
                        "73 92 ab 64 61 79 64 72 65 61 6d 69 6e 67 a7 68 61 63 6b 69 6e 67"),
    "Thrift BinaryProtocol": (59, "0b 00 01 00 00 00 06 4d 61 72 74 69 6e 0a 00 02 00 00 00 "
                                  "00 00 00 05 39 0f 00 03 0b 00 00 00 02 00 00 00 0b 64 61 "
                                  "79 64 72 65 61 6d 69 6e 67 00 00 00 07 68 61 63 6b 69 6e "
                                  "67 00"),
    "Thrift CompactProtocol": (34, "18 06 4d 61 72 74 69 6e 16 f2 14 19 28 0b 64 61 79 64 72 "
                                   "65 61 6d 69 6e 67 07 68 61 63 6b 69 6e 67 00"),
    "Protocol Buffers": (33, "0a 06 4d 61 72 74 69 6e 10 b9 0a 1a 0b 64 61 79 64 72 65 61 6d "
                             "69 6e 67 1a 07 68 61 63 6b 69 6e 67"),
}
GREET_HEX = "0a 05 50 65 74 65 72 12 07 53 55 53 54 65 63 68"
JSON_PERSON = '{"userName":"Martin","favoriteNumber":1337,"interests":["daydreaming","hacking"]}'


def run_ok(lab: LabRunner, process: str, *args: str, stdin: str | None = None):
    result = lab.run(process, *args, stdin=stdin)
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.stderr, result.stderr
    return result


# --- x_main_reduced.py and decode.py: choices and command lines -------------------------

def test_part_json_prints_only_the_comparison(lab: LabRunner) -> None:
    assert run_ok(lab, "main", "--part", "json").stdout == SLIDES_JSON


def test_decode_reads_the_same_bytes_every_way(lab: LabRunner, tmp_path: Path) -> None:
    # Hex with and without spaces, a file, stdin and --message greet: the same bytes, so
    # the same tree (or, in the starter copy, the same TODO), whatever the decoder says.
    data = tmp_path / "greet.bin"
    data.write_bytes(bytes.fromhex(GREET_HEX))
    ways = {
        "hex words": lab.start("decode", *GREET_HEX.split()),
        "hex in one argument": lab.start("decode", GREET_HEX),
        "hex without spaces": lab.start("decode", GREET_HEX.replace(" ", "")),
        "--file": lab.start("decode", "--file", str(data)),
        "--message greet": lab.start("decode", "--message", "greet"),
        "stdin": lab.start("decode"),
    }
    # stdin carries the raw bytes; the harness sends text, so these bytes must be ASCII
    ways["stdin"].send("\x0a\x05Peter\x12\x07SUSTech")
    results = {way: (process.close_stdin(), process.result(timeout=20))[1]
               for way, process in ways.items()}
    first = results["hex words"]
    for way, result in results.items():
        stdout = result.stdout
        if way == "--message greet":
            head, _, stdout = stdout.partition("\n")
            assert "GreetRequest" in head, head
        assert (result.returncode, stdout, result.stderr) == \
            (first.returncode, first.stdout, first.stderr), (way, result.output)


@pytest.mark.parametrize("args, says", [
    (("0a 0",), "odd number of hex digits"),
    (("0a", "zz"), "'z' is not a hex digit"),
    (("--file", "no-such-file.bin"), "cannot read no-such-file.bin"),
    (("0a", "--message", "greet"), "one way"),
])
def test_decode_bad_command_line_says_what_is_wrong(lab: LabRunner, args, says: str) -> None:
    result = lab.run("decode", *args)
    assert result.returncode == 2, result.output
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_decode_empty_input(lab: LabRunner) -> None:
    result = run_ok(lab, "decode", stdin="")
    assert "an empty message" in result.stdout


# --- encodings_table.py and benchmark.py ------------------------------------------------

def table_rows(text: str) -> dict[str, tuple[int, str]]:
    """{encoding: (byte count, hex)} from the printed table; hex rows continue a row."""
    rows: dict[str, tuple[int, str]] = {}
    last = None
    for line in text.splitlines():
        match = re.match(r"^(\S.*?)\s+(\d+)  ((?:[0-9a-f]{2} ?)+)$", line)
        if match:
            last = match.group(1)
            rows[last] = (int(match.group(2)), match.group(3).strip())
        elif last and re.match(r"^\s+((?:[0-9a-f]{2} ?)+)$", line):
            count, hex_text = rows[last]
            rows[last] = (count, f"{hex_text} {line.strip()}")
    return rows


def test_encodings_table_matches_the_slides(lab: LabRunner) -> None:
    rows = table_rows(run_ok(lab, "encodings").stdout)
    assert list(rows) == list(SLIDES_ENCODINGS)
    for name, (count, hex_text) in SLIDES_ENCODINGS.items():
        assert rows[name][0] == count, name
        assert len(rows[name][1].split()) == count, name
        if hex_text:
            assert rows[name][1] == hex_text, name
    assert bytes.fromhex(rows["JSON (no whitespace)"][1]).decode() == JSON_PERSON


def test_british_spelling_adds_a_byte_only_where_keys_travel(lab: LabRunner) -> None:
    rows = table_rows(run_ok(lab, "encodings", "--favourite").stdout)
    counts = {name: count for name, (count, _) in rows.items()}
    assert counts == {"JSON (no whitespace)": 82, "MessagePack": 67,
                      "Thrift BinaryProtocol": 59, "Thrift CompactProtocol": 34,
                      "Protocol Buffers": 33}


def test_benchmark_prints_sizes_times_and_ratios(lab: LabRunner) -> None:
    result = run_ok(lab, "benchmark", "--number", "20", "--repeat", "3")
    number = r"\d+\.\d\d"
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["message", "format", "size", "(B)", "encode", "(µs)",
                                "decode", "(µs)"]
    for name, json_size, proto_size, ratio in (("GreetRequest", 48, 16, "3.0x"),
                                               ("Person", 81, 33, "2.5x")):
        assert any(re.fullmatch(rf"{name}\s+JSON\s+{json_size}\s+{number}\s+{number}", line)
                   for line in lines), result.stdout
        assert any(re.fullmatch(rf"{name}\s+Protobuf\s+{proto_size}\s+{number}\s+{number}",
                                line) for line in lines), result.stdout
        assert any(re.fullmatch(rf"{name}\s+JSON/Protobuf\s+{re.escape(ratio)}\s+\d+\.\dx\s+"
                                r"\d+\.\dx", line) for line in lines), result.stdout
