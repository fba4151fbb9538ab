"""Mistakes students make in multiplexing (see labkit/mutants/__init__.py)."""

from labkit.mutants import Mutant

# The end of chill(): from the 'start' line to the reply.
_CHILL_TAIL = (
    "        peer = unquote(context.peer())\n"
    '        logging.info(f"{datetime.now()}: {name} {request.id} start (peer {peer})")\n'
    "        started = time.monotonic()\n"
    "        if not rest(seconds, context):\n"
    "            ran = time.monotonic() - started\n"
    '            logging.info(f"{datetime.now()}: {name} {request.id} cancelled after '
    '{ran:.2f} seconds")\n'
    "            return ChatMessage()  # nobody is listening any more: the call is over\n"
    '        logging.info(f"{datetime.now()}: {name} {request.id} end")\n'
    "        return ChatMessage(id=request.id, message=request.message)"
)

MUTANTS = [
    # --- the server: calls run at once, queued by the pool (central) --------------------------
    Mutant("server-one-call-at-a-time", "server.py", _CHILL_TAIL,
           '        with globals().setdefault("LOG_LOCK", threading.Lock()):  # tidy logs\n'
           + "\n".join("    " + line for line in _CHILL_TAIL.splitlines()),
           "a lock (to keep the log lines tidy) held while resting: calls rest one after "
           "the other, whatever the pool", central=True),
    # --- the server: the servicer ----------------------------------------------------------------
    Mutant("chill-a-rests-chill-b", "server.py",
           'return self.chill("ChillA", self.chill_a, request, context)',
           'return self.chill("ChillA", self.chill_b, request, context)',
           "ChillA rests --chill-b seconds (copied from ChillB)"),
    Mutant("reply-without-the-message", "server.py",
           "        return ChatMessage(id=request.id, message=request.message)",
           "        return ChatMessage(id=request.id)",
           "the reply echoes the id but not the message"),
    Mutant("request-not-checked", "server.py",
           "        problem = check_request(request)\n"
           "        if problem:\n"
           "            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)"
           "  # raises: stops here\n",
           "",
           "a negative id or a too long message is served like any other"),
    Mutant("sleep-through-a-cancel", "server.py",
           "        if not rest(seconds, context):",
           "        time.sleep(seconds)  # as on the slides\n"
           "        if not context.is_active():",
           "time.sleep as on the slides: a cancelled call keeps its worker until the sleep "
           "is over"),
    # --- the client: all calls in flight at once over one channel (central) -------------------
    Mutant("client-one-call-at-a-time", "client.py",
           "        sent.wait()",
           "        tasks[-1].result()  # wait for this call before starting the next",
           "each call waits for its reply before the next is sent: nothing is in flight at "
           "the same time", central=True),
    Mutant("client-ignores-the-servers-timings", "client.py",
           'return timing(f"{name} {call_id}", start_t - start_time, end_t - start_time, call)',
           'return CallTiming(f"{name} {call_id}", start_t - start_time, end_t - start_time)',
           "the call is not passed to timing(): the timeline cannot show how long each call "
           "waited and ran"),
    Mutant("client-sends-the-default-message", "client.py",
           "call = rpc.future(ChatMessage(id=call_id, message=message))",
           "call = rpc.future(ChatMessage(id=call_id, message=MSG_DEFAULT))",
           "--message is ignored: every call sends 'Time to chill.'"),
    Mutant("client-calls-not-cancellable", "client.py",
           "    try:\n"
           "        # future() sends the request and returns at once; result() waits for the "
           "reply.\n"
           "        call = rpc.future(ChatMessage(id=call_id, message=message))\n"
           '        in_flight[f"{name} {call_id}"] = call\n'
           "    finally:\n"
           "        sent.set()\n"
           "    call.result()  # raises grpc.RpcError if the call failed",
           "    sent.set()\n"
           "    _reply, call = rpc.with_call(ChatMessage(id=call_id, message=message))",
           "a blocking call, never put in in_flight: Ctrl+C cannot cancel it or say so"),
    # --- the FIFO predictor ----------------------------------------------------------------------
    Mutant("fifo-round-robin", "timeline.py",
           "worker = free_at.index(min(free_at))",
           "worker = len(schedule) % workers",
           "calls go to the workers in turn, not to the one free first"),
    Mutant("fifo-shortest-first", "timeline.py",
           "    for duration in durations:",
           "    for duration in sorted(durations):",
           "the predictor serves the shortest calls first, not in the order of the queue"),
    Mutant("fifo-as-many-workers-as-calls", "timeline.py",
           "    free_at = [0.0] * workers",
           "    free_at = [0.0] * max(workers, len(durations))",
           "the predictor gives every call a worker of its own: nothing ever waits"),
]
