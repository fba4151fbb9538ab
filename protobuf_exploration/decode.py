"""Decode protobuf bytes without the .proto file and show them as a tree.

    python decode.py 0a 05 50 65 74 65 72          # hex, spaces allowed
    python decode.py --file message.bin            # the bytes of a file
    python decode.py < message.bin                 # bytes on stdin (not hex text)
    python decode.py --message greet               # the slides' GreetRequest (or: mult)
    python decode.py --all 0a 02 68 69             # every reading of every value

Each line shows where a value starts (its byte offset), its bytes, and how it reads.
The wire format does not say which type a field has, so a value can read in several
ways; the .proto decides which one is meant. Exit code: 0 decoded, 1 the bytes are not
valid protobuf (what was decoded is shown, then the error), 2 bad command line.

It reads at most 1 MiB, and shows at most 2000 rows: long texts, deep nesting and long
lists are cut short ("…"), so that what it prints stays a small multiple of its input.
"""

from __future__ import annotations

# First: from here on, Ctrl+C ends the program quietly, even while it is still loading.
# calling.py holds what every program of the labs does the same way (Ctrl+C, output...).
import calling

import argparse
import contextlib
import itertools
import json
import logging
import math
import struct
import sys
from collections.abc import Iterator

from wire_decoder import (
    EGROUP,
    I32,
    I64,
    LEN,
    SGROUP,
    VARINT,
    WIRE_TYPE_NAMES,
    DecodeError,
    Field,
    as_floating,
    decode,
    to_signed,
    zigzag_decode,
)

BYTES_SHOWN = 8  # bytes of a value shown on its line; longer ones end in "…"
VARINT_BYTES_SHOWN = 10  # a varint is shown whole
BYTES_COLUMN = 31
VALUES_SHOWN = 16  # values of a packed list shown before "…"
PAYLOAD_ROWS_SHOWN = 16  # rows of 8 bytes shown of a payload that is only bytes
TEXT_SHOWN = 48  # characters of a text shown before "…"
DEPTH_SHOWN = 12  # levels of nested messages and groups shown
ROWS_SHOWN = 2000  # rows of the tree shown; then "…"
MAX_INPUT = 1 << 20  # bytes read: 1 MiB (protobuf messages are rarely bigger; gRPC's limit is 4 MB)


def hex_bytes(data: bytes, limit: int = BYTES_SHOWN) -> str:
    shown = data[:limit].hex(" ")
    return shown + " …" if len(data) > limit else shown


def line(offset: int | None, data: bytes, depth: int, text: str,
         limit: int = BYTES_SHOWN) -> str:
    """One row of the tree: offset, bytes, then the reading, indented by its depth."""
    where = "" if offset is None else str(offset)
    return f"{where:<7} {hex_bytes(data, limit):<{BYTES_COLUMN}} {'  ' * depth}{text}".rstrip()


def quoted(text: str) -> str:
    """Text in double quotes, with control characters escaped (\\n, \\u0001); a long
    text is cut after TEXT_SHOWN characters."""
    if len(text) > TEXT_SHOWN:
        return f"{json.dumps(text[:TEXT_SHOWN], ensure_ascii=False)}… ({len(text)} characters)"
    return json.dumps(text, ensure_ascii=False)


def shortest_float32(raw: bytes) -> str:
    """A float's shortest decimal that reads back as the same 4 bytes: 0.1, not
    0.10000000149011612 (what the float is exactly, seen as a double)."""
    value = struct.unpack("<f", raw)[0]
    if not math.isfinite(value):
        return repr(value)  # inf, -inf, nan
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        # (rounding the largest floats up can leave the float range: OverflowError)
        with contextlib.suppress(OverflowError):
            if struct.pack("<f", float(text)) == raw:
                return text
    return repr(value)


def listing(values: list, limit: int = VALUES_SHOWN) -> str:
    shown = ", ".join(str(value) for value in values[:limit])
    return f"[{shown}, … ({len(values)} values)]" if len(values) > limit else f"[{shown}]"


