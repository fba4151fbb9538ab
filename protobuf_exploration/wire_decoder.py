"""A protobuf wire-format decoder written by hand, without the .proto file.

Protobuf bytes are a list of records. Each record starts with a *tag*, a varint that
packs two numbers: `tag = field_number << 3 | wire_type`. The wire type says how many
bytes the value takes (https://protobuf.dev/programming-guides/encoding/):

    0 VARINT  a base-128 varint: int32, int64, uint32, uint64, sint32, sint64, bool, enum
    1 I64     8 bytes, little-endian: fixed64, sfixed64, double
    2 LEN     a varint length, then that many bytes: string, bytes, a nested message,
              packed repeated numbers
    3 SGROUP  start of a group (proto2's deprecated nested records)
    4 EGROUP  end of that group
    5 I32     4 bytes, little-endian: fixed32, sfixed32, float

The bytes alone do not say which of those types a field has: only the .proto does. So
the decoder gives every reading that fits (a varint 3 could be int32 3, sint32 -2 or
bool true) and leaves the choice to you.

    fields = decode(bytes.fromhex("0a 05 50 65 74 65 72"))
    fields[0].field_number, fields[0].wire_type_name, fields[0].text  # 1, 'LEN', 'Peter'

Malformed input raises `DecodeError`, which names the byte offset and what was expected
there. Nothing else is ever raised, and every input is decoded in one pass (no loops).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
WIRE_TYPE_NAMES = {VARINT: "VARINT", I64: "I64", LEN: "LEN", SGROUP: "SGROUP",
                   EGROUP: "EGROUP", I32: "I32"}

MAX_VARINT_BYTES = 10  # 64 bits, 7 per byte
MAX_FIELD_NUMBER = (1 << 29) - 1  # the tag is a 32-bit number; 3 of its bits are the wire type
MAX_DEPTH = 100  # nested groups and messages; the protobuf runtimes stop at 100 as well


class DecodeError(ValueError):
    """The bytes are not valid protobuf wire format.

    `offset` is the position of the byte where decoding failed, `expected` says what
    should have been there, `fields` holds the top-level fields decoded before it.
    """

    def __init__(self, offset: int, expected: str, found: str = "") -> None:
        self.offset = offset
        self.expected = expected
        self.found = found
        self.fields: list[Field] = []
        message = f"at byte {offset}: expected {expected}"
        super().__init__(f"{message}, found {found}" if found else message)


@dataclass
class Field:
    """One record of the wire format, with where its bytes are in the input.

    `value` depends on the wire type: VARINT the number as an unsigned 64-bit integer;
    I64 and I32 the 8 or 4 raw bytes; LEN the payload bytes; SGROUP the list of fields
    inside the group.
    """

    field_number: int
    wire_type: int
    offset: int  # first byte of the tag
    value_offset: int  # first byte of the value (for LEN: of the payload, after the length)
    end: int  # one past the last byte (for SGROUP: past the EGROUP tag)
    value: int | bytes | list[Field]
    length_offset: int | None = None  # LEN: where the length varint starts
    group_end_offset: int | None = None  # SGROUP: where the closing EGROUP tag starts
    # LEN: the payload's fields when the whole payload decodes as a message, else None.
    message: list[Field] | None = None

    @property
    def wire_type_name(self) -> str:
        return WIRE_TYPE_NAMES[self.wire_type]

    # --- readings of a VARINT ------------------------------------------------------

    @property
    def int64(self) -> int:
        """The varint as a signed int64 (int32 too: negative int32s are sign-extended
        to 64 bits, which is why -1 takes 10 bytes)."""
        return to_signed(self._varint(), 64)

    @property
    def sint64(self) -> int:
        """The varint as sint32/sint64, which use ZigZag: 0->0, 1->-1, 2->1, 3->-2, ..."""
        return zigzag_decode(self._varint())

    def _varint(self) -> int:
        assert self.wire_type == VARINT and isinstance(self.value, int)
        return self.value

    # --- readings of I64 and I32 ------------------------------------------------------

    @property
    def fixed(self) -> int:
        """fixed64 / fixed32: the raw bytes as an unsigned little-endian integer."""
        return as_fixed(self._raw_number())

    @property
    def sfixed(self) -> int:
        """sfixed64 / sfixed32: the raw bytes as a signed little-endian integer."""
        return as_sfixed(self._raw_number())

    @property
    def floating(self) -> float:
        """double (I64) or float (I32)."""
        return as_floating(self._raw_number())

    def _raw_number(self) -> bytes:
        assert self.wire_type in (I64, I32) and isinstance(self.value, bytes)
        return self.value

    # --- readings of a LEN payload ----------------------------------------------------

    @property
    def text(self) -> str | None:
        """The payload as text when it is valid UTF-8, else None."""
        try:
            return self._payload().decode("utf-8")
        except UnicodeDecodeError:
            return None

    @property
    def packed_varints(self) -> list[int] | None:
        """The payload as packed repeated varints when it reads as such, else None."""
        try:
            return read_packed_varints(self._payload())
        except DecodeError:
            return None

    def packed_fixed(self, size: int) -> list[bytes] | None:
        """The payload as packed repeated fixed-size values (size 4: fixed32, sfixed32,
        float; size 8: fixed64, sfixed64, double), each value's raw bytes, or None when
        the length is not a multiple of `size`. Read them with as_fixed, as_floating..."""
        payload = self._payload()
        if len(payload) % size:
            return None
        return [payload[start:start + size] for start in range(0, len(payload), size)]

    def _payload(self) -> bytes:
        assert self.wire_type == LEN and isinstance(self.value, bytes)
        return self.value

    # --- readings of a group ------------------------------------------------------------

    @property
    def group(self) -> list[Field]:
        assert self.wire_type == SGROUP and isinstance(self.value, list)
        return self.value


def to_signed(value: int, bits: int) -> int:
    """Two's complement: the top bit set means negative."""
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def as_fixed(raw: bytes) -> int:
    """4 or 8 bytes as fixed32/fixed64: unsigned, least significant byte first."""
    return int.from_bytes(raw, "little")


