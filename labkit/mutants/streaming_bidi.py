"""Mistakes students make in streaming_bidi (see labkit/mutants/__init__.py)."""

from labkit.mutants import Mutant

MUTANTS = [
    # --- the server: each game keeps its own secret (central) -------------------------------
    Mutant("one-secret-shared-by-all-games", "server.py",
           "        true_value = self._secrets.pick()\n"
           '        logging.info("True value is %d.", true_value)\n'
           "        guessed = False\n"
           "        try:\n"
           "            # Each guess is read as soon as the client sends it.\n"
           "            async for request in request_iterator:\n"
           "                response = judge(request.guess, true_value)\n"
           "                if response.symbol:\n"
           '                    logging.info("User guessed %d %s %d (true value).",\n'
           "                                 request.guess, response.symbol, true_value)",
           "        self.true_value = true_value = self._secrets.pick()\n"
           '        logging.info("True value is %d.", self.true_value)\n'
           "        guessed = False\n"
           "        try:\n"
           "            # Each guess is read as soon as the client sends it.\n"
           "            async for request in request_iterator:\n"
           "                response = judge(request.guess, self.true_value)\n"
           "                if response.symbol:\n"
           '                    logging.info("User guessed %d %s %d (true value).",\n'
           "                                 request.guess, response.symbol, self.true_value)",
           "the secret is kept in self: every game started later overwrites the secret of "
           "the games in progress", central=True),
    Mutant("one-secret-for-the-whole-server", "server.py",
           "        true_value = self._secrets.pick()",
           "        if not hasattr(self, \"true_value\"):\n"
           "            self.true_value = self._secrets.pick()\n"
           "        true_value = self.true_value",
           "the secret is picked once, by the first game, and every later game reuses it",
           central=True),
    # --- the server: judging guesses, ending games --------------------------------------------
    Mutant("symbols-reversed", "server.py",
           '    if guess < true_value:\n        symbol = "<"\n'
           '    elif guess > true_value:\n        symbol = ">"',
           '    if guess < true_value:\n        symbol = ">"\n'
           '    elif guess > true_value:\n        symbol = "<"',
           "the comparison reads the wrong way round: a guess below the secret gets '>'"),
    Mutant("no-congratulations", "server.py",
           '        message += " Congratulations!!!"',
           "        pass",
           "the winning answer lacks the slides' ' Congratulations!!!'"),
    Mutant("out-of-range-ends-the-game", "server.py",
           "                yield response\n",
           "                if not response.symbol:\n"
           "                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT,\n"
           "                                        response.message)\n"
           "                yield response\n",
           "a guess outside 1..100 ends the whole call (INVALID_ARGUMENT) instead of being "
           "answered"),
    Mutant("stream-left-open-after-a-win", "server.py",
           "                    guessed = True\n                    break",
           "                    guessed = True",
           "after the right guess the server waits for the client to close its side instead "
           "of ending the game"),
    Mutant("leaving-not-logged", "server.py",
           "            if not guessed:\n"
           '                logging.info("Game left unfinished: the true value %d was not '
           'guessed.",\n'
           "                             true_value)",
           "            pass",
           "a game the player leaves ends without the 'Game left unfinished' line"),
    # --- the client: auto mode wins within 7 guesses (central) -------------------------------
    Mutant("auto-loops-forever", "client.py",
           "            self.low = last.guess + 1",
           "            self.low = last.guess",
           "binary search keeps the guess in the range: with the secret 100 it guesses 99 "
           "forever", central=True),
    Mutant("auto-bounds-reversed", "client.py",
           'if last.symbol == ">":  # the guess was too big',
           'if last.symbol == "<":  # the guess was too big',
           "binary search moves the wrong bound: the answers seem to contradict each other",
           central=True),
    Mutant("auto-counts-up", "client.py",
           "        guess = (self.low + self.high) // 2\n"
           '        logging.info("Guessing: %d", guess)',
           "        guess = last.guess + 1 if last.symbol == \"<\" else last.guess - 1\n"
           '        logging.info("Guessing: %d", guess)',
           "auto mode steps one by one from 50 instead of halving the range: up to 50 guesses",
           central=True),
    # --- the client: manual mode -----------------------------------------------------------------
    Mutant("client-prints-its-own-words", "client.py",
           "            print(answer.message)",
           '            print(f"Your guess {guess} {answer.symbol} true value.")',
           "the client prints the slides' sentence made up from the symbol, not the server's "
           "message"),
    Mutant("ctrl-c-not-handled-in-the-game", "client.py",
           "    except KeyboardInterrupt:\n"
           "        # Cancelling the call tells the server at once that we left (it logs it).\n"
           "        responses.cancel()\n"
           '        print()  # end the "Guess: " line\n'
           '        logging.info("Guessing cancelled by user (Ctrl+C).")\n'
           "        return CANCELLED\n",
           "",
           "Ctrl+C is not handled in the game: the call is not cancelled and the slides' "
           "'Guessing cancelled by user (Ctrl+C).' is not logged"),
    Mutant("end-of-input-never-closes", "client.py",
           "                guesses.close()\n                finish(responses)",
           "                finish(responses)",
           "at the end of input the client waits for the server without closing its side: "
           "both wait forever"),
]