def varint_reading(value: int) -> str:
    parts = [f"varint {value}"]
    if value >= 1 << 63:
        # A negative int32 or int64 is sent as 64-bit two's complement: 10 bytes.
        parts.append(f"int64/int32 {to_signed(value, 64)}")
    parts.append(f"sint (zigzag) {zigzag_decode(value)}")
    return " | ".join(parts)


def fixed_reading(field: Field) -> str:
    if field.wire_type == I64:
        parts = [f"double {field.floating!r}", f"fixed64 {field.fixed}"]
        kind = "sfixed64"
    else:
        parts = [f"float {shortest_float32(field.value)}", f"fixed32 {field.fixed}"]
        kind = "sfixed32"
    if field.sfixed < 0:
        parts.append(f"{kind} {field.sfixed}")
    return " | ".join(parts)


def packed_fixed(field: Field, size: int) -> str:
    raws = field.packed_fixed(size) or []
    if size == 8:
        return f"packed double {listing([repr(as_floating(raw)) for raw in raws])}"
    return f"packed float {listing([shortest_float32(raw) for raw in raws])}"


def payload_rows(data: bytes, field: Field, depth: int, prefix: str) -> Iterator[str]:
    """The payload's bytes, 8 to a row, each row with its offset (16 rows at most)."""
    stop = min(field.end, field.value_offset + BYTES_SHOWN * PAYLOAD_ROWS_SHOWN)
    for start in range(field.value_offset, stop, BYTES_SHOWN):
        chunk = data[start:min(start + BYTES_SHOWN, field.end)]
        yield line(start, chunk, depth, f"{prefix}bytes" if start == field.value_offset else "")
    if stop < field.end:
        yield line(stop, b"", depth, f"… {field.end - stop} more bytes")


def pick_readings(field: Field, show_all: bool) -> list[str]:
    """Which readings of a LEN payload to show, the likeliest first."""
    text, message, packed = field.text, field.message, field.packed_varints
    readings: list[str] = []
    if text is not None and text.isprintable():
        # Text that prints as it is, is most likely a string.
        readings += ["text"] + (["message"] if message else [])
    elif message:
        # Else a payload that decodes as fields most likely is a message; text full of
        # control characters would be more noise than help next to it.
        readings += ["message"] + (["text"] if show_all and text is not None else [])
    else:
        readings += (["packed"] if packed is not None else []) + (["text"] if text else [])
    # Nearly any bytes read as packed varints: that reading waits for --all unless it is
    # the best there is. So do packed floats and doubles, and the bare bytes.
    if show_all:
        if packed is not None and "packed" not in readings:
            readings.append("packed")
        readings += [name for name, size in (("fixed32", 4), ("fixed64", 8))
                     if len(field.value) % size == 0]
    if show_all or not readings:
        readings.append("bytes")
    return readings


def len_readings(data: bytes, field: Field, depth: int, show_all: bool) -> Iterator[str]:
    """The rows of a LEN payload's readings: text, a nested message, packed numbers, bytes."""
    payload: bytes = field.value
    here = field.value_offset
    if not payload:
        yield line(here, b"", depth, 'empty: "" or an empty message or no packed values')
        return
    text, message, packed = field.text, field.message, field.packed_varints
    readings = pick_readings(field, show_all)

    for number, reading in enumerate(readings):
        prefix = "" if number == 0 else "or "
        if reading == "text":
            yield line(here, payload, depth, f"{prefix}text {quoted(text)}")
        elif reading == "message":
            count = f"{len(message)} field{'' if len(message) == 1 else 's'}"
            yield line(None, b"", depth, f"{prefix}a message ({count}):")
            yield from nested_rows(data, message, depth + 1, show_all)
        elif reading == "packed":
            yield line(here, payload, depth, f"{prefix}packed varints {listing(packed)}")
            if any(value >= 1 << 63 for value in packed):
                signed = [to_signed(value, 64) for value in packed]
                yield line(None, b"", depth, f"  as int64/int32 {listing(signed)}")
            zigzag = [zigzag_decode(value) for value in packed]
            yield line(None, b"", depth, f"  as sint (zigzag) {listing(zigzag)}")
        elif reading in ("fixed32", "fixed64"):
            size = 4 if reading == "fixed32" else 8
            yield line(here, payload, depth, prefix + packed_fixed(field, size))
        else:
            yield from payload_rows(data, field, depth, prefix)


