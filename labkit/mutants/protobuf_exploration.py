"""Mistakes students make in protobuf_exploration (see labkit/mutants/__init__.py).

The slides' own decoder is "lazy": it takes the byte after a tag for the length, and the
tag for one byte. The mistakes below are that laziness and its cousins (varints read in
the wrong order or with their continuation bit, a length counted in characters), the
mini-task's double read the wrong way round, and a decoder that trusts its input.
"""

from labkit.mutants import Mutant

MUTANTS = [
    # x_main_reduced.py: tags and lengths
    Mutant("tag-read-as-one-byte", "x_main_reduced.py",
           "tag, ptr = read_varint(binary_str, ptr)",
           "tag, ptr = binary_str[ptr], ptr + 1",
           "the tag is taken as one byte: field numbers from 16 on (two-byte tags) break",
           central=True),
    Mutant("length-read-as-one-byte", "x_main_reduced.py",
           "length, ptr = read_varint(binary_str, ptr)",
           "length, ptr = binary_str[ptr], ptr + 1",
           "the slides' lazy decoder: the length is the next byte, so a string of 128 bytes "
           "or more breaks", central=True),
    Mutant("length-counted-in-characters", "x_main_reduced.py",
           "            ptr += length\n",
           '            ptr += len(record["payload"])\n',
           "the pointer moves by the string's characters, not its bytes: é and 李 break it",
           central=True),
    Mutant("i64-not-decoded", "x_main_reduced.py",
           '        elif record["wire_type"] == I64:\n'
           '            record["wire_type_name"] = "I64"\n'
           '            record["payload"], ptr = decode_i64_payload(binary_str, ptr)\n',
           "",
           "only LEN records are decoded: the mini-task's MultResponse stops at its first "
           "double", central=True),
    # x_main_reduced.py: the mini-task's double
    Mutant("double-big-endian", "x_main_reduced.py",
           'struct.unpack("<d", binary_str[ptr:ptr + 8])',
           'struct.unpack(">d", binary_str[ptr:ptr + 8])',
           "the 8 bytes are read as a big-endian double (protobuf is little-endian)",
           central=True),
    Mutant("double-read-as-float", "x_main_reduced.py",
           'struct.unpack("<d", binary_str[ptr:ptr + 8])',
           'struct.unpack("<f", binary_str[ptr:ptr + 4])',
           "the I64 record is read as a 4-byte float", central=True),
    # wire_decoder.py
    Mutant("varint-keeps-continuation-bit", "wire_decoder.py",
           "value |= (byte & 0x7F) << (7 * index)",
           "value |= byte << (7 * index)",
           "each varint byte is added whole, its continuation bit (0x80) too", central=True),
    Mutant("varint-highest-group-first", "wire_decoder.py",
           "value |= (byte & 0x7F) << (7 * index)",
           "value = (value << 7) | (byte & 0x7F)",
           "the varint's 7-bit groups are put together highest first (they come lowest "
           "first)", central=True),
    Mutant("varint-keeps-70-bits", "wire_decoder.py",
           "return value & 0xFFFF_FFFF_FFFF_FFFF, pos + index + 1",
           "return value, pos + index + 1",
           "a 10-byte varint keeps all its 70 bits instead of the low 64, as the runtimes do"),
    Mutant("len-trusts-the-length", "wire_decoder.py",
           "    if length > end - start:\n"
           '        raise DecodeError(pos, f"a length of at most {end - start} (the bytes '
           'left)",\n'
           '                          f"{length}")\n',
           "",
           "a length past the end of the input is not checked: the payload is silently cut"),
    Mutant("egroup-of-any-field", "wire_decoder.py",
           "            if field_number != number:\n"
           '                raise DecodeError(tag_offset, f"the EGROUP of field {number} (its '
           'group "\n'
           '                                  f"opened at byte {group_offset})",\n'
           '                                  f"an EGROUP of field {field_number}")\n',
           "",
           "any EGROUP closes the group, also one of another field number"),
    Mutant("i32-takes-8-bytes", "wire_decoder.py",
           "return data[pos:pos + 4]",
           "return data[pos:pos + 8]",
           "an I32 value (float, fixed32) is read as 8 bytes, like an I64", central=True),
]
