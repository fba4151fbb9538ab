"""Mistakes students make in streaming_server_side (see labkit/mutants/__init__.py)."""

from labkit.mutants import Mutant

MUTANTS = [
    # --- the server: the stream stops when the client goes (central) -------------------------
    Mutant("blocking-sleep-for-the-delay", "server.py",
           "            await asyncio.sleep(self.delay)",
           "            import time\n"
           "            time.sleep(self.delay)  # the slides' time.sleep(3)",
           "the slides' time.sleep in an async handler: the whole server stands still for "
           "the delay, and a client that leaves is not noticed until it is over",
           central=True),
    Mutant("blocking-sleep-between-chunks", "server.py",
           "                    await asyncio.sleep(self.pace)",
           "                    import time\n"
           "                    time.sleep(self.pace)  # the slides' time.sleep(0.05)",
           "the slides' time.sleep between chunks in an async handler: a client that leaves "
           "mid-story is noticed only after the pause, and meanwhile the server stands still",
           central=True),
    # --- the server: chunks byte-exact (central) ---------------------------------------------
    Mutant("chunks-decoded-and-re-encoded", "server.py",
           "                    yield TellStoryResponse(text_chunk=chunk)",
           "                    text = chunk.decode(ENCODING, errors=\"replace\")\n"
           "                    yield TellStoryResponse(text_chunk=text.encode(ENCODING))",
           "each chunk goes through text: a character cut in two by a chunk boundary, and "
           "any byte that is not UTF-8, arrive as U+FFFD", central=True),
    Mutant("last-short-chunk-dropped", "server.py",
           "                    if not chunk:",
           "                    if len(chunk) < self.buffer_size:",
           "the loop stops at the first chunk shorter than the buffer: the story's tail "
           "(and every file smaller than a chunk) is never sent", central=True),
    Mutant("chunk-size-ignored", "server.py",
           "                    chunk = story.read(self.buffer_size)",
           "                    chunk = story.read(1024)",
           "the slides' 1024 bytes hard-coded: --chunk-size changes nothing"),
    # --- the server: greeting, ending, pace, log, bad requests ----------------------------------
    Mutant("greeting-without-the-blank-line", "server.py",
           "Here's your story:\\n\\n\"",
           "Here's your story:\\n\"",
           "the greeting ends with one line break instead of the slides' two"),
    Mutant("no-pause-between-chunks", "server.py",
           "                    await asyncio.sleep(self.pace)",
           "                    pass  # no need to wait",
           "--pace is ignored: the chunks come all at once"),
    Mutant("ends-with-ok-not-cancelled", "server.py",
           "            if self.finish == \"cancel\":",
           "            if False:  # returning is cleaner",
           "the story always ends with OK, never the slides' cancel (--finish is ignored)"),
    Mutant("no-line-when-the-client-leaves", "server.py",
           "                logging.info(f\"Stopped streaming {self.story_fn} for {who} after "
           "{sent} \"\n"
           "                             f\"bytes: {why}.\")",
           "                pass",
           "the server does not log that it stopped for a client that left"),
    Mutant("bad-requests-not-checked", "server.py",
           "        problem = check_request(request)",
           "        problem = None",
           "check_request is never called: an empty or multi-line name is served"),
    # --- the client ---------------------------------------------------------------------------
    Mutant("client-decodes-each-chunk", "client.py",
           "            printer.stream_print(response.text_chunk)",
           "            print(response.text_chunk.decode(\"utf-8\", errors=\"replace\"), end=\"\")",
           "each chunk is decoded on its own: a character cut in two prints as two U+FFFD, "
           "and --output is never written", central=True),
    Mutant("client-ignores-the-flags", "client.py",
           "    request = TellStoryRequest(user_name=user_name, institution=institution)",
           "    request = TellStoryRequest(user_name=\"Peter S\", institution=\"SUSTech\")",
           "the request is the slides' Peter S from SUSTech whatever --user-name and "
           "--institution say", central=True),
    Mutant("client-treats-cancelled-as-failure", "client.py",
           "        if error.code() == grpc.StatusCode.CANCELLED:",
           "        if False:",
           "the slides' CANCELLED ending is reported as a failure (exit 1)", central=True),
    Mutant("client-ctrl-c-not-handled", "client.py",
           "    except KeyboardInterrupt:\n"
           "        # Ctrl+C: tell the server we are gone, so that it stops telling the story.\n"
           "        response_stream.cancel()\n"
           "        printer.close(story_complete=False)\n"
           "        logging.info(\"Stream cancelled by user (Ctrl+C).\")\n"
           "        return 0\n",
           "",
           "Ctrl+C mid-story is not handled: no cancel, not the slides' line"),
    Mutant("client-error-as-exception", "client.py",
           "        printer.close(story_complete=False)\n"
           "        return calling.call_failed(\"TellStory\", error)",
           "        raise",
           "a failed call ends the client with a traceback instead of one line"),
]
