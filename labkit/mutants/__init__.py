"""Mutants: student-like mistakes that the grading must catch (`python -m labkit check`).

Each lab has a module here (`labkit/mutants/<lab>.py`) with a list MUTANTS: mistakes that
students make, written from the slides and from how students go wrong, each a small edit
inside a solution region of the reference. `labkit check` applies each to a copy of the
reference lab and grades it with the lab's tests: every mutant must lose points, and one
marked `central` (it breaks the lab's central lesson) at least a quarter of the lab's.

This folder stays out of the starter copy: students do not get a list of the mistakes
the tests look for.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from labkit.labs import LABS


@dataclass(frozen=True)
class Mutant:
    name: str  # short id, unique in its lab: "no-deadline"
    file: str  # path inside the lab folder: "client.py"
    find: str  # exact text of the reference, inside one solution region
    replace: str  # what the student wrote instead
    about: str  # the mistake, in a sentence
    central: bool = False  # breaks the central lesson: must cost >= 1/4 of the lab's points


def mutants_of(lab: str) -> list[Mutant]:
    """The mutants of one lab (none when its module does not exist yet)."""
    try:
        module = importlib.import_module(f"labkit.mutants.{lab}")
    except ModuleNotFoundError:
        return []
    return list(module.MUTANTS)


def all_mutants() -> dict[str, list[Mutant]]:
    return {lab.name: mutants_of(lab.name) for lab in LABS}
