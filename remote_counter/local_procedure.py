"""The local procedure that this lab turns into a remote one: count(from_val, step_sec).

Run it with `python local_procedure.py` and stop it with Ctrl+C. server.py and client.py
split the same work across two processes: the server counts, the client logs.
"""

import argparse
import logging
import math
import time
from datetime import datetime


def seconds_text(seconds: float) -> str:
    """How the slides print a step: 2.0 as "2", 0.5 as "0.5"."""
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def count(from_val: int, step_sec: float, limit: int | None = None) -> None:
    """Progresses a counter from a starting value, adding 1 after every step_sec seconds,
    until Ctrl+C (or, with `limit`, after that many counts)."""
    request = f"from={from_val}, step={seconds_text(step_sec)}"
    cnt = from_val
    ended = "finished"
    try:
        # inside the try: Ctrl+C may come as soon as the program runs
        logging.info(f"Request: {request}")
        while limit is None or cnt - from_val < limit:
            # pause for step_sec seconds (Ctrl+C interrupts the sleep at once)
            time.sleep(step_sec)
            # increment counter by 1
            cnt += 1
            # log the counter update
            logging.info(f"{datetime.now()}: count={cnt}")
    except KeyboardInterrupt:
        # Ctrl+C raises KeyboardInterrupt wherever the program is: here, in the loop
        ended = "cancelled"
        logging.info("Process cancelled by user (Ctrl+C).")
    finally:
        # runs however the loop ends
        logging.info(f"Process {ended} for request: {request}")


def step_seconds(text: str) -> float:
    value = float(text)
    # time.sleep() cannot wait longer than about 292 years: a day is plenty
    if not math.isfinite(value) or not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 86400 seconds, "
                                         f"got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The local counter (remote_counter lab)")
    parser.add_argument("--from", dest="from_val", type=int, default=6,
                        help="value to count from; the first count is one more (default: 6)")
    parser.add_argument("--step", dest="step_sec", type=step_seconds, default=2,
                        help="seconds between counts, fractions allowed (default: 2)")
    parser.add_argument("--count", dest="limit", type=positive_int, default=None,
                        help="stop after this many counts (default: until Ctrl+C)")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    args = parse_args()
    count(from_val=args.from_val, step_sec=args.step_sec, limit=args.limit)
