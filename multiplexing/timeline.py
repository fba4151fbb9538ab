"""What the client prints after its calls: a timeline chart, and what a FIFO pool predicts.

Pure functions, no gRPC: easy to read, easy to test (`tests/test_multiplexing.py` calls
them in a child process).
"""

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 60  # columns of the chart: reads on a projector, fits an 80-column terminal
RUNNING = "#"  # the call ran on a server worker
WAITING = "-"  # the call waited in the server's queue for a free worker
# Distances between the labels of the time axis, in seconds: the smallest that leaves
# room for the label is used.
TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


@dataclass(frozen=True)
class CallTiming:
    """One finished call. Times are seconds since the client started its calls."""

    label: str  # "ChillA 0"
    sent: float  # when the client sent the request
    replied: float  # when the reply came back
    # What the server said in the trailing metadata (None: it did not say):
    arrival: int | None = None  # its number for the call: 0 joined its queue first
    queued: float | None = None  # seconds the call waited in the queue for a worker
    ran: float | None = None  # seconds it then ran on a worker

    @property
    def known(self) -> bool:
        """Did the server say how long the call waited and ran?"""
        return None not in (self.arrival, self.queued, self.ran)

    def phases(self) -> tuple[float, float]:
        """(waiting from, running from), on the client's clock.

        The server gives durations, not clock times, so that its clock and ours need not
        agree: the call ended on the server just before its reply reached us, so we
        count back from `replied`. What is left before that is the request's trip.
        """
        if not self.known:
            return self.sent, self.sent
        run_start = max(self.sent, self.replied - self.ran)
        return max(self.sent, run_start - self.queued), run_start


def fifo_schedule(durations: Sequence[float], workers: int) -> list[tuple[float, float]]:
    """(start, end) of each call on a pool of `workers` threads that serves calls first
    come, first served, when all the calls arrive at time 0 in the order given."""
    if workers < 1:
        raise ValueError(f"a pool needs 1 worker or more, got {workers}")
    if any(duration < 0 for duration in durations):
        raise ValueError(f"durations must be 0 or more, got {list(durations)}")
    # BEGIN SOLUTION Give each call, in order, to the worker that is free first.
    free_at = [0.0] * workers  # when each worker is free for its next call
    schedule = []
    for duration in durations:
        worker = free_at.index(min(free_at))  # the first worker to be free takes the call
        start = free_at[worker]
        free_at[worker] = start + duration
        schedule.append((start, start + duration))
    return schedule
    # END SOLUTION


def fifo_total(durations: Sequence[float], workers: int) -> float:
    """How long all the calls take together on a FIFO pool of `workers` threads."""
    return max((end for _, end in fifo_schedule(durations, workers)), default=0.0)


def tick_step(total: float, width: int = WIDTH) -> float:
    """Seconds between two labels of the time axis: at least 6 columns apart."""
    for step in TICK_STEPS:
        if step * width / total >= 6:
            return step
    return TICK_STEPS[-1]


def axis(total: float, indent: int, width: int = WIDTH) -> str:
    """The time axis above the chart: 0s, 1s, 2s, ... at their columns."""
    step = tick_step(total, width)
    line = " " * indent
    k = 0
    while k * step <= total:
        column = indent + round(k * step / total * width)
        label = f"{round(k * step, 3):g}s"
        line = line.ljust(column) + label
        k += 1
    return line


def bar(call: CallTiming, total: float, width: int = WIDTH) -> str:
    """One row of the chart: blank until the call reached the server's queue, then
    waiting for a worker, then running."""
    wait_start, run_start = call.phases()
    cells = []
    for column in range(width):
        t = (column + 0.5) * total / width  # the middle of this column, in seconds
        if run_start <= t < call.replied:
            cells.append(RUNNING)
        elif wait_start <= t < run_start:
            cells.append(WAITING)
        else:
            cells.append(" ")
    return "".join(cells)


def render_timeline(calls: Sequence[CallTiming], width: int = WIDTH) -> list[str]:
    """The chart, one row per call, as lines of text."""
    if not calls:
        return []
    total = max(call.replied for call in calls) or 1.0  # 1.0: no division by zero
    indent = max(len(call.label) for call in calls) + 2
    lines = [f"Timeline ({RUNNING} = running on the server, "
             f"{WAITING} = waiting for a free worker):",
             axis(total, indent, width)]
    for call in calls:
        if not call.known:
            note = f"took {call.replied - call.sent:.2f} s (the server did not say how long it ran)"
        elif call.queued >= 0.05:  # shorter: handing the call to a free worker, not a wait
            note = f"waited {call.queued:.2f} s, ran {call.ran:.2f} s"
        else:
            note = f"ran {call.ran:.2f} s"
        lines.append(f"{call.label.ljust(indent - 1)}|{bar(call, total, width)}| {note}")
    return lines


def prediction_line(calls: Sequence[CallTiming], workers: int, measured: float) -> str:
    """The total that a FIFO pool of `workers` predicts for these calls, next to ours."""
    if not all(call.known for call in calls):
        return "FIFO prediction: not possible, the server did not say how long the calls ran."
    # The order that counts is the one in which the calls joined the server's queue.
    in_arrival_order = sorted(calls, key=lambda call: call.arrival)
    predicted = fifo_total([call.ran for call in in_arrival_order], workers)
    return (f"FIFO prediction with {workers} workers = {predicted:.2f} seconds, "
            f"measured = {measured:.2f} seconds.")
