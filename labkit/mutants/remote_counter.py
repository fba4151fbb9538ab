"""Mistakes students make in remote_counter (see labkit/mutants/__init__.py)."""

from labkit.mutants import Mutant

# The reference's counting loop, from `try:` to the count's increment.
_LOOP = (
    "        try:\n"
    "            while True:\n"
    "                # The slides' time.sleep(step), the asyncio way: while this count sleeps,\n"
    "                # the server serves every other client. And when the RPC ends (Ctrl+C in\n"
    "                # the client, the client gone, the server stopping), gRPC cancels the\n"
    "                # sleep at once: we notice right away instead of sleeping out the step.\n"
    "                await asyncio.sleep(request.step_sec)\n"
    "                if cnt == INT64_MAX:\n"
    "                    logging.info(f\"Count reached the largest int64 for request: "
    "{described}\")\n"
    "                    await context.abort(grpc.StatusCode.OUT_OF_RANGE,\n"
    "                                        f\"count reached {INT64_MAX}, the largest int64: \"\n"
    "                                        \"it cannot count further\")\n"
)

MUTANTS = [
    # --- the server: the cancel frees the worker at once (central) ----------------------------
    Mutant("blocking-sleep", "server.py",
           "                await asyncio.sleep(request.step_sec)",
           "                import time\n"
           "                time.sleep(request.step_sec)  # as count() in local_procedure.py",
           "local_procedure.py's time.sleep in an async handler: the whole server stands "
           "still for each step, and a cancel is not noticed until the step is over",
           central=True),
    Mutant("counts-on-after-the-cancel", "server.py",
           "                await asyncio.sleep(request.step_sec)",
           "                try:\n"
           "                    await asyncio.sleep(request.step_sec)\n"
           "                except asyncio.CancelledError:\n"
           "                    continue  # a count must never be skipped",
           "the step's sleep swallows the cancellation: the server counts on for a client "
           "that is gone, and holds its worker", central=True),
    # --- the server: counting ----------------------------------------------------------------
    Mutant("first-count-is-from", "server.py",
           "                cnt += 1\n"
           "                yield CountResponse(count=cnt)",
           "                yield CountResponse(count=cnt)\n"
           "                cnt += 1",
           "the first count sent is from_val itself, not from_val + 1"),
    Mutant("step-ignored", "server.py",
           "                await asyncio.sleep(request.step_sec)",
           "                await asyncio.sleep(2)  # the slides' step",
           "the slides' 2 s step hard-coded: step_sec changes nothing"),
    Mutant("one-count-for-every-client", "server.py",
           "        cnt = request.from_val\n" + _LOOP + "                cnt += 1\n"
           "                yield CountResponse(count=cnt)",
           "        self.cnt = request.from_val\n" + _LOOP.replace("cnt ==", "self.cnt ==")
           + "                self.cnt += 1\n"
           "                yield CountResponse(count=self.cnt)",
           "the count is kept on the servicer, which every call shares: each client's "
           "count moves every other client's on"),
    Mutant("step-logged-as-a-float", "server.py",
           "step={seconds_text(request.step_sec)}",
           "step={request.step_sec}",
           "the request is logged as step=2.0, not the slides' step=2"),
    Mutant("no-line-for-the-cancel", "server.py",
           "            logging.info(f\"Response stream cancelled for request: {described}\")\n",
           "",
           "the server does not log the slides' 'Response stream cancelled' line"),
    Mutant("requests-not-checked", "server.py",
           "        problem = check_request(request)",
           "        problem = None",
           "check_request is never called: a step of 0 floods the client, nan fails"),
    Mutant("counts-past-the-largest-int64", "server.py",
           "                if cnt == INT64_MAX:",
           "                if False:",
           "the count goes past the largest int64 (the response cannot hold it)"),
    # --- the client ----------------------------------------------------------------------------
    Mutant("client-counts-locally", "client.py",
           "        responses = stub.Count(request)\n"
           "        ctrl_c.watch(responses)\n"
           "        try:\n"
           "            received = 0\n"
           "            for response in responses:  # blocks until the server sends the next "
           "count\n"
           "                logging.info(f\"{datetime.now()}: count={response.count}\")\n",
           "        import time\n"
           "        responses = iter(range(request.from_val + 1, 2**63))  # never calls Count\n"
           "        try:\n"
           "            received = 0\n"
           "            for count in responses:\n"
           "                time.sleep(request.step_sec)\n"
           "                logging.info(f\"{datetime.now()}: count={count}\")\n",
           "the client counts by itself, as local_procedure.py, and never calls Count",
           central=True),
    Mutant("client-ctrl-c-does-not-cancel", "client.py",
           "        ctrl_c.watch(responses)\n",
           "",
           "the call is not given to CancelOnCtrlC: Ctrl+C does nothing, the client counts on",
           central=True),
    Mutant("client-one-count-too-many", "client.py",
           "                if limit is not None and received >= limit:",
           "                if limit is not None and received > limit:",
           "--count N logs N + 1 counts"),
    Mutant("client-prints-instead-of-logging", "client.py",
           "                logging.info(f\"{datetime.now()}: count={response.count}\")",
           "                print(f\"count={response.count}\")",
           "the counts are printed without the slides' log format (INFO:root:<time>: ...)",
           central=True),
    Mutant("client-every-error-is-ctrl-c", "client.py",
           "            if not ctrl_c.pressed:\n"
           "                raise  # a real failure: run() reports it\n",
           "",
           "every failed call is logged as Ctrl+C and exits 0: a refused request looks fine"),
    Mutant("client-ignores-the-flags", "client.py",
           "        responses = stub.Count(request)",
           "        responses = stub.Count(CountRequest(from_val=6, step_sec=2))",
           "the request is the slides' from=6, step=2 whatever --from and --step say",
           central=True),
]
