"""protobuf_exploration, hidden tests: the starter copy does not ship them, and students see
their results once grades are published (rubric item `any-message`, hidden=True).

The visible tests decode the slides' messages and a few chosen bytes; these decode what
the protobuf runtime writes for messages a student has not seen: random names of any
length and script, random doubles of every kind, fields left out because they hold their
default (proto3 sends no 0 and no ""), and strings whose lengths sit at the edges of one,
two and three varint bytes.
"""

from __future__ import annotations

import random
import struct

from labkit.procs import LabRunner
from tests.test_protobuf_exploration import (
    GreetRequest,
    MultResponse,
    assert_decodes,
    text_field,
)

LAB = "protobuf_exploration"
SEED = 20250512
ALPHABET = "aZ 09-é李😀\u0301\t\\'\""


def random_double(rng: random.Random) -> float:
    """Any double but NaN (which compares unequal to itself): 64 random bits."""
    while True:
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if value == value:
            return rng.choice([value, 0.0, -0.0, float(rng.randint(-9, 9)), value / 1e300])


def test_any_message_the_runtime_writes(lab: LabRunner) -> None:
    rng = random.Random(SEED)
    cases = {}
    for number in range(40):
        name = "".join(rng.choice(ALPHABET) for _ in range(rng.choice([0, 3, 60, 900])))
        institution = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 30)))
        message = GreetRequest(user_name=name, institution=institution)
        cases[f"random GreetRequest {number}"] = message.SerializeToString()
    for number in range(40):
        message = MultResponse(xin=random_double(rng), yin=random_double(rng),
                               result=random_double(rng))
        cases[f"random MultResponse {number} ({message})".replace("\n", " ")] = \
            message.SerializeToString()
    assert_decodes(lab, cases)


def test_lengths_at_the_edges_of_varint_bytes(lab: LabRunner) -> None:
    # 127 fits in one varint byte, 128 needs two; 16383 fits in two, 16384 needs three.
    assert_decodes(lab, {f"a {n}-byte name": text_field(1, "n" * n) + text_field(2, "end")
                         for n in (127, 128, 16383, 16384)})