def field_rows(data: bytes, field: Field, depth: int, show_all: bool) -> Iterator[str]:
    """The rows of one field: its tag, then its value one level deeper. `data` is the
    whole input (the offsets are positions in it)."""
    name = WIRE_TYPE_NAMES[field.wire_type]
    header = f"field {field.field_number}: {name} (wire type {field.wire_type})"
    tag_end = field.length_offset if field.wire_type == LEN else field.value_offset
    yield line(field.offset, data[field.offset:tag_end], depth, header)
    inner = depth + 1
    if field.wire_type == VARINT:
        raw = data[field.value_offset:field.end]
        yield line(field.value_offset, raw, inner, varint_reading(field.value),
                   limit=VARINT_BYTES_SHOWN)
    elif field.wire_type in (I64, I32):
        yield line(field.value_offset, field.value, inner, fixed_reading(field),
                   limit=VARINT_BYTES_SHOWN)
    elif field.wire_type == LEN:
        length_bytes = data[field.length_offset:field.value_offset]
        yield line(field.length_offset, length_bytes, inner, f"length {len(field.value)}",
                   limit=VARINT_BYTES_SHOWN)
        yield from len_readings(data, field, inner, show_all)
    elif field.wire_type == SGROUP:
        count = f"{len(field.group)} field{'' if len(field.group) == 1 else 's'}"
        yield line(None, b"", inner, f"a group ({count}) up to its EGROUP:")
        yield from nested_rows(data, field.group, inner + 1, show_all)
        close = data[field.group_end_offset:field.end]
        yield line(field.group_end_offset, close, depth,
                   f"field {field.field_number}: EGROUP (wire type {EGROUP}), the group ends")


def nested_rows(data: bytes, fields: list[Field], depth: int, show_all: bool) -> Iterator[str]:
    """The rows of the fields in a message or a group, `depth` being theirs. Past
    DEPTH_SHOWN levels only a note: each level is indented further, so that deeply nested
    bytes would print hundreds of times their size."""
    if depth > 2 * DEPTH_SHOWN:  # (each level is two steps deeper: the tag, then the value)
        yield line(None, b"", depth, f"… nested more than {DEPTH_SHOWN} levels deep: not shown")
        return
    for inner in fields:
        yield from field_rows(data, inner, depth, show_all)


def render_rows(data: bytes, fields: list[Field], show_all: bool = False) -> Iterator[str]:
    """The tree of `fields` (decoded from `data`), row by row."""
    yield f"{'offset':<7} {'bytes':<{BYTES_COLUMN}} reading"
    for found in fields:
        yield from field_rows(data, found, 0, show_all)


def render(data: bytes, fields: list[Field], show_all: bool = False) -> list[str]:
    """The tree of `fields` (decoded from `data`), as lines."""
    return list(render_rows(data, fields, show_all))


def print_tree(data: bytes, fields: list[Field], show_all: bool) -> None:
    """The tree, ROWS_SHOWN rows at most."""
    rows = itertools.islice(render_rows(data, fields, show_all), ROWS_SHOWN + 1)
    for number, row in enumerate(rows):
        if number == ROWS_SHOWN:
            print(f"… more than {ROWS_SHOWN} rows: the rest is not shown")
            break
        print(row)


def slides_message(kind: str) -> tuple[str, bytes]:
    """The slides' messages, described and serialized."""
    import assistant_pb2  # generated by protoc; only the shortcuts need it
    from google.protobuf import text_format

    if kind == "mult":
        message = assistant_pb2.MultResponse(xin=3.5, yin=7, result=3.5 * 7)
    else:
        message = assistant_pb2.GreetRequest(user_name="Peter", institution="SUSTech")
    described = text_format.MessageToString(message, as_one_line=True)
    return f"{type(message).__name__} {{ {described} }}", message.SerializeToString()


