"""Story-telling client: asks for a story and prints it as the chunks arrive.

Start the server first (`python server.py`), then run `python client.py`.
`--output FILE` also saves the story itself (without the greeting and the ending note):
the saved file is byte for byte the file the server read.
"""

# First: from here on, Ctrl+C ends the client quietly, even while grpc is still loading.
# calling.py holds what every client of the labs does the same way (flags, no server...).
import calling

import argparse
import codecs
import contextlib
import logging
import sys
from typing import BinaryIO

import grpc

from assistant_pb2 import TellStoryRequest, TellStoryResponse
from assistant_pb2_grpc import AssistantServiceStub

DEFAULT_TARGET = "localhost:50051"


class StoryPrinter:
    """Prints the text as it arrives and saves the story's bytes (if asked to).

    A chunk is raw bytes and may end in the middle of a multi-byte UTF-8 character
    (é is 2 bytes, 李 is 3, an emoji 4). Decoding each chunk on its own would break such
    a character in two; the incremental decoder keeps the unfinished bytes until the
    next chunk completes them.
    """

    def __init__(self, output: BinaryIO | None) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.output = output
        self.received = 0  # responses so far
        # The first response is the greeting and the last one the ending note; the story
        # is everything in between. We only know a response was not the last one when
        # the next one arrives, so we save each story chunk one response late.
        self.held_back: bytes | None = None
        self.line_open = False  # the text printed so far ends in the middle of a line

    def stream_print(self, data: bytes) -> None:
        self.print_text(self.decoder.decode(data))
        if self.output is not None:
            if self.held_back is not None:
                self.save(self.held_back)
            self.held_back = data if self.received > 0 else None  # not the greeting
        self.received += 1

    def print_text(self, text: str) -> None:
        if text:
            print(text, end="", flush=True)
            self.line_open = not text.endswith("\n")

    def close(self, story_complete: bool) -> None:
        """The stream is over. Unless it ended normally, what we held back was a story
        chunk, not the ending note: save it too."""
        self.print_text(self.decoder.decode(b"", final=True))  # "\ufffd" if cut mid-character
        if self.line_open and not story_complete:
            print(flush=True)  # cut off mid-line: end that line before the log lines
        if self.output is not None and self.held_back is not None and not story_complete:
            self.save(self.held_back)

    def save(self, data: bytes) -> None:
        """Write story bytes to the --output file at once; if that fails (a full disk),
        the client stops with one line that says so."""
        assert self.output is not None
        try:
            self.output.write(data)
            self.output.flush()
        except OSError as error:
            raise SystemExit(f"Cannot write {self.output.name}: {error.strerror}") from None


def tell_story(stub: AssistantServiceStub, user_name: str, institution: str,
               printer: StoryPrinter) -> int:
    """Ask for a story and print it; return the exit code (0 done, 1 the call failed)."""
    # The words the tests check, line by line: README.md, "What the tests check".
    # BEGIN SOLUTION Send a TellStoryRequest and print every chunk of the response stream.
    request = TellStoryRequest(user_name=user_name, institution=institution)
    logging.info(f"Requesting with user_name={request.user_name}, "
                 f"institution={request.institution}")
    response_stream = stub.TellStory(request)
    try:
        # The stream is an iterator: each loop waits for the next response.
        for response in response_stream:
            response: TellStoryResponse
            printer.stream_print(response.text_chunk)
        printer.close(story_complete=True)
        logging.info("Stream finished by server with status OK.")
        return 0
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.CANCELLED:
            # The slides' server ends every story this way (see README.md).
            printer.close(story_complete=True)
            logging.info("Stream cancelled by server. Exiting gracefully.")
            return 0
        printer.close(story_complete=False)
        return calling.call_failed("TellStory", error)
    except KeyboardInterrupt:
        # Ctrl+C: tell the server we are gone, so that it stops telling the story.
        response_stream.cancel()
        printer.close(story_complete=False)
        logging.info("Stream cancelled by user (Ctrl+C).")
        return 0
    finally:
        logging.info("Finished requesting.")
    # END SOLUTION


def run(args: argparse.Namespace, output: BinaryIO | None) -> int:
    """Get one story; return the exit code: 0 done, 1 the call failed, 2 no server."""
    # The channel is our connection to the server; `with` closes it when we are done.
    with grpc.insecure_channel(args.target, options=calling.CHANNEL_OPTIONS) as channel:
        if not calling.wait_for_server(channel, args.target, args.timeout, "python server.py"):
            return 2
        stub = AssistantServiceStub(channel)
        return tell_story(stub, args.user_name, args.institution, StoryPrinter(output))


def main() -> int:
    parser = calling.ArgumentParser(description="Story-telling client (streaming_server_side lab)")
    parser.add_argument("--user-name", type=calling.text, default="Peter S",
                        help="who asks (default: Peter S)")
    parser.add_argument("--institution", type=calling.text, default="SUSTech",
                        help="where they are from (default: SUSTech)")
    parser.add_argument("--output", metavar="FILE",
                        help="also save the story (not the greeting and ending note) to FILE")
    calling.add_server_flags(parser, DEFAULT_TARGET, "seconds to wait for the server to "
                             "answer the connection; the story itself may take longer")
    args = parser.parse_args()
    try:
        output = open(args.output, "wb") if args.output else None
    except OSError as error:
        calling.say(f"Cannot write {args.output}: {error.strerror}")
        return 1
    try:
        return run(args, output)
    finally:
        if output is not None:
            with contextlib.suppress(OSError):  # a write that failed has been reported
                output.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    # The story is UTF-8 text; a terminal that cannot show a character gets a "?".
    sys.stdout.reconfigure(errors="replace")
    calling.run_main(main)