def as_sfixed(raw: bytes) -> int:
    """4 or 8 bytes as sfixed32/sfixed64: two's complement, least significant byte first."""
    return int.from_bytes(raw, "little", signed=True)


def as_floating(raw: bytes) -> float:
    """4 bytes as a float, 8 bytes as a double (IEEE 754, little-endian)."""
    return struct.unpack("<d" if len(raw) == 8 else "<f", raw)[0]


def zigzag_decode(value: int) -> int:
    """ZigZag maps signed to unsigned so that small negatives stay short: n -> 2n or
    -2n-1. Decoding undoes it: the lowest bit is the sign."""
    return (value >> 1) ^ -(value & 1)


def read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The varint that starts at `pos`, and the position after it."""
    # BEGIN SOLUTION VARINT: 7 bits a byte, lowest first; a set top bit (0x80) says more follow
    value = 0
    for index in range(MAX_VARINT_BYTES):
        if pos + index >= end:
            raise DecodeError(pos + index, "another byte of the varint that starts at byte "
                              f"{pos}", "the end of the input")
        byte = data[pos + index]
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            # 10 bytes carry 70 bits: like the protobuf runtimes, keep the low 64.
            return value & 0xFFFF_FFFF_FFFF_FFFF, pos + index + 1
    raise DecodeError(pos + MAX_VARINT_BYTES - 1, f"the last byte of the varint that starts "
                      f"at byte {pos} (a varint has 10 bytes at most)",
                      f"{data[pos + MAX_VARINT_BYTES - 1]:02x}, which says more bytes follow")
    # END SOLUTION


def read_i64(data: bytes, pos: int, end: int) -> bytes:
    """The 8 bytes of an I64 value (fixed64, sfixed64, double) at `pos`."""
    # BEGIN SOLUTION I64: take the next 8 bytes (a little-endian fixed64, sfixed64 or double)
    if pos + 8 > end:
        raise DecodeError(pos, "8 bytes of an I64 value", f"only {end - pos} before the end")
    return data[pos:pos + 8]
    # END SOLUTION


def read_i32(data: bytes, pos: int, end: int) -> bytes:
    """The 4 bytes of an I32 value (fixed32, sfixed32, float) at `pos`."""
    # BEGIN SOLUTION I32: take the next 4 bytes (a little-endian fixed32, sfixed32 or float)
    if pos + 4 > end:
        raise DecodeError(pos, "4 bytes of an I32 value", f"only {end - pos} before the end")
    return data[pos:pos + 4]
    # END SOLUTION


def read_len(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A LEN value at `pos`: where its payload starts and where it ends."""
    # BEGIN SOLUTION LEN: read the length (a varint), then check that many payload bytes follow
    length, start = read_varint(data, pos, end)
    if length > end - start:
        raise DecodeError(pos, f"a length of at most {end - start} (the bytes left)",
                          f"{length}")
    return start, start + length
    # END SOLUTION