def parse_hex(words: list[str]) -> bytes:
    """Hex digits in any grouping: "0a05", "0a 05", "0x0a 0x05", "0a:05"."""
    text = " ".join(words).replace("0x", " ").replace("0X", " ")
    text = "".join(text.replace(":", " ").replace(",", " ").split())
    bad = [char for char in text if char not in "0123456789abcdefABCDEF"]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a hex digit (0-9, a-f)")
    if len(text) % 2:
        raise ValueError(f"an odd number of hex digits ({len(text)}): each byte is two digits")
    return bytes.fromhex(text)


def looks_like_hex_text(data: bytes) -> bool:
    """True for bytes such as b"0a 05 50\n": hex typed as text, not the bytes themselves."""
    return len(data) >= 2 and all(chr(byte) in "0123456789abcdefABCDEF \t\r\n"
                                  for byte in data)


def read_input(args: argparse.Namespace, parser: argparse.ArgumentParser) -> bytes:
    sources = sum([bool(args.hex), args.file is not None, args.message is not None])
    if sources > 1:
        parser.error("give the bytes one way: HEX, --file or --message")
    if args.message:
        described, data = slides_message(args.message)
        print(described)
        return data
    if args.file is not None:
        try:
            # A regular file only: a FIFO would block, a device (/dev/zero) never end.
            with calling.open_regular_file(args.file) as source:
                data = source.read(MAX_INPUT + 1)
        except OSError as error:
            parser.error(f"cannot read {args.file}: {error.strerror}")
        if len(data) > MAX_INPUT:
            parser.error(f"{args.file} is longer than {MAX_INPUT} bytes: too much to show")
        return data
    if args.hex:
        try:
            return parse_hex(args.hex)
        except ValueError as error:
            parser.error(f"not hex: {error}")
    if sys.stdin is None or sys.stdin.isatty():
        parser.error("no bytes to decode: give HEX, --file F, --message greet, or pipe "
                     "bytes into stdin")
    data = sys.stdin.buffer.read(MAX_INPUT + 1)
    if len(data) > MAX_INPUT:
        parser.error(f"more than {MAX_INPUT} bytes on stdin: too much to show")
    return data


def main() -> int:
    parser = calling.ArgumentParser(
        description="Decode protobuf bytes without the .proto file: every field with its "
        "offset, bytes, wire type and the ways its value reads.")
    parser.add_argument("hex", nargs="*", metavar="HEX",
                        help='the bytes in hex, spaces allowed: 0a 05 50 65 74 65 72')
    parser.add_argument("--file", metavar="F", help="decode the bytes of file F")
    parser.add_argument("--message", choices=["greet", "mult"],
                        help="decode the slides' GreetRequest or MultResponse")
    parser.add_argument("--all", action="store_true", dest="show_all",
                        help="show every reading of every LEN value (also the unlikely ones)")
    args = parser.parse_args()
    data = read_input(args, parser)
    if not args.hex and looks_like_hex_text(data):
        print("Note: these bytes look like hex text; to decode the hex, give it as arguments: "
              "python decode.py 0a 05 ... (or: xargs python decode.py < FILE)", file=sys.stderr)

    print(f"{len(data)} bytes: {hex_bytes(data, 64) if data else '(none)'}")
    if not data:
        print("No fields: an empty message (every field has its default value).")
        return 0
    # (A part of wire_decoder.py still to be written raises NotImplementedError: run_main
    # says which one.)
    try:
        fields = decode(data)
    except DecodeError as error:
        print_tree(data, error.fields, args.show_all)
        sys.stdout.flush()
        print(f"Not valid protobuf: {error}", file=sys.stderr)
        return 1
    print_tree(data, fields, args.show_all)
    print(f"{len(fields)} field{'' if len(fields) == 1 else 's'} at the top level.")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    calling.run_main(main)
