"""multiplexing, in process: the FIFO predictor and the timeline chart of timeline.py.

timeline.py is pure Python (no stubs), loaded from the lab under --lab-root under a
module name of its own, so that it never clashes with another lab's modules.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

LAB = "multiplexing"
A, B = 5.0, 3.0  # the slides' ChillA and ChillB


@pytest.fixture(scope="module")
def timeline(lab_root: Path) -> ModuleType:
    path = lab_root / LAB / "timeline.py"
    spec = importlib.util.spec_from_file_location("multiplexing_lab_timeline", path)
    assert spec and spec.loader, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("durations", "workers", "total"),
    [
        ([A, B], 3, 5.0),  # slides: -a 1 -b 1, enough workers
        ([A, A, B, B], 3, 6.0),  # slides: -a 2 -b 2, the last ChillB waits for ChillB 0
        ([A, A, B, B], 4, 5.0),  # a worker for every call
        ([B, B, A, A], 3, 8.0),  # same calls, other order: the last ChillA waits 3 s
        ([A, A, B, B], 1, 16.0),  # one worker: one after the other
        ([A, B, A, B, A, B], 3, 10.0),  # interleaved arrival, as gRPC Python may queue them
        ([A, A, A, B, B, B], 3, 8.0),
        ([], 3, 0.0),
    ],
)
def test_fifo_total(timeline: ModuleType, durations, workers, total) -> None:
    assert timeline.fifo_total(durations, workers) == pytest.approx(total)


def test_fifo_schedule_gives_each_call_to_the_first_free_worker(timeline: ModuleType) -> None:
    schedule = timeline.fifo_schedule([A, A, B, B], 3)
    assert schedule == [(0.0, 5.0), (0.0, 5.0), (0.0, 3.0), (3.0, 6.0)]
    # Ties: the queue order decides, not the duration.
    assert timeline.fifo_schedule([1.0, 1.0, 2.0, 0.5], 2) == [
        (0.0, 1.0), (0.0, 1.0), (1.0, 3.0), (1.0, 1.5)]


@pytest.mark.parametrize(("durations", "workers"), [([1.0], 0), ([1.0], -2), ([-1.0], 3)])
def test_fifo_schedule_refuses_nonsense(timeline: ModuleType, durations, workers) -> None:
    with pytest.raises(ValueError):
        timeline.fifo_schedule(durations, workers)


def call(timeline: ModuleType, label: str, replied: float, queued: float | None,
         ran: float | None, arrival: int | None):
    """A call sent at 0 s, with what the server said about it."""
    return timeline.CallTiming(label, 0.0, replied, arrival, queued, ran)


def test_timeline_shows_waiting_then_running(timeline: ModuleType) -> None:
    calls = [
        call(timeline, "ChillA 0", 5.0, 0.0, 5.0, 0),
        call(timeline, "ChillA 1", 5.0, 0.0, 5.0, 1),
        call(timeline, "ChillB 0", 3.0, 0.0, 3.0, 2),
        call(timeline, "ChillB 1", 6.0, 3.0, 3.0, 3),
    ]
    lines = timeline.render_timeline(calls, width=60)
    rows = {line.split("|")[0].strip(): line for line in lines if "|" in line}
    assert list(rows) == ["ChillA 0", "ChillA 1", "ChillB 0", "ChillB 1"]  # one row per call
    bars = {label: row.split("|")[1] for label, row in rows.items()}
    assert all(len(bar) == 60 for bar in bars.values())
    # 6 s over 60 columns: 0.1 s a column.
    assert bars["ChillA 0"] == "#" * 50 + " " * 10
    assert bars["ChillB 0"] == "#" * 30 + " " * 30
    assert bars["ChillB 1"] == "-" * 30 + "#" * 30
    assert "waited 3.00 s, ran 3.00 s" in rows["ChillB 1"]
    assert "waited" not in rows["ChillA 0"]
    # The axis names whole seconds from 0s to 6s.
    axis = lines[1]
    assert axis.split() == ["0s", "1s", "2s", "3s", "4s", "5s", "6s"]
    assert axis.index("3s") == rows["ChillB 1"].index("|") + 1 + 30


def test_timeline_leaves_the_requests_trip_blank(timeline: ModuleType) -> None:
    # Sent at 0, reached the queue at 1, waited 1, ran 2, replied at 4 (8 columns).
    late = call(timeline, "ChillB 9", 4.0, 1.0, 2.0, 0)
    assert late.phases() == (1.0, 2.0)
    assert timeline.bar(late, 4.0, width=8) == "  --####"


def test_timeline_of_no_calls_is_empty(timeline: ModuleType) -> None:
    assert timeline.render_timeline([]) == []


def test_prediction_uses_the_servers_arrival_order(timeline: ModuleType) -> None:
    # Sent A, A, B, B; the server queued them B, B, A, A: 3 workers predict 8 s, not 6 s.
    calls = [
        call(timeline, "ChillA 0", 5.0, 0.0, 5.0, 2),
        call(timeline, "ChillA 1", 8.0, 3.0, 5.0, 3),
        call(timeline, "ChillB 0", 3.0, 0.0, 3.0, 0),
        call(timeline, "ChillB 1", 3.0, 0.0, 3.0, 1),
    ]
    line = timeline.prediction_line(calls, 3, 8.01)
    assert line == "FIFO prediction with 3 workers = 8.00 seconds, measured = 8.01 seconds."


def test_timeline_without_the_servers_numbers_has_no_prediction(timeline: ModuleType) -> None:
    calls = [call(timeline, "ChillA 0", 5.0, None, None, None)]
    assert "not possible" in timeline.prediction_line(calls, 3, 5.0)
    row = timeline.render_timeline(calls)[-1]
    assert "#" * 60 in row  # the whole call, as the client saw it
