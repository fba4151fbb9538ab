"""The local procedure that this lab turns into a remote one: count(from_val, step_sec).

Run it with `python local_procedure.py` and stop it with Ctrl+C. server.py and client.py
split the same work across two processes: the server counts, the client logs.
"""

# First: from here on, Ctrl+C ends the program quietly, even while it is still loading.
# calling.py holds what every program of the labs does the same way (flags, Ctrl+C...).
import calling

import logging
import time
from datetime import datetime

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # the counter's range, as in counter.proto
MIN_STEP_SEC = 0.001  # a smaller step would flood the terminal rather than count


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


def main() -> int:
    parser = calling.ArgumentParser(description="The local counter (remote_counter lab)")
    parser.add_argument("--from", dest="from_val", default=6,
                        type=calling.whole_number(INT64_MIN, INT64_MAX),
                        help="value to count from; the first count is one more (default: 6)")
    parser.add_argument("--step", dest="step_sec", default=2,
                        type=calling.seconds(MIN_STEP_SEC),
                        help="seconds between counts, fractions allowed (default: 2)")
    parser.add_argument("--count", dest="limit", type=calling.whole_number(1), default=None,
                        help="stop after this many counts (default: until Ctrl+C)")
    args = parser.parse_args()
    count(from_val=args.from_val, step_sec=args.step_sec, limit=args.limit)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    calling.run_main(main)