def read_group(data: bytes, pos: int, end: int, number: int, depth: int,
               group_offset: int) -> tuple[list[Field], int, int]:
    """The fields of a group that opened (SGROUP of field `number`) at `group_offset`;
    decoding starts at `pos`. Returns the fields, where the EGROUP tag starts and the
    position after it."""
    # BEGIN SOLUTION Groups: decode fields up to the EGROUP tag of the same field number
    fields: list[Field] = []
    while pos < end:
        tag_offset = pos
        field_number, wire_type, pos = read_tag(data, pos, end)
        if wire_type == EGROUP:
            if field_number != number:
                raise DecodeError(tag_offset, f"the EGROUP of field {number} (its group "
                                  f"opened at byte {group_offset})",
                                  f"an EGROUP of field {field_number}")
            return fields, tag_offset, pos
        member = read_field(data, tag_offset, pos, end, field_number, wire_type, depth)
        fields.append(member)
        pos = member.end
    raise DecodeError(end, f"the EGROUP of field {number} (its group opened at byte "
                      f"{group_offset})", "the end of the input")
    # END SOLUTION


def read_tag(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """The field number and wire type of the tag at `pos`, and the position after it."""
    tag, after = read_varint(data, pos, end)
    if tag > 0xFFFF_FFFF:
        raise DecodeError(pos, f"a tag of 32 bits at most (field numbers up to "
                          f"{MAX_FIELD_NUMBER})", f"field number {tag >> 3}")
    field_number, wire_type = tag >> 3, tag & 0x7
    if wire_type not in WIRE_TYPE_NAMES:
        raise DecodeError(pos, "a wire type from 0 to 5 in the tag's lowest 3 bits",
                          f"wire type {wire_type} (tag {data[pos:after].hex(' ')})")
    if field_number == 0:
        raise DecodeError(pos, f"a field number from 1 to {MAX_FIELD_NUMBER}",
                          f"field number 0 (tag {data[pos:after].hex(' ')})")
    return field_number, wire_type, after


def read_field(data: bytes, offset: int, pos: int, end: int, field_number: int,
               wire_type: int, depth: int) -> Field:
    """The value of the field whose tag (at `offset`) ends at `pos`."""
    def make(value_offset: int, field_end: int, value: int | bytes | list[Field],
             **extra) -> Field:
        return Field(field_number, wire_type, offset, value_offset, field_end, value, **extra)

    if wire_type == VARINT:
        number, after = read_varint(data, pos, end)
        return make(pos, after, number)
    if wire_type == I64:
        return make(pos, pos + 8, read_i64(data, pos, end))
    if wire_type == I32:
        return make(pos, pos + 4, read_i32(data, pos, end))
    if wire_type == LEN:
        start, stop = read_len(data, pos, end)
        return make(start, stop, data[start:stop], length_offset=pos,
                    message=try_message(data, start, stop, depth + 1))
    if wire_type == SGROUP:
        if depth >= MAX_DEPTH:
            raise DecodeError(offset, f"at most {MAX_DEPTH} nested groups and messages")
        fields, close, after = read_group(data, pos, end, field_number, depth + 1, offset)
        return make(pos, after, fields, group_end_offset=close)
    # EGROUP: read_group consumes the EGROUP that closes its group; any other is stray.
    raise DecodeError(offset, "an SGROUP before this EGROUP of field "
                      f"{field_number}", "no open group")


def read_fields(data: bytes, pos: int, end: int, depth: int) -> list[Field]:
    """Every field from `pos` to `end`, which must end exactly at a field's end."""
    fields: list[Field] = []
    try:
        while pos < end:
            field_number, wire_type, after = read_tag(data, pos, end)
            found = read_field(data, pos, after, end, field_number, wire_type, depth)
            fields.append(found)
            pos = found.end
    except DecodeError as error:
        error.fields = fields
        raise
    return fields


def try_message(data: bytes, start: int, stop: int, depth: int) -> list[Field] | None:
    """The fields of a LEN payload when all of it decodes as a message, else None.
    An empty payload is no message here: it reads as "" (and as an empty message)."""
    if start == stop or depth > MAX_DEPTH:
        return None
    try:
        return read_fields(data, start, stop, depth)
    except DecodeError:
        return None


def read_packed_varints(payload: bytes) -> list[int]:
    """Packed repeated int32, int64, uint, sint, bool, enum: varints back to back, no tags.
    Raises DecodeError (offsets counted from the payload's start) if they do not fit."""
    values = []
    pos = 0
    while pos < len(payload):
        value, pos = read_varint(payload, pos, len(payload))
        values.append(value)
    return values


def decode(data: bytes) -> list[Field]:
    """Decode protobuf bytes into their fields, without knowing the message type.

    Raises DecodeError (naming the byte offset and what was expected) for bytes that are
    not valid wire format; its `fields` holds what was decoded before the error."""
    return read_fields(bytes(data), 0, len(data), 0)
