"""JSON against Protobuf: size, encode time and decode time, for two messages.

    python benchmark.py                 # a few seconds
    python benchmark.py --number 2000   # quicker, noisier

For each message it prints the size of each encoding and the median time of one encode
and one decode, then the JSON/Protobuf ratios (above 1: Protobuf is smaller or faster).
JSON is counted as the slides count it: `json.dumps` as it comes for GreetRequest (the 48
bytes of compare_with_json), no whitespace for the Person record (the 81 bytes of the
encodings table). Times depend on the machine; the ratios are what to compare.
"""

from __future__ import annotations

# First: from here on, Ctrl+C ends the program quietly, even while it is still loading.
# calling.py holds what every program of the labs does the same way (flags, Ctrl+C...).
import calling

import json
import logging
import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass

import assistant_pb2
from encodings_table import PERSON, load_person_proto


@dataclass
class Case:
    """One message in both encodings: how to encode it and how to decode the bytes."""

    name: str
    json_encode: Callable[[], bytes]
    json_decode: Callable[[bytes], object]
    proto_encode: Callable[[], bytes]
    proto_decode: Callable[[bytes], object]


def cases() -> list[Case]:
    greet = {"user_name": "Peter", "institution": "SUSTech"}
    greet_msg = assistant_pb2.GreetRequest(**greet)
    person_pb2 = load_person_proto()
    person_msg = person_pb2.Person(user_name=PERSON["userName"],
                                   favorite_number=PERSON["favoriteNumber"],
                                   interests=PERSON["interests"])
    return [
        Case("GreetRequest",
             lambda: json.dumps(greet).encode("utf-8"), json.loads,
             greet_msg.SerializeToString, assistant_pb2.GreetRequest.FromString),
        Case("Person",
             lambda: json.dumps(PERSON, separators=(",", ":")).encode("utf-8"), json.loads,
             person_msg.SerializeToString, person_pb2.Person.FromString),
    ]


def median_seconds(action: Callable[[], object], number: int, repeat: int) -> float:
    """The median over `repeat` runs of the time of one call (each run makes `number`)."""
    runs = timeit.repeat(action, number=number, repeat=repeat)
    return statistics.median(runs) / number


def measure(case: Case, number: int, repeat: int) -> dict[str, tuple[int, float, float]]:
    """Per format: (size in bytes, encode seconds, decode seconds)."""
    rows = {}
    for fmt, encode, decode in (("JSON", case.json_encode, case.json_decode),
                                ("Protobuf", case.proto_encode, case.proto_decode)):
        data = encode()
        rows[fmt] = (len(data), median_seconds(encode, number, repeat),
                     median_seconds(lambda d=data, f=decode: f(d), number, repeat))
    return rows


def print_table(results: list[tuple[str, dict[str, tuple[int, float, float]]]]) -> None:
    print(f"{'message':<13} {'format':<15} {'size (B)':>9} {'encode (µs)':>12} "
          f"{'decode (µs)':>12}")
    for name, rows in results:
        for fmt, (size, enc, dec) in rows.items():
            print(f"{name:<13} {fmt:<15} {size:>9} {enc * 1e6:>12.2f} {dec * 1e6:>12.2f}")
        (j_size, j_enc, j_dec), (p_size, p_enc, p_dec) = rows["JSON"], rows["Protobuf"]
        print(f"{name:<13} {'JSON/Protobuf':<15} {j_size / p_size:>8.1f}x "
              f"{j_enc / p_enc:>11.1f}x {j_dec / p_dec:>11.1f}x")


def main() -> int:
    parser = calling.ArgumentParser(description="Size and speed of JSON and Protobuf")
    # (A million calls per run take a few seconds; more would take minutes per row.)
    parser.add_argument("--number", type=calling.whole_number(1, 10**6), default=20000,
                        help="calls per timing run (default: 20000)")
    parser.add_argument("--repeat", type=calling.whole_number(1, 100), default=7,
                        help="timing runs; the median is shown (default: 7)")
    args = parser.parse_args()
    results = [(case.name, measure(case, args.number, args.repeat)) for case in cases()]
    print_table(results)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    calling.run_main(main)
