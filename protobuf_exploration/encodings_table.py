"""One record, five encodings: how many bytes each one needs, and which bytes.

The Person record of the slides (Kleppmann, "Designing Data-Intensive Applications",
chapter 4) is encoded by a real library for each format:

    JSON without whitespace   json (standard library)        81 bytes
    MessagePack               msgpack                        66
    Thrift BinaryProtocol     thriftpy2, with person.thrift  59
    Thrift CompactProtocol    thriftpy2, with person.thrift  34
    Protocol Buffers          protobuf, with person.proto    33

Run `python encodings_table.py` (add `--favourite` for the British spelling of the key).
"""

from __future__ import annotations

# First: from here on, Ctrl+C ends the program quietly, even while it is still loading.
# calling.py holds what every program of the labs does the same way (Ctrl+C, output...).
import calling

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent

PERSON = {
    "userName": "Martin",
    "favoriteNumber": 1337,
    "interests": ["daydreaming", "hacking"],
}
ROW_BYTES = 20  # hex bytes per row, as on the slides


def person_record(favourite: bool = False) -> dict:
    """The record as JSON and MessagePack see it: keys and values. With `favourite`, the
    key is spelled "favouriteNumber" (one letter more in every encoding that sends keys)."""
    if not favourite:
        return dict(PERSON)
    return {("favouriteNumber" if key == "favoriteNumber" else key): value
            for key, value in PERSON.items()}


def encode_json(record: dict) -> bytes:
    # separators without spaces: the 81 bytes of the slide have no whitespace at all
    return json.dumps(record, separators=(",", ":")).encode("utf-8")


def encode_msgpack(record: dict) -> bytes:
    import msgpack

    return msgpack.packb(record)


def load_thrift() -> ModuleType:
    """The Person struct of person.thrift (thriftpy2 parses the IDL, no code generation)."""
    import thriftpy2

    return thriftpy2.load(str(HERE / "person.thrift"), module_name="person_thrift")


def encode_thrift(record: dict, compact: bool) -> bytes:
    from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
    from thriftpy2.utils import serialize

    # Thrift sends field tags (1, 2, 3) instead of keys: the key's spelling does not matter.
    person_thrift = load_thrift()
    values = list(record.values())
    person = person_thrift.Person(userName=values[0], favoriteNumber=values[1],
                                  interests=values[2])
    factory = TCompactProtocolFactory() if compact else TBinaryProtocolFactory()
    return serialize(person, factory)


def load_person_proto() -> ModuleType:
    """The module that protoc generates for person.proto, generated in memory now:
    `grpc.protos` runs grpcio-tools' protoc on a .proto found on sys.path."""
    import grpc

    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return grpc.protos("person.proto")


def encode_protobuf(record: dict) -> bytes:
    # Like Thrift, Protobuf sends field numbers, not names.
    user_name, favorite_number, interests = record.values()
    person = load_person_proto().Person(user_name=user_name, favorite_number=favorite_number,
                                        interests=interests)
    return person.SerializeToString()


ENCODINGS: list[tuple[str, Callable[[dict], bytes]]] = [
    ("JSON (no whitespace)", encode_json),
    ("MessagePack", encode_msgpack),
    ("Thrift BinaryProtocol", lambda record: encode_thrift(record, compact=False)),
    ("Thrift CompactProtocol", lambda record: encode_thrift(record, compact=True)),
    ("Protocol Buffers", encode_protobuf),
]


def encode_all(favourite: bool = False) -> list[tuple[str, bytes]]:
    """Every encoding of the record, in the slides' order: (name, bytes)."""
    record = person_record(favourite)
    return [(name, encode(record)) for name, encode in ENCODINGS]


def print_table(rows: list[tuple[str, bytes]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"{'encoding':<{width}}  {'bytes':>5}  hex")
    for name, data in rows:
        chunks = [data[i:i + ROW_BYTES].hex(" ") for i in range(0, len(data), ROW_BYTES)]
        print(f"{name:<{width}}  {len(data):>5}  {chunks[0]}")
        for chunk in chunks[1:]:
            print(f"{'':<{width}}  {'':>5}  {chunk}")


def main() -> int:
    parser = calling.ArgumentParser(description="Encode the slides' Person record as JSON, "
                                     "MessagePack, Thrift (binary, compact) and Protobuf")
    parser.add_argument("--favourite", action="store_true",
                        help='spell the key "favouriteNumber" (British) instead of '
                        '"favoriteNumber"')
    args = parser.parse_args()
    record = person_record(args.favourite)
    print(f"Person record: {json.dumps(record)}")
    print()
    print_table(encode_all(args.favourite))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    calling.run_main(main)
