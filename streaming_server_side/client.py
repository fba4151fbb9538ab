"""Story-telling client: asks for a story and prints it as the chunks arrive.

Start the server first (`python server.py`), then run `python client.py`.
`--output FILE` also saves the story itself (without the greeting and the ending note):
the saved file is byte for byte the file the server read.
"""

import argparse
import codecs
import logging
import sys
from typing import BinaryIO

import grpc

from assistant_pb2 import TellStoryRequest, TellStoryResponse
from assistant_pb2_grpc import AssistantServiceStub

DEFAULT_TARGET = "localhost:50051"
# These labs talk to servers on your own machine or classroom network: a proxy set in
# the environment (http_proxy, ...) would only get in the way.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]


def wait_for_server(channel: grpc.Channel, target: str, timeout: float) -> bool:
    """True once the channel is connected; False (with one line on stderr) if the server
    cannot be reached within `timeout` seconds."""
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        print(f"Cannot reach the server at {target} (waited {timeout:g} s). "
              "Start it first: python server.py", file=sys.stderr)
        return False


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
                self.output.write(self.held_back)
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
            self.output.write(self.held_back)


def tell_story(stub: AssistantServiceStub, user_name: str, institution: str,
               printer: StoryPrinter) -> int:
    """Ask for a story and print it; return the exit code (0 done, 1 the call failed)."""
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
        print(f"TellStory failed: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
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
    with grpc.insecure_channel(args.target, options=CHANNEL_OPTIONS) as channel:
        if not wait_for_server(channel, args.target, args.timeout):
            return 2
        stub = AssistantServiceStub(channel)
        return tell_story(stub, args.user_name, args.institution, StoryPrinter(output))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Story-telling client (streaming_server_side lab)")
    parser.add_argument("--user-name", default="Peter S", help="who asks (default: Peter S)")
    parser.add_argument("--institution", default="SUSTech",
                        help="where they are from (default: SUSTech)")
    parser.add_argument("--output", metavar="FILE",
                        help="also save the story (not the greeting and ending note) to FILE")
    parser.add_argument("--target", default=DEFAULT_TARGET,
                        help=f"server address HOST:PORT (default: {DEFAULT_TARGET})")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the server to answer the connection "
                             "(default: 5); the story itself may take longer")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        output = open(args.output, "wb") if args.output else None
    except OSError as error:
        print(f"Cannot write {args.output}: {error.strerror}", file=sys.stderr)
        return 1
    try:
        return run(args, output)
    except KeyboardInterrupt:
        # Ctrl+C before the story started (while connecting): nothing to cancel yet.
        logging.info("Cancelled by user (Ctrl+C).")
        return 0
    finally:
        if output is not None:
            output.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    # The story is UTF-8 text; a terminal that cannot show a character gets a "?".
    sys.stdout.reconfigure(errors="replace")
    sys.exit(main())
