"""Explore Protobuf: serialize a message, decode its bytes by hand, compare with JSON.

    python x_main_reduced.py                    # GreetRequest: both parts, as on the slides
    python x_main_reduced.py --message mult     # the mini-task: MultResponse (doubles)
    python x_main_reduced.py --part json        # only compare_with_json()

`try_decode_proto_binary` is the small decoder that you write (strings and doubles);
`python decode.py` is the full one (every wire type), in wire_decoder.py.
"""

from __future__ import annotations

# First: from here on, Ctrl+C ends the program quietly, even while it is still loading.
# calling.py holds what every program of the labs does the same way (flags, Ctrl+C...).
import calling

import argparse
import json
import logging
import struct

import assistant_pb2
from google.protobuf.message import Message

# Wire types (https://protobuf.dev/programming-guides/encoding/#structure): the lowest
# 3 bits of every tag. This demo decodes two of them; wire_decoder.py decodes all six.
I64 = 1  # 8 bytes: double, fixed64, sfixed64
LEN = 2  # a length, then that many bytes: string, bytes, nested message, packed numbers


def make_message(kind: str, args: argparse.Namespace) -> Message:
    """The message that the slides serialize: a GreetRequest, or the mini-task's MultResponse."""
    if kind == "mult":
        return assistant_pb2.MultResponse(xin=args.xin, yin=args.yin, result=args.xin * args.yin)
    return assistant_pb2.GreetRequest(user_name=args.user_name, institution=args.institution)


def read_varint(data: bytes, ptr: int) -> tuple[int, int]:
    """Read the varint at data[ptr]: 7 bits of the number per byte, the lowest bits first;
    a byte with its top bit (0x80) set says that another byte follows.
    Returns the number and the position after it. 150 is 96 01: 0x16 + (0x01 << 7)."""
    value = 0
    shift = 0
    while True:
        if ptr >= len(data):
            raise ValueError(f"the bytes end inside a varint (at byte {ptr})")
        byte = data[ptr]
        ptr += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, ptr
        if shift >= 70:
            raise ValueError(f"a varint longer than 10 bytes ends at byte {ptr}")


def try_decode_proto_binary(binary_str: bytes) -> dict[int, object]:
    """Decode the bytes of a GreetRequest or a MultResponse without the .proto file:
    print one record per field, then the field numbers with their values."""
    result: dict[int, object] = {}
    ptr = 0
    while ptr < len(binary_str):
        record: dict[str, object] = {}  # field_number, wire_type, wire_type_name, ..., payload
        # BEGIN SOLUTION Tag varint: field_number, wire_type; LEN: length varint, text; I64 records
        tag, ptr = read_varint(binary_str, ptr)
        record["field_number"] = tag >> 3
        record["wire_type"] = tag & 0x7
        if record["wire_type"] == LEN:
            record["wire_type_name"] = "LEN"
            # The length is a varint too: one byte up to 127, more for longer strings.
            length, ptr = read_varint(binary_str, ptr)
            record["length"] = length
            if ptr + length > len(binary_str):
                raise ValueError(f"a length of {length} at byte {ptr} runs past the end")
            record["payload"] = binary_str[ptr:ptr + length].decode("utf-8")
            ptr += length
        elif record["wire_type"] == I64:
            record["wire_type_name"] = "I64"
            record["payload"], ptr = decode_i64_payload(binary_str, ptr)
        else:
            raise ValueError(f"wire type {record['wire_type']} is not decoded here "
                             "(python decode.py decodes them all)")
        result[record["field_number"]] = record["payload"]
        # END SOLUTION
        print(f">>> Record: {record}")
    print(">>> Final Result:")
    print(result)
    return result


def decode_i64_payload(binary_str: bytes, ptr: int) -> tuple[float, int]:
    """MINI-TASK: the double stored in the 8 bytes at binary_str[ptr], and the position
    after them."""
    # BEGIN SOLUTION Mini-task: 8 bytes at ptr, a little-endian double; return (value, ptr + 8)
    if ptr + 8 > len(binary_str):
        raise ValueError(f"an I64 value needs 8 bytes at byte {ptr}")
    # "<d": little-endian ("<"), 8-byte IEEE 754 double ("d").
    (value,) = struct.unpack("<d", binary_str[ptr:ptr + 8])
    return value, ptr + 8
    # END SOLUTION


def serialize_and_deserialize(init_msg: Message) -> None:
    print(f"> Initial Message:\n{init_msg}")
    # serialize: the bytes that gRPC would send for this message
    binary_req = init_msg.SerializeToString()
    print(f"> After Serialization: {binary_req}")
    print(">>> Binary form:", " ".join(f"{byte:08b}" for byte in binary_req))
    print(f">>> Hex Representation: {binary_req.hex(' ')}")
    print(">>> Trying to decode the serialized message...")
    print()
    try:
        try_decode_proto_binary(binary_req)
    except NotImplementedError as todo:
        print(f">>> Not written yet: {calling.todo_line(todo)}")
    except ValueError as error:  # also UnicodeDecodeError: a payload that is not UTF-8
        print(f">>> Could not decode: {error}")
    print()
    # deserialize: an empty message of the same type, filled from the bytes
    recovered_msg = type(init_msg)()
    recovered_msg.ParseFromString(binary_req)
    print(f"> Deserialized Message:\n{recovered_msg}")


def compare_with_json(init_msg: Message) -> None:
    # The same fields as a Python dict, serialized as JSON (field names travel too)...
    json_req = {field.name: value for field, value in init_msg.ListFields()}
    ser_json = json.dumps(json_req).encode("utf-8")
    print(f"> JSON serialized into {len(ser_json)} bytes: {ser_json}")
    # ... and through Protobuf (only field numbers travel)
    proto_req = type(init_msg)(**json_req)
    binary_req = proto_req.SerializeToString()
    print(f"> Protobuf serialized into {len(binary_req)} bytes: {binary_req}")


def parse_args() -> argparse.Namespace:
    parser = calling.ArgumentParser(description="Serialize a protobuf message, decode its "
                                     "bytes by hand and compare its size with JSON")
    parser.add_argument("--message", choices=["greet", "mult"], default="greet",
                        help="greet: GreetRequest (default); mult: MultResponse, the mini-task")
    parser.add_argument("--part", choices=["all", "serialize", "json"], default="all",
                        help="serialize: serialize_and_deserialize(); json: "
                        "compare_with_json(); all: both (default)")
    parser.add_argument("--user-name", type=calling.text, default="Peter",
                        help="GreetRequest.user_name")
    parser.add_argument("--institution", type=calling.text, default="SUSTech",
                        help="GreetRequest.institution")
    parser.add_argument("--xin", type=float, default=3.5, help="MultResponse.xin")
    parser.add_argument("--yin", type=float, default=7.0, help="MultResponse.yin")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    init_msg = make_message(args.message, args)
    if args.part in ("all", "serialize"):
        serialize_and_deserialize(init_msg)
    if args.part in ("all", "json"):
        compare_with_json(init_msg)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    calling.run_main(main)
